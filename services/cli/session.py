"""What every command is handed: the reader's language and names, the services, the token, the bus."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping

from services.cli.api import Api, service_url
from services.cli.failures import Invalid
from services.common.events import ContractError, parse
from services.common.i18n import Text
from services.common.reference import ReferenceData, load_reference
from services.department_client.client import amqp_uri_from_env
from services.common.vocabulary import Names


def reference_data() -> ReferenceData | None:
    """The district's reference data (REFERENCE_DATA or the shipped file) for names; None where it is absent
    (a command line installed without the repository): codes are shown instead."""
    try:
        return load_reference()
    except (OSError, ValueError):        # no file, or not valid reference data (a pydantic ValidationError)
        return None


@dataclass
class Session:
    text: Text
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def __post_init__(self):
        self.lang = self.text.lang
        self.reference = reference_data()
        self.names = Names(self.reference, self.lang)

    def api(self, service: str) -> Api:
        return Api(service, service_url(service, self.env), self.text, self.env.get("CHUISHAO_TOKEN") or None)

    @property
    def amqp_uri(self) -> str:
        """The broker with this desk's own account (CHUISHAO_AMQP_URI, or AMQP_URI with CHUISHAO_AMQP_USER
        and CHUISHAO_AMQP_PASSWORD): what a provisioned deployment confines to its routing keys."""
        return amqp_uri_from_env(self.env)

    @property
    def namespace(self) -> str:
        return self.env.get("BUS_NAMESPACE", "")


def checked(model, payload: dict, text: Text):
    """The payload as the contract's model, or Invalid naming every bad field (nothing is sent)."""
    try:
        return parse(model, payload)
    except ContractError as exc:
        raise Invalid(text.gettext("not sent: the input is not valid"), exc.errors) from None

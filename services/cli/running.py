"""How every command runs: failures shown next to their options and turned into exit codes."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Mapping
from urllib.parse import urlsplit, urlunsplit

import click
from pika.exceptions import AMQPError

from services.cli.failures import Failure, Unreachable
from services.cli.output import show_failure
from services.cli.session import Session
from services.common.i18n import Text


def json_option(t: Text):
    return click.option("--json", "as_json", is_flag=True, help=t.gettext("print JSON for scripts instead of tables"))


def shown_uri(uri: str) -> str:
    """A broker URI without its password."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def broker_unreachable(session: Session) -> Unreachable:
    t = session.text
    return Unreachable(t.gettext("cannot reach the broker at %(uri)s") % {"uri": shown_uri(session.amqp_uri)},
                       hint=t.gettext("is RabbitMQ running (make broker)? If it runs elsewhere, set AMQP_URI"))


@contextmanager
def reporting(session: Session, options: Mapping[str, str] | None = None, as_json: bool = False):
    """Runs a command's body; a failure is shown (field errors beside `options`) and ends the command."""
    try:
        try:
            yield
        except AMQPError:
            raise broker_unreachable(session) from None
    except Failure as failure:
        show_failure(failure, session.text, session.names, options, as_json)
        raise click.exceptions.Exit(failure.exit_code) from None

"""The services' HTTP APIs as the command line uses them: addresses, the token, clear failures."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping

import requests

from services.cli.failures import Failure, Forbidden, Refused, Unreachable
from services.common.events import FieldError
from services.common.i18n import Text
from services.common.settings import DEFAULT_WEB

TIMEOUT_SECONDS = 10.0


def service_url(service: str, env: Mapping[str, str] = os.environ) -> str:
    """<SERVICE>_URL, else the address the service itself listens on (<SERVICE>_WEB_ADDRESS or its default)."""
    explicit = env.get(f"{service.upper()}_URL")
    if explicit:
        return explicit.rstrip("/")
    return "http://" + env.get(f"{service.upper()}_WEB_ADDRESS", DEFAULT_WEB[service])


@dataclass
class Api:
    """One service's HTTP API. Every answer is JSON; a refusal raises Refused with its field errors."""

    service: str
    base_url: str
    text: Text
    token: str | None = None
    timeout: float = TIMEOUT_SECONDS

    def get(self, path: str, params: dict | None = None) -> dict:
        return self._send("GET", path, params=params)[1]

    def get_every(self, path: str, key: str, params: dict | None = None, max_pages: int = 1000) -> dict:
        """A paged list whole, following `next_cursor` page by page (200 items each, at most max_pages):
        `{key: [every item], "next_cursor": where it stopped, None once it has them all}`."""
        query = {**(params or {}), "limit": 200}
        items: list = []
        cursor = None
        for _ in range(max_pages):
            answer = self.get(path, query)
            items += answer[key]
            cursor = answer.get("next_cursor")
            if not cursor:
                break
            query["cursor"] = cursor
        return {key: items, "next_cursor": cursor}

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        return self._send("POST", path, body=body)

    def get_document(self, path: str, params: dict | None = None) -> bytes:
        """A GET answered with a document (CSV, HTML, an image) rather than JSON; refusals as for get()."""
        return self._send("GET", path, params=params, document=True)[1]

    def _send(self, method: str, path: str, params: dict | None = None, body: Any = None,
              document: bool = False) -> tuple[int, Any]:
        t = self.text
        url = f"{self.base_url}{path}"
        query = {"lang": self.text.lang, **(params or {})}
        where = {"service": self.service, "url": self.base_url, "env": f"{self.service.upper()}_URL",
                 "method": method, "path": path, "seconds": f"{self.timeout:g}"}
        try:
            response = requests.request(method, url, params=query, json=body, headers=headers(t, self.token),
                                        timeout=self.timeout)
        except requests.Timeout:
            raise Unreachable(t.gettext("the %(service)s service at %(url)s did not answer within %(seconds)s s")
                              % where, hint=t.gettext("it may be overloaded: try again in a moment")) from None
        except requests.RequestException:
            raise Unreachable(t.gettext("cannot reach the %(service)s service at %(url)s") % where,
                              hint=t.gettext("is it running (make run)? If it runs elsewhere, set %(env)s")
                              % where) from None
        if document and response.ok and not response.headers.get("Content-Type", "").startswith("application/json"):
            return response.status_code, response.content
        try:
            answer = response.json()
        except ValueError:
            answer = None
        where["retry_after"] = response.headers.get("Retry-After")
        failure = refusal(response.status_code, answer, where, t)
        if failure is not None:
            raise failure
        return response.status_code, answer


def headers(text: Text, token: str | None) -> dict:
    sent = {"Accept": "application/json", "Accept-Language": text.lang.replace("_", "-")}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    return sent


def refusal(status: int, answer: Any, where: dict, t: Text) -> Failure | None:
    """What an HTTP answer means for the command: None when it is an answer to use."""
    where = {**where, "status": status}
    if status == 401:
        return Forbidden(t.gettext("not authenticated (HTTP 401)"),
                         hint=t.gettext("set CHUISHAO_TOKEN to a valid token; it may have expired"))
    if status == 403:
        return Forbidden(t.gettext("not allowed (HTTP 403): your token does not permit this"),
                         hint=t.gettext("ask for a token with this permission"))
    if status == 429:
        return Unreachable(t.gettext("the %(service)s service takes no more of this now (HTTP 429)") % where,
                           hint=t.gettext("try again in %(seconds)s s") % {"seconds": where.get("retry_after") or 1})
    if status >= 500:
        return Unreachable(t.gettext("the %(service)s service failed (HTTP %(status)s)") % where,
                           hint=t.gettext("its log has the details; try again, or tell the operator"))
    if not isinstance(answer, dict) or (status >= 400 and "error" not in answer):
        return Unreachable(t.gettext("the %(service)s service does not offer %(method)s %(path)s (HTTP %(status)s)")
                           % where, hint=t.gettext("it may be older than this command line"))
    if status >= 400:
        errors = [FieldError.model_validate(e) for e in answer.get("errors") or ()]
        return Refused(answer["error"], errors, body={"status": status, **answer})
    return None

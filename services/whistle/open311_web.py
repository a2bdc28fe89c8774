"""Open311 GeoReport v2 (JSON) under /open311/v2/: any civic-reporting client (FixMyStreet and the like)
reports into a street's grid. Mixed into WhistleService beside GridEndpoints (its `auth`, `store`).

Every route takes the spec's `api_key` (a bearer token of an `open311` client; the Authorization header
works too); answers and errors are in the spec's shapes ([{"code", "description"}], HTTP 400, 403 or
404), never ours."""
from __future__ import annotations

import functools
import json
import logging

from nameko.web.handlers import http
from sqlalchemy.exc import IntegrityError

from services.common.auth.routes import declare
from services.common.auth.rules import rule_of
from services.common.authweb import bearer_token
from services.common.errors import AccessRefused, NotFound, Refused, TooManyRequests
from services.common.events import MAX_BODY_BYTES
from services.common.web import json_response, refusal_headers
from services.whistle import grid_handlers, grid_store, open311
from services.common.i18n import accept_language, choose_language
from services.whistle.grid_rules import process_locate, process_rules
from services.whistle.open311 import MAX_RESULTS, Open311Error

log = logging.getLogger(__name__)
PREFIX = "/open311/v2"
CHANGESET = "2025-03-14T00:00:00Z"     # when this endpoint's services or formats last changed (discovery)


def language_of(request) -> str:
    """?lang=, then Accept-Language, then zh-CN."""
    return choose_language(request.args.get("lang"), accept_language(request.headers.get("Accept-Language")))


def arguments(request) -> dict:
    """The request's arguments, each a list of its values: the query string, and a POST's form-encoded or
    JSON-object body. Open311Error 400 for a body that is neither."""
    found = request.args.to_dict(flat=False)
    if request.method != "POST":
        return found
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise Open311Error.one(400, f"the request body exceeds {MAX_BODY_BYTES} bytes")
    if request.mimetype == "application/json":
        raw = request.stream.read(MAX_BODY_BYTES + 1)
        if len(raw) > MAX_BODY_BYTES:
            raise Open311Error.one(400, f"the request body exceeds {MAX_BODY_BYTES} bytes")
        try:
            body = json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError):
            raise Open311Error.one(400, "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise Open311Error.one(400, "the JSON body must be an object of the request's arguments")
        return {**found, **{k: v if isinstance(v, list) else [v] for k, v in body.items()}}
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return {**found, **request.form.to_dict(flat=False)}
    raise Open311Error.one(400, "send the arguments form-encoded (application/x-www-form-urlencoded) or as JSON")


def api_key(request, args: dict) -> str | None:
    values = args.get("api_key") or []
    if values and isinstance(values[0], str) and values[0].strip():
        return values[0].strip()
    if request.headers.get("Authorization"):
        return bearer_token(request.headers.get("Authorization"))
    return None


def refused(exc: Refused) -> Open311Error:
    return open311.from_field_errors(exc.errors, 404 if isinstance(exc, NotFound) else 400)


def open311_api(action: str):
    """An Open311 route taking `action`: the api_key checked first, then fn(self, request, args, ...) -> (status,
    body); every refusal answered in the spec's error shape (a bad or missing key: 403)."""
    rule_of(action)

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(self, request, *path_args, **path_kwargs):
            try:
                args = arguments(request)
                try:
                    self.auth.enter_token(api_key(request, args), action)
                except AccessRefused as exc:
                    status = 429 if isinstance(exc, TooManyRequests) else 403
                    response = json_response(status, [{"code": status, "description": f"api_key: {exc.reason}"}])
                    for name, value in refusal_headers(exc).items():
                        if name != "WWW-Authenticate":
                            response.headers[name] = value
                    return response
                status, body = fn(self, request, args, *path_args, **path_kwargs)
                return json_response(status, body)
            except Open311Error as exc:
                return json_response(exc.status, exc.body)
            except Refused as exc:
                error = refused(exc)
                return json_response(error.status, error.body)
            except Exception:  # noqa: BLE001 - logged; the client gets the spec's shape, never a traceback
                log.exception("unexpected error serving %s %s", request.method, request.path)
                return json_response(500, [{"code": 500, "description": "internal error; the operator has the "
                                                                        "details"}])

        return declare(wrapper, action, None)

    return decorate


class Open311Endpoints:
    """GeoReport v2: discovery, services, and service requests (POST and GET)."""

    def _jurisdiction(self, args: dict) -> str | None:
        return open311.jurisdiction(self.reference, args)

    @http("GET", f"{PREFIX}/discovery.json")
    @open311_api("open311.read")
    def open311_discovery(self, request, args):
        district = self.reference.district
        return 200, open311.discovery(f"{request.host_url.rstrip('/')}{PREFIX}/", CHANGESET,
                                      f"{district.name_zh} 12345 / {district.name_en}")

    @http("GET", f"{PREFIX}/services.json")
    @open311_api("open311.read")
    def open311_services(self, request, args):
        self._jurisdiction(args)
        return 200, open311.services_list(self.reference, language_of(request))

    @http("GET", f"{PREFIX}/services/<string:service_code>.json")
    @open311_api("open311.read")
    def open311_service(self, request, args, service_code):
        self._jurisdiction(args)
        return 200, open311.service_definition(self.reference, service_code)

    @http("POST", f"{PREFIX}/requests.json")
    @open311_api("open311.report")
    def open311_post_request(self, request, args):
        """A resident's report at the grid its lat/long is in (or the jurisdiction's street); the same POST
        twice is one request."""
        rules, locate = process_rules(), process_locate()
        for _ in range(2):
            try:
                with self.store.unit_of_work() as uow:
                    decision = grid_handlers.open311_request(uow, rules, locate, args)
                break
            except IntegrityError:
                continue
        else:
            raise RuntimeError("the request was neither stored nor found")
        account = args.get("account_id", [None])[0]
        answer = open311.post_response(decision.state, self.reference, account, language_of(request))
        return (200 if decision.repeated else 201), answer

    @http("GET", f"{PREFIX}/requests.json")
    @open311_api("open311.read")
    def open311_requests(self, request, args):
        street = self._jurisdiction(args)
        with self.store.unit_of_work() as uow:
            query = open311.parse_query(args, uow.now)
            rows = grid_store.service_requests(uow.conn, query.ids, query.service_codes, query.start, query.end,
                                               query.statuses, street, min(query.limit, MAX_RESULTS))
        lang = language_of(request)
        return 200, [open311.service_request(state, self.reference, updated, lang) for state, updated in rows]

    @http("GET", f"{PREFIX}/requests/<string:service_request_id>.json")
    @open311_api("open311.read")
    def open311_request(self, request, args, service_request_id):
        self._jurisdiction(args)
        with self.store.unit_of_work() as uow:
            found = grid_store.get(uow.conn, service_request_id)
        if found is None:
            raise Open311Error.one(404, f"service_request_id {service_request_id!r} not found")
        return 200, [open311.service_request(found[0], self.reference, found[1], language_of(request))]

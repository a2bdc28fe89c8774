"""The command-centre page (指挥中心), served by the whistle service itself: `GET /board`.

The page is plain HTML, CSS and JavaScript modules under services/whistle/board/ (no build step, no
asset from outside: its Content-Security-Policy allows only this origin). It talks to the whistle
service's own API directly and reaches dispatch and roster through the relay routes below, so every
call it makes is same-origin (no CORS):

    GET  /board                                         the page
    GET  /board/assets/<name>                           its scripts, style sheet and icon
    GET  /board/texts/<lang>                            its text in zh_CN or en, from the catalogs
    GET  /board/areas                                   the responsibility map (the reference data's GeoJSON)
    POST /board/explain?lang=                           an API's field errors said for people
    GET  /board/api/session                             who the pasted token names (board.open)
    GET  /board/api/dispatch/whistles/<id>/callouts     relayed to dispatch (callout.read)
    GET  /board/api/dispatch/overdue                    relayed to dispatch (overdue.read)
    GET  /board/api/dispatch/arbitrations               relayed to dispatch (arbitration.read)
    POST /board/api/dispatch/arbitrations/<id>/decision relayed to dispatch (arbitration.decide)
    GET  /board/api/roster/whistles/<id>/team           relayed to roster (team.read)

The first five carry no case data and are open (services.common.auth.routes.BOARD_FILES). The
relays check the token and the route-level rule here, then pass the request on with its
Authorization header, so the service that owns the data makes the object-level check itself.

The host service class provides `reference` (its ReferenceData)."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Mapping
from urllib.parse import quote

import requests
from nameko.extensions import DependencyProvider
from nameko.web.handlers import http
from werkzeug.wrappers import Response

from services.common.events import MAX_BODY_BYTES, FieldError
from services.common.field_errors import explain, field_label
from services.common.guard import Auth, guarded
from services.common.i18n import LANGUAGES, Text, choose_language, normalize
from services.common.reference import ReferenceData, areas_path
from services.common.settings import DEFAULT_WEB
from services.common.vocabulary import Names
from services.common.web import HttpError, json_api, json_response, read_json
from services.whistle.board_texts import page_texts

BOARD_DIR = Path(__file__).resolve().parent / "board"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
# every file the page may load, found once: a name outside this set is a 404, never a path
ASSETS = {p.name: p for p in BOARD_DIR.iterdir() if p.suffix in TYPES and p.name != "index.html"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
RELAY_TIMEOUT_SECONDS = 5.0
RELAYED_REQUEST_HEADERS = ("Authorization", "Accept-Language", "Content-Type")
RELAYED_ANSWER_HEADERS = ("Content-Type", "Retry-After", "WWW-Authenticate")
MAX_EXPLAINED = 50
# what the APIs put in a FieldError: an ASCII dotted path and a short message; anything else is echoed
WIRE_FIELD = re.compile(r"^[\x20-\x7e]{1,200}$")
MAX_EXPLAINED_MESSAGE = 500


def file_response(path: Path) -> Response:
    response = Response(path.read_bytes(), status=200, content_type=TYPES[path.suffix])
    response.headers.update(SECURITY_HEADERS)
    return response


def peer_url(service: str, env: Mapping[str, str] = os.environ) -> str:
    """Where another service answers HTTP: <SERVICE>_URL, else http:// + <SERVICE>_WEB_ADDRESS (or its default)."""
    explicit = env.get(f"{service.upper()}_URL")
    if explicit:
        return explicit.rstrip("/")
    return "http://" + env.get(f"{service.upper()}_WEB_ADDRESS", DEFAULT_WEB[service])


class Peers(DependencyProvider):
    """The base URLs of dispatch and roster, read once, and one pooled HTTP session to them."""

    def setup(self):
        self.urls = {service: peer_url(service) for service in ("dispatch", "roster")}
        self.session = requests.Session()

    def stop(self):
        self.session.close()

    def get_dependency(self, worker_ctx):
        return self


def relay(peers: Peers, service: str, path: str, request) -> Response:
    """`request` passed on to `service` at `path` (with its query, its body and the headers that matter);
    the answer passed back as it came. 502/504 naming the service when it cannot be reached."""
    headers = {name: request.headers[name] for name in RELAYED_REQUEST_HEADERS if name in request.headers}
    body = None
    if request.method == "POST":
        body = request.stream.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            return json_response(413, {"error": f"request body exceeds {MAX_BODY_BYTES} bytes", "errors": []})
    try:
        answer = peers.session.request(request.method, peers.urls[service] + path, params=request.args,
                                       data=body, headers=headers, timeout=RELAY_TIMEOUT_SECONDS,
                                       allow_redirects=False)
    except requests.Timeout:
        return json_response(504, {"error": f"the {service} service did not answer in time",
                                   "service": service, "errors": []})
    except requests.RequestException:
        return json_response(502, {"error": f"the {service} service cannot be reached",
                                   "service": service, "errors": []})
    response = Response(answer.content, status=answer.status_code)
    for name in RELAYED_ANSWER_HEADERS:
        if name in answer.headers:
            response.headers[name] = answer.headers[name]
    return response


def part(value: str) -> str:
    """A path parameter put back into a URL path: quoted, so it stays one segment."""
    return quote(value, safe="")


def map_of(reference: ReferenceData) -> dict:
    """The responsibility map the reference data names (an empty collection when it names none)."""
    path = areas_path(reference)
    if path is None:
        return {"type": "FeatureCollection", "features": []}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {"type": "FeatureCollection", "features": data.get("features", [])}


def explained(errors, lang: str, reference: ReferenceData) -> list[dict]:
    """An API answer's field errors as a person reads them: each with its field's name and the message."""
    text, names = Text(lang), Names(reference, lang)
    out = []
    for error in errors[:MAX_EXPLAINED]:
        field_path, message = str(error.get("field", "")), str(error.get("message", ""))
        if not WIRE_FIELD.match(field_path) or len(message) > MAX_EXPLAINED_MESSAGE:
            out.append({"field": field_path, "label": field_path, "message": message})   # not the APIs' words
            continue
        out.append({"field": field_path, "label": field_label(field_path, text),
                    "message": explain(field_path, message, text, names)})
    return out


class ErrorList:
    """For read_json: {"errors": [{field, message}, ...]}, as every refusal of the APIs carries."""

    @staticmethod
    def model_validate(payload):
        errors = payload.get("errors") if isinstance(payload, dict) else None
        if not isinstance(errors, list) or not all(isinstance(e, dict) for e in errors):
            raise HttpError(422, "invalid request", (FieldError(field="errors", message="must be a list of "
                                                                "{field, message} objects"),))
        return errors


class BoardEndpoints:
    """The command-centre page and what it needs from the whistle service (see the module's docstring)."""

    auth = Auth()
    peers = Peers()

    # ------------------------------------------------------------------ open: the page, its texts, the map
    @http("GET", "/board")
    def board_page(self, request):
        return file_response(BOARD_DIR / "index.html")

    @http("GET", "/board/assets/<string:name>")
    def board_asset(self, request, name):
        path = ASSETS.get(name)
        if path is None:
            return json_response(404, {"error": f"no asset {name}", "errors": []})
        return file_response(path)

    @http("GET", "/board/texts/<string:lang>")
    @json_api
    def board_texts(self, request, lang):
        chosen = normalize(lang)
        if chosen is None:
            raise HttpError(404, f"no texts in {lang!r}; languages: {', '.join(LANGUAGES)}")
        return 200, page_texts(chosen, self.reference)

    @http("GET", "/board/areas")
    @json_api
    def board_areas(self, request):
        return 200, map_of(self.reference)

    @http("POST", "/board/explain")
    @json_api
    def board_explain(self, request):
        """{"errors": [{field, message}]} from an API answer -> the same, said in ?lang= (zh-CN by default)."""
        errors = read_json(request, ErrorList)
        return 200, {"errors": explained(errors, choose_language(request.args.get("lang")), self.reference)}

    # ------------------------------------------------------------------ behind a token
    @http("GET", "/board/api/session")
    @guarded("board.open")
    @json_api
    def board_session(self, request):
        """Who the bearer token names: the page chooses the street board or the district view by it."""
        principal = self.auth.principal
        return 200, {"kind": principal.kind.value, "code": principal.code, "token_id": principal.token_id}

    @http("GET", "/board/api/dispatch/whistles/<string:whistle_id>/callouts")
    @guarded("callout.read", obj="whistle")
    def board_callouts(self, request, whistle_id):
        return relay(self.peers, "dispatch", f"/api/v1/whistles/{part(whistle_id)}/callouts", request)

    @http("GET", "/board/api/dispatch/overdue")
    @guarded("overdue.read")
    def board_overdue(self, request):
        return relay(self.peers, "dispatch", "/api/v1/overdue", request)

    @http("GET", "/board/api/dispatch/arbitrations")
    @guarded("arbitration.read")
    def board_arbitrations(self, request):
        return relay(self.peers, "dispatch", "/api/v1/arbitrations", request)

    @http("POST", "/board/api/dispatch/arbitrations/<string:arbitration_id>/decision")
    @guarded("arbitration.decide", obj="arbitration")
    def board_decide(self, request, arbitration_id):
        return relay(self.peers, "dispatch", f"/api/v1/arbitrations/{part(arbitration_id)}/decision", request)

    @http("GET", "/board/api/roster/whistles/<string:whistle_id>/team")
    @guarded("team.read", obj="whistle")
    def board_team(self, request, whistle_id):
        return relay(self.peers, "roster", f"/api/v1/whistles/{part(whistle_id)}/team", request)

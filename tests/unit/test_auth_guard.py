"""The guard on nameko entrypoints, and the authorization matrix run against a small service.

The service here is a stand-in with the shapes of the real routes (a street's whistle, a whistle's
call-outs, a department's report, a district list, an RPC method); the real services feed their own
route tables to the same matrix()."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from nameko.rpc import rpc
from nameko.web.handlers import http
from werkzeug.routing import Map, Rule
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from services.common.auth.keystore import AuthFiles, Verifier
from services.common.auth.pagination import paginate
from services.common.auth.principals import Kind
from services.common.auth.ratelimit import Rate
from services.common.auth.routes import ALLOWED, Route, breaches, matrix, routes_of, unruled
from services.common.auth.tokens import issue
from services.common.authweb import Gate, request_page
from services.common.errors import AUTH_ERRORS, AccessRefused, http_status
from services.common.guard import Auth, AuthContext, guarded, guarded_rpc, rpc_context
from services.common.web import HttpError, OpsEndpoints, json_api

NOW = datetime(2025, 3, 4, 9, 30, tzinfo=timezone.utc)
WHISTLES = {"w-dx": {"whistle_id": "w-dx", "street_code": "daxigou", "department_codes": ("chengguan", "guihua")},
            "w-nx": {"whistle_id": "w-nx", "street_code": "nanxiashu", "department_codes": ("gongan",)}}
CALLOUTS = {c["callout_id"]: c for c in (
    {"callout_id": "c-cg", "whistle_id": "w-dx", "street_code": "daxigou", "department_code": "chengguan"},
    {"callout_id": "c-gh", "whistle_id": "w-dx", "street_code": "daxigou", "department_code": "guihua"},
    {"callout_id": "c-ga", "whistle_id": "w-nx", "street_code": "nanxiashu", "department_code": "gongan"})}
ARBITRATIONS = [{"arbitration_id": f"a{i:02}", "street_code": "daxigou"} for i in range(5)]


class StandIn(OpsEndpoints):
    name = "standin"
    auth = Auth()

    @http("POST", "/api/v1/whistles")
    @guarded("whistle.raise")
    @json_api
    def post_whistle(self, request):
        body = self.auth.claim(json.loads(request.get_data()))
        self.auth.require({"street_code": body.get("street_code")})
        return 201, {"raised_by": self.auth.record()}

    def _whistle(self, whistle_id):
        if whistle_id not in WHISTLES:
            raise HttpError(404, f"no whistle {whistle_id}")
        self.auth.require(WHISTLES[whistle_id])
        return WHISTLES[whistle_id]

    @http("GET", "/api/v1/whistles/<string:whistle_id>")
    @guarded("whistle.read", obj="whistle")
    @json_api
    def get_whistle(self, request, whistle_id):
        return 200, self._whistle(whistle_id)

    @http("POST", "/api/v1/whistles/<string:whistle_id>/closure")
    @guarded("whistle.close", obj="whistle")
    @json_api
    def close(self, request, whistle_id):
        return 200, {"closed": self._whistle(whistle_id)["whistle_id"], "by": str(self.auth.principal)}

    @http("GET", "/api/v1/whistles/<string:whistle_id>/callouts")
    @guarded("callout.read", obj="whistle")
    @json_api
    def callouts(self, request, whistle_id):
        self._whistle(whistle_id)
        rows = [c for c in CALLOUTS.values() if c["whistle_id"] == whistle_id]
        return 200, {"callouts": self.auth.visible(rows)}

    @http("POST", "/api/v1/reports/checkin")
    @guarded("callout.report", obj="callout")
    @json_api
    def check_in(self, request):
        body = self.auth.claim(json.loads(request.get_data()))
        callout = CALLOUTS.get(body.get("callout_id"))
        if callout is None:
            raise HttpError(404, "no such call-out")
        self.auth.require(callout)
        return 200, {"checked_in": callout["callout_id"]}

    @http("GET", "/api/v1/arbitrations")
    @guarded("arbitration.read")
    @json_api
    def arbitrations(self, request):
        return 200, paginate(ARBITRATIONS, lambda a: a["arbitration_id"], request_page(request, maximum=3)).body(
            "arbitrations")

    @rpc(expected_exceptions=AUTH_ERRORS)
    @guarded_rpc("whistle.close", obj="whistle")
    def close_whistle(self, whistle_id):
        return {"closed": self._whistle(whistle_id)["whistle_id"]}


# ---------------------------------------------------------------- plumbing: one token per principal

class Clock:
    def __init__(self):
        self.wall, self.mono = NOW, 1000.0

    def advance(self, seconds):
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


@pytest.fixture
def world(tmp_path):
    files = AuthFiles(tmp_path)
    key = files.rotate(NOW)
    clock = Clock()
    gate = Gate(Verifier(tmp_path), Rate(per_minute=60, burst=3), lambda: clock.wall, lambda: clock.mono)
    codes = {Kind.STREET: "daxigou", Kind.DEPARTMENT: "chengguan", Kind.DISTRICT: "zhangwei",
             Kind.ASSESSMENT: "assessment", Kind.OPERATOR: "duty", Kind.SERVICE: "dispatch",
             Kind.HOTLINE: "beijing12345", Kind.FOLLOW_UP: "huifang", Kind.OPEN311: "fixmystreet"}
    tokens = {kind: issue(kind, code, key, NOW, timedelta(days=1)) for kind, code in codes.items()}
    for issued in tokens.values():
        files.record(issued, None)
    return {"files": files, "key": key, "gate": gate, "clock": clock,
            "tokens": {kind: issued.token for kind, issued in tokens.items()},
            "ids": {kind: issued.token_id for kind, issued in tokens.items()}}


URLS = Map([Rule(r.path, endpoint=r.name, methods=[r.method]) for r in routes_of(StandIn) if r.method != "RPC"])


def call(world, method, path, token=None, body=None, headers=None):
    """One HTTP request through the service's route, as nameko would dispatch it (a fresh worker)."""
    all_headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
    environ = EnvironBuilder(path=path, method=method, headers=all_headers,
                             data=json.dumps(body) if body is not None else None,
                             content_type="application/json").get_environ()
    endpoint, kwargs = URLS.bind_to_environ(environ).match()
    service = StandIn()
    service.auth = AuthContext(world["gate"], {})
    response = getattr(service, endpoint)(Request(environ), **kwargs)
    return response.status_code, json.loads(response.get_data()), response.headers


def call_rpc(world, method, *args, token=None):
    service = StandIn()
    service.auth = AuthContext(world["gate"], rpc_context(token) if token else {})
    try:
        getattr(service, method)(*args)
        return 200
    except AccessRefused as exc:
        return http_status(exc)


# ---------------------------------------------------------------- authentication

def test_no_token_or_a_bad_one_is_401_with_a_bearer_challenge_and_json(world):
    status, body, headers = call(world, "GET", "/api/v1/whistles/w-dx")
    assert status == 401 and headers["WWW-Authenticate"] == 'Bearer realm="chuishao"'
    assert "missing bearer token" in body["error"] and body["error_zh"]
    for bad in ("garbage", world["tokens"][Kind.STREET][:-5]):
        status, body, headers = call(world, "GET", "/api/v1/whistles/w-dx", token=bad)
        assert status == 401 and 'error="invalid_token"' in headers["WWW-Authenticate"]
        assert bad not in json.dumps(body)
    status, body, _ = call(world, "GET", "/api/v1/whistles/w-dx", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert status == 401 and "Bearer" in body["error"]


def test_an_expired_or_revoked_token_is_401(world):
    token = world["tokens"][Kind.STREET]
    assert call(world, "GET", "/api/v1/whistles/w-dx", token=token)[0] == 200
    world["files"].revoke(world["ids"][Kind.STREET], NOW)
    status, body, _ = call(world, "GET", "/api/v1/whistles/w-dx", token=token)
    assert status == 401 and "revoked" in body["error"]
    world["clock"].advance(2 * 86400)
    status, body, _ = call(world, "GET", "/api/v1/whistles/w-dx", token=world["tokens"][Kind.DISTRICT])
    assert status == 401 and "expired" in body["error"]


def test_a_token_of_the_wrong_kind_is_403_and_another_streets_whistle_is_403(world):
    status, body, _ = call(world, "POST", "/api/v1/whistles/w-dx/closure", token=world["tokens"][Kind.DEPARTMENT],
                           body={})
    assert status == 403 and "department token may not close a whistle" in body["error"]
    status, body, _ = call(world, "POST", "/api/v1/whistles/w-nx/closure", token=world["tokens"][Kind.STREET], body={})
    assert status == 403 and body["errors"] == [{"field": "street_code", "message": body["error"]}]
    status, body, _ = call(world, "POST", "/api/v1/whistles/w-dx/closure", token=world["tokens"][Kind.STREET], body={})
    assert (status, body["by"]) == (200, "street:daxigou")


def test_a_body_naming_another_street_is_403_naming_the_field_and_a_missing_one_is_filled(world):
    token = world["tokens"][Kind.STREET]
    status, body, _ = call(world, "POST", "/api/v1/whistles", token=token, body={"street_code": "nanxiashu"})
    assert status == 403 and body["errors"][0]["field"] == "street_code"
    status, body, _ = call(world, "POST", "/api/v1/whistles", token=token, body={"category": "noise"})
    assert status == 201 and body["raised_by"] == {"kind": "street", "code": "daxigou",
                                                   "token_id": world["ids"][Kind.STREET]}


def test_a_department_sees_only_its_own_call_outs_of_a_whistle_it_is_called_on(world):
    token = world["tokens"][Kind.DEPARTMENT]
    status, body, _ = call(world, "GET", "/api/v1/whistles/w-dx/callouts", token=token)
    assert status == 200 and [c["callout_id"] for c in body["callouts"]] == ["c-cg"]
    assert call(world, "GET", "/api/v1/whistles/w-nx/callouts", token=token)[0] == 403
    status, body, _ = call(world, "GET", "/api/v1/whistles/w-dx/callouts", token=world["tokens"][Kind.STREET])
    assert [c["callout_id"] for c in body["callouts"]] == ["c-cg", "c-gh"]


def test_rpc_callers_prove_themselves_with_a_token_in_the_context_data(world):
    assert call_rpc(world, "close_whistle", "w-dx") == 401
    assert call_rpc(world, "close_whistle", "w-dx", token="garbage") == 401
    assert call_rpc(world, "close_whistle", "w-dx", token=world["tokens"][Kind.STREET]) == 200
    assert call_rpc(world, "close_whistle", "w-nx", token=world["tokens"][Kind.STREET]) == 403
    assert call_rpc(world, "close_whistle", "w-nx", token=world["tokens"][Kind.DISTRICT]) == 403
    assert call_rpc(world, "close_whistle", "w-nx", token=world["tokens"][Kind.SERVICE]) == 200


# ---------------------------------------------------------------- limits

def test_writes_beyond_the_rate_are_429_with_retry_after_and_reads_are_not_limited(world):
    token = world["tokens"][Kind.STREET]
    for _ in range(3):
        assert call(world, "POST", "/api/v1/whistles", token=token, body={})[0] == 201
    status, body, headers = call(world, "POST", "/api/v1/whistles", token=token, body={})
    assert status == 429 and headers["Retry-After"] == "1" and "street:daxigou" in body["error"]
    assert call(world, "GET", "/api/v1/whistles/w-dx", token=token)[0] == 200
    service = world["tokens"][Kind.SERVICE]
    assert all(call(world, "POST", "/api/v1/whistles", token=service, body={"street_code": "daxigou"})[0] == 201
               for _ in range(5))
    world["clock"].advance(1)
    assert call(world, "POST", "/api/v1/whistles", token=token, body={})[0] == 201


def test_lists_are_bounded_and_paged_with_an_opaque_cursor(world):
    token = world["tokens"][Kind.DISTRICT]
    status, body, _ = call(world, "GET", "/api/v1/arbitrations?limit=2", token=token)
    assert status == 200 and [a["arbitration_id"] for a in body["arbitrations"]] == ["a00", "a01"]
    status, body, _ = call(world, "GET", f"/api/v1/arbitrations?limit=2&cursor={body['next_cursor']}", token=token)
    assert [a["arbitration_id"] for a in body["arbitrations"]] == ["a02", "a03"]
    status, body, _ = call(world, "GET", f"/api/v1/arbitrations?cursor={body['next_cursor']}", token=token)
    assert [a["arbitration_id"] for a in body["arbitrations"]] == ["a04"] and body["next_cursor"] is None
    for query, field in (("limit=0", "limit"), ("limit=4", "limit"), ("limit=x", "limit"), ("cursor=%21%21", "cursor")):
        status, body, _ = call(world, "GET", f"/api/v1/arbitrations?{query}", token=token)
        assert status == 400 and body["errors"][0]["field"] == field, query


# ---------------------------------------------------------------- the matrix

def test_every_route_has_a_rule_and_a_new_route_without_one_is_named():
    assert unruled(StandIn) == []

    class Grown(StandIn):
        @http("DELETE", "/api/v1/whistles/<string:whistle_id>")
        @json_api
        def delete(self, request, whistle_id):
            return 200, {}

        @rpc
        def purge(self):
            return None

    assert unruled(Grown) == ["DELETE /api/v1/whistles/<string:whistle_id> (delete)", "RPC purge (purge)"]
    with pytest.raises(KeyError, match="no rule for action 'whistle.delete'"):
        guarded("whistle.delete")


def test_the_matrix_covers_every_route_kind_and_ownership():
    routes = routes_of(StandIn)
    cases = matrix(routes)
    close = [c for c in cases if c.route.name == "close"]
    assert {(c.kind, c.relation, c.expected) for c in close} == {
        (None, "anonymous", 401), (Kind.STREET, "own", ALLOWED), (Kind.STREET, "other", 403),
        (Kind.DEPARTMENT, "any", 403), (Kind.DISTRICT, "any", 403), (Kind.ASSESSMENT, "any", 403),
        (Kind.OPERATOR, "any", 403), (Kind.SERVICE, "any", ALLOWED), (Kind.HOTLINE, "any", 403),
        (Kind.FOLLOW_UP, "any", 403), (Kind.OPEN311, "any", 403)}
    assert len({c.id for c in cases}) == len(cases)
    assert Route("RPC", "close_whistle", "whistle.close", "whistle", "close_whistle") in routes


def request_for(case):
    """The stand-in's fixtures: an object of the principal's own (street daxigou, department chengguan)
    or of somebody else's (nanxiashu, gongan)."""
    other = case.relation == "other"
    whistle = "w-nx" if other else "w-dx"
    route = case.route
    if route.name == "post_whistle":
        return "POST", "/api/v1/whistles", {"street_code": "nanxiashu" if other else "daxigou"}
    if route.name == "check_in":
        return "POST", "/api/v1/reports/checkin", {"callout_id": "c-ga" if other else "c-cg"}
    if route.method == "RPC":
        return "RPC", route.path, whistle
    return route.method, route.path.replace("<string:whistle_id>", whistle), {} if route.method == "POST" else None


def test_zero_breaches_every_route_every_principal_kind_own_and_other(world):
    cases = matrix(routes_of(StandIn))
    assert len(cases) > 50

    def attempt(case):
        world["gate"].buckets._buckets.clear()           # the rate limit is tested on its own
        token = None if case.kind is None else world["tokens"][case.kind]
        method, path, payload = request_for(case)
        if method == "RPC":
            return call_rpc(world, path, payload, token=token)
        return call(world, method, path, token=token, body=payload)[0]

    assert breaches(cases, attempt) == []


def test_a_breach_is_reported():
    [route] = [r for r in routes_of(StandIn) if r.name == "close"]
    cases = matrix([route])
    assert breaches(cases, lambda case: 200) == [f"{c.id}: expected {c.expected}, got 200"
                                                 for c in cases if c.expected != ALLOWED]


def test_json_api_answers_the_error_tables_access_refusals_with_their_headers():
    from services.common.errors import Forbidden, TooManyRequests, Unauthenticated

    class Endpoint:
        @json_api
        def handle(self, request, exc):
            raise exc

    request = Request(EnvironBuilder(path="/x").get_environ())
    for exc, status, headers in (
            (Unauthenticated("missing bearer token", "缺少令牌"), 401, {"WWW-Authenticate": 'Bearer realm="chuishao"'}),
            (Unauthenticated("token expired", "令牌已过期", token_given=True), 401,
             {"WWW-Authenticate": 'Bearer realm="chuishao", error="invalid_token"'}),
            (TooManyRequests("too many writes", "写入过于频繁", retry_after=2.2), 429, {"Retry-After": "3"}),
            (Forbidden.one("street_code", "another street's"), 403, {})):
        response = Endpoint().handle(request, exc)
        body = json.loads(response.get_data())
        assert response.status_code == status and body["error"] == exc.reason and "error_zh" in body
        assert {k: response.headers[k] for k in headers} == headers
        assert ("WWW-Authenticate" in response.headers) == (status == 401)
    assert json.loads(Endpoint().handle(request, Forbidden.one("street_code", "x")).get_data())["errors"] == [
        {"field": "street_code", "message": "x"}]

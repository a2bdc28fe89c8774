"""The authorization matrix against the real services: every route and RPC method x every principal kind
x its own / somebody else's object, with the status the rule table expects; zero breaches.

The routes come from the services' own route tables (services.common.auth.routes.routes_of), so a
route added to a service is in the matrix at once; this module then fails until REQUESTS says how to
call it. The world: whistle A of 大溪沟 (daxigou) for a blocked fire lane, which calls 消防 (xiaofang,
the department principal here), 交管 and 城管; whistle B of 南夏墅 (nanxiashu) for illegal construction,
which does not call 消防. Both get a joint team. "own" is A (or 消防's call-out on A), "other" is B
(or 交管's call-out on A)."""
from __future__ import annotations

import contextlib
import uuid

import pytest
import requests
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy

from services.common.auth.principals import Kind
from services.common.auth.routes import breaches, matrix, routes_of
from services.dispatch.service import DispatchService
from services.metrics.service import MetricsService
from services.roster.service import RosterService
from services.whistle.service import WhistleService
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
SERVICES = {"whistle": WhistleService, "dispatch": DispatchService, "roster": RosterService,
            "metrics": MetricsService}
ROUTES = [(service, route) for service, cls in SERVICES.items() for route in routes_of(cls)]
STREET, OTHER_STREET, DEPARTMENT = "daxigou", "nanxiashu", "xiaofang"
RPC_STATUS = {"Unauthenticated": 401, "Forbidden": 403, "TooManyRequests": 429}
EVIDENCE = {"before_photo": "photo://b", "after_photo": "photo://a", "checklist": ["通道已清空"]}


@pytest.fixture(scope="module")
def world(stack):
    # a burst larger than the matrix's writes per principal (the rate limit is tried on its own below)
    stack.extra_env.update(WRITE_BURST="30", WRITE_RATE_PER_MINUTE="60")
    stack.start("whistle", "dispatch", "roster")
    with stack.rpc() as rpc:
        own = rpc.whistle.raise_whistle(raise_body(STREET, "blocked_fire_lane", "daxigou-c1-g1"))["whistle_id"]
        other = rpc.whistle.raise_whistle(raise_body(OTHER_STREET, "illegal_construction",
                                                     "nanxiashu-c1-g1"))["whistle_id"]
        callouts = wait_for(lambda: (c := rpc.dispatch.callouts_of(own)) and len(c) == 3 and c, what="A's call-outs")
        wait_for(lambda: rpc.dispatch.callouts_of(other), what="B's call-outs")
        for whistle_id in (own, other):
            wait_for(lambda: rpc.roster.team_of(whistle_id), what="the joint teams")
    by_department = {c["department_code"]: c["callout_id"] for c in callouts}
    return {"whistle": {"own": own, "other": other},
            "callout": {"own": (DEPARTMENT, by_department[DEPARTMENT]), "other": ("jiaoguan", by_department["jiaoguan"])}}


@pytest.fixture(scope="module")
def proxies(stack, world):
    """One RPC proxy per principal kind (and one with no token), open for the module."""
    with contextlib.ExitStack() as opened:
        found = {kind: opened.enter_context(stack.rpc(kind, code_of(kind))) for kind in Kind}
        found[None] = opened.enter_context(ClusterRpcProxy(stack.rpc_config()))
        yield found


def code_of(kind: Kind) -> str | None:
    return {Kind.STREET: STREET, Kind.DEPARTMENT: DEPARTMENT}.get(kind)


def raise_body(street: str | None, category: str = "noise", grid: str | None = None) -> dict:
    body = {"request_id": f"matrix-{uuid.uuid4().hex[:10]}", "street_code": street, "grid_code": grid,
            "category": category, "urgency": "urgent", "source": "street_office",
            "description": "矩阵测试 (authorization matrix)", "place": {"address": "矩阵路1号"},
            "reported_by": "测试员"}
    return body if street is not None else {k: v for k, v in body.items() if k != "street_code"}


# ---------------------------------------------------------------- how each route is called, per case

def relation(case) -> str:
    return "other" if case.relation == "other" else "own"


def whistle_of(world, case) -> str:
    return world["whistle"][relation(case)]


def street_body(world, case, body: dict) -> dict:
    """A street's body leaves its street out (the token fills it); anyone else names the whistle's street."""
    if case.kind is Kind.STREET:
        return body
    return {**body, "street_code": STREET}


def report_body(world, case, **fields) -> dict:
    department, callout_id = world["callout"][relation(case)]
    body = {"request_id": f"matrix-{uuid.uuid4().hex[:10]}", "callout_id": callout_id, **fields}
    return body if case.kind is Kind.DEPARTMENT else {**body, "department_code": department}


def raise_for(case) -> dict:
    if case.kind is Kind.STREET:
        return raise_body(OTHER_STREET if case.relation == "other" else None)
    return raise_body(STREET)


CLOSE = {"confirmed_by": "街道 李主任", "evidence": EVIDENCE}
SEND_BACK = {"by": "街道 李主任", "reason": "现场仍未清空"}
FOLLOW_UP = {"rating": "satisfied", "recorded_by": "回访员"}

# (service, method name) -> world, case -> (HTTP method, path, JSON body or None) | ("RPC", args)
REQUESTS = {
    ("whistle", "post_whistle"): lambda w, c: ("POST", "/api/v1/whistles", raise_for(c)),
    ("whistle", "http_list_whistles"): lambda w, c: (
        "GET", f"/api/v1/whistles?street={OTHER_STREET if c.relation == 'other' else STREET}", None),
    ("whistle", "http_get_whistle"): lambda w, c: ("GET", f"/api/v1/whistles/{whistle_of(w, c)}", None),
    ("whistle", "http_get_timeline"): lambda w, c: ("GET", f"/api/v1/whistles/{whistle_of(w, c)}/timeline", None),
    ("whistle", "http_close"): lambda w, c: (
        "POST", f"/api/v1/whistles/{whistle_of(w, c)}/closure", street_body(w, c, CLOSE)),
    ("whistle", "http_send_back"): lambda w, c: (
        "POST", f"/api/v1/whistles/{whistle_of(w, c)}/send-back", street_body(w, c, SEND_BACK)),
    ("whistle", "http_follow_up"): lambda w, c: (
        "POST", f"/api/v1/whistles/{whistle_of(w, c)}/follow-up", FOLLOW_UP),
    ("whistle", "raise_whistle"): lambda w, c: ("RPC", (raise_for(c),)),
    ("whistle", "close_whistle"): lambda w, c: ("RPC", ({"whistle_id": whistle_of(w, c), **street_body(w, c, CLOSE)},)),
    ("whistle", "send_back"): lambda w, c: ("RPC", ({"whistle_id": whistle_of(w, c), **street_body(w, c, SEND_BACK)},)),
    ("whistle", "record_follow_up"): lambda w, c: ("RPC", ({"whistle_id": whistle_of(w, c), **FOLLOW_UP},)),
    ("whistle", "get_whistle"): lambda w, c: ("RPC", (whistle_of(w, c),)),
    ("dispatch", "http_callouts"): lambda w, c: ("GET", f"/api/v1/whistles/{whistle_of(w, c)}/callouts", None),
    ("dispatch", "http_report"): lambda w, c: ("POST", "/api/v1/reports/checkin", report_body(w, c, officer="队员 甲")),
    ("dispatch", "http_check_in"): lambda w, c: ("POST", "/api/v1/checkins", report_body(w, c, officer="队员 乙")),
    ("dispatch", "http_add_department"): lambda w, c: (
        "POST", f"/api/v1/whistles/{whistle_of(w, c)}/departments",
        {"whistle_id": whistle_of(w, c), "department_code": "nosuch", "by": "区督办", "reason": "矩阵测试增派"}),
    ("dispatch", "http_arbitrations"): lambda w, c: ("GET", "/api/v1/arbitrations", None),
    ("dispatch", "http_decide"): lambda w, c: (
        "POST", "/api/v1/arbitrations/arb-none/decision",
        {"arbitration_id": "arb-none", "decided_by": "区城管委", "grid_code": "daxigou-c1-g1"}),
    ("dispatch", "http_overdue"): lambda w, c: ("GET", "/api/v1/overdue", None),
    ("dispatch", "check_in"): lambda w, c: ("RPC", (report_body(w, c, officer="队员 丙"),)),
    ("dispatch", "report"): lambda w, c: ("RPC", ("checkin", report_body(w, c, officer="队员 丁"))),
    ("dispatch", "add_department"): lambda w, c: (
        "RPC", ({"whistle_id": whistle_of(w, c), "department_code": "nosuch", "by": "区督办", "reason": "矩阵测试增派"},)),
    ("dispatch", "decide_arbitration"): lambda w, c: (
        "RPC", ({"arbitration_id": "arb-none", "decided_by": "区城管委", "grid_code": "daxigou-c1-g1"},)),
    ("dispatch", "callouts_of"): lambda w, c: ("RPC", (whistle_of(w, c),)),
    ("dispatch", "case_of"): lambda w, c: ("RPC", (whistle_of(w, c),)),
    ("dispatch", "open_arbitrations"): lambda w, c: ("RPC", ()),
    ("dispatch", "overdue"): lambda w, c: ("RPC", ()),
    ("roster", "http_team"): lambda w, c: ("GET", f"/api/v1/whistles/{whistle_of(w, c)}/team", None),
    ("roster", "team_of"): lambda w, c: ("RPC", (whistle_of(w, c),)),
}


def attempt(stack, world, proxies, service: str, case):
    """The answer to one case: the HTTP status, or for RPC the status of the refusal it raised."""
    request = REQUESTS[(service, case.route.name)](world, case)
    if request[0] == "RPC":
        try:
            getattr(getattr(proxies[case.kind], service), case.route.path)(*request[1])
            return 200
        except RemoteError as exc:
            return RPC_STATUS.get(exc.exc_type, exc.exc_type)
    method, path, body = request
    headers = {} if case.kind is None else stack.bearer(case.kind, code_of(case.kind))
    response = requests.request(method, f"{stack.url(service)}{path}", json=body, headers=headers, timeout=10)
    if response.status_code in (401, 403):       # a refusal is JSON and says why; a 401 says how to authenticate
        assert response.json()["error"] and response.json()["error_zh"], response.text
        assert response.status_code == 403 or response.headers["WWW-Authenticate"].startswith("Bearer")
    return response.status_code


def test_every_route_of_every_service_is_in_the_matrix():
    """A new route or RPC method must be given a request in REQUESTS (and a rule: tests/unit/test_auth_services.py)."""
    missing = [f"{service} {route.method} {route.path} ({route.name})" for service, route in ROUTES
               if (service, route.name) not in REQUESTS]
    assert missing == [], "add these to REQUESTS"
    assert len(ROUTES) == len(REQUESTS)


@pytest.mark.parametrize("service, route", ROUTES, ids=[f"{s}:{r.method}:{r.path}" for s, r in ROUTES])
def test_zero_breaches(stack, world, proxies, service, route):
    cases = matrix([route])
    assert breaches(cases, lambda case: attempt(stack, world, proxies, service, case)) == []


def test_writes_beyond_the_principals_rate_are_429_with_retry_after(stack, world):
    url = f"{stack.url('whistle')}/api/v1/whistles"
    headers = stack.bearer(Kind.STREET, "jinhaihu")
    answers = [requests.post(url, json={"not": "a whistle"}, headers=headers, timeout=5) for _ in range(40)]
    assert [a.status_code for a in answers[:30]] == [422] * 30          # the burst: refused as invalid, but writes
    limited = next(a for a in answers[30:] if a.status_code != 422)     # then the bucket runs dry (1 a second back)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert "street:jinhaihu" in limited.json()["error"]
    assert requests.get(url, headers=headers, timeout=5).status_code == 200      # reads are not limited
    other = requests.post(url, json={"not": "a whistle"}, headers=stack.bearer(Kind.STREET, "xinjiekou"), timeout=5)
    assert other.status_code == 422                                     # one bucket per principal

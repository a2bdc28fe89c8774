"""The authorization matrix against the real services: every route and RPC method x every principal kind
x its own / somebody else's object, with the status the rule table expects; zero breaches.

The routes come from the services' own route tables (services.common.auth.routes.routes_of), so a
route added to a service is in the matrix at once; this module then fails until REQUESTS says how to
call it. The world: whistle A of 大溪沟 (daxigou) for a blocked fire lane, which calls 消防 (xiaofang,
the department principal here), 交管 and 城管; whistle B of 南夏墅 (nanxiashu) for illegal construction,
which does not call 消防. Both get a joint team. "own" is A (or 消防's call-out on A, its member of A's
team), "other" is B (or 交管's call-out on A, its member). Below the whistle: a grid event and a 12345
ticket of each street, and an Open311 request. The roster's own department is 消防, the other 交管 (their
officers, schedules and service history); the assessment is this month's.

Writes of "own" objects are real where they are harmless (an officer registered, the same rotations
put back, leave next year); a write of "other" is a body the route would take but for the check.
Open311 routes take the spec's api_key (the token is sent as it) and refuse without one by the spec's
403, in its error shape (services/whistle/open311_web.py), where every other route answers 401."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import uuid
from datetime import datetime, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
import requests
import yaml
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy

from services.common.auth.principals import Kind
from services.common.auth.routes import breaches, matrix, routes_of
from services.common.reference import DEFAULT_PATH
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
OWN_DEPARTMENT, OTHER_DEPARTMENT = DEPARTMENT, "jiaoguan"
RPC_STATUS = {"Unauthenticated": 401, "Forbidden": 403, "TooManyRequests": 429}
EVIDENCE = {"before_photo": "photo://b", "after_photo": "photo://a", "checklist": ["通道已清空"]}
OPEN311 = "/open311/"
# each principal's write bucket: larger than its writes in the matrix (the department's are over 40);
# the rate limit itself is tried on its own below
BURST = 100
CHINA: tzinfo = ZoneInfo("Asia/Shanghai")
ROSTER = yaml.safe_load(DEFAULT_PATH.with_name("roster.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def world(stack):
    stack.extra_env.update(WRITE_BURST=str(BURST), WRITE_RATE_PER_MINUTE="60")
    stack.start("whistle", "dispatch", "roster", "metrics")
    with stack.rpc() as rpc:
        own = rpc.whistle.raise_whistle(raise_body(STREET, "blocked_fire_lane", "daxigou-c1-g1"))["whistle_id"]
        other = rpc.whistle.raise_whistle(raise_body(OTHER_STREET, "illegal_construction",
                                                     "nanxiashu-c1-g1"))["whistle_id"]
        callouts = wait_for(lambda: (c := rpc.dispatch.callouts_of(own)) and len(c) == 3 and c, what="A's call-outs")
        wait_for(lambda: rpc.dispatch.callouts_of(other), what="B's call-outs")
        teams = {w: wait_for(lambda w=w: rpc.roster.team_of(w), what="the joint teams") for w in (own, other)}
    by_department = {c["department_code"]: c["callout_id"] for c in callouts}
    members = {m["department_code"]: m["officer_code"] for m in teams[own]["members"]}
    return {"whistle": {"own": own, "other": other},
            "callout": {"own": (DEPARTMENT, by_department[DEPARTMENT]),
                        "other": (OTHER_DEPARTMENT, by_department[OTHER_DEPARTMENT])},
            "team": {"own": teams[own]["team_id"], "other": teams[other]["team_id"]},
            "member": {"own": (OWN_DEPARTMENT, members.get(OWN_DEPARTMENT, f"{OWN_DEPARTMENT}-01")),
                       "other": (OTHER_DEPARTMENT, members.get(OTHER_DEPARTMENT, f"{OTHER_DEPARTMENT}-01"))},
            "grid_event": {"own": open_grid_event(stack, STREET, "daxigou-c1-g1"),
                           "other": open_grid_event(stack, OTHER_STREET, "nanxiashu-c1-g1")},
            "ticket": {"own": send_ticket(stack, STREET, "daxigou-c2-g1"),
                       "other": send_ticket(stack, OTHER_STREET, "nanxiashu-c1-g1")},
            "open311": report_open311(stack),
            "period": datetime.now(CHINA).strftime("%Y-%m")}


def open_grid_event(stack, street: str, grid: str) -> str:
    answer = requests.post(f"{stack.url('whistle')}/api/v1/grid-events", json=grid_event_body(street, grid),
                           headers=stack.bearer(), timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()["grid_event_id"]


def send_ticket(stack, street: str, grid: str) -> str:
    body = ticket_body(street, grid)
    answer = requests.post(f"{stack.url('whistle')}/api/v1/tickets", json=body, headers=stack.bearer(Kind.HOTLINE),
                           timeout=10)
    assert answer.status_code == 201, answer.text
    return body["ticket_id"]


def report_open311(stack) -> str:
    answer = requests.post(f"{stack.url('whistle')}{OPEN311}v2/requests.json",
                           data={"api_key": stack.token(Kind.OPEN311), **open311_report()}, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()[0]["service_request_id"]


@pytest.fixture(scope="module")
def proxies(stack, world):
    """One RPC proxy per principal kind (and one with no token), open for the module."""
    with contextlib.ExitStack() as opened:
        found = {kind: opened.enter_context(stack.rpc(kind, code_of(kind))) for kind in Kind}
        found[None] = opened.enter_context(ClusterRpcProxy(stack.rpc_config()))
        yield found


def code_of(kind: Kind | None) -> str | None:
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


def matrix_id(prefix: str = "matrix") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def department_of(case) -> str:
    return OTHER_DEPARTMENT if case.relation == "other" else OWN_DEPARTMENT


def jsonable(value):
    """YAML's dates and times as the ISO strings the APIs take."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=lambda v: v.isoformat()))


def roster_officer(code: str) -> dict:
    return jsonable(next(o for o in ROSTER["officers"] if o["code"] == code))


def rotations_of(department: str) -> dict:
    schedule = next(s for s in ROSTER["schedules"] if s["department"] == department)
    return jsonable({"rotations": schedule["rotations"]})


def new_officer(department: str) -> dict:
    """An officer of `department` nobody has registered yet."""
    tag = uuid.uuid4().hex[:6]
    return {"code": f"{department}-m{tag}", "name": "矩阵队员", "department": department, "badge": f"MX{tag}",
            "certificate": {"number": f"50-MX-{tag}", "expires_on": "2031-06-30"},
            "qualifications": [ROSTER_QUALIFICATION[department]], "contact": "13800000000"}


ROSTER_QUALIFICATION = {OWN_DEPARTMENT: "blocked_fire_lane", OTHER_DEPARTMENT: "illegal_parking"}


def officer_csv(department: str) -> str:
    o = new_officer(department)
    return ("code,name,department,badge,certificate_number,certificate_expires_on,qualifications,contact\n"
            f"{o['code']},{o['name']},{department},{o['badge']},{o['certificate']['number']},"
            f"{o['certificate']['expires_on']},{o['qualifications'][0]},{o['contact']}\n")


def schedule_change(kind: str, department: str) -> dict:
    """An override, a swap or a leave of the department's first officers, next year (harmless when applied)."""
    first, second = f"{department}-01", f"{department}-02"
    year = datetime.now(CHINA).year + 1
    start, end = f"{year}-03-02T09:00:00+08:00", f"{year}-03-02T12:00:00+08:00"
    if kind == "override":
        return {"officer": first, "start": start, "end": end, "note": "矩阵测试"}
    if kind == "swap":
        return {"first": first, "first_start": start, "first_end": end,
                "second": second, "second_start": f"{year}-03-03T09:00:00+08:00",
                "second_end": f"{year}-03-03T12:00:00+08:00"}
    return {"officer": second, "start": start, "end": end, "reason": "training", "note": "矩阵测试"}


def member_body(world, case) -> dict:
    """A member's check-in or decline: a department's token fills its own department_code; another
    department's member is named with that department's code (anyone else names the code too)."""
    department, officer = world["member"][relation(case)]
    body = {"request_id": matrix_id(), "officer_code": officer}
    if case.kind is Kind.DEPARTMENT and case.relation != "other":
        return body
    return {**body, "department_code": department}


def grid_event_body(street: str | None, grid: str) -> dict:
    body = {"request_id": matrix_id(), "street_code": street, "grid_code": grid, "category": "garbage_dumping",
            "source": "grid_patrol", "description": "矩阵测试：巷口有垃圾 (authorization matrix)",
            "place": {"address": "矩阵路1号"}, "reported_by": "网格员 测试"}
    return body if street is not None else {k: v for k, v in body.items() if k != "street_code"}


def open_for(case) -> dict:
    if case.kind is Kind.STREET:
        return grid_event_body(OTHER_STREET, "nanxiashu-c1-g1") if case.relation == "other" \
            else grid_event_body(None, "daxigou-c1-g1")
    return grid_event_body(STREET, "daxigou-c1-g1")


def ticket_body(street: str, grid: str) -> dict:
    return {"ticket_id": f"MATRIX-{uuid.uuid4().hex[:12]}", "street_code": street, "grid_code": grid,
            "category": "garbage_dumping", "description": "矩阵测试：小区门口垃圾无人清运",
            "place": {"address": "矩阵路2号"}, "received_at": datetime.now(timezone.utc).isoformat(),
            "complainant": {"name": "刘女士", "phone": "13800138000"}}


def open311_report() -> dict:
    return {"service_code": "garbage_dumping", "lat": "29.5625", "long": "106.5415",
            "description": f"矩阵测试 {uuid.uuid4().hex[:6]}", "first_name": "晓", "last_name": "刘"}


def decision(world) -> dict:
    """An appeal the district rejects: kept in the audit, changes no figure."""
    return {"kind": "appeal", "fact_kind": "whistle", "fact_id": world["whistle"]["own"],
            "reason": "矩阵测试：申诉不予支持", "decided_by": "区考核办", "upheld": False, "requested_by": "大溪沟街道"}


@dataclasses.dataclass(frozen=True)
class Raw:
    """A body that is not JSON (an officers' CSV)."""

    data: str
    content_type: str


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
        "RPC", ({"whistle_id": whistle_of(w, c), "department_code": "nosuch", "by": "区督办",
                 "reason": "矩阵测试增派"},)),
    ("dispatch", "decide_arbitration"): lambda w, c: (
        "RPC", ({"arbitration_id": "arb-none", "decided_by": "区城管委", "grid_code": "daxigou-c1-g1"},)),
    ("dispatch", "callouts_of"): lambda w, c: ("RPC", (whistle_of(w, c),)),
    ("dispatch", "case_of"): lambda w, c: ("RPC", (whistle_of(w, c),)),
    ("dispatch", "open_arbitrations"): lambda w, c: ("RPC", ()),
    ("dispatch", "overdue"): lambda w, c: ("RPC", ()),
    # the command-centre page's calls, relayed to dispatch and the roster (which check the object)
    ("whistle", "board_session"): lambda w, c: ("GET", "/board/api/session", None),
    ("whistle", "board_callouts"): lambda w, c: (
        "GET", f"/board/api/dispatch/whistles/{whistle_of(w, c)}/callouts", None),
    ("whistle", "board_overdue"): lambda w, c: ("GET", "/board/api/dispatch/overdue", None),
    ("whistle", "board_arbitrations"): lambda w, c: ("GET", "/board/api/dispatch/arbitrations", None),
    ("whistle", "board_decide"): lambda w, c: (
        "POST", "/board/api/dispatch/arbitrations/arb-none/decision",
        {"arbitration_id": "arb-none", "decided_by": "区城管委", "grid_code": "daxigou-c1-g1"}),
    ("whistle", "board_team"): lambda w, c: ("GET", f"/board/api/roster/whistles/{whistle_of(w, c)}/team", None),
    # below the whistle: grid events, 12345 tickets, Open311
    ("whistle", "post_grid_event"): lambda w, c: ("POST", "/api/v1/grid-events", open_for(c)),
    ("whistle", "post_grid_event_step"): lambda w, c: (
        "POST", f"/api/v1/grid-events/{w['grid_event'][relation(c)]}/accept",
        {"request_id": matrix_id(), "by": "网格员 测试", "tier": "grid", "note": "矩阵测试受理"}),
    ("whistle", "get_grid_event"): lambda w, c: ("GET", f"/api/v1/grid-events/{w['grid_event'][relation(c)]}", None),
    ("whistle", "get_grid_event_contact"): lambda w, c: (
        "GET", f"/api/v1/grid-events/{w['grid_event'][relation(c)]}/contact", None),
    ("whistle", "post_ticket"): lambda w, c: ("POST", "/api/v1/tickets", ticket_body(STREET, "daxigou-c2-g1")),
    ("whistle", "get_ticket"): lambda w, c: ("GET", f"/api/v1/tickets/{w['ticket'][relation(c)]}", None),
    ("whistle", "open311_discovery"): lambda w, c: ("GET", f"{OPEN311}v2/discovery.json", None),
    ("whistle", "open311_services"): lambda w, c: ("GET", f"{OPEN311}v2/services.json", None),
    ("whistle", "open311_service"): lambda w, c: ("GET", f"{OPEN311}v2/services/garbage_dumping.json", None),
    ("whistle", "open311_post_request"): lambda w, c: ("POST", f"{OPEN311}v2/requests.json", open311_report()),
    ("whistle", "open311_requests"): lambda w, c: ("GET", f"{OPEN311}v2/requests.json", None),
    ("whistle", "open311_request"): lambda w, c: ("GET", f"{OPEN311}v2/requests/{w['open311']}.json", None),
    # roster: teams and their members
    ("roster", "http_team"): lambda w, c: ("GET", f"/api/v1/whistles/{whistle_of(w, c)}/team", None),
    ("roster", "team_of"): lambda w, c: ("RPC", (whistle_of(w, c),)),
    ("roster", "http_team_by_id"): lambda w, c: ("GET", f"/api/v1/teams/{w['team'][relation(c)]}", None),
    ("roster", "http_member_check_in"): lambda w, c: (
        "POST", f"/api/v1/teams/{w['team']['own']}/checkins", member_body(w, c)),
    ("roster", "http_member_decline"): lambda w, c: (
        "POST", f"/api/v1/teams/{w['team']['own']}/declines", {**member_body(w, c), "officer_code": "nobody-01",
                                                               "reason": "矩阵测试"}),
    ("roster", "check_in_as_member"): lambda w, c: ("RPC", ({"team_id": w["team"]["own"], **member_body(w, c)},)),
    ("roster", "decline_assignment"): lambda w, c: (
        "RPC", ({"team_id": w["team"]["own"], **member_body(w, c), "officer_code": "nobody-01",
                 "reason": "矩阵测试"},)),
    # roster: a department's officers, schedule, duty and history; a street's chiefs
    ("roster", "http_officers"): lambda w, c: ("GET", f"/api/v1/departments/{department_of(c)}/officers", None),
    ("roster", "http_register"): lambda w, c: (
        "POST", f"/api/v1/departments/{department_of(c)}/officers", new_officer(department_of(c))),
    ("roster", "http_update"): lambda w, c: (
        "PUT", f"/api/v1/departments/{department_of(c)}/officers/{department_of(c)}-01",
        roster_officer(f"{department_of(c)}-01")),
    ("roster", "http_import"): lambda w, c: (
        "POST", f"/api/v1/departments/{department_of(c)}/officers/import",
        Raw(officer_csv(department_of(c)), "text/csv")),
    ("roster", "register_officer"): lambda w, c: ("RPC", (new_officer(department_of(c)),)),
    ("roster", "update_officer"): lambda w, c: ("RPC", (roster_officer(f"{department_of(c)}-01"),)),
    ("roster", "import_officers"): lambda w, c: ("RPC", (department_of(c), officer_csv(department_of(c)), "csv")),
    ("roster", "http_schedule"): lambda w, c: ("GET", f"/api/v1/departments/{department_of(c)}/schedule", None),
    ("roster", "http_rotations"): lambda w, c: (
        "PUT", f"/api/v1/departments/{department_of(c)}/schedule/rotations", rotations_of(department_of(c))),
    ("roster", "http_override"): lambda w, c: (
        "POST", f"/api/v1/departments/{department_of(c)}/schedule/overrides",
        schedule_change("override", department_of(c))),
    ("roster", "http_swap"): lambda w, c: (
        "POST", f"/api/v1/departments/{department_of(c)}/schedule/swaps", schedule_change("swap", department_of(c))),
    ("roster", "http_leave"): lambda w, c: (
        "POST", f"/api/v1/departments/{department_of(c)}/schedule/leave", schedule_change("leave", department_of(c))),
    ("roster", "replace_rotations"): lambda w, c: ("RPC", (department_of(c), rotations_of(department_of(c)))),
    ("roster", "add_override"): lambda w, c: ("RPC", (department_of(c), schedule_change("override", department_of(c)))),
    ("roster", "add_swap"): lambda w, c: ("RPC", (department_of(c), schedule_change("swap", department_of(c)))),
    ("roster", "add_leave"): lambda w, c: ("RPC", (department_of(c), schedule_change("leave", department_of(c)))),
    ("roster", "http_on_duty"): lambda w, c: ("GET", f"/api/v1/departments/{department_of(c)}/on-duty", None),
    ("roster", "http_preview"): lambda w, c: ("GET", f"/api/v1/departments/{department_of(c)}/preview", None),
    ("roster", "http_department_feed"): lambda w, c: ("GET", f"/api/v1/departments/{department_of(c)}/duty.ics", None),
    ("roster", "http_officer_feed"): lambda w, c: ("GET", f"/api/v1/officers/{department_of(c)}-01/duty.ics", None),
    ("roster", "on_duty"): lambda w, c: ("RPC", (department_of(c),)),
    ("roster", "preview"): lambda w, c: ("RPC", (department_of(c),)),
    ("roster", "http_department_history"): lambda w, c: (
        "GET", f"/api/v1/departments/{department_of(c)}/history?month={w['period']}", None),
    ("roster", "http_officer_history"): lambda w, c: (
        "GET", f"/api/v1/officers/{department_of(c)}-01/history?month={w['period']}", None),
    ("roster", "history"): lambda w, c: ("RPC", (w["period"], department_of(c))),
    ("roster", "http_chiefs"): lambda w, c: (
        "GET", f"/api/v1/streets/{OTHER_STREET if c.relation == 'other' else STREET}/chiefs", None),
    # metrics: the assessment
    ("metrics", "http_assessment"): lambda w, c: ("GET", f"/api/v1/assessment/{w['period']}", None),
    ("metrics", "http_assessment_chart"): lambda w, c: ("GET", f"/api/v1/assessment/{w['period']}/chart.svg", None),
    ("metrics", "http_record_decision"): lambda w, c: ("POST", "/api/v1/assessment/decisions", decision(w)),
    ("metrics", "assessment"): lambda w, c: ("RPC", (w["period"],)),
    ("metrics", "record_decision"): lambda w, c: ("RPC", (decision(w),)),
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
    if path.startswith(OPEN311):
        return attempt_open311(stack, service, case, method, path, body)
    headers = {} if case.kind is None else stack.bearer(case.kind, code_of(case.kind))
    if isinstance(body, Raw):
        response = requests.request(method, f"{stack.url(service)}{path}", data=body.data.encode("utf-8"),
                                    headers={**headers, "Content-Type": body.content_type}, timeout=10)
    else:
        response = requests.request(method, f"{stack.url(service)}{path}", json=body, headers=headers, timeout=10)
    if response.status_code in (401, 403):       # a refusal is JSON and says why; a 401 says how to authenticate
        assert response.json()["error"] and response.json()["error_zh"], response.text
        assert response.status_code == 403 or response.headers["WWW-Authenticate"].startswith("Bearer")
    return response.status_code


def attempt_open311(stack, service: str, case, method: str, path: str, body: dict | None) -> int:
    """An Open311 route, the token sent as the spec's api_key; a refusal is in the spec's error shape."""
    key = {} if case.kind is None else {"api_key": stack.token(case.kind, code_of(case.kind))}
    url = f"{stack.url(service)}{path}"
    response = requests.post(url, data={**key, **body}, timeout=10) if method == "POST" \
        else requests.get(url, params=key, timeout=10)
    if response.status_code in (401, 403):
        errors = response.json()
        assert isinstance(errors, list) and errors[0]["code"] == response.status_code, response.text
        assert errors[0]["description"].startswith("api_key: "), response.text
        assert "WWW-Authenticate" not in response.headers
    return response.status_code


def cases_of(route) -> list:
    """The rule table's cases; an Open311 route refuses a missing api_key with the spec's 403, not 401."""
    cases = matrix([route])
    if not route.path.startswith(OPEN311):
        return cases
    return [dataclasses.replace(c, expected=403) if c.kind is None else c for c in cases]


def test_every_route_of_every_service_is_in_the_matrix():
    """A new route or RPC method must be given a request in REQUESTS (and a rule: tests/unit/test_auth_services.py)."""
    missing = [f"{service} {route.method} {route.path} ({route.name})" for service, route in ROUTES
               if (service, route.name) not in REQUESTS]
    assert missing == [], "add these to REQUESTS"
    assert len(ROUTES) == len(REQUESTS)


@pytest.mark.parametrize("service, route", ROUTES, ids=[f"{s}:{r.method}:{r.path}" for s, r in ROUTES])
def test_zero_breaches(stack, world, proxies, service, route):
    cases = cases_of(route)
    assert breaches(cases, lambda case: attempt(stack, world, proxies, service, case)) == []


def test_a_department_cannot_check_in_another_departments_member_by_leaving_its_code_out(stack, world):
    """The token fills the department's own code: another department's officer is then not its member on the team."""
    department, officer = world["member"]["other"]
    url = f"{stack.url('roster')}/api/v1/teams/{world['team']['own']}"

    def status() -> list[str]:
        team = requests.get(url, headers=stack.bearer(), timeout=10).json()
        return [m["status"] for m in team["members"]
                if (m["officer_code"], m["department_code"]) == (officer, department)]
    before = status()
    assert len(before) == 1 and before != ["present"]                 # 交管's member of A's team, not yet in
    answer = requests.post(f"{url}/checkins", json={"request_id": matrix_id(), "officer_code": officer},
                           headers=stack.bearer(Kind.DEPARTMENT, DEPARTMENT), timeout=10)
    assert answer.status_code == 409, answer.text
    error = answer.json()["errors"][0]
    assert error["field"] == "officer_code" and f"of {DEPARTMENT} is not on team" in error["message"]
    assert status() == before


def test_writes_beyond_the_principals_rate_are_429_with_retry_after(stack, world):
    url = f"{stack.url('whistle')}/api/v1/whistles"
    headers = stack.bearer(Kind.STREET, "jinhaihu")
    answers = [requests.post(url, json={"not": "a whistle"}, headers=headers, timeout=5) for _ in range(BURST + 20)]
    assert [a.status_code for a in answers[:BURST]] == [422] * BURST    # the burst: refused as invalid, but writes
    limited = next(a for a in answers[BURST:] if a.status_code != 422)  # then the bucket runs dry (1 a second back)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert "street:jinhaihu" in limited.json()["error"]
    assert requests.get(url, headers=headers, timeout=5).status_code == 200      # reads are not limited
    other = requests.post(url, json={"not": "a whistle"}, headers=stack.bearer(Kind.STREET, "xinjiekou"), timeout=5)
    assert other.status_code == 422                                     # one bucket per principal

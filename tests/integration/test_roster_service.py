"""The roster (and dispatch, for roster gaps) as their own processes on the real broker: teams formed for
joint call-outs, each member told on their own department's key, checking in over the bus, no-shows and
declines replaced, the team released with its case; officers and schedules over HTTP behind the rule
table, iCal feeds that parse, the service history; a roster gap escalated by dispatch like a missed
deadline until the department leaves the team."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import icalendar
import pytest
import requests
import yaml
from nameko.standalone.rpc import ClusterRpcProxy

from services.common.auth.principals import Kind
from services.common.events import CalloutReturned, Evidence, WhistleClosed
from services.common.guard import rpc_context
from services.common.reference import DEFAULT_PATH
from services.department_client import DepartmentClient, MemberRejected
from tests.support.samples import callouts_issued, publish_event
from tests.support.tokens import Tokens

pytestmark = pytest.mark.integration
D, DI, S, A = Kind.DEPARTMENT, Kind.DISTRICT, Kind.STREET, Kind.ASSESSMENT
NO_SHOW_SECONDS = 3                   # the emergency check-in deadline here; every other urgency has a minute


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    data = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    for name, level in data["urgencies"].items():
        level.update(check_in=f"{NO_SHOW_SECONDS}s" if name == "emergency" else "60s")
    data["escalation"] = [dict(tier, after=after) for tier, after in zip(data["escalation"], ("0s", "2s", "6s"))]
    data["areas"] = str(DEFAULT_PATH.parent / data["areas"])
    path = tmp_path_factory.mktemp("reference") / "district.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    return Tokens(tmp_path_factory.mktemp("auth"))


@pytest.fixture(scope="module", autouse=True)
def services(stack, reference, tokens):
    stack.extra_env.update({"REFERENCE_DATA": str(reference), "CHUISHAO_AUTH_DIR": str(tokens.root),
                            "ROSTER_DATA": str(DEFAULT_PATH.with_name("roster.yaml")),
                            "ROSTER_SWEEP_SECONDS": "0.3", "ESCALATION_SWEEP_SECONDS": "0.3"})
    stack.start("roster", "dispatch")


def issued(departments, category, urgency="urgent", **more):
    return callouts_issued(departments=departments, joint=True, urgency=urgency, category=category, **more)


def close(bus, whistle_id: str) -> None:
    publish_event(bus, WhistleClosed(whistle_id=whistle_id, street_code="daxigou", confirmed_by="街道 李主任",
                                     evidence=Evidence(before_photo="b", after_photo="a", checklist=("已整改",)),
                                     closed_at=datetime.now(timezone.utc)))


def next_for(client, whistle_id: str, kind: str = "team.officer_assigned", timeout: float = 20.0):
    """The department's next assignment message of this kind for this whistle, from its own durable queue;
    what comes before it (earlier tests' teams) is acknowledged and passed over."""
    deadline = datetime.now(timezone.utc) + timedelta(seconds=timeout)
    while datetime.now(timezone.utc) < deadline:
        got = None
        for message in client.assignments(timeout=1.0, count=1):
            got = message               # acknowledged when the loop ends
        if got is not None and got.type == kind and got.whistle_id == whistle_id:
            return got
    raise AssertionError(f"no {kind} for {whistle_id} on {client.department_code}'s queue within {timeout}s")


def assigned(listener, whistle_id, **match):
    return listener.get(predicate=lambda p: p["type"] == "team.officer_assigned" and p["whistle_id"] == whistle_id
                        and all(p.get(k) == v for k, v in match.items()))


def test_each_member_is_told_on_their_own_department_s_key_and_the_team_is_readable_by_who_may(stack, bus,
                                                                                             tokens):
    chengguan = bus.listen("assignments", "*.chengguan.#")
    shichang = bus.listen("assignments", "*.shichang.#")
    callout = issued(("chengguan", "shichang", "jiedao"), "street_vending")    # the street office keeps no roster
    publish_event(bus, callout)
    publish_event(bus, callout)                                                   # a redelivery changes nothing
    lead, _, method = assigned(chengguan, callout.whistle_id)
    assert method.routing_key == "assignment.chengguan.urgent"
    assert lead["role"] == "lead" and lead["lead"]["officer_code"] == lead["officer"]["officer_code"]
    assert lead["officer"]["officer_code"].startswith("chengguan-") and lead["department_name_zh"] == "区城管执法局"
    support, _, method = assigned(shichang, callout.whistle_id)
    assert method.routing_key == "assignment.shichang.urgent" and support["role"] == "support"
    assert support["lead"]["officer_code"] == lead["officer"]["officer_code"]
    assert chengguan.nothing_more(settle=1.0) and shichang.nothing_more(settle=0.2)   # once each, own key only

    url = f"{stack.url('roster')}/api/v1/whistles/{callout.whistle_id}/team"
    team = requests.get(url, headers=tokens.bearer(D, "shichang"), timeout=5).json()
    assert team["departments"] == ["chengguan", "shichang"] and team["gaps"] == [] and not team["assembled"]
    assert [m["status"] for m in team["members"]] == ["assigned", "assigned"]
    assert requests.get(url, timeout=5).status_code == 401
    assert requests.get(url, headers=tokens.bearer(D, "gongan"), timeout=5).status_code == 403   # not called
    assert requests.get(url, headers=tokens.bearer(S, "nanxiashu"), timeout=5).status_code == 403
    with ClusterRpcProxy(stack.rpc_config(), context_data=rpc_context(tokens.token(DI, "zhangwei"))) as rpc:
        assert rpc.roster.team_of(callout.whistle_id)["team_id"] == team["team_id"]
        assert rpc.roster.team_of(str(uuid.uuid4())) is None
    close(bus, callout.whistle_id)
    released, _, method = chengguan.get(predicate=lambda p: p["type"] == "team.released")
    assert method.routing_key == "released.chengguan" and released["whole"] is True


def test_members_check_in_over_the_bus_and_the_team_is_assembled_once(stack, bus):
    assembled = bus.listen("events", "team.assembled")
    checked = bus.listen("events", "team.member_checked_in")
    callout = issued(("chengguan", "shichang"), "street_vending")
    with DepartmentClient(stack.amqp_uri, "chengguan", namespace=stack.namespace) as cg, \
            DepartmentClient(stack.amqp_uri, "shichang", namespace=stack.namespace) as sc:
        publish_event(bus, callout)
        members = {client.department_code: next_for(client, callout.whistle_id) for client in (cg, sc)}
        lead = members["chengguan"]
        with pytest.raises(MemberRejected) as wrong:            # an officer who is not on the team
            cg.member_check_in(lead.team_id, "chengguan-10")
        assert wrong.value.errors[0].field == "officer_code"
        first = cg.member_check_in(lead.team_id, lead.officer.officer_code, location="大溪沟滨江路口")
        assert first.outcome == "accepted" and not first.repeated
        again = cg.member_check_in(lead.team_id, lead.officer.officer_code)
        assert again.outcome == "accepted" and again.repeated
        assert assembled.nothing_more(settle=1.0)                 # one department of two is not a quorum
        sc.member_check_in(lead.team_id, members["shichang"].officer.officer_code, note="两人已到")
    team, _, _ = assembled.get(predicate=lambda p: p["team_id"] == lead.team_id)
    assert team["lead"]["officer_code"] == lead.officer.officer_code and team["gaps"] == []
    assert sorted(m["department_code"] for m in team["members"]) == ["chengguan", "shichang"]
    assert [p["on_time"] for p in checked.get_all(2, predicate=lambda p: p["team_id"] == lead.team_id)] == [True] * 2
    assert assembled.nothing_more(settle=1.0)
    close(bus, callout.whistle_id)


def test_a_no_show_and_a_decline_are_replaced_by_the_next_officer_on_duty(stack, bus):
    callout = issued(("xiaofang", "jiaoguan"), "blocked_fire_lane", urgency="emergency")
    xiaofang = bus.listen("assignments", "*.xiaofang.#")
    with DepartmentClient(stack.amqp_uri, "jiaoguan", namespace=stack.namespace) as jg:
        publish_event(bus, callout)
        first = next_for(jg, callout.whistle_id)
        assert first.check_in_by - first.assigned_at == timedelta(seconds=NO_SHOW_SECONDS)
        declined = jg.decline_assignment(first.team_id, first.officer.officer_code, "正在处置另一起事故")
        assert declined.outcome == "accepted"
        assert jg.decline_assignment(first.team_id, first.officer.officer_code, "正在处置另一起事故").repeated
        stood_down = next_for(jg, callout.whistle_id, "team.member_replaced")
        instead = next_for(jg, callout.whistle_id)
    assert (stood_down.officer.officer_code, stood_down.reason) == (first.officer.officer_code, "declined")
    assert instead.replaces == first.officer.officer_code != instead.officer.officer_code
    # xiaofang's member never checks in: after the deadline the sweep stands them down and calls the next
    lead, _, _ = assigned(xiaofang, callout.whistle_id)
    replaced, _, method = xiaofang.get(timeout=NO_SHOW_SECONDS + 10,
                                       predicate=lambda p: p["type"] == "team.member_replaced")
    assert method.routing_key == "replaced.xiaofang"
    assert (replaced["officer"]["officer_code"], replaced["reason"]) == (lead["officer"]["officer_code"], "no_show")
    second, _, _ = assigned(xiaofang, callout.whistle_id, replaces=lead["officer"]["officer_code"])
    assert second["officer"]["officer_code"] != lead["officer"]["officer_code"] and second["role"] == "lead"
    close(bus, callout.whistle_id)


def test_a_returned_department_leaves_the_team_and_the_one_called_instead_joins(stack, bus, tokens):
    callout = issued(("chengguan", "gongan"), "illegal_parking")
    gongan, jiaoguan = bus.listen("assignments", "*.gongan.#"), bus.listen("assignments", "*.jiaoguan.#")
    publish_event(bus, callout)
    assigned(gongan, callout.whistle_id)
    step = dict(callout_id=callout.callouts[1].callout_id, whistle_id=callout.whistle_id,
                department_code="gongan", street_code="daxigou", category="illegal_parking", urgency="urgent",
                issued_at=callout.occurred_at)
    publish_event(bus, CalloutReturned(**step, reason="不属于本局职责", returned_at=datetime.now(timezone.utc),
                                       rerouted_to="jiaoguan"))
    publish_event(bus, issued(("chengguan", "gongan", "jiaoguan"), "illegal_parking", whistle_id=callout.whistle_id,
                              issued=("jiaoguan",), reason="rerouted"))
    released, _, method = gongan.get(predicate=lambda p: p["type"] == "team.released")
    assert method.routing_key == "released.gongan" and released["whole"] is False
    joined, _, _ = assigned(jiaoguan, callout.whistle_id)
    assert joined["role"] == "support"
    team = requests.get(f"{stack.url('roster')}/api/v1/whistles/{callout.whistle_id}/team",
                        headers=tokens.bearer(DI, "zhangwei"), timeout=5).json()
    assert team["departments"] == ["chengguan", "jiaoguan"]
    close(bus, callout.whistle_id)


def test_officers_are_registered_updated_and_imported_by_their_own_department_only(stack, tokens):
    base = f"{stack.url('roster')}/api/v1/departments/shequ/officers"
    officer = {"code": "shequ-01", "name": "网格长 周敏", "department": "shequ", "badge": "SQ0001",
               "certificate": {"number": "50-SQ-0001", "expires_on": "2030-06-30"}, "qualifications": ["dog_keeping"],
               "contact": "13800239001", "postings": [{"level": "community", "code": "daxigou-c1"}]}
    own = tokens.bearer(D, "shequ")
    assert requests.post(base, json=officer, headers=tokens.bearer(D, "gongan"), timeout=5).status_code == 403
    bad = requests.post(base, headers=own, timeout=5, json={
        **officer, "certificate": {"number": "50-SQ-0001", "expires_on": "2020-01-01"}, "qualifications": ["juggling"]})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"certificate.expires_on", "qualifications.0"}
    assert requests.get(base, headers=own, timeout=5).json()["officers"] == []           # nothing stored
    assert requests.post(base, json=officer, headers=own, timeout=5).status_code == 201
    again = requests.post(base, json=officer, headers=own, timeout=5)
    assert again.status_code == 422 and "code" in {e["field"] for e in again.json()["errors"]}
    moved = requests.put(f"{base}/shequ-01", headers=own, timeout=5, json={**officer, "contact": "13800239009"})
    assert moved.status_code == 200 and moved.json()["contact"] == "13800239009"
    csv = ("code,name,department,badge,certificate_number,certificate_expires_on,qualifications,contact\n"
           "shequ-02,网格员 吴丽,shequ,SQ0002,50-SQ-0002,2031-01-31,dog_keeping,13800239002\n"
           "shequ-03,网格员 郑强,gongan,SQ0003,50-SQ-0003,2031-01-31,dog_keeping,13800239003\n")
    report = requests.post(f"{base}/import", data=csv.encode(), timeout=5,
                           headers={**own, "Content-Type": "text/csv"})
    assert report.status_code == 200, report.text
    assert report.json()["imported"] == ["shequ-02"] and report.json()["rejected_rows"] == [3]
    assert report.json()["errors"][0]["field"] == "department"
    codes = [o["code"] for o in requests.get(base, headers=tokens.bearer(DI, "zhangwei"), timeout=5).json()["officers"]]
    assert codes == ["shequ-01", "shequ-02"]


def test_a_schedule_is_set_checked_previewed_and_fed_as_ical(stack, tokens):
    base = f"{stack.url('roster')}/api/v1/departments/shequ"
    own = tokens.bearer(D, "shequ")
    day = {"code": "day", "name_zh": "白班", "name_en": "Day", "starts": "2025-01-06T09:00:00", "length": "8h",
           "members": [["shequ-01"], ["shequ-02"]]}
    clash = {**day, "code": "also", "members": [["shequ-01"]]}
    refused = requests.put(f"{base}/schedule/rotations", json={"rotations": [day, clash]}, headers=own, timeout=5)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "rotations.1.members"
    done = requests.put(f"{base}/schedule/rotations", json={"rotations": [day]}, headers=own, timeout=5)
    assert done.status_code == 200 and done.json()["gaps"]                  # nights are not covered: reported
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).astimezone(timezone(timedelta(hours=8))).date()
    start = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=timezone(timedelta(hours=8)))
    window = {"from": start.isoformat(), "to": (start + timedelta(days=2)).isoformat()}
    preview = requests.get(f"{base}/preview", params=window, headers=own, timeout=5).json()
    assert [(s["start"][11:16], s["end"][11:16]) for s in preview["shifts"]] == [("01:00", "09:00")] * 2
    assert {s["officer_code"] for s in preview["shifts"]} == {"shequ-01", "shequ-02"}
    at = (start + timedelta(hours=10)).isoformat()
    on_duty = requests.get(f"{base}/on-duty", params={"at": at}, headers=own, timeout=5).json()["officers"]
    assert len(on_duty) == 1
    leave = {"officer": on_duty[0]["officer_code"], "start": start.isoformat(),
             "end": (start + timedelta(days=1)).isoformat(), "reason": "sick"}
    assert requests.post(f"{base}/schedule/leave", json=leave, headers=own, timeout=5).status_code == 201
    assert requests.get(f"{base}/on-duty", params={"at": at}, headers=own, timeout=5).json()["officers"] == []
    assert requests.post(f"{base}/schedule/leave", json=leave, headers=own, timeout=5).status_code == 422
    bad = requests.get(f"{base}/on-duty", params={"at": "tomorrow"}, headers=own, timeout=5)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "at"

    feed = requests.get(f"{base}/duty.ics", params=window, headers=own, timeout=5)
    assert feed.status_code == 200 and feed.headers["Content-Type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(feed.content)
    events = [e for e in calendar.walk("VEVENT")]
    assert len(events) == 1                                               # one of the two days is on leave
    begins, ends = events[0].decoded("DTSTART"), events[0].decoded("DTEND")
    assert (begins.hour, ends.hour, begins.utcoffset()) == (9, 17, timedelta(hours=8))     # local hand-overs
    assert begins.date() == (start + timedelta(days=1)).date() and "值班" in str(events[0]["SUMMARY"])
    other = ({"shequ-01", "shequ-02"} - {on_duty[0]["officer_code"]}).pop()
    mine = requests.get(f"{stack.url('roster')}/api/v1/officers/{other}/duty.ics", params={**window, "lang": "en"},
                        headers=own, timeout=5)
    [shift] = icalendar.Calendar.from_ical(mine.content).walk("VEVENT")
    assert str(shift["SUMMARY"]).startswith("On duty") and shift.decoded("DTSTART") == begins
    assert requests.get(f"{base}/duty.ics", headers=tokens.bearer(D, "gongan"), timeout=5).status_code == 403


def test_the_service_history_shows_who_served_on_time_and_who_did_not(stack, tokens):
    url = f"{stack.url('roster')}/api/v1/departments/xiaofang/history"
    history = requests.get(url, headers=tokens.bearer(A, "kaohe"), timeout=5).json()
    outcomes = [r["outcome"] for r in history["records"]]
    assert outcomes[0] == "no_show" and set(outcomes) <= {"no_show", "released"}
    assert history["records"][0]["on_time"] is None and history["records"][0]["served_seconds"] == 0
    assert sum(s["no_shows"] for s in history["summary"]) == outcomes.count("no_show")
    assert requests.get(url, headers=tokens.bearer(D, "jiaoguan"), timeout=5).status_code == 403
    bad = requests.get(url, params={"month": "2025-13"}, headers=tokens.bearer(DI, "zhangwei"), timeout=5)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "month"
    chiefs = requests.get(f"{stack.url('roster')}/api/v1/streets/daxigou/chiefs", headers=tokens.bearer(S, "daxigou"),
                          timeout=5).json()
    assert [(p["kind"], p["cadre_name"]) for p in chiefs["pairs"]] == [("street", "王建国"), ("road", "李秀英")]


def chuishao(stack, tokens, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "AMQP_URI": stack.amqp_uri, "BUS_NAMESPACE": stack.namespace, "COLUMNS": "220",
           "ROSTER_URL": stack.url("roster"), "CHUISHAO_TOKEN": tokens.token(D, "shichang")}
    env.pop("CHUISHAO_LANG", None)
    done = subprocess.run([str(Path(sys.executable).parent / "chuishao"), "dept", "--department", "shichang", *args],
                          env=env, capture_output=True, text=True, encoding="utf-8", timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_a_member_checks_in_and_declines_from_the_command_line(stack, bus, tokens):
    callout = issued(("chengguan", "shichang"), "street_vending")
    with DepartmentClient(stack.amqp_uri, "shichang", namespace=stack.namespace) as sc:
        publish_event(bus, callout)
        member = next_for(sc, callout.whistle_id)
    team, officer = member.team_id, member.officer.officer_code
    refused = chuishao(stack, tokens, "decline", team, "--officer-code", "shichang-99", "--reason", "不在岗")
    assert refused.returncode == 1 and "--officer-code" in refused.stdout + refused.stderr
    done = chuishao(stack, tokens, "member-checkin", team, "--officer-code", officer, "--address", "滨江路夜市")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"已受理：联合执法队 {team} 队员 {officer} 的队员报到"
    again = chuishao(stack, tokens, "member-checkin", team, "--officer-code", officer, "--via", "http", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["repeated"] is True
    late = chuishao(stack, tokens, "decline", team, "--officer-code", officer, "--reason", "临时任务", "--json")
    assert late.returncode == 1                                  # a member present cannot decline
    assert json.loads(late.stdout)["errors"][0]["field"] == "officer_code"
    close(bus, callout.whistle_id)


def test_a_department_with_nobody_qualified_is_escalated_like_a_missed_deadline_until_it_leaves(stack, bus):
    escalated = bus.listen("events", "roster.gap_escalated")
    gaps = bus.listen("events", "roster.gap")
    callout = issued(("shichang", "guihua"), "food_safety")             # nobody in guihua enforces food safety
    publish_event(bus, callout)
    ours = lambda p: p["whistle_id"] == callout.whistle_id  # noqa: E731
    gap, _, _ = gaps.get(predicate=ours)
    assert (gap["department_code"], gap["reason"]) == ("guihua", "nobody_qualified"), gap
    street, _, _ = escalated.get(predicate=ours)
    assert (street["level"], street["tier"], street["chased_by"]) == (1, "street", "daxigou"), street
    district, _, _ = escalated.get(timeout=10, predicate=ours)
    assert (district["level"], district["tier"], district["department_code"]) == (2, "district", "guihua"), district
    step = dict(callout_id=callout.callouts[1].callout_id, whistle_id=callout.whistle_id, department_code="guihua",
                street_code="daxigou", category="food_safety", urgency="urgent", issued_at=callout.occurred_at)
    publish_event(bus, CalloutReturned(**step, reason="不属于本局职责", returned_at=datetime.now(timezone.utc)))
    assert escalated.within(7.0, ours) == []          # the city tier (6 s) never fires: the gap has ended
    assert gaps.within(0.5, ours) == []
    close(bus, callout.whistle_id)

"""Roster and metrics as their own processes: joint teams from call-outs; latency on /metrics."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
import requests

from services.common.auth.principals import Kind
from services.common.events import CalloutCheckedIn, CalloutsIssued
from tests.support.samples import callouts_issued, publish_event
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def services(stack):
    stack.start("roster", "metrics")


def issued(departments=("chengguan", "guihua", "zhujian"), joint=True, urgency="urgent", at=None,
           issued=None) -> CalloutsIssued:
    return callouts_issued(departments=departments, joint=joint, urgency=urgency, at=at, issued=issued,
                           category="illegal_construction")


def test_a_joint_callout_assembles_one_team_with_a_lead(stack, bus):
    teams = bus.listen("events", "team.assembled")
    callout = issued()
    publish_event(bus, callout)
    publish_event(bus, callout)
    team, _, _ = teams.get(predicate=lambda p: p["whistle_id"] == callout.whistle_id)
    assert team["lead"]["department_code"] == "chengguan"
    assert [m["department_code"] for m in team["members"]] == ["chengguan", "guihua", "zhujian"]
    assert team["gaps"] == []
    assert teams.nothing_more(settle=1.0)
    with stack.rpc() as rpc:
        assert rpc.roster.team_of(callout.whistle_id)["lead_officer"] == team["lead"]["officer_code"]
    url = f"{stack.url('roster')}/api/v1/whistles/{callout.whistle_id}/team"
    for kind, code, status in ((Kind.STREET, "daxigou", 200), (Kind.STREET, "nanxiashu", 403),
                               (Kind.DEPARTMENT, "guihua", 200), (Kind.DEPARTMENT, "xiaofang", 403),
                               (Kind.DISTRICT, None, 200), (Kind.ASSESSMENT, None, 403)):
        assert requests.get(url, headers=stack.bearer(kind, code), timeout=5).status_code == status, (kind, code)


def test_support_and_single_department_callouts_assemble_no_team(stack, bus):
    support = issued(issued=("guihua",))                # a supporting department called later: no lead
    solo = issued(joint=False, departments=("chengguan",))
    for callout in (support, solo):
        publish_event(bus, callout)
    marker = issued()                       # processed after the two above on the same queue
    publish_event(bus, marker)
    base = stack.url("roster")
    wait_for(lambda: requests.get(f"{base}/api/v1/whistles/{marker.whistle_id}/team", headers=stack.bearer(),
                                  timeout=5).ok, what="the marker team")
    for callout in (support, solo):
        assert requests.get(f"{base}/api/v1/whistles/{callout.whistle_id}/team", headers=stack.bearer(),
                            timeout=5).status_code == 404


def histogram_count(text: str, department: str, urgency: str) -> float:
    pattern = (r'chuishao_checkin_latency_seconds_count\{department="%s",urgency="%s"\} ([0-9.e+]+)'
               % (department, urgency))
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0


def test_metrics_observes_checkin_latency_once_per_checkin(stack, bus):
    start = datetime.now(timezone.utc) - timedelta(minutes=12)
    callout = issued(joint=False, departments=("shuiwu",), urgency="complex", at=start)
    checked = CalloutCheckedIn(
        callout_id=callout.callouts[0].callout_id, whistle_id=callout.whistle_id, department_code="shuiwu",
        street_code="daxigou", category=callout.category, urgency="complex", officer="周",
        issued_at=start, checked_in_at=start + timedelta(minutes=12), check_in_by=start + timedelta(minutes=30),
        on_time=True)
    publish_event(bus, callout)
    bus.publish("events", "callout.checked_in", checked.model_dump(mode="json"))
    bus.publish("events", "callout.checked_in", checked.model_dump(mode="json"))   # a duplicate delivery
    url = f"{stack.url('metrics')}/metrics"
    wait_for(lambda: histogram_count(requests.get(url, timeout=5).text, "shuiwu", "complex") >= 1,
             what="the latency observation")
    marker = issued(joint=False, departments=("gongre",))
    publish_event(bus, marker)
    text = wait_for(lambda: (t := requests.get(url, timeout=5).text)
                    and 'chuishao_callouts_issued_total{department="gongre"' in t and t,
                    what="the marker call-out to be counted")
    assert histogram_count(text, "shuiwu", "complex") == 1.0
    assert re.search(r'chuishao_checkin_latency_seconds_bucket\{department="shuiwu",le="600.0",'
                     r'urgency="complex"\} 0.0', text)
    assert re.search(r'chuishao_checkin_latency_seconds_bucket\{department="shuiwu",le="900.0",'
                     r'urgency="complex"\} 1.0', text)
    assert 'chuishao_checkins_total{department="shuiwu",on_time="true",urgency="complex"} 1.0' in text


def test_metrics_are_rebuilt_after_a_restart(stack, bus):
    url = f"{stack.url('metrics')}/metrics"
    before = histogram_count(requests.get(url, timeout=5).text, "shuiwu", "complex")
    assert before >= 1
    stack.processes["metrics"].stop()
    stack.start("metrics")
    assert histogram_count(requests.get(url, timeout=5).text, "shuiwu", "complex") == before

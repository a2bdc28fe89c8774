"""Roster and metrics as their own processes: a joint team's assembly time, and call-out latency, on /metrics."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
import requests

from services.common.events import CalloutCheckedIn, CalloutsIssued
from services.department_client import DepartmentClient
from tests.support.samples import callouts_issued, publish_event, raised
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def services(stack):
    stack.start("roster", "metrics")


def issued(departments=("chengguan", "guihua", "zhujian"), joint=True, urgency="urgent", at=None,
           issued=None) -> CalloutsIssued:
    return callouts_issued(departments=departments, joint=joint, urgency=urgency, at=at, issued=issued,
                           category="illegal_construction")


def test_a_team_on_site_is_timed_from_the_whistles_raise(stack, bus):
    """The roster tells team.assembled once the quorum checked in; metrics observes how long after the
    whistle was raised that was (raised → joint team on site), not how long the team took to gather."""
    assembled = bus.listen("events", "team.assembled")
    whistle = raised(category="street_vending", urgency="urgent")
    whistle = whistle.model_copy(update={"raised_at": whistle.raised_at - timedelta(seconds=90)})
    callout = callouts_issued(whistle.whistle_id, departments=("chengguan", "shichang"), joint=True,
                              category="street_vending")
    publish_event(bus, whistle)
    with DepartmentClient(stack.amqp_uri, "chengguan", namespace=stack.namespace) as cg, \
            DepartmentClient(stack.amqp_uri, "shichang", namespace=stack.namespace) as sc:
        publish_event(bus, callout)
        for client in (cg, sc):
            member = next_assignment(client, callout.whistle_id)
            assert client.member_check_in(member.team_id, member.officer.officer_code).outcome == "accepted"
    team, _, _ = assembled.get(timeout=30, predicate=lambda p: p["whistle_id"] == whistle.whistle_id)
    on_site = datetime.fromisoformat(team["assembled_at"])
    assert (on_site - datetime.fromisoformat(team["formed_at"])).total_seconds() < 60   # gathered quickly...
    since_raised = (on_site - whistle.raised_at).total_seconds()
    assert since_raised >= 90                                                            # ...raised long before
    url = f"{stack.url('metrics')}/metrics"
    text = wait_for(lambda: (t := requests.get(url, timeout=5).text) and re.search(
        r'chuishao_team_assembly_latency_seconds_count\{category="street_vending"\} 1\.0', t) and t,
        what="the team's assembly time on /metrics")
    assert 'chuishao_joint_teams_total{category="street_vending",complete="true"} 1.0' in text
    observed = float(re.search(r'chuishao_team_assembly_latency_seconds_sum\{category="street_vending"\} '
                               r'([0-9.e+]+)', text).group(1))
    assert observed == pytest.approx(since_raised, abs=0.01)
    assert re.search(r'chuishao_team_assembly_latency_seconds_bucket\{category="street_vending",le="60.0"\} 0\.0',
                     text)
    assert re.search(r'chuishao_team_assembly_latency_seconds_bucket\{category="street_vending",le="300.0"\} 1\.0',
                     text)


def next_assignment(client, whistle_id):
    """The department's assignment for this whistle, from its own durable queue."""
    for _ in range(40):
        got = None
        for message in client.assignments(timeout=0.5, count=1):
            got = message
        if got is not None and got.type == "team.officer_assigned" and got.whistle_id == whistle_id:
            return got
    raise AssertionError(f"no assignment for {whistle_id} on {client.department_code}'s queue")


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

"""End to end, a joint enforcement team ("城管+N"): four service processes on the real broker. A street raises
an illegal-construction whistle; dispatch calls out 城管, 规划 and 住建; the roster forms a team and tells
each department its own member on its own key; the members check in over the bus, except 城管's first,
who is replaced when the (drill) deadline passes; the team is assembled once the replacement is there,
the whistle's timeline says so, and the metrics service has timed it from the raise to the team on site.
The duty feed over HTTP parses with icalendar and shows the replacement on duty now."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import icalendar
import pytest
import requests
import yaml

from services.common.auth.principals import Kind
from services.common.reference import DEFAULT_PATH
from services.department_client import DepartmentClient
from tests.support.samples import whistle_request
from tests.support.tokens import Tokens
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e
CHECK_IN_SECONDS = 8          # the drill's check-in deadline, for call-outs and team members alike


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    return Tokens(tmp_path_factory.mktemp("auth"))


@pytest.fixture(scope="module", autouse=True)
def everything(stack, tmp_path_factory, tokens):
    data = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    for level in data["urgencies"].values():
        level.update(check_in=f"{CHECK_IN_SECONDS}s", arrival="60s", completion="120s")
    data["areas"] = str(DEFAULT_PATH.parent / data["areas"])
    reference = tmp_path_factory.mktemp("drill") / "district.yaml"
    reference.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    stack.extra_env.update({"REFERENCE_DATA": str(reference), "CHUISHAO_AUTH_DIR": str(tokens.root),
                            "ROSTER_DATA": str(DEFAULT_PATH.with_name("roster.yaml")),
                            "ROSTER_SWEEP_SECONDS": "0.3"})
    stack.start("whistle", "dispatch", "roster", "metrics")


def next_for(client, whistle_id, kind="team.officer_assigned", timeout=30.0):
    """The department's next message of this kind for the whistle, from its own assignments queue."""
    deadline = datetime.now(timezone.utc).timestamp() + timeout
    while datetime.now(timezone.utc).timestamp() < deadline:
        got = None
        for message in client.assignments(timeout=1.0, count=1):
            got = message                                   # acknowledged as the loop ends
        if got is not None and got.type == kind and got.whistle_id == whistle_id:
            return got
    raise AssertionError(f"no {kind} for whistle {whistle_id} reached {client.department_code}")


def test_a_joint_team_turns_up_a_no_show_is_replaced_and_the_assembly_is_timed(stack, bus, tokens):
    assembled = bus.listen("events", "team.assembled")
    raises = bus.listen("events", "whistle.raised")
    street = tokens.bearer(Kind.STREET, "daxigou")
    request = whistle_request(category="illegal_construction", urgency="urgent", grid_code="daxigou-c1-g1",
                              description="楼顶正在加盖彩钢房", place={"address": "大溪沟街道滨江路12号"})
    raised = requests.post(f"{stack.url('whistle')}/api/v1/whistles", json=request, headers=street, timeout=10)
    assert raised.status_code == 201, raised.text
    whistle_id = raised.json()["whistle_id"]

    clients = {code: DepartmentClient(stack.amqp_uri, code, namespace=stack.namespace)
               for code in ("chengguan", "guihua", "zhujian")}
    try:
        members = {code: next_for(client, whistle_id) for code, client in clients.items()}
        lead = members["chengguan"]
        assert lead.role == "lead" and lead.place.address == "大溪沟街道滨江路12号"
        assert lead.description == "楼顶正在加盖彩钢房" and lead.grid_code == "daxigou-c1-g1"
        assert all(m.lead.officer_code == lead.officer.officer_code and m.team_id == lead.team_id
                   for m in members.values())
        for code in ("guihua", "zhujian"):
            answer = clients[code].member_check_in(lead.team_id, members[code].officer.officer_code)
            assert answer.outcome == "accepted"
        # 城管's first officer never checks in: when the deadline passes the roster stands them down
        stood_down = next_for(clients["chengguan"], whistle_id, "team.member_replaced",
                              timeout=CHECK_IN_SECONDS + 20)
        assert (stood_down.officer.officer_code, stood_down.reason) == (lead.officer.officer_code, "no_show")
        instead = next_for(clients["chengguan"], whistle_id)
        assert instead.replaces == lead.officer.officer_code != instead.officer.officer_code
        assert instead.role == "lead"
        assert clients["chengguan"].member_check_in(instead.team_id, instead.officer.officer_code).outcome \
            == "accepted"
    finally:
        for client in clients.values():
            client.close()

    team, _, _ = assembled.get(timeout=30, predicate=lambda p: p["whistle_id"] == whistle_id)
    assert team["lead"]["officer_code"] == instead.officer.officer_code and team["gaps"] == []
    assert {m["department_code"] for m in team["members"]} == {"chengguan", "guihua", "zhujian"}
    on_site = datetime.fromisoformat(team["assembled_at"])
    took = (on_site - datetime.fromisoformat(team["formed_at"])).total_seconds()
    assert took >= CHECK_IN_SECONDS                         # it waited for the replacement
    whistle, _, _ = raises.get(timeout=10, predicate=lambda p: p["whistle_id"] == whistle_id)
    since_raised = (on_site - datetime.fromisoformat(whistle["raised_at"])).total_seconds()
    assert since_raised >= took                             # formed after the raise, when the call-outs went

    timeline_url = f"{stack.url('whistle')}/api/v1/whistles/{whistle_id}/timeline"
    lines = wait_for(lambda: [e for e in requests.get(timeline_url, headers=street, timeout=5).json()["timeline"]
                              if e["kind"] == "team.assembled"], what="the team on the whistle's timeline")
    assert lines[0]["summary"].startswith("联合执法队已到场") and instead.officer.name in lines[0]["summary"]
    timeline = requests.get(timeline_url, headers=street, timeout=5).json()["timeline"]
    checked = [e for e in timeline if e["kind"] == "team.member_checked_in"]
    assert [e["actor"] for e in checked][-1] == "chengguan" and len(checked) == 3     # each member in person
    assert checked[-1]["detail"]["officer_code"] == instead.officer.officer_code

    metrics = f"{stack.url('metrics')}/metrics"
    text = wait_for(lambda: (t := requests.get(metrics, timeout=5).text) and re.search(
        r'chuishao_team_assembly_latency_seconds_count\{category="illegal_construction"\} 1\.0', t) and t,
        what="the team's assembly time on /metrics")
    observed = float(re.search(r'chuishao_team_assembly_latency_seconds_sum\{category="illegal_construction"\} '
                               r'([0-9.e+]+)', text).group(1))
    assert observed == pytest.approx(since_raised, abs=0.01)     # raised → on site, as the metrics table says

    # the department's duty feed: who is on duty now includes the officer who took over
    feed = requests.get(f"{stack.url('roster')}/api/v1/departments/chengguan/duty.ics",
                        headers=tokens.bearer(Kind.DEPARTMENT, "chengguan"), timeout=10)
    assert feed.status_code == 200 and feed.headers["Content-Type"].startswith("text/calendar")
    now = datetime.now(timezone.utc)
    on_now = [e for e in icalendar.Calendar.from_ical(feed.content).walk("VEVENT")
              if e.decoded("DTSTART") <= now < e.decoded("DTEND")]
    assert any(instead.officer.name in str(e["SUMMARY"]) for e in on_now), [str(e["SUMMARY"]) for e in on_now]
    roster = requests.get(f"{stack.url('roster')}/api/v1/departments/chengguan/on-duty",
                          headers=tokens.bearer(Kind.DEPARTMENT, "chengguan"), timeout=10).json()
    assert len(on_now) == len(roster["officers"])

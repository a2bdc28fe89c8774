"""The roster's contract: what a team's changes announce, where each event goes, and the commands a
member sends."""
from __future__ import annotations

from datetime import timedelta

import pytest

from services.common.events import (ASSIGNMENTS, EVENT_TYPES, MEMBER_COMMANDS, CheckInAsMember, ContractError,
                                    DeclineAssignment, MemberCheckedIn, MemberOutcome, MemberReplaced,
                                    OfficerAssigned, Place, RosterGap, RosterGapEscalated, TeamAssembled,
                                    TeamEvent, TeamReleased, decode_event, parse, route_of)
from services.roster.announce import Context, announce
from services.roster.teams import Case, TeamRules, Workload, check_in, decline, release
from tests.unit.roster_samples import CODES
from tests.unit.test_roster_teams import NOW, OFFICERS, available, formed

RULES = TeamRules()
CONTEXT = Context(OFFICERS, {"chengguan": "区城管执法局", "guihua": "区规划和自然资源分局", "zhujian": "区住建委"},
                  Place(address="滨江路12号"), "楼顶加盖彩钢房")


def routes(events) -> list[tuple[str, str, str]]:
    return [(type(e).__name__, *(lambda r: (r.exchange, r.routing_key))(route_of(e))) for e in events]


def test_each_member_is_announced_to_their_own_department_and_a_gap_to_dispatch():
    outcome = formed(availability=available({"zhujian": frozenset()}))
    events = announce(outcome.team, outcome.changes, CONTEXT, NOW)
    assert routes(events) == [
        ("OfficerAssigned", ASSIGNMENTS, "assignment.chengguan.urgent"),
        ("OfficerAssigned", ASSIGNMENTS, "assignment.guihua.urgent"),
        ("RosterGap", "events", "roster.gap"),
    ]
    lead, support, gap = events
    assert (lead.role, lead.officer.name, lead.department_name_zh, lead.whistle_id) == (
        "lead", OFFICERS["cg-a"].name, "区城管执法局", "w-1")
    assert support.lead.officer_code == "cg-a" and support.check_in_by == NOW + timedelta(minutes=30)
    assert (support.place.address, support.grid_code, support.description) == ("滨江路12号", "daxigou-c1-g1",
                                                                                "楼顶加盖彩钢房")
    assert (gap.department_code, gap.reason, gap.role, gap.whistle_id) == ("zhujian", "nobody_on_duty", "support",
                                                                          "w-1")


def test_check_ins_replacements_assembly_and_release():
    outcome = formed()
    replaced = decline(outcome.team, "gh-a", "guihua", available(), outcome.workload, RULES, CODES, NOW)
    events = announce(replaced.team, replaced.changes, CONTEXT, NOW)
    assert routes(events) == [("MemberReplaced", ASSIGNMENTS, "replaced.guihua"),
                              ("OfficerAssigned", ASSIGNMENTS, "assignment.guihua.urgent")]
    assert (events[0].reason, events[0].replaced_by, events[1].replaces) == ("declined", "gh-b", "gh-a")
    team = replaced.team
    for officer_code, department in (("cg-a", "chengguan"), ("gh-b", "guihua")):
        team = check_in(team, officer_code, department, Workload(), RULES, NOW + timedelta(minutes=5)).team
    last = check_in(team, "zj-a", "zhujian", Workload(), RULES, NOW + timedelta(minutes=9))
    events = announce(last.team, last.changes, CONTEXT, NOW + timedelta(minutes=9))
    assert routes(events) == [("MemberCheckedIn", "events", "team.member_checked_in"),
                              ("TeamAssembled", "events", "team.assembled")]
    assembled = events[1]
    assert [m.officer_code for m in assembled.members] == ["cg-a", "gh-b", "zj-a"] and assembled.gaps == ()
    assert assembled.assembled_at - assembled.formed_at == timedelta(minutes=9)
    done = release(last.team, Workload(), RULES, NOW + timedelta(hours=2))
    events = announce(done.team, done.changes, CONTEXT, NOW + timedelta(hours=2))
    assert routes(events) == [("TeamReleased", ASSIGNMENTS, f"released.{d}")
                              for d in ("chengguan", "guihua", "zhujian")]
    assert all(e.whole for e in events) and events[1].officer.officer_code == "gh-b"


def test_an_operation_team_names_its_operation_and_occurrence_not_a_whistle():
    case = Case("operation", "dust-20250315T0900", "illegal_construction", "planned", "daxigou",
                operation="dust", starts_at=NOW + timedelta(days=1))
    outcome = formed(case=case, availability=available(at=NOW + timedelta(days=1)))
    event = announce(outcome.team, outcome.changes, CONTEXT, NOW)[0]
    assert (event.kind, event.whistle_id, event.operation_code, event.occurrence_id, event.urgency) == (
        "operation", None, "dust", "dust-20250315T0900", "planned")
    assert route_of(event).routing_key == "assignment.chengguan.planned"


def test_every_event_carries_id_time_version_and_round_trips():
    outcome = formed(availability=available({"zhujian": frozenset()}))
    checked = check_in(outcome.team, "cg-a", "chengguan", Workload(), RULES, NOW)
    events = (announce(outcome.team, outcome.changes, CONTEXT, NOW)
              + announce(checked.team, checked.changes, CONTEXT, NOW))
    assert {type(e) for e in events} == {OfficerAssigned, RosterGap, MemberCheckedIn}
    for event in events:
        assert event.event_id and event.occurred_at == NOW and event.schema_version == 1
        assert event.type == event.event_type and EVENT_TYPES[event.type] is type(event)
        again = decode_event(event.model_dump(mode="json"))
        assert again == event
        assert event.model_dump(mode="json")["occurred_at"].endswith("Z")


def test_every_team_event_is_in_the_contract():
    team_events = {cls for cls in EVENT_TYPES.values() if issubclass(cls, TeamEvent)}
    assert team_events == {OfficerAssigned, MemberCheckedIn, MemberReplaced, RosterGap, TeamAssembled, TeamReleased,
                           RosterGapEscalated}
    assert EVENT_TYPES["member.outcome"] is MemberOutcome


def test_member_commands_are_strict_and_name_bad_fields():
    body = {"request_id": "r-1", "team_id": "t-1", "department_code": "chengguan", "officer_code": "cg-a"}
    assert parse(CheckInAsMember, {**body, "location": {"address": "现场"}}).location.address == "现场"
    assert parse(DeclineAssignment, {**body, "reason": "在另一现场"}).reason == "在另一现场"
    assert set(MEMBER_COMMANDS) == {"member_checkin", "member_decline"}
    with pytest.raises(ContractError) as caught:
        parse(CheckInAsMember, {**body, "officer_code": "Not A Code", "shoe_size": 42})
    assert {e.field for e in caught.value.errors} == {"officer_code", "shoe_size"}
    with pytest.raises(ContractError) as caught:
        parse(DeclineAssignment, body)
    assert [e.field for e in caught.value.errors] == ["reason"]


def test_the_answer_to_a_member_goes_back_on_the_departments_outcome_key():
    answer = MemberOutcome(action="member_checkin", request_id="r-1", team_id="t-1", department_code="guihua",
                           officer_code="gh-a", outcome="rejected")
    route = route_of(answer)
    assert (route.exchange, route.routing_key) == ("checkins", "outcome.guihua.rejected")

"""How teams are run: deadlines per urgency from the district, a planned operation's from the roster file,
the quorum and limits from `teams:`; when a team must be looked at again; a refused member's answer."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.common.events import FieldError
from services.common.reference import load_reference
from services.roster.handlers import next_sweep_at, rejected_member_outcome
from services.roster.rules import RosterRules, TeamSettings
from services.roster.teams import check_in, release
from tests.unit.test_roster_teams import NOW, available, formed

REFERENCE = load_reference()


def rules(**settings) -> RosterRules:
    return RosterRules.build(REFERENCE, TeamSettings.model_validate(settings))


def test_a_whistle_s_members_have_its_urgency_s_check_in_deadline_an_operation_the_roster_s():
    drill = REFERENCE.model_copy(update={"urgencies": {**REFERENCE.urgencies, "emergency": REFERENCE.urgencies[
        "emergency"].model_copy(update={"check_in": REFERENCE.urgencies["emergency"].check_in.parse("45s")})}})
    built = RosterRules.build(drill, TeamSettings.model_validate({"check_in_within": "2h"}))
    assert built.team_rules("emergency").check_in_within == timedelta(seconds=45)
    assert built.team_rules("urgent").check_in_within == timedelta(minutes=30)
    assert built.team_rules("planned").check_in_within == timedelta(hours=2)


def test_the_quorum_and_the_open_case_limit_come_from_the_settings():
    team_rules = rules(quorum_share=0.5, quorum_lead_required=False, open_case_limit=5).team_rules("urgent")
    assert (team_rules.quorum.share, team_rules.quorum.lead_required, team_rules.open_case_limit) == (0.5, False, 5)
    outcome = formed(rules=team_rules)
    present = check_in(outcome.team, "zj-a", "zhujian", outcome.workload, team_rules, NOW).team
    assert present.assembled_at is None                      # one of three is not half
    present = check_in(present, "gh-a", "guihua", outcome.workload, team_rules, NOW).team
    assert present.assembled_at == NOW                        # two of three without the lead: enough here


@pytest.mark.parametrize("field, value", [("gap_retry", "0m"), ("quorum_share", 0), ("quorum_share", 1.5),
                                          ("open_case_limit", 0), ("form_ahead", "-1h"), ("surprise", 1)])
def test_bad_team_settings_are_refused_by_name(field, value):
    with pytest.raises(ValidationError) as caught:
        TeamSettings.model_validate({field: value})
    assert caught.value.errors()[0]["loc"][0] == field


def test_a_team_is_looked_at_again_at_its_first_check_in_deadline_or_soon_when_it_has_a_gap():
    team_rules = rules(gap_retry="2m")
    complete = formed().team
    assert next_sweep_at(complete, team_rules, NOW) == NOW + timedelta(minutes=30)
    gapped = formed(availability=available({"zhujian": frozenset()})).team
    assert next_sweep_at(gapped, team_rules, NOW) == NOW + timedelta(minutes=2)
    everyone_present = replace(complete, members=tuple(replace(m, status="present") for m in complete.members))
    assert next_sweep_at(everyone_present, team_rules, NOW) is None
    released = release(complete, formed().workload, team_rules.team_rules("urgent"), NOW).team
    assert next_sweep_at(released, team_rules, NOW) is None


def test_a_refused_member_command_is_answered_with_what_it_named_whatever_it_was():
    errors = (FieldError(field="officer_code", message="not on the team"),)
    answer = rejected_member_outcome("member_decline", {"team_id": "t-1", "officer_code": "cg-a", "request_id": "r"},
                                     "chengguan", errors)
    assert (answer.outcome, answer.team_id, answer.officer_code, answer.request_id, answer.errors) == (
        "rejected", "t-1", "cg-a", "r", errors)
    garbled = rejected_member_outcome("member_checkin", {"team_id": 7}, "chengguan", errors)
    assert (garbled.team_id, garbled.officer_code, garbled.request_id) == ("-", "-", None)

"""Roster rules: which shift is on, and who makes up a joint enforcement team ("城管+N")."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.reference import load_reference
from services.roster.domain import NoTeam, Officer, Team, assemble_team, pick, shift_at

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utc_for_local(hour: int, minute: int) -> datetime:
    """A UTC instant whose Shanghai wall clock shows hour:minute on 2025-03-14."""
    return datetime(2025, 3, 14, hour, minute, tzinfo=SHANGHAI).astimezone(timezone.utc)


# --- shifts --------------------------------------------------------------------------------------

@pytest.mark.parametrize("hour, minute, shift", [
    (0, 0, "night"), (7, 59, "night"), (8, 0, "day"), (12, 0, "day"),
    (19, 59, "day"), (20, 0, "night"), (23, 59, "night"),
])
def test_shift_at_boundaries_in_shanghai_given_utc(hour, minute, shift):
    now = utc_for_local(hour, minute)
    assert now.tzinfo is timezone.utc
    assert shift_at(now) == shift


def test_shift_at_uses_shanghai_time_not_utc_time():
    # 00:30 UTC is 08:30 in Shanghai: day, although UTC says night
    assert shift_at(datetime(2025, 3, 14, 0, 30, tzinfo=timezone.utc)) == "day"
    # 12:30 UTC is 20:30 in Shanghai: night, although UTC says day
    assert shift_at(datetime(2025, 3, 14, 12, 30, tzinfo=timezone.utc)) == "night"


def test_shift_at_in_another_time_zone():
    assert shift_at(datetime(2025, 3, 14, 9, 0, tzinfo=timezone.utc), tz=timezone.utc) == "day"


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(timezone.utc)))
def test_shift_is_day_exactly_from_eight_to_before_twenty_local(now):
    local = now.astimezone(SHANGHAI)
    assert shift_at(now) == ("day" if 8 <= local.hour < 20 else "night")


# --- picking one officer -------------------------------------------------------------------------

def officer(code, department="chengguan", shifts=("day",), team_lead=False) -> Officer:
    return Officer(code=code, name=f"name-{code}", department_code=department, shifts=shifts,
                   team_lead=team_lead)


def test_pick_prefers_the_team_lead_on_duty():
    officers = [officer("cg-01"), officer("cg-03", team_lead=True), officer("cg-02")]
    assert pick(officers, "chengguan", "day").code == "cg-03"


def test_pick_takes_the_lowest_code_when_the_lead_is_off_duty():
    officers = [officer("cg-03"), officer("cg-01", team_lead=True, shifts=("day",)),
                officer("cg-04", shifts=("night",)), officer("cg-02", shifts=("day", "night"))]
    assert pick(officers, "chengguan", "night").code == "cg-02"


def test_pick_takes_the_lowest_code_when_there_is_no_lead():
    officers = [officer("cg-09"), officer("cg-02"), officer("cg-05")]
    assert pick(officers, "chengguan", "day").code == "cg-02"


def test_pick_only_looks_at_the_department():
    officers = [officer("ga-01", department="gongan", team_lead=True), officer("cg-07")]
    assert pick(officers, "chengguan", "day").code == "cg-07"


def test_pick_finds_nobody():
    officers = [officer("cg-01", shifts=("day",)), officer("ga-01", department="gongan", shifts=("night",))]
    assert pick(officers, "chengguan", "night") is None
    assert pick(officers, "shequ", "day") is None
    assert pick([], "chengguan", "day") is None


# --- assembling a team ---------------------------------------------------------------------------

ROSTER = [
    officer("cg-01", "chengguan", ("day",), team_lead=True),
    officer("cg-02", "chengguan", ("day", "night")),
    officer("gh-01", "guihua", ("day",), team_lead=True),
    officer("zj-02", "zhujian", ("night",)),
    officer("zj-01", "zhujian", ("day",)),
]


def test_assemble_team_puts_the_lead_department_first():
    team = assemble_team(("chengguan", "guihua", "zhujian"), list(reversed(ROSTER)), "day")
    assert isinstance(team, Team)
    assert team.lead.code == "cg-01"
    assert [m.code for m in team.members] == ["cg-01", "gh-01", "zj-01"]
    assert team.members[0] == team.lead
    assert team.gaps == ()


def test_the_lead_is_the_lead_department_even_when_another_lists_first_in_the_roster():
    team = assemble_team(("zhujian", "chengguan"), ROSTER, "day")
    assert team.lead.department_code == "zhujian"
    assert [m.department_code for m in team.members] == ["zhujian", "chengguan"]


def test_assemble_team_lists_gaps_for_departments_with_nobody_on_the_shift():
    team = assemble_team(("chengguan", "guihua", "zhujian", "jiedao"), ROSTER, "night")
    assert team.lead.code == "cg-02"
    assert [m.code for m in team.members] == ["cg-02", "zj-02"]
    assert team.gaps == ("guihua", "jiedao")


def test_no_team_when_the_lead_department_has_nobody_on_the_shift():
    with pytest.raises(NoTeam, match="guihua"):
        assemble_team(("guihua", "chengguan", "zhujian"), ROSTER, "night")


def test_no_team_when_nobody_at_all_is_on_duty():
    with pytest.raises(NoTeam):
        assemble_team(("shequ", "jiedao"), ROSTER, "day")


def test_no_team_is_a_value_error():
    assert issubclass(NoTeam, ValueError)


def test_the_shipped_roster_staffs_every_joint_category_on_both_shifts():
    ref = load_reference()
    officers = [Officer(code=o.code, name=o.name, department_code=o.department, shifts=o.shifts,
                        team_lead=o.team_lead) for o in ref.officers]
    for category in ref.categories:
        if not category.joint_enforcement:
            continue
        departments = (category.lead, *category.support)
        day = assemble_team(departments, officers, "day")
        assert day.lead.team_lead, category.code
        assert day.gaps == (), category.code
        night = assemble_team(departments, officers, "night")
        assert night.lead.department_code == category.lead, category.code
        assert len(night.members) + len(night.gaps) == len(departments), category.code

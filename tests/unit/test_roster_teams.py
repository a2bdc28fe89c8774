"""Joint enforcement teams: who is picked (on duty, active, certified, qualified, under the limit,
posted closest, least recently assigned), gaps, check-in, replacement, quorum, and the team following
its case (departments added and released, new rounds, release)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.roster.errors import InvalidRoster, NotAllowed
from services.roster.teams import (Assembled, Availability, Case, CheckedIn, Quorum, Replaced,
                                   RosterGap, TeamRules, Workload, add_department, candidates, check_in, decline,
                                   availability, due, form, new_round, participants, release, release_department,
                                   sweep)
from tests.unit.roster_samples import CODES, SHANGHAI, by_code, local, officer

NOW = local(SHANGHAI, 2025, 3, 14, 10, 0)
RULES = TeamRules()
OFFICERS = by_code(
    officer("cg-a", postings=(("grid", "daxigou-c1-g1"),)),
    officer("cg-b", postings=(("community", "daxigou-c1"),)),
    officer("cg-c", postings=(("street", "daxigou"),)),
    officer("cg-d", postings=(("street", "nanxiashu"),)),
    officer("gh-a", "guihua"), officer("gh-b", "guihua"),
    officer("zj-a", "zhujian"), officer("zj-b", "zhujian"),
)
ON_DUTY = {"chengguan": frozenset({"cg-a", "cg-b", "cg-c", "cg-d"}), "guihua": frozenset({"gh-a", "gh-b"}),
           "zhujian": frozenset({"zj-a", "zj-b"})}
CASE = Case(kind="whistle", ref="w-1", category="illegal_construction", urgency="urgent", street="daxigou",
            community="daxigou-c1", grid="daxigou-c1-g1")


def available(on_duty=None, officers=None, at=NOW) -> Availability:
    return Availability(at, officers or OFFICERS, {**ON_DUTY, **(on_duty or {})})


def formed(case=CASE, lead="chengguan", supporting=("guihua", "zhujian"), availability=None, workload=None,
           rules=RULES, now=NOW):
    workload = Workload() if workload is None else workload
    return form("t-1", case, lead, supporting, availability or available(), workload, rules, CODES, now)


def kinds(changes) -> list[str]:
    return [type(c).__name__ for c in changes]


# --- picking -------------------------------------------------------------------------------------

def test_a_team_has_one_officer_per_department_and_the_lead_from_the_lead_department():
    outcome = formed()
    team = outcome.team
    assert [(m.department, m.officer, m.role) for m in team.members] == [
        ("chengguan", "cg-a", "lead"), ("guihua", "gh-a", "support"), ("zhujian", "zj-a", "support")]
    assert team.lead.officer == "cg-a" and team.gaps == () and team.assembled_at is None
    assert all(m.check_in_by == NOW + timedelta(minutes=30) and m.status == "assigned" for m in team.members)
    assert kinds(outcome.changes) == ["Assigned"] * 3
    assert {o: outcome.workload.open(o) for o in ("cg-a", "gh-a", "zj-a", "cg-b")} == {
        "cg-a": 1, "gh-a": 1, "zj-a": 1, "cg-b": 0}
    assert outcome.workload.last_assigned["cg-a"] == NOW


@pytest.mark.parametrize("case, expected", [
    (CASE, "cg-a"),                                                                  # posted to the grid
    (Case("whistle", "w", "illegal_construction", "urgent", "daxigou", "daxigou-c1", "daxigou-c1-g2"), "cg-a"),
    (Case("whistle", "w", "illegal_construction", "urgent", "daxigou", "daxigou-c2", "daxigou-c2-g1"), "cg-a"),
    (Case("whistle", "w", "illegal_construction", "urgent", "nanxiashu", None, None), "cg-d"),
    (Case("whistle", "w", "illegal_construction", "urgent", "jinhaihu", None, None), "cg-a"),
])
def test_officers_posted_closest_to_the_case_come_first(case, expected):
    found, reason = candidates("chengguan", case, available(), Workload(), RULES, CODES)
    assert found[0].code == expected and reason is None


def test_the_order_is_grid_then_community_then_street_then_elsewhere():
    found, _ = candidates("chengguan", CASE, available(), Workload(), RULES, CODES)
    assert [o.code for o in found] == ["cg-a", "cg-b", "cg-c", "cg-d"]
    grid_2 = Case("whistle", "w", "illegal_construction", "urgent", "daxigou", "daxigou-c1", "daxigou-c1-g2")
    # cg-a's grid and cg-b's community are both in the case's community: a tie, broken by code
    assert [o.code for o in candidates("chengguan", grid_2, available(), Workload(), RULES, CODES)[0]] == [
        "cg-a", "cg-b", "cg-c", "cg-d"]


def test_fairness_least_recently_assigned_first_among_equals():
    workload = Workload(last_assigned={"gh-a": NOW - timedelta(hours=1), "gh-b": NOW - timedelta(days=2)})
    assert candidates("guihua", CASE, available(), workload, RULES, CODES)[0][0].code == "gh-b"
    never = Workload(last_assigned={"gh-a": NOW - timedelta(days=30)})
    assert candidates("guihua", CASE, available(), never, RULES, CODES)[0][0].code == "gh-b"


def test_nobody_over_the_open_case_limit():
    rules = TeamRules(open_case_limit=2)
    workload = Workload(open_cases={"gh-a": 2, "gh-b": 1})
    assert [o.code for o in candidates("guihua", CASE, available(), workload, rules, CODES)[0]] == ["gh-b"]
    full = Workload(open_cases={"gh-a": 2, "gh-b": 2})
    assert candidates("guihua", CASE, available(), full, rules, CODES) == ((), "all_at_limit")


def test_only_active_certified_qualified_officers_on_duty():
    officers = by_code(officer("gh-a", "guihua", active=False), officer("gh-b", "guihua", qualifications=("noise",)),
                       officer("gh-c", "guihua", expires=date(2025, 3, 13)), officer("gh-d", "guihua"))
    on = {"guihua": frozenset({"gh-a", "gh-b", "gh-c"})}
    assert candidates("guihua", CASE, available(on, officers), Workload(), RULES, CODES) == ((), "nobody_qualified")
    assert candidates("guihua", CASE, available({"guihua": frozenset()}, officers), Workload(), RULES,
                      CODES) == ((), "nobody_on_duty")
    on_duty_d = available({"guihua": frozenset({"gh-a", "gh-d"})}, officers)
    assert [o.code for o in candidates("guihua", CASE, on_duty_d, Workload(), RULES, CODES)[0]] == ["gh-d"]


def test_a_certificate_is_valid_through_its_last_day_in_the_departments_zone():
    officers = by_code(officer("gh-c", "guihua", expires=date(2025, 3, 14)))
    on = {"guihua": frozenset({"gh-c"})}
    last_minute = local(SHANGHAI, 2025, 3, 14, 23, 59)
    next_day = local(SHANGHAI, 2025, 3, 15, 0, 0)              # still 14 March in UTC
    assert candidates("guihua", CASE, available(on, officers, last_minute), Workload(), RULES, CODES)[0]
    assert candidates("guihua", CASE, available(on, officers, next_day), Workload(), RULES, CODES) == (
        (), "nobody_qualified")


def test_a_department_with_nobody_is_a_reported_gap_never_a_silent_hole():
    outcome = formed(availability=available({"guihua": frozenset()}))
    team = outcome.team
    assert team.gaps == ("guihua",)
    gaps = [c for c in outcome.changes if isinstance(c, RosterGap)]
    assert [(g.department, g.role, g.reason, g.at) for g in gaps] == [("guihua", "support", "nobody_on_duty", NOW)]
    assert {m.department for m in team.members} == {"chengguan", "zhujian"}


def test_a_gap_in_the_lead_department_leaves_the_team_without_a_lead_and_says_so():
    outcome = formed(availability=available({"chengguan": frozenset()}))
    assert outcome.team.lead is None and outcome.team.gaps == ("chengguan",)
    assert [(c.department, c.role) for c in outcome.changes if isinstance(c, RosterGap)] == [("chengguan", "lead")]


def test_unknown_departments_and_categories_are_refused():
    with pytest.raises(InvalidRoster) as caught:
        formed(lead="nosuch", supporting=("guihua", "ghost"))
    assert [e.field for e in caught.value.errors] == ["lead", "supporting.1"]
    with pytest.raises(InvalidRoster) as caught:
        formed(case=Case("whistle", "w", "nosuch", "urgent"))
    assert caught.value.errors[0].field == "category"


def test_the_lead_department_listed_as_support_counts_once():
    team = formed(supporting=("chengguan", "guihua")).team
    assert team.departments == ("chengguan", "guihua")


# --- turning up ----------------------------------------------------------------------------------

def test_the_team_is_assembled_when_every_department_has_checked_in():
    outcome = formed()
    team, workload = outcome.team, outcome.workload
    for i, (officer_code, department) in enumerate((("cg-a", "chengguan"), ("gh-a", "guihua"), ("zj-a", "zhujian"))):
        at = NOW + timedelta(minutes=10 + i)
        outcome = check_in(outcome.team, officer_code, department, outcome.workload, RULES, at)
        assert isinstance(outcome.changes[0], CheckedIn) and outcome.changes[0].on_time
    assert kinds(outcome.changes) == ["CheckedIn", "Assembled"]
    assert outcome.team.assembled_at == NOW + timedelta(minutes=12) and outcome.team.present == team.departments
    again = check_in(outcome.team, "zj-a", "zhujian", workload, RULES, NOW + timedelta(minutes=20))
    assert again.changes == () and again.team == outcome.team


def test_a_late_check_in_is_taken_and_marked_late():
    team = formed().team
    outcome = check_in(team, "gh-a", "guihua", Workload(), RULES, NOW + timedelta(minutes=31))
    assert outcome.changes[0].on_time is False
    assert outcome.team.current("guihua").checked_in_at == NOW + timedelta(minutes=31)


def test_check_in_by_someone_not_on_the_team_is_refused():
    team = formed().team
    with pytest.raises(NotAllowed) as caught:
        check_in(team, "gh-b", "guihua", Workload(), RULES, NOW)
    assert caught.value.errors[0].field == "officer_code"
    with pytest.raises(NotAllowed):
        check_in(team, "gh-a", "zhujian", Workload(), RULES, NOW)


def test_a_decline_is_replaced_by_the_next_eligible_officer():
    outcome = formed()
    declined = decline(outcome.team, "gh-a", "guihua", available(), outcome.workload, RULES, CODES,
                       NOW + timedelta(minutes=5))
    assert kinds(declined.changes) == ["Replaced", "Assigned"]
    replaced, assigned = declined.changes
    assert (replaced.old.officer, replaced.old.status, replaced.new.officer) == ("gh-a", "declined", "gh-b")
    assert assigned.replaces.officer == "gh-a"
    assert declined.team.current("guihua").officer == "gh-b"
    assert declined.team.current("guihua").check_in_by == NOW + timedelta(minutes=35)
    assert declined.workload.open("gh-a") == 0 and declined.workload.open("gh-b") == 1
    with pytest.raises(NotAllowed, match="no longer on team"):
        check_in(declined.team, "gh-a", "guihua", declined.workload, RULES, NOW + timedelta(minutes=6))
    # gh-b declines too: nobody is left who has not been tried, and the gap is reported
    again = decline(declined.team, "gh-b", "guihua", available(), declined.workload, RULES, CODES,
                    NOW + timedelta(minutes=7))
    assert kinds(again.changes) == ["Replaced", "RosterGap"]
    assert again.changes[0].new is None and again.changes[1].reason == "all_tried"
    assert again.team.gaps == ("guihua",)


def test_a_member_who_checked_in_cannot_decline():
    team = check_in(formed().team, "gh-a", "guihua", Workload(), RULES, NOW).team
    with pytest.raises(NotAllowed, match="checked in"):
        decline(team, "gh-a", "guihua", available(), Workload(), RULES, CODES, NOW)


def test_a_no_show_is_replaced_at_the_deadline_not_before():
    outcome = formed()
    early = sweep(outcome.team, available(), outcome.workload, RULES, CODES, NOW + timedelta(minutes=30))
    assert early.changes == ()
    late = sweep(outcome.team, available(), outcome.workload, RULES, CODES, NOW + timedelta(minutes=30, seconds=1))
    assert [(c.old.officer, c.old.status, c.new.officer) for c in late.changes if isinstance(c, Replaced)] == [
        ("cg-a", "no_show", "cg-b"), ("gh-a", "no_show", "gh-b"), ("zj-a", "no_show", "zj-b")]
    assert late.team.lead.officer == "cg-b" and late.team.lead.role == "lead"


def test_an_officer_going_off_shift_before_checking_in_is_replaced_but_one_on_site_stays():
    outcome = formed()
    present = check_in(outcome.team, "cg-a", "chengguan", outcome.workload, RULES, NOW + timedelta(minutes=5))
    shift_over = available({"chengguan": frozenset({"cg-c"}), "guihua": frozenset({"gh-b"})})
    swept = sweep(present.team, shift_over, present.workload, RULES, CODES, NOW + timedelta(minutes=10))
    assert [(c.old.officer, c.old.status, c.new.officer) for c in swept.changes if isinstance(c, Replaced)] == [
        ("gh-a", "off_shift", "gh-b")]
    assert swept.team.current("chengguan").officer == "cg-a"          # 事不完，人不走


def test_a_gap_is_tried_again_on_every_sweep_and_reported_once():
    outcome = formed(availability=available({"guihua": frozenset()}))
    still = sweep(outcome.team, available({"guihua": frozenset()}), outcome.workload, RULES, CODES,
                  NOW + timedelta(minutes=5))
    assert still.changes == () and still.team.gaps == ("guihua",)
    filled = sweep(still.team, available(), still.workload, RULES, CODES, NOW + timedelta(minutes=6))
    assert kinds(filled.changes) == ["Assigned"] and filled.team.gaps == ()
    assert filled.team.current("guihua").check_in_by == NOW + timedelta(minutes=36)


def test_due_is_the_earliest_check_in_deadline_still_open():
    outcome = formed()
    assert due(outcome.team) == NOW + timedelta(minutes=30)
    team = outcome.team
    for officer_code, department in (("cg-a", "chengguan"), ("gh-a", "guihua"), ("zj-a", "zhujian")):
        team = check_in(team, officer_code, department, Workload(), RULES, NOW).team
    assert due(team) is None


# --- quorum --------------------------------------------------------------------------------------

def test_a_quorum_of_the_lead_and_half_the_departments():
    rules = TeamRules(quorum=Quorum(share=0.5))
    team = formed(rules=rules).team
    one = check_in(team, "gh-a", "guihua", Workload(), rules, NOW)
    two = check_in(one.team, "zj-a", "zhujian", Workload(), rules, NOW)
    assert not any(isinstance(c, Assembled) for c in one.changes + two.changes)      # the lead is not there
    three = check_in(two.team, "cg-a", "chengguan", Workload(), rules, NOW)
    assert kinds(three.changes) == ["CheckedIn", "Assembled"]
    lead_and_one = check_in(check_in(team, "cg-a", "chengguan", Workload(), rules, NOW).team, "gh-a", "guihua",
                            Workload(), rules, NOW)
    assert kinds(lead_and_one.changes) == ["CheckedIn", "Assembled"]


def test_a_quorum_without_the_lead():
    rules = TeamRules(quorum=Quorum(lead_required=False, share=0.3))
    assert kinds(check_in(formed(rules=rules).team, "zj-a", "zhujian", Workload(), rules, NOW).changes) == [
        "CheckedIn", "Assembled"]
    with pytest.raises(InvalidRoster):
        Quorum(share=0)


# --- the team follows the case -------------------------------------------------------------------

def test_adding_a_department_staffs_it_and_twice_changes_nothing():
    team = formed(supporting=("guihua",)).team
    added = add_department(team, "zhujian", available(), Workload(), RULES, CODES, NOW + timedelta(hours=1))
    assert kinds(added.changes) == ["Assigned"] and added.team.departments == ("chengguan", "guihua", "zhujian")
    assert add_department(added.team, "zhujian", available(), Workload(), RULES, CODES, NOW).changes == ()
    with pytest.raises(InvalidRoster):
        add_department(team, "nosuch", available(), Workload(), RULES, CODES, NOW)


def test_releasing_the_missing_department_can_complete_the_team():
    outcome = formed()
    team = check_in(check_in(outcome.team, "cg-a", "chengguan", Workload(), RULES, NOW).team, "zj-a", "zhujian",
                    Workload(), RULES, NOW).team
    released = release_department(team, "guihua", outcome.workload, RULES, NOW + timedelta(minutes=3))
    assert kinds(released.changes) == ["Released", "Assembled"]
    assert released.changes[0].members[0].officer == "gh-a" and released.workload.open("gh-a") == 0
    assert released.team.departments == ("chengguan", "zhujian")
    with pytest.raises(NotAllowed, match="leads"):
        release_department(team, "chengguan", Workload(), RULES, NOW)
    only_gh_a = available({"guihua": frozenset({"gh-a"})})
    back = add_department(released.team, "guihua", only_gh_a, released.workload, RULES, CODES, NOW)
    assert back.team.current("guihua").officer == "gh-a"             # a fresh slot: nobody has been tried


def test_a_new_round_moves_the_lead_releases_who_is_no_longer_called_and_assembles_again():
    outcome = formed()
    team = outcome.team
    for officer_code, department in (("cg-a", "chengguan"), ("gh-a", "guihua"), ("zj-a", "zhujian")):
        team = check_in(team, officer_code, department, Workload(), RULES, NOW).team
    assert team.assembled_round == 1
    later = NOW + timedelta(days=2)
    rounded = new_round(team, "zhujian", ("chengguan",), available(), outcome.workload, RULES, CODES, later)
    assert rounded.team.round == 2 and rounded.team.departments == ("zhujian", "chengguan")
    assert rounded.team.lead.officer == "zj-a" and rounded.team.current("chengguan").role == "support"
    assert kinds(rounded.changes) == ["Released", "Assembled"]          # both who stay are already present
    assert rounded.team.assembled_round == 2 and rounded.team.assembled_at == later
    third = new_round(rounded.team, "zhujian", ("chengguan", "guihua"), available(), rounded.workload, RULES,
                      CODES, later)
    assert kinds(third.changes) == ["Assigned"] and third.team.current("guihua").round == 3


def test_release_frees_everyone_and_closes_the_team():
    outcome = formed()
    done = release(outcome.team, outcome.workload, RULES, NOW + timedelta(hours=3))
    assert kinds(done.changes) == ["Released"] and done.changes[0].department is None
    assert {m.status for m in done.team.members} == {"released"}
    assert all(done.workload.open(o) == 0 for o in ("cg-a", "gh-a", "zj-a"))
    assert release(done.team, done.workload, RULES, NOW).changes == ()
    assert sweep(done.team, available(), done.workload, RULES, CODES, NOW + timedelta(hours=4)).changes == ()
    with pytest.raises(NotAllowed, match="released"):
        check_in(done.team, "cg-a", "chengguan", done.workload, RULES, NOW)


def test_a_planned_operation_team_is_due_from_its_start():
    starts = NOW + timedelta(days=1)
    case = Case("operation", "dust-20250315T1000", "illegal_construction", "planned", "daxigou",
                operation="dust", starts_at=starts)
    team = formed(case=case, availability=available(at=starts)).team
    assert {m.check_in_by for m in team.members} == {starts + timedelta(minutes=30)}


def test_departments_without_a_roster_send_nobody_but_a_lead_without_one_is_a_gap():
    rostered = frozenset({"chengguan", "shichang"})
    assert participants("chengguan", ("shichang", "jiedao", "chengguan"), rostered) == ("shichang",)
    assert participants("jiedao", ("chengguan",), rostered) == ("chengguan",)


def test_availability_asks_the_duty_roster_for_each_department():
    class Duty:
        def on_duty(self, department, at):
            return frozenset({f"{department}@{at:%H}"})
    found = availability(Duty(), OFFICERS, ("chengguan", "guihua"), NOW)
    assert found.on_duty == {"chengguan": {"chengguan@02"}, "guihua": {"guihua@02"}} and found.at == NOW

"""History of service: records from teams, and the queries for the monthly assessment."""
from __future__ import annotations

from datetime import timedelta

from services.roster.history import in_month, of_department, of_officer, records, summarise
from services.roster.teams import TeamRules, Workload, check_in, decline, release, sweep
from tests.unit.roster_samples import CODES, SHANGHAI, local
from tests.unit.test_roster_teams import CASE, available, formed

RULES = TeamRules()
START = local(SHANGHAI, 2025, 3, 31, 23, 40)          # late on the last day of March, Beijing time


def served_team():
    """cg-a checks in on time, gh-a declines and gh-b comes late, zj-a no-shows and zj-b checks in."""
    outcome = formed(now=START)
    team, workload = outcome.team, outcome.workload
    team = check_in(team, "cg-a", "chengguan", workload, RULES, START + timedelta(minutes=10)).team
    declined = decline(team, "gh-a", "guihua", available(), workload, RULES, CODES, START + timedelta(minutes=12))
    team, workload = declined.team, declined.workload
    team = check_in(team, "gh-b", "guihua", workload, RULES, START + timedelta(minutes=50)).team
    swept = sweep(team, available(), workload, RULES, CODES, START + timedelta(minutes=31))
    team, workload = swept.team, swept.workload
    team = check_in(team, "zj-b", "zhujian", workload, RULES, START + timedelta(minutes=40)).team
    return release(team, workload, RULES, START + timedelta(hours=3)).team


def test_records_say_who_served_from_when_to_when_and_on_time_or_not():
    found = {r.officer: r for r in records(served_team())}
    assert set(found) == {"cg-a", "gh-a", "gh-b", "zj-a", "zj-b"}
    assert (found["cg-a"].on_time, found["cg-a"].outcome) == (True, "released")
    assert found["cg-a"].served(START) == timedelta(hours=2, minutes=50)
    assert (found["gh-a"].outcome, found["gh-a"].on_time, found["gh-a"].served(START)) == ("declined", None,
                                                                                        timedelta(0))
    assert found["gh-b"].on_time is False                 # assigned at +12 min, due at +42, came at +50
    assert (found["zj-a"].outcome, found["zj-b"].on_time) == ("no_show", True)
    assert {r.kind for r in found.values()} == {"whistle"} and {r.ref for r in found.values()} == {CASE.ref}


def test_queries_per_officer_department_and_month_in_beijing_time():
    team = served_team()
    found = records(team)
    assert [r.officer for r in of_department(found, "guihua")] == ["gh-a", "gh-b"]
    assert [r.department for r in of_officer(found, "zj-b")] == ["zhujian"]
    # 23:40 on 31 March in Beijing is 15:40 UTC, March either way; zj-b was assigned at 00:11 Beijing
    # time on 1 April (16:11 UTC on 31 March): April
    assert {r.officer for r in in_month(found, 2025, 3)} == {"cg-a", "gh-a", "gh-b", "zj-a"}
    assert {r.officer for r in in_month(found, 2025, 4)} == {"zj-b"}


def test_the_monthly_summary_per_officer():
    lines = {s.officer: s for s in summarise(records(served_team()), START + timedelta(days=1))}
    assert (lines["gh-b"].assignments, lines["gh-b"].checked_in, lines["gh-b"].late) == (1, 1, 1)
    assert (lines["zj-a"].no_shows, lines["gh-a"].declined, lines["cg-a"].on_time) == (1, 1, 1)
    assert [s.department for s in summarise(records(served_team()), START)] == [
        "chengguan", "guihua", "guihua", "zhujian", "zhujian"]


def test_a_member_still_serving_is_counted_until_now():
    outcome = formed(now=START)
    team = check_in(outcome.team, "cg-a", "chengguan", Workload(), RULES, START).team
    record = next(r for r in records(team) if r.officer == "cg-a")
    assert record.ended_at is None and record.served(START + timedelta(hours=1)) == timedelta(hours=1)

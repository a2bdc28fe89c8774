"""Property-based test of team assembly: for random schedules, officers, workloads and cases, every
assembled team has one qualified officer on duty per department where one exists, no officer is ever
over the open-case limit, and every department left without someone is reported as a gap — also
after declines, no-shows and sweeps, with several teams drawing on the same officers."""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.roster.officers import posting_rank
from services.roster.schedule import DepartmentSchedule, Leave, Rotation, on_duty
from services.roster.teams import (Availability, Case, RosterGap, TeamRules, Workload, decline, form, sweep)
from tests.unit.roster_samples import CODES, SHANGHAI, local, officer

DEPARTMENTS = ("chengguan", "guihua", "zhujian", "shengtai")
CATEGORIES = ("illegal_construction", "construction_dust", "street_vending")
PLACES = (("daxigou", "daxigou-c1", "daxigou-c1-g1"), ("daxigou", "daxigou-c1", "daxigou-c1-g2"),
          ("daxigou", "daxigou-c2", None), ("nanxiashu", None, None))
POSTINGS = (("grid", "daxigou-c1-g1"), ("community", "daxigou-c1"), ("street", "daxigou"), ("street", "nanxiashu"))
WINDOW = local(SHANGHAI, 2025, 3, 24)          # a week before the spring change in Europe; Shanghai has none
TODAY = date(2025, 3, 27)


@st.composite
def department_roster(draw, department: str):
    size = draw(st.integers(0, 4))
    officers = [officer(f"{department}-{i}", department,
                        active=draw(st.booleans() | st.just(True)),
                        expires=draw(st.sampled_from((date(2025, 3, 20), TODAY, date(2030, 1, 1)))),
                        qualifications=draw(st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=3,
                                                     unique=True)),
                        postings=draw(st.lists(st.sampled_from(POSTINGS), max_size=2, unique=True)))
                for i in range(size)]
    rotations = []
    codes = [o.code for o in officers]
    for r in range(draw(st.integers(0, 3)) if codes else 0):
        frequency = draw(st.sampled_from(("hourly", "daily", "weekly")))
        interval = draw(st.integers(4, 12)) if frequency == "hourly" else 1
        groups = draw(st.lists(st.lists(st.sampled_from(codes), min_size=1, max_size=2, unique=True),
                               min_size=1, max_size=3))
        rotations.append(Rotation(
            code=f"r{r}", name_zh="班", name_en="shift", layer=draw(st.integers(0, 1)), frequency=frequency,
            interval=interval, starts=datetime(2025, 3, 17, draw(st.integers(0, 23))),
            length=timedelta(hours=draw(st.integers(1, 30))), members=tuple(tuple(g) for g in groups),
            weekdays=tuple(draw(st.lists(st.sampled_from(("MO", "TU", "WE", "TH", "FR", "SA", "SU")),
                                         max_size=3, unique=True)))))
    leave = []
    if codes and draw(st.booleans()):
        start = WINDOW + timedelta(hours=draw(st.integers(0, 100)))
        leave.append(Leave(officer=draw(st.sampled_from(codes)), start=start,
                           end=start + timedelta(hours=draw(st.integers(1, 48)))))
    return officers, DepartmentSchedule(department=department, rotations=tuple(rotations), leave=tuple(leave))


@st.composite
def worlds(draw):
    rosters = {d: draw(department_roster(d)) for d in DEPARTMENTS}
    officers = {o.code: o for d in DEPARTMENTS for o in rosters[d][0]}
    schedules = {d: rosters[d][1] for d in DEPARTMENTS}
    limit = draw(st.integers(1, 3))
    workload = Workload(
        open_cases={c: draw(st.integers(0, limit)) for c in officers},
        last_assigned={c: WINDOW - timedelta(hours=draw(st.integers(1, 500))) for c in officers
                       if draw(st.booleans())})
    cases = []
    for i in range(draw(st.integers(1, 4))):
        street, community, grid = draw(st.sampled_from(PLACES))
        departments = draw(st.lists(st.sampled_from(DEPARTMENTS), min_size=1, max_size=4, unique=True))
        cases.append((Case("whistle", f"w-{i}", draw(st.sampled_from(CATEGORIES)), "urgent", street, community,
                           grid), departments))
    at = WINDOW + timedelta(minutes=draw(st.integers(0, 7 * 24 * 60)))
    return officers, schedules, TeamRules(open_case_limit=limit), workload, cases, at


def eligible(officers, schedules, workload, rules, department, category, at, exclude=()):
    """Who may be picked, worked out here from first principles."""
    duty = on_duty(schedules[department], at)
    return {c for c, o in officers.items()
            if o.department == department and c in duty and o.active and o.certificate.expires_on >= at.astimezone(
                SHANGHAI).date() and category in o.qualifications and workload.open(c) < rules.open_case_limit
            and c not in exclude}


def check_team(team, changes, officers, schedules, before, after, rules, at):
    members = [team.current(d) for d in team.departments]
    present = [m for m in members if m is not None]
    assert len({m.officer for m in present}) == len(present)                     # nobody twice
    for department in team.departments:
        slot = next(s for s in team.slots if s.department == department)
        member = team.current(department)
        if member is None:
            assert slot.gap_since is not None, department                         # reported as a gap
        else:
            assert slot.gap_since is None
            assert member.department == department
            assert member.role == ("lead" if department == team.lead_department else "support")
    for change in changes:
        if isinstance(change, RosterGap):
            assert team.current(change.department) is None                      # a gap is a real gap
    assert all(after.open(c) <= rules.open_case_limit for c in officers)            # nobody over the limit
    assert all(after.open(c) >= 0 for c in officers)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_every_team_has_a_qualified_officer_on_duty_per_department_where_one_exists(world):
    officers, schedules, rules, workload, cases, at = world
    availability = Availability(at, officers, {d: on_duty(schedules[d], at) for d in DEPARTMENTS})
    active = Counter()
    for i, (case, departments) in enumerate(cases):
        before = workload
        outcome = form(f"t-{i}", case, departments[0], departments[1:], availability, workload, rules, CODES, at)
        team, workload = outcome.team, outcome.workload
        gaps = {c.department for c in outcome.changes if isinstance(c, RosterGap)}
        for department in team.departments:
            could = eligible(officers, schedules, before, rules, department, case.category, at)
            member = team.current(department)
            if could:
                assert member is not None and member.officer in could, (department, could)
                best = min(posting_rank(officers[c], case.place(CODES), CODES) for c in could)
                assert posting_rank(officers[member.officer], case.place(CODES), CODES) == best
                active[member.officer] += 1
            else:
                assert member is None and department in gaps, department
        assert gaps == set(team.gaps)                                             # every gap, and only gaps
        check_team(team, outcome.changes, officers, schedules, before, workload, rules, at)
    for code, count in active.items():
        assert workload.open(code) == count + world[3].open(code) <= rules.open_case_limit


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds(), st.lists(st.tuples(st.sampled_from(("decline", "sweep")), st.integers(0, 3),
                                    st.integers(1, 90)), max_size=6))
def test_replacements_keep_every_department_staffed_or_reported(world, steps):
    officers, schedules, rules, workload, cases, at = world
    case, departments = cases[0]
    availability = Availability(at, officers, {d: on_duty(schedules[d], at) for d in DEPARTMENTS})
    outcome = form("t", case, departments[0], departments[1:], availability, workload, rules, CODES, at)
    team, workload, now = outcome.team, outcome.workload, at
    for action, which, minutes in steps:
        now = now + timedelta(minutes=minutes)
        here = Availability(now, officers, {d: on_duty(schedules[d], now) for d in DEPARTMENTS})
        before = workload
        if action == "decline":
            members = [team.current(d) for d in team.departments if team.current(d) is not None]
            members = [m for m in members if m.status == "assigned"]
            if not members:
                continue
            member = members[which % len(members)]
            outcome = decline(team, member.officer, member.department, here, workload, rules, CODES, now)
            touched = {member.department}
        else:
            outcome = sweep(team, here, workload, rules, CODES, now)
            touched = set(team.departments)           # a sweep tries every gap again
        team, workload = outcome.team, outcome.workload
        check_team(team, outcome.changes, officers, schedules, before, workload, rules, now)
        for department in team.departments:
            member = team.current(department)
            slot = next(s for s in team.slots if s.department == department)
            if member is None:
                if department in touched:      # nobody left who is eligible and has not been tried
                    assert not eligible(officers, schedules, before, rules, department, case.category, now,
                                        exclude=slot.tried)
            elif member.assigned_at == now:
                assert member.officer in eligible(officers, schedules, before, rules, department, case.category, now)
                assert member.check_in_by == now + rules.check_in_within
        tried = Counter(m.officer for m in team.members)
        assert all(n == 1 for n in tried.values())                 # a replaced officer is never tried again
    active = Counter(m.officer for m in team.members if m.active)
    assert all(workload.open(c) == world[3].open(c) + active[c] for c in officers)

"""Duty schedules: rotations across midnight, month and year ends and DST changes in the department's
zone, layers, overrides, swaps, leave, coverage gaps, and the errors for bad schedules."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.common.events import ContractError, parse
from services.roster.errors import InvalidRoster
from services.roster.schedule import (DepartmentSchedule, DutyRoster, Gap, Leave, Override, Rotation, Swap, add_leave,
                                      add_override, add_swap, check_rotations, coverage_gaps, on_duty, preview,
                                      replace_rotations)
from tests.unit.roster_samples import CODES, SHANGHAI, UTC, by_code, local, officer

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
OFFICERS = by_code(*(officer(c) for c in ("a", "b", "c", "d", "e", "f")), officer("z", active=False),
                   officer("g1", "gongan"))


def rotation(code="day", *, starts=datetime(2025, 1, 6, 8), length="12h", members=(("a",), ("b",)), **more):
    return Rotation(code=code, name_zh=code, name_en=code, starts=starts, length=length, members=members, **more)


def day_night(zone="Asia/Shanghai", **more) -> DepartmentSchedule:
    """Days 08:00-20:00 alternate a/b, nights 20:00-08:00 alternate c/d, from Monday 2025-01-06."""
    return DepartmentSchedule(department="chengguan", time_zone=zone, rotations=(
        rotation("day", members=(("a",), ("b",))),
        rotation("night", starts=datetime(2025, 1, 6, 20), members=(("c",), ("d",)))), **more)


def sh(*args) -> datetime:
    return local(SHANGHAI, *args)


# --- the arithmetic ------------------------------------------------------------------------------

@pytest.mark.parametrize("at, expected", [
    (sh(2025, 1, 6, 7, 59), set()),                    # before the first hand-over
    (sh(2025, 1, 6, 8, 0), {"a"}),
    (sh(2025, 1, 6, 19, 59), {"a"}),
    (sh(2025, 1, 6, 20, 0), {"c"}),
    (sh(2025, 1, 7, 0, 0), {"c"}),                     # across midnight: still the night that began at 20:00
    (sh(2025, 1, 7, 7, 59, 59), {"c"}),
    (sh(2025, 1, 7, 8, 0), {"b"}),
    (sh(2025, 1, 7, 20, 0), {"d"}),
])
def test_day_and_night_shifts_hand_over_at_local_times(at, expected):
    assert on_duty(day_night(), at) == expected


def test_the_zone_is_the_departments_not_utc():
    # 00:30 UTC is 08:30 in Shanghai: the day shift, though UTC's clock says night
    assert on_duty(day_night(), datetime(2025, 1, 6, 0, 30, tzinfo=UTC)) == {"a"}


@pytest.mark.parametrize("at", [sh(2025, 1, 31, 23, 59), sh(2025, 2, 1, 0, 0), sh(2025, 2, 1, 7, 59),
                                sh(2025, 12, 31, 23, 0), sh(2026, 1, 1, 3, 0), sh(2024, 2, 29, 2, 0)])
def test_a_night_shift_runs_on_across_month_and_year_ends(at):
    schedule = DepartmentSchedule(department="chengguan", rotations=(
        rotation("night", starts=datetime(2024, 1, 1, 20), members=(("c",), ("d",))),))
    started = (at.astimezone(SHANGHAI) - timedelta(hours=12)).replace(hour=20, minute=0, second=0)
    index = (started.date() - datetime(2024, 1, 1).date()).days
    assert on_duty(schedule, at) == {("c", "d")[index % 2]}


def test_preview_lists_the_shifts_of_a_window_clipped_to_it():
    shifts = preview(day_night(), sh(2025, 1, 31, 12, 0), sh(2025, 2, 1, 12, 0))
    assert [(s.officer, s.start, s.end, s.origin) for s in shifts] == [
        ("a" if (31 - 6) % 2 == 0 else "b", sh(2025, 1, 31, 12, 0), sh(2025, 1, 31, 20, 0), "day"),
        ("c" if (31 - 6) % 2 == 0 else "d", sh(2025, 1, 31, 20, 0), sh(2025, 2, 1, 8, 0), "night"),
        ("b" if (31 - 6) % 2 == 0 else "a", sh(2025, 2, 1, 8, 0), sh(2025, 2, 1, 12, 0), "day"),
    ]


def test_preview_whole_shows_edge_shifts_whole():
    shifts = preview(day_night(), sh(2025, 1, 31, 12, 0), sh(2025, 2, 1, 12, 0), whole=True)
    assert (shifts[0].start, shifts[-1].end) == (sh(2025, 1, 31, 8, 0), sh(2025, 2, 1, 20, 0))


def test_berlin_night_shifts_are_an_hour_shorter_in_spring_and_longer_in_autumn():
    schedule = day_night("Europe/Berlin")
    spring = [s for s in preview(schedule, local(BERLIN, 2025, 3, 29, 12), local(BERLIN, 2025, 3, 30, 12))
              if s.origin == "night"]
    assert len(spring) == 1 and spring[0].end - spring[0].start == timedelta(hours=11)
    assert spring[0].start.astimezone(BERLIN).hour == 20 and spring[0].end.astimezone(BERLIN).hour == 8
    autumn = [s for s in preview(schedule, local(BERLIN, 2025, 10, 25, 12), local(BERLIN, 2025, 10, 26, 12))
              if s.origin == "night"]
    assert autumn[0].end - autumn[0].start == timedelta(hours=13)
    # 02:30 happens twice on 26 October; the same night officer is on duty both times
    first, second = datetime(2025, 10, 26, 0, 30, tzinfo=UTC), datetime(2025, 10, 26, 1, 30, tzinfo=UTC)
    assert first.astimezone(BERLIN).strftime("%H:%M") == second.astimezone(BERLIN).strftime("%H:%M") == "02:30"
    assert on_duty(schedule, first) == on_duty(schedule, second) == {autumn[0].officer}
    assert coverage_gaps(schedule, local(BERLIN, 2025, 3, 1), local(BERLIN, 2025, 11, 30)) == ()


def test_new_york_hand_over_at_a_time_that_does_not_exist_on_the_spring_change():
    # 24-hour shifts handed over at 02:30; on 9 March 2025 02:30 does not exist in New York
    schedule = DepartmentSchedule(department="chengguan", time_zone="America/New_York", rotations=(
        rotation("duty24", starts=datetime(2025, 3, 1, 2, 30), length="24h", members=(("a",), ("b",), ("c",))),))
    shifts = preview(schedule, local(NEW_YORK, 2025, 3, 7, 12), local(NEW_YORK, 2025, 3, 11, 12), whole=True)
    for before, after in zip(shifts, shifts[1:]):
        assert before.end == after.start                  # they always meet: no hole, no overlap
    lengths = {s.start.astimezone(NEW_YORK).day: s.end - s.start for s in shifts}
    assert lengths[8] == timedelta(hours=24)               # 8 March 02:30 EST to the change
    assert lengths[9] == timedelta(hours=23)               # read from 03:30 EDT on
    assert coverage_gaps(schedule, local(NEW_YORK, 2025, 3, 2), local(NEW_YORK, 2025, 11, 30)) == ()
    # November's fall back: 1:30 happens twice, the same officer both times
    assert on_duty(schedule, datetime(2025, 11, 2, 5, 30, tzinfo=UTC)) == \
        on_duty(schedule, datetime(2025, 11, 2, 6, 30, tzinfo=UTC))


def test_weekly_rotation_hands_over_on_monday_mornings():
    schedule = DepartmentSchedule(department="chengguan", rotations=(rotation(
        "oncall", frequency="weekly", starts=datetime(2025, 1, 6, 9), length="7d", members=(("a",), ("b",), ("c",))),))
    assert on_duty(schedule, sh(2025, 1, 13, 8, 59)) == {"a"}
    assert on_duty(schedule, sh(2025, 1, 13, 9, 0)) == {"b"}
    assert on_duty(schedule, sh(2025, 1, 26, 23, 0)) == {"c"}
    assert on_duty(schedule, sh(2025, 1, 27, 9, 0)) == {"a"}


def test_custom_eight_hour_shifts_and_turns():
    # three 8-hour shifts a day from 06:00; each group works two shifts running before handing over
    schedule = DepartmentSchedule(department="chengguan", rotations=(rotation(
        "eight", frequency="hourly", interval=8, starts=datetime(2025, 1, 6, 6), length="8h", turn=2,
        members=(("a", "b"), ("c",), ("d",))),))
    assert on_duty(schedule, sh(2025, 1, 6, 6, 0)) == {"a", "b"}
    assert on_duty(schedule, sh(2025, 1, 6, 14, 0)) == {"a", "b"}
    assert on_duty(schedule, sh(2025, 1, 6, 22, 0)) == {"c"}
    assert on_duty(schedule, sh(2025, 1, 7, 6, 0)) == {"c"}
    assert on_duty(schedule, sh(2025, 1, 7, 14, 0)) == {"d"}
    assert on_duty(schedule, sh(2025, 1, 8, 6, 0)) == {"a", "b"}


def test_weekdays_and_until_limit_a_rotation_and_leave_gaps():
    schedule = DepartmentSchedule(department="chengguan", rotations=(rotation(
        "office", weekdays=("MO", "TU", "WE", "TH", "FR"), starts=datetime(2025, 1, 6, 8, 30), length="9h",
        until=datetime(2025, 1, 17, 8, 30), members=(("a", "b"),)),))
    assert on_duty(schedule, sh(2025, 1, 10, 10, 0)) == {"a", "b"}      # Friday
    assert on_duty(schedule, sh(2025, 1, 11, 10, 0)) == set()           # Saturday
    assert on_duty(schedule, sh(2025, 1, 17, 10, 0)) == {"a", "b"}      # the last hand-over
    assert on_duty(schedule, sh(2025, 1, 20, 10, 0)) == set()           # after until
    gaps = coverage_gaps(schedule, sh(2025, 1, 6, 0, 0), sh(2025, 1, 7, 0, 0))
    assert [(g.start, g.end) for g in gaps] == [(sh(2025, 1, 6, 0, 0), sh(2025, 1, 6, 8, 30)),
                                                (sh(2025, 1, 6, 17, 30), sh(2025, 1, 7, 0, 0))]


def test_a_higher_layer_wins_where_it_has_someone_on_duty():
    schedule = DepartmentSchedule(department="chengguan", rotations=(
        rotation("oncall", frequency="weekly", length="7d", starts=datetime(2025, 1, 6, 8, 30), members=(("e",),)),
        rotation("office", layer=1, weekdays=("MO", "TU", "WE", "TH", "FR"), starts=datetime(2025, 1, 6, 8, 30),
                 length="9h", members=(("a", "b"),))))
    assert on_duty(schedule, sh(2025, 1, 8, 10, 0)) == {"a", "b"}       # Wednesday office hours
    assert on_duty(schedule, sh(2025, 1, 8, 18, 0)) == {"e"}            # Wednesday evening
    assert on_duty(schedule, sh(2025, 1, 11, 10, 0)) == {"e"}           # Saturday
    assert {s.layer for s in preview(schedule, sh(2025, 1, 8, 0, 0), sh(2025, 1, 9, 0, 0))} == {0, 1}


def test_the_duty_roster_answers_per_department_and_knows_the_codes():
    roster = DutyRoster({"chengguan": day_night()}, CODES)
    assert roster.on_duty("chengguan", sh(2025, 1, 6, 9, 0)) == {"a"}
    assert roster.on_duty("gongan", sh(2025, 1, 6, 9, 0)) == set()      # no schedule: nobody
    assert [(g.start, g.end) for g in roster.gaps("gongan", sh(2025, 1, 6, 0, 0), sh(2025, 1, 7, 0, 0))] == [
        (sh(2025, 1, 6, 0, 0), sh(2025, 1, 7, 0, 0))]
    with pytest.raises(InvalidRoster) as caught:
        roster.on_duty("nosuch", sh(2025, 1, 6, 9, 0))
    assert caught.value.errors[0].field == "department"


# --- overrides -----------------------------------------------------------------------------------

NOW = sh(2025, 1, 6, 0, 0)


def test_an_override_adds_an_officer_for_a_span():
    edited = add_override(day_night(), Override(officer="e", start=sh(2025, 1, 6, 9, 0), end=sh(2025, 1, 6, 11, 0)),
                          OFFICERS, NOW)
    assert on_duty(edited.schedule, sh(2025, 1, 6, 10, 0)) == {"a", "e"}
    assert on_duty(edited.schedule, sh(2025, 1, 6, 11, 0)) == {"a"}
    assert [s.origin for s in preview(edited.schedule, sh(2025, 1, 6, 9, 0), sh(2025, 1, 6, 11, 0))] == [
        "day", "override"]


def test_an_override_covers_for_someone_wherever_they_would_be_on_duty():
    # e covers a for two days: a's day shift on the 6th and 8th, not b's on the 7th
    edited = add_override(day_night(), Override(officer="e", covers="a", start=sh(2025, 1, 6, 0, 0),
                                                end=sh(2025, 1, 9, 0, 0)), OFFICERS, NOW)
    assert on_duty(edited.schedule, sh(2025, 1, 6, 10, 0)) == {"e"}
    assert on_duty(edited.schedule, sh(2025, 1, 7, 10, 0)) == {"b"}
    assert on_duty(edited.schedule, sh(2025, 1, 8, 10, 0)) == {"e"}
    assert edited.gaps == (Gap("chengguan", sh(2025, 1, 6, 0, 0), sh(2025, 1, 6, 8, 0)),)   # before the 1st shift


def test_an_override_can_cover_someone_on_leave():
    on_leave = add_leave(day_night(), Leave(officer="a", start=sh(2025, 1, 6, 0, 0), end=sh(2025, 1, 7, 0, 0)),
                         OFFICERS, NOW)
    assert [(g.start, g.end) for g in on_leave.gaps] == [(sh(2025, 1, 6, 0, 0), sh(2025, 1, 6, 20, 0))]
    covered = add_override(on_leave.schedule, Override(officer="e", covers="a", start=sh(2025, 1, 6, 0, 0),
                                                       end=sh(2025, 1, 7, 0, 0)), OFFICERS, NOW)
    assert on_duty(covered.schedule, sh(2025, 1, 6, 10, 0)) == {"e"}
    assert [(g.start, g.end) for g in covered.gaps] == [(sh(2025, 1, 6, 0, 0), sh(2025, 1, 6, 8, 0))]


@pytest.mark.parametrize("override, field, words", [
    (dict(officer="c", start=(2025, 1, 6, 19, 0), end=(2025, 1, 6, 21, 0)), "officer", "already on duty"),
    (dict(officer="e", covers="b", start=(2025, 1, 6, 9, 0), end=(2025, 1, 6, 11, 0)), "covers", "not on duty"),
    (dict(officer="e", covers="e", start=(2025, 1, 6, 9, 0), end=(2025, 1, 6, 11, 0)), "covers", "themselves"),
    (dict(officer="e", covers="g1", start=(2025, 1, 6, 9, 0), end=(2025, 1, 6, 11, 0)), "covers", "not an officer"),
    (dict(officer="nobody", start=(2025, 1, 6, 9, 0), end=(2025, 1, 6, 11, 0)), "officer", "unknown officer"),
    (dict(officer="g1", start=(2025, 1, 6, 9, 0), end=(2025, 1, 6, 11, 0)), "officer", "belongs to gongan"),
    (dict(officer="z", start=(2025, 1, 6, 9, 0), end=(2025, 1, 6, 11, 0)), "officer", "inactive"),
    (dict(officer="e", start=(2025, 1, 5, 9, 0), end=(2025, 1, 5, 11, 0)), "end", "before now"),
])
def test_a_bad_override_is_refused_naming_the_field_and_changes_nothing(override, field, words):
    schedule = day_night()
    body = {**override, "start": sh(*override["start"]), "end": sh(*override["end"])}
    with pytest.raises(InvalidRoster) as caught:
        add_override(schedule, Override(**body), OFFICERS, NOW)
    assert [e.field for e in caught.value.errors] == [field]
    assert words in caught.value.errors[0].message
    assert schedule == day_night()


def test_an_override_on_leave_is_refused():
    on_leave = add_leave(day_night(), Leave(officer="e", start=sh(2025, 1, 6, 0, 0), end=sh(2025, 1, 7, 0, 0)),
                         OFFICERS, NOW).schedule
    with pytest.raises(InvalidRoster, match="on leave"):
        add_override(on_leave, Override(officer="e", start=sh(2025, 1, 6, 9, 0), end=sh(2025, 1, 6, 10, 0)),
                     OFFICERS, NOW)


# --- swaps ---------------------------------------------------------------------------------------

def swap(first="a", first_span=((2025, 1, 6, 8), (2025, 1, 6, 20)), second="b",
         second_span=((2025, 1, 7, 8), (2025, 1, 7, 20))) -> Swap:
    return Swap(first=first, first_start=sh(*first_span[0]), first_end=sh(*first_span[1]),
                second=second, second_start=sh(*second_span[0]), second_end=sh(*second_span[1]))


def test_a_swap_trades_two_shifts():
    swapped = add_swap(day_night(), swap(), OFFICERS, NOW).schedule
    assert on_duty(swapped, sh(2025, 1, 6, 10, 0)) == {"b"}
    assert on_duty(swapped, sh(2025, 1, 7, 10, 0)) == {"a"}
    assert on_duty(swapped, sh(2025, 1, 8, 10, 0)) == {"a"}     # the rotation goes on as before
    assert {s.origin for s in preview(swapped, sh(2025, 1, 6, 8), sh(2025, 1, 8, 8))} == {"swap", "night"}


def test_a_swap_across_a_night_and_a_day():
    swapped = add_swap(day_night(), swap("c", ((2025, 1, 6, 20), (2025, 1, 7, 8)), "a",
                                         ((2025, 1, 8, 8), (2025, 1, 8, 20))), OFFICERS, NOW).schedule
    assert on_duty(swapped, sh(2025, 1, 7, 1, 0)) == {"a"}
    assert on_duty(swapped, sh(2025, 1, 8, 12, 0)) == {"c"}


@pytest.mark.parametrize("bad, field, words", [
    (swap(first="e"), "first", "not on duty throughout"),                          # e has no shift to give
    (swap(second_span=((2025, 1, 8, 8), (2025, 1, 8, 20))), "second", "not on duty throughout"),   # a's day
    (swap(first_span=((2025, 1, 6, 8), (2025, 1, 6, 21))), "first", "not on duty throughout"),
    (swap(second="a"), "second", "themselves"),
    (swap(second_span=((2025, 1, 6, 12), (2025, 1, 6, 22))), "second_start", "overlap"),
    (swap(second="g1"), "second", "belongs to gongan"),
    (swap(first_span=((2025, 1, 4, 8), (2025, 1, 4, 20))), "first_end", "before now"),
])
def test_a_bad_swap_is_refused_naming_the_field(bad, field, words):
    schedule = day_night()
    with pytest.raises(InvalidRoster) as caught:
        add_swap(schedule, bad, OFFICERS, NOW)
    assert field in [e.field for e in caught.value.errors]
    assert any(words in e.message for e in caught.value.errors if e.field == field)
    assert schedule == day_night()


def test_a_swap_with_someone_already_on_duty_in_the_span_is_an_overlap():
    pairs = DepartmentSchedule(department="chengguan", rotations=(rotation("day", members=(("a", "e"), ("b",))),))
    with pytest.raises(InvalidRoster) as caught:
        add_swap(pairs, swap(second="e", second_span=((2025, 1, 8, 8), (2025, 1, 8, 20))), OFFICERS, NOW)
    assert {(e.field, "already on duty" in e.message) for e in caught.value.errors} == {
        ("first", True), ("second", True)}


def test_a_swap_with_someone_on_leave_is_refused():
    on_leave = add_leave(day_night(), Leave(officer="b", start=sh(2025, 1, 6, 0, 0), end=sh(2025, 1, 6, 23, 0)),
                         OFFICERS, NOW).schedule
    with pytest.raises(InvalidRoster) as caught:
        add_swap(on_leave, swap(), OFFICERS, NOW)
    assert ("second", True) in [(e.field, "on leave" in e.message) for e in caught.value.errors]


def test_changes_apply_in_the_order_they_were_made():
    # a swaps the 6th's day to b; later e covers b on the 6th: e ends up on the 6th's day shift
    swapped = add_swap(day_night(), swap(), OFFICERS, NOW).schedule
    covered = add_override(swapped, Override(officer="e", covers="b", start=sh(2025, 1, 6, 8),
                                             end=sh(2025, 1, 6, 20)), OFFICERS, NOW).schedule
    assert on_duty(covered, sh(2025, 1, 6, 10, 0)) == {"e"}
    assert on_duty(covered, sh(2025, 1, 7, 10, 0)) == {"a"}


# --- leave and gaps ------------------------------------------------------------------------------

def test_leave_takes_an_officer_off_duty_and_reports_the_gap_it_leaves():
    edited = add_leave(day_night(), Leave(officer="c", start=sh(2025, 1, 6, 22, 0), end=sh(2025, 1, 7, 2, 0),
                                          reason="sick"), OFFICERS, NOW)
    assert on_duty(edited.schedule, sh(2025, 1, 6, 23, 0)) == set()
    assert on_duty(edited.schedule, sh(2025, 1, 7, 2, 0)) == {"c"}
    assert [(g.department, g.start, g.end) for g in edited.gaps] == [
        ("chengguan", sh(2025, 1, 6, 22, 0), sh(2025, 1, 7, 2, 0))]


def test_overlapping_leave_is_refused_but_an_inactive_officer_may_have_leave():
    schedule = add_leave(day_night(), Leave(officer="a", start=sh(2025, 1, 6), end=sh(2025, 1, 8)), OFFICERS,
                         NOW).schedule
    with pytest.raises(InvalidRoster) as caught:
        add_leave(schedule, Leave(officer="a", start=sh(2025, 1, 7), end=sh(2025, 1, 9)), OFFICERS, NOW)
    assert caught.value.errors[0].field == "start"
    assert add_leave(schedule, Leave(officer="z", start=sh(2025, 1, 7), end=sh(2025, 1, 9)), OFFICERS, NOW)


# --- validation ----------------------------------------------------------------------------------

WEEKS = (sh(2025, 1, 6), sh(2025, 3, 3))


def test_overlapping_shifts_for_one_officer_are_an_error_naming_the_rotation():
    schedule = DepartmentSchedule(department="chengguan", rotations=(
        rotation("day", members=(("a",), ("b",))),
        rotation("late", starts=datetime(2025, 1, 6, 18), length="8h", members=(("a",), ("c",)))))
    errors = check_rotations(schedule, OFFICERS, CODES, *WEEKS)
    assert [e.field for e in errors] == ["rotations.1.members"]
    assert "officer a" in errors[0].message and "overlapping" in errors[0].message


def test_one_officer_in_two_layers_is_not_an_overlap():
    schedule = DepartmentSchedule(department="chengguan", rotations=(
        rotation("oncall", frequency="weekly", length="7d", members=(("a",), ("b",))),
        rotation("office", layer=1, length="9h", members=(("a", "c"),))))
    assert check_rotations(schedule, OFFICERS, CODES, *WEEKS) == []


def test_a_rotation_whose_shifts_outlast_the_interval_overlaps_itself():
    schedule = DepartmentSchedule(department="chengguan", rotations=(
        rotation("long", length="25h", members=(("a",),)),))
    assert [e.field for e in check_rotations(schedule, OFFICERS, CODES, *WEEKS)] == ["rotations.0.members"]


def test_unknown_department_and_officers_are_named():
    schedule = DepartmentSchedule(department="nosuch", rotations=(
        rotation("day", members=(("a", "ghost"), ("g1",))),))
    errors = check_rotations(schedule, OFFICERS, CODES, *WEEKS)
    assert {e.field: e.message for e in errors} == {
        "department": "unknown department 'nosuch'",
        "rotations.0.members.0.1": "unknown officer 'ghost'",
        "rotations.0.members.0.0": "officer a belongs to chengguan, not nosuch",
        "rotations.0.members.1.0": "officer g1 belongs to gongan, not nosuch",
    }


def test_replace_rotations_reports_coverage_gaps_but_does_not_refuse_them():
    edited = replace_rotations(day_night(), (rotation("day", members=(("a",), ("b",))),), OFFICERS, CODES, *WEEKS)
    assert len(edited.schedule.rotations) == 1
    # every night of the eight weeks, and the first morning before the first day shift
    assert edited.gaps[0] == Gap("chengguan", WEEKS[0], sh(2025, 1, 6, 8, 0)) and len(edited.gaps) == 8 * 7 + 1
    assert all(g.start.astimezone(SHANGHAI).hour == 20 for g in edited.gaps[1:])


def test_replace_rotations_refuses_overlaps_and_duplicate_codes():
    with pytest.raises(InvalidRoster) as caught:
        replace_rotations(day_night(), (rotation("day"), rotation("day", starts=datetime(2025, 1, 6, 20))),
                          OFFICERS, CODES, *WEEKS)
    assert caught.value.errors[0].field == "rotations"


@pytest.mark.parametrize("body, field", [
    (dict(length="0h"), "length"),
    (dict(length="soon"), "length"),
    (dict(until=datetime(2025, 1, 1)), "until"),
    (dict(members=[[]]), "members"),
    (dict(members=[["a", "a"]]), "members"),
    (dict(weekdays=["XX"]), "weekdays.0"),
    (dict(frequency="monthly"), "frequency"),
    (dict(starts="2025-01-06T08:00:00+08:00"), "starts"),
])
def test_a_bad_rotation_names_its_field(body, field):
    data = dict(code="day", name_zh="白班", name_en="Day", starts="2025-01-06T08:00:00", length="12h",
                members=[["a"]])
    data.update(body)
    with pytest.raises(ContractError) as caught:
        parse(Rotation, data)
    assert [e.field for e in caught.value.errors] == [field]


def test_an_unknown_time_zone_and_an_inverted_span_name_their_fields():
    with pytest.raises(ContractError) as caught:
        parse(DepartmentSchedule, {"department": "chengguan", "time_zone": "Mars/Olympus"})
    assert caught.value.errors[0].field == "time_zone"
    with pytest.raises(ContractError) as caught:
        parse(Leave, {"officer": "a", "start": "2025-01-06T10:00:00Z", "end": "2025-01-06T09:00:00Z"})
    assert caught.value.errors[0].field == "end"


def test_a_schedule_round_trips_through_json():
    schedule = add_swap(day_night(), swap(), OFFICERS, NOW).schedule
    schedule = add_override(schedule, Override(officer="e", start=sh(2025, 1, 9), end=sh(2025, 1, 10)),
                            OFFICERS, NOW).schedule
    again = DepartmentSchedule.model_validate_json(schedule.model_dump_json())
    assert again == schedule
    assert on_duty(again, sh(2025, 1, 6, 10)) == {"b"}


def test_pieces_and_shifts_are_in_utc_whatever_zone_the_input_used():
    schedule = add_override(day_night("Europe/Berlin"), Override(
        officer="e", start=datetime(2025, 3, 29, 21, tzinfo=BERLIN), end=datetime(2025, 3, 30, 9, tzinfo=BERLIN)),
        OFFICERS, datetime(2025, 3, 1, tzinfo=UTC)).schedule
    shifts = preview(schedule, datetime(2025, 3, 29, 12, tzinfo=BERLIN), datetime(2025, 3, 30, 12, tzinfo=BERLIN))
    assert {s.start.tzinfo for s in shifts} == {s.end.tzinfo for s in shifts} == {UTC}
    cover = next(s for s in shifts if s.origin == "override")
    assert cover.end - cover.start == timedelta(hours=11)              # 21:00 CET to 09:00 CEST

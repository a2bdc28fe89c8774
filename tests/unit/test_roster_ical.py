"""The iCal feeds parse back with the icalendar library and show the right shifts, in local time."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar

from services.roster.ical import department_feed, officer_feed
from services.roster.schedule import DepartmentSchedule, Override, Rotation, add_override, preview
from tests.unit.roster_samples import UTC, by_code, local, officer

BERLIN = ZoneInfo("Europe/Berlin")
OFFICERS = by_code(officer("a"), officer("b"), officer("c"))
NAMES = {"chengguan": "区城管执法局"}
NOW = datetime(2025, 3, 1, tzinfo=UTC)


def schedule(zone="Europe/Berlin") -> DepartmentSchedule:
    return DepartmentSchedule(department="chengguan", time_zone=zone, rotations=(
        Rotation(code="day", name_zh="白班", name_en="Day", starts=datetime(2025, 3, 1, 8), length="12h",
                 members=(("a",), ("b",))),
        Rotation(code="night", name_zh="夜班", name_en="Night", starts=datetime(2025, 3, 1, 20), length="12h",
                 members=(("c",),))))


def events(feed: bytes) -> list:
    calendar = Calendar.from_ical(feed)
    assert calendar["VERSION"] == "2.0" and calendar["PRODID"]
    return list(calendar.walk("VEVENT"))


def test_the_department_feed_has_every_shift_of_the_window_across_dst():
    plan = schedule()
    shifts = preview(plan, local(BERLIN, 2025, 3, 29, 8), local(BERLIN, 2025, 3, 31, 8), whole=True)
    feed = department_feed("chengguan", shifts, OFFICERS, NAMES, plan.zone, NOW)
    found = events(feed)
    assert len(found) == len(shifts) == 4
    for event, shift in zip(found, shifts):
        start, end = event.decoded("DTSTART"), event.decoded("DTEND")
        assert (start, end) == (shift.start, shift.end)
        assert start.tzinfo is not None and str(event["DTSTART"].params["TZID"]) == "Europe/Berlin"
        assert start.astimezone(BERLIN).hour in (8, 20)
        assert OFFICERS[shift.officer].name in str(event["SUMMARY"]) and "区城管执法局" in str(event["SUMMARY"])
    spring_night = found[1]
    # (same-zone datetimes subtract as wall clocks: compare in UTC)
    assert spring_night.decoded("DTEND").astimezone(UTC) - spring_night.decoded("DTSTART").astimezone(UTC) == \
        timedelta(hours=11)
    assert Calendar.from_ical(feed).walk("VTIMEZONE")[0]["TZID"] == "Europe/Berlin"


def test_uids_are_stable_so_a_refresh_updates_rather_than_duplicates():
    plan = schedule()
    shifts = preview(plan, local(BERLIN, 2025, 3, 10), local(BERLIN, 2025, 3, 12), whole=True)
    first = [str(e["UID"]) for e in events(department_feed("chengguan", shifts, OFFICERS, NAMES, plan.zone, NOW))]
    later = [str(e["UID"]) for e in events(department_feed("chengguan", shifts, OFFICERS, NAMES, plan.zone,
                                                           NOW + timedelta(days=1)))]
    assert first == later and len(set(first)) == len(first)


def test_the_officer_feed_has_only_their_shifts_and_marks_a_cover():
    plan = add_override(schedule("Asia/Shanghai"), Override(
        officer="c", covers="a", start=datetime(2025, 3, 1, tzinfo=UTC), end=datetime(2025, 3, 2, tzinfo=UTC)),
        OFFICERS, NOW).schedule
    shifts = preview(plan, datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 4, tzinfo=UTC), whole=True)
    found = events(officer_feed(OFFICERS["c"], shifts, NAMES, plan.zone, NOW))
    mine = [s for s in shifts if s.officer == "c"]
    assert [(e.decoded("DTSTART"), e.decoded("DTEND")) for e in found] == [(s.start, s.end) for s in mine]
    assert any("顶班" in str(e["SUMMARY"]) for e in found)
    english = events(officer_feed(OFFICERS["c"], shifts, NAMES, plan.zone, NOW, lang="en"))
    assert str(english[0]["SUMMARY"]).startswith("On duty: ")
    assert all("a" not in str(e["UID"]).split(".")[1] for e in found)

"""Deadline arithmetic: clock spans, working days on a fake calendar and on the real Chinese one."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.reference import Span, UrgencyLevel, load_reference
from services.dispatch.deadlines import CHINA, after_working_days, chinese_workdays, deadlines_for, due

SHANGHAI = ZoneInfo("Asia/Shanghai")


def weekdays(day: date) -> bool:
    return day.weekday() < 5


def never(day: date) -> bool:
    return False


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


# --- clock spans ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, delta", [("30m", timedelta(minutes=30)), ("2h", timedelta(hours=2)),
                                         ("24h", timedelta(hours=24))])
def test_clock_spans_add_exactly(text, delta):
    start = datetime(2025, 9, 30, 23, 45, 12, 345678, tzinfo=timezone.utc)
    assert due(start, Span.parse(text), never) == start + delta
    # a clock span ignores the calendar, even across a weekend and the National Day holiday
    holiday_eve = local(2025, 9, 30, 23, 50)
    assert due(holiday_eve, Span.parse(text), chinese_workdays()) - holiday_eve == delta


# --- working days on a fake calendar -------------------------------------------------------------

def test_friday_afternoon_plus_one_working_day_is_monday_afternoon():
    friday = local(2024, 3, 1, 15, 0)
    assert friday.weekday() == 4
    result = after_working_days(friday, 1, weekdays)
    assert result.astimezone(SHANGHAI) == local(2024, 3, 4, 15, 0)
    assert result.astimezone(SHANGHAI).weekday() == 0


def test_a_saturday_start_counts_from_monday():
    saturday = local(2024, 3, 2, 10, 30)
    assert after_working_days(saturday, 1, weekdays).astimezone(SHANGHAI) == local(2024, 3, 4, 10, 30)
    assert after_working_days(saturday, 5, weekdays).astimezone(SHANGHAI) == local(2024, 3, 8, 10, 30)


def test_the_result_is_utc_aware():
    result = after_working_days(local(2024, 3, 1, 15, 0), 1, weekdays)
    assert result.tzinfo is not None
    assert result.utcoffset() == timedelta(0)
    assert result == datetime(2024, 3, 4, 7, 0, tzinfo=timezone.utc)


def test_days_are_counted_on_the_local_date_not_the_utc_date():
    # Saturday 01:00 in Shanghai is still Friday 17:00 UTC: the local date (Saturday) decides
    saturday_early = datetime(2024, 3, 1, 17, 0, tzinfo=timezone.utc)
    assert saturday_early.astimezone(SHANGHAI).weekday() == 5
    assert after_working_days(saturday_early, 1, weekdays).astimezone(SHANGHAI) == local(2024, 3, 4, 1, 0)


def test_due_with_working_days_uses_the_calendar():
    assert due(local(2024, 3, 1, 15, 0), Span.parse("2wd"), weekdays).astimezone(SHANGHAI) == \
        local(2024, 3, 5, 15, 0)


def test_a_calendar_with_no_working_days_raises_value_error():
    with pytest.raises(ValueError, match="working days"):
        after_working_days(local(2024, 3, 1, 15, 0), 1, never)
    with pytest.raises(ValueError):
        due(local(2024, 3, 1, 15, 0), Span.parse("7wd"), never)


# --- the real Chinese calendar (statutory holidays and 调休) --------------------------------------

def test_the_package_knows_the_2025_national_day_holidays():
    assert chinese_calendar.is_workday(date(2025, 10, 11)) is True     # Saturday, 调休 make-up day
    assert chinese_calendar.is_workday(date(2025, 9, 28)) is True      # Sunday, 调休 make-up day
    assert not any(chinese_calendar.is_workday(date(2025, 10, d)) for d in range(1, 9))


def test_seven_working_days_across_national_day_2025():
    is_workday = chinese_workdays()
    assert is_workday(date(2025, 10, 11)) is True
    start = local(2025, 9, 30, 10, 0)
    result = after_working_days(start, 7, is_workday)
    # Oct 1-8 holiday; Oct 9, 10, 11 (Saturday, make-up), 13, 14, 15, 16
    assert result.astimezone(SHANGHAI) == local(2025, 10, 16, 10, 0)
    assert result.utcoffset() == timedelta(0)


def test_a_sunday_make_up_day_counts():
    is_workday = chinese_workdays()
    friday = local(2025, 9, 26, 16, 0)
    assert after_working_days(friday, 1, is_workday).astimezone(SHANGHAI) == local(2025, 9, 28, 16, 0)
    saturday = local(2025, 9, 27, 9, 0)
    assert after_working_days(saturday, 1, is_workday).astimezone(SHANGHAI) == local(2025, 9, 28, 9, 0)


def test_the_real_calendar_falls_back_to_weekdays_for_an_unknown_year():
    is_workday = chinese_workdays()
    assert is_workday(date(2200, 1, 6)) is True        # a Monday the package knows nothing about
    assert is_workday(date(2200, 1, 4)) is False       # a Saturday


# --- deadlines for an urgency level --------------------------------------------------------------

def test_deadlines_for_uses_the_levels_three_spans():
    level = UrgencyLevel(name_zh="测", name_en="Test", check_in="45m", arrival="3h", completion="2wd")
    start = local(2024, 3, 1, 15, 0)     # Friday
    deadlines = deadlines_for(level, start, weekdays)
    assert deadlines.check_in_by == start + timedelta(minutes=45)
    assert deadlines.arrival_by == start + timedelta(hours=3)
    assert deadlines.completion_by == local(2024, 3, 5, 15, 0)


@pytest.mark.parametrize("urgency, check_in, arrival, completion", [
    ("emergency", timedelta(minutes=30), timedelta(minutes=30), timedelta(hours=2)),
    ("urgent", timedelta(minutes=30), timedelta(minutes=30), timedelta(hours=24)),
    ("normal", timedelta(minutes=30), timedelta(hours=24), local(2025, 10, 16, 10, 0)),
    ("complex", timedelta(minutes=30), timedelta(hours=24), local(2025, 10, 28, 10, 0)),
])
def test_deadlines_for_the_shipped_urgencies(urgency, check_in, arrival, completion):
    start = local(2025, 9, 30, 10, 0)
    deadlines = deadlines_for(load_reference().urgencies[urgency], start, chinese_workdays())
    assert deadlines.check_in_by - start == check_in
    assert deadlines.arrival_by - start == arrival
    expected = start + completion if isinstance(completion, timedelta) else completion
    assert deadlines.completion_by == expected


# --- property: any calendar, any start, any number of days ---------------------------------------

@settings(max_examples=100, deadline=None)
@given(start=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 12, 31),
                          timezones=st.sampled_from([timezone.utc, SHANGHAI, timezone(timedelta(hours=-5))])),
       days=st.integers(min_value=1, max_value=40),
       working=st.frozensets(st.integers(min_value=0, max_value=6), min_size=1),
       holidays=st.frozensets(st.integers(min_value=0, max_value=120), max_size=30))
def test_after_working_days_properties(start, days, working, holidays):
    """A calendar of random working weekdays, with random holidays near the start."""
    start_date = start.astimezone(CHINA).date()
    off = {start_date + timedelta(days=n) for n in holidays}

    def is_workday(day: date) -> bool:
        return day.weekday() in working and day not in off

    result = after_working_days(start, days, is_workday)
    result_local = result.astimezone(CHINA)
    assert result.utcoffset() == timedelta(0)
    assert result > start
    assert is_workday(result_local.date())
    assert result_local.time() == start.astimezone(CHINA).time()
    between = [start_date + timedelta(days=n) for n in range(1, (result_local.date() - start_date).days)]
    assert sum(map(is_workday, between)) == days - 1


@settings(max_examples=50, deadline=None)
@given(days=st.integers(min_value=1, max_value=30),
       start=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31)))
def test_working_days_on_the_real_calendar_never_land_on_a_rest_day(days, start):
    is_workday = chinese_workdays()
    result = after_working_days(start.replace(tzinfo=SHANGHAI), days, is_workday).astimezone(SHANGHAI)
    assert is_workday(result.date())
    assert result.time() == time(start.hour, start.minute, start.second, start.microsecond)

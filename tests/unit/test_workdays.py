"""services/common/workdays.py counts working days exactly as dispatch's deadlines do (调休 included)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.workdays import CHINA, after_working_days, chinese_workdays
from services.dispatch import deadlines

CALENDAR = chinese_workdays()


def test_seven_working_days_across_national_day_2025():
    start = datetime(2025, 9, 30, 10, 0, tzinfo=CHINA)
    due = after_working_days(start, 7, CALENDAR)
    assert due == datetime(2025, 10, 16, 10, 0, tzinfo=CHINA) and due.tzinfo == timezone.utc
    # the Sunday 28 September 2025 make-up day is a working day: Saturday 27th + 1 is Sunday 28th
    assert after_working_days(datetime(2025, 9, 27, 9, tzinfo=CHINA), 1, CALENDAR) == datetime(
        2025, 9, 28, 9, tzinfo=CHINA)


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 6, 30)), st.integers(0, 20))
def test_the_same_answer_as_dispatch(start, days):
    aware = start.replace(tzinfo=timezone.utc)
    assert after_working_days(aware, days, CALENDAR) == deadlines.after_working_days(
        aware, days, deadlines.chinese_workdays())
    assert after_working_days(aware, days, CALENDAR) - aware >= timedelta(days=days)

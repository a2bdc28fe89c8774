"""services/common/workdays.py, the one working-day arithmetic every service counts with (调休 included)."""
from __future__ import annotations

from datetime import datetime, timezone

from services.common.workdays import CHINA, after_working_days, chinese_workdays

CALENDAR = chinese_workdays()


def test_seven_working_days_across_national_day_2025():
    start = datetime(2025, 9, 30, 10, 0, tzinfo=CHINA)
    due = after_working_days(start, 7, CALENDAR)
    assert due == datetime(2025, 10, 16, 10, 0, tzinfo=CHINA) and due.tzinfo == timezone.utc
    # the Sunday 28 September 2025 make-up day is a working day: Saturday 27th + 1 is Sunday 28th
    assert after_working_days(datetime(2025, 9, 27, 9, tzinfo=CHINA), 1, CALENDAR) == datetime(
        2025, 9, 28, 9, tzinfo=CHINA)

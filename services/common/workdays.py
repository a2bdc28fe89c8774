"""Working days on the Chinese calendar (statutory holidays and 调休 make-up workdays), pure.

The same arithmetic as dispatch's deadlines (`services/dispatch/deadlines.py`), here so that any
service can count "7 working days" without importing another service. The calendar is passed in.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Callable
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")
IsWorkday = Callable[[date], bool]
MAX_SCAN_DAYS = 3660  # a calendar that never yields a working day is a bug, not a wait


def after_working_days(start: datetime, days: int, is_workday: IsWorkday, tz=CHINA) -> datetime:
    """The same local time on the `days`-th working day after start's local date (UTC-aware)."""
    local = start.astimezone(tz)
    day, counted, scanned = local.date(), 0, 0
    while counted < days:
        day += timedelta(days=1)
        scanned += 1
        if scanned > MAX_SCAN_DAYS:
            raise ValueError(f"no {days} working days within {MAX_SCAN_DAYS} days of {start}")
        if is_workday(day):
            counted += 1
    due = datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=tz)
    return due.astimezone(timezone.utc)


def chinese_workdays() -> IsWorkday:
    """The official calendar from chinese_calendar; plain weekdays for a year it does not know yet."""
    import chinese_calendar

    def is_workday(day: date) -> bool:
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:
            return day.weekday() < 5
    return is_workday

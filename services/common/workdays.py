"""Working days on the Chinese calendar, pure: a span from a start, with the calendar passed in (调休 included).

Shared by dispatch (call-out deadlines) and whistle (tier and 12345 deadlines)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Callable
from zoneinfo import ZoneInfo

from services.common.reference import Span

CHINA = ZoneInfo("Asia/Shanghai")
IsWorkday = Callable[[date], bool]
MAX_SCAN_DAYS = 3660  # a calendar that never yields a working day is a bug, not a wait


def after_working_days(start: datetime, days: int, is_workday: IsWorkday, tz=CHINA) -> datetime:
    """The same local time on the `days`-th working day after start's local date."""
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


def due(start: datetime, span: Span, is_workday: IsWorkday, tz=CHINA) -> datetime:
    clock = span.as_timedelta()
    if clock is not None:
        return start + clock
    return after_working_days(start, span.amount, is_workday, tz)


def chinese_workdays() -> IsWorkday:
    """The official calendar (statutory holidays and 调休 make-up days) from chinese_calendar."""
    import functools

    import chinese_calendar

    @functools.lru_cache(maxsize=4096)
    def is_workday(day: date) -> bool:
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:     # a year the package does not know yet: plain weekdays
            return day.weekday() < 5
    return is_workday

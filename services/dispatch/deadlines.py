"""Call-out deadlines, pure: the three deadlines of an urgency level from a start (working days from
services.common.workdays, re-exported here for dispatch's callers)."""
from __future__ import annotations

from datetime import datetime

from services.common.events import Deadlines
from services.common.reference import UrgencyLevel
from services.common.workdays import CHINA, IsWorkday, after_working_days, chinese_workdays, due

__all__ = ["CHINA", "IsWorkday", "after_working_days", "chinese_workdays", "deadlines_for", "due"]


def deadlines_for(level: UrgencyLevel, start: datetime, is_workday: IsWorkday) -> Deadlines:
    return Deadlines(check_in_by=due(start, level.check_in, is_workday),
                     arrival_by=due(start, level.arrival, is_workday),
                     completion_by=due(start, level.completion, is_workday))

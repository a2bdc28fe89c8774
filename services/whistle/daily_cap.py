"""南夏墅's daily cap, pure: a grid reports at most N problems a day before points are deducted.

Optional (tiers.yaml daily_cap.enabled); when on, the report over the cap is flagged on the event for the
assessment and is never refused."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from services.common.tiers import DailyCap
from services.common.workdays import CHINA


def over_cap(policy: DailyCap, street_code: str, grid_code: str | None, source: str,
             earlier_today: int) -> tuple[bool, int | None]:
    """(flagged, the grid's counted reports today with this one), or (False, None) where the rule does not
    apply. earlier_today: the grid's reports from the counted sources earlier the same day (day_window)."""
    if grid_code is None or not policy.applies(street_code, source):
        return False, None
    count = earlier_today + 1
    return count > policy.per_grid_per_day, count


def day_window(now: datetime) -> tuple[datetime, datetime]:
    """The Beijing-time day holding `now`, as UTC [start, end): where the handler counts a grid's reports."""
    day = now.astimezone(CHINA).date()
    start = datetime.combine(day, time(0), tzinfo=CHINA)
    return start.astimezone(timezone.utc), (start + timedelta(days=1)).astimezone(timezone.utc)

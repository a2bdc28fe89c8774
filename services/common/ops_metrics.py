"""Platform gauges every service with an outbox exports, besides outbox.py's counters and backlog."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from prometheus_client import Gauge

OUTBOX_OLDEST_UNSENT_AGE = Gauge(
    "chuishao_outbox_oldest_unsent_age_seconds",
    "Age of the oldest event written to the outbox and not yet confirmed by the broker (0 when none)",
    ["service"])


def oldest_unsent_age(oldest_created_at: Optional[datetime], now: datetime) -> float:
    """Seconds since the oldest unsent event was written; 0 when the outbox is empty. A clock that
    went backwards reads as 0, not as a negative age."""
    if oldest_created_at is None:
        return 0.0
    return max(0.0, (now - oldest_created_at).total_seconds())

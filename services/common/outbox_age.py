"""`chuishao_outbox_oldest_unsent_age_seconds{service}` for a service with an outbox: one line to mix in.

    class DispatchService(OutboxAgeProbe, OpsEndpoints):
        store = Store(platform)

Every OUTBOX_AGE_SECONDS the service reads the creation time of its oldest unsent outbox row (one
indexed query) and sets the gauge: 0 when everything is confirmed; rising while the broker is away,
refuses, or the relay is stuck (the OutboxOldestUnsent alert). Each replica reads the same table, so
they all report the same age; dashboards take the max."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select

from services.common.ops_metrics import OUTBOX_OLDEST_UNSENT_AGE, oldest_unsent_age
from services.common.periodic import every


class OutboxAgeProbe:
    """Measures the age of the oldest unsent event in `self.store`'s outbox."""

    @every("outbox_age_seconds")
    def measure_outbox_age(self):
        outbox = self.store.platform.outbox
        with self.store.engine.connect() as conn:
            oldest = conn.execute(select(func.min(outbox.c.created_at)).where(outbox.c.sent_at.is_(None))).scalar()
        OUTBOX_OLDEST_UNSENT_AGE.labels(self.name).set(oldest_unsent_age(oldest, datetime.now(timezone.utc)))

"""The metrics service's nameko entrypoints: every event in, /metrics out for Prometheus."""
from __future__ import annotations

from nameko.extensions import DependencyProvider


from services.common.consumer import consume
from services.common.db import create_schema
from services.common.events import (EVENTS, AllCheckedIn, ArbitrationOpened, CalloutArrived,
                                    CalloutCheckedIn, CalloutCompleted, CalloutEscalated, CalloutsIssued,
                                    CalloutReturned, FollowUpRecorded, TeamAssembled, WhistleClosed,
                                    WhistleRaised)
from services.common.uow import Store
from services.common.web import OpsEndpoints
from services.metrics import handlers
from services.metrics.orm import metadata, platform

CONSUMED_EVENTS = (WhistleRaised, CalloutsIssued, CalloutCheckedIn, AllCheckedIn, TeamAssembled, CalloutArrived,
                   CalloutCompleted, CalloutReturned, CalloutEscalated, ArbitrationOpened, WhistleClosed,
                   FollowUpRecorded)


class ReplayOnStart(DependencyProvider):
    """Counters live in memory; after a restart they are rebuilt from the read model.

    In setup, not start: nameko starts the bus consumer alongside start(), and an event counted
    by both the consumer and the replay would be counted twice."""

    def setup(self):
        settings = self.container.config["SETTINGS"]
        engine = create_schema(settings.database_url, settings.service)
        with engine.connect() as conn:
            handlers.replay_facts(conn)


class MetricsService(OpsEndpoints):
    name = "metrics"
    store = Store(platform, relay=False)
    replay = ReplayOnStart()

    @consume("metrics.events", [(EVENTS, e.event_type) for e in CONSUMED_EVENTS], CONSUMED_EVENTS, batch=True)
    def on_events(self, uow, events):
        handlers.record(uow, events)


SERVICE = MetricsService

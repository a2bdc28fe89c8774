"""The metrics service's nameko entrypoints: every event in, /metrics out for Prometheus, the assessment."""
from __future__ import annotations

import logging
from datetime import timedelta

from nameko.extensions import DependencyProvider

from services.common.broker import connect, discard
from services.common.consumer import consume
from services.common.db import create_schema
from services.common.events import (DEADLETTERS, EVENTS, AllCheckedIn, ArbitrationDecided, ArbitrationOpened,
                                    ArbitrationOverdue, CalloutArrived, CalloutCheckedIn, CalloutCompleted,
                                    CalloutEscalated, CalloutReturned, CalloutsIssued, FollowUpRecorded,
                                    TeamAssembled, WhistleClosed, WhistleLinked, WhistleRaised, WhistleReopened)
from services.common.guard import Auth
from services.common.outbox_age import OutboxAgeProbe
from services.common.periodic import every
from services.common.queue_probe import department_consumers, export, probe
from services.common.uow import Store
from services.common.web import OpsEndpoints
from services.metrics import handlers
from services.metrics.grid_metrics import GridFigures
from services.metrics.assessing import build_context
from services.metrics.endpoints import AssessmentEndpoints
from services.metrics.orm import platform

log = logging.getLogger(__name__)
CONSUMED_EVENTS = (WhistleRaised, WhistleLinked, WhistleClosed, WhistleReopened, FollowUpRecorded, CalloutsIssued,
                   CalloutCheckedIn, AllCheckedIn, TeamAssembled, CalloutArrived, CalloutCompleted, CalloutReturned,
                   CalloutEscalated, ArbitrationOpened, ArbitrationOverdue, ArbitrationDecided)


class ReplayOnStart(DependencyProvider):
    """Counters and histograms live in memory; after a restart they are rebuilt from the read model.

    In setup, not start: nameko starts the bus consumer alongside start(), and an event counted
    by both the consumer and the replay would be counted twice."""

    def setup(self):
        settings = self.container.config["SETTINGS"]
        engine = create_schema(settings.database_url, settings.service)
        with engine.connect() as conn:
            rows = handlers.replay(conn)
        log.info("instruments rebuilt from %d read-model rows", rows)


class AssessmentContext(DependencyProvider):
    """The district's assessment rules, names, case deadlines and calendar, read once at start."""

    def setup(self):
        self.context = build_context()

    def get_dependency(self, worker_ctx):
        return self.context


class SettingsProvider(DependencyProvider):
    """The settings the service was started with (services/common/settings.py)."""

    def get_dependency(self, worker_ctx):
        return self.container.config["SETTINGS"]


class MetricsService(OutboxAgeProbe, AssessmentEndpoints, GridFigures, OpsEndpoints):
    name = "metrics"
    store = Store(platform, relay=False)
    replay = ReplayOnStart()
    auth = Auth()
    context = AssessmentContext()
    settings = SettingsProvider()

    @consume("metrics.events", [(EVENTS, e.event_type) for e in CONSUMED_EVENTS], CONSUMED_EVENTS, batch=True)
    def on_events(self, uow, events):
        handlers.record(uow, events)

    @every("deadline_sweep_seconds")
    def sweep(self):
        """Missed deadlines nobody reported (counted once they passed), then the gauges."""
        grace = timedelta(seconds=self.settings.deadline_grace_seconds)
        while True:
            with self.store.unit_of_work() as uow:
                settled = handlers.sweep_deadlines(uow, grace, handlers.WATERMARK.at)
            if settled < handlers.SWEEP_LIMIT:
                break
        reference = self.context.directory
        with self.store.unit_of_work() as uow:
            handlers.set_gauges(uow.conn, uow.now, reference.departments, reference.streets)

    @every("queue_probe_seconds")
    def probe_queues(self):
        """Consumers on every department's call-out queue, and the dead letters waiting."""
        conn = connect(self.settings)
        try:
            consumers = department_consumers(conn.channel, self.settings, self.context.directory.departments)
            export(consumers, probe(conn.channel, self.settings.name(DEADLETTERS)))
        finally:
            discard(conn)


SERVICE = MetricsService

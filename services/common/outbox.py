"""Transactional outbox: events are written with the state change, then relayed with confirms."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import eventlet
from eventlet.queue import Empty, LightQueue
from nameko.extensions import DependencyProvider
from prometheus_client import Counter, Gauge
from sqlalchemy import MetaData, event, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from services.common.backoff import reconnect_delay
from services.common.broker import CONNECTION_ERRORS, ConfirmedPublisher
from services.common.db import create_schema
from services.common.events import Event, encode, route_of
from services.common.tables import platform_tables

log = logging.getLogger(__name__)
BATCH = 100
PUBLISHED = Counter("chuishao_outbox_published_total", "Events relayed and confirmed by the broker",
                    ["service"])
FAILED = Counter("chuishao_outbox_publish_failures_total", "Relay attempts that did not confirm",
                 ["service", "reason"])
BACKLOG = Gauge("chuishao_outbox_backlog", "Events written but not yet confirmed by the broker",
                ["service"])

_wakeup: LightQueue = LightQueue(maxsize=1)


def _wake() -> None:
    try:
        _wakeup.put_nowait(True)
    except Exception:  # noqa: BLE001 - already signalled
        pass


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop("outbox_staged", False):
        _wake()


class Platform:
    """A service's outbox and processed-messages tables, and the two operations on them."""

    def __init__(self, metadata: MetaData):
        self.metadata = metadata
        self.outbox, self.processed = platform_tables(metadata)

    def stage(self, session: Session, event_: Event) -> None:
        """Adds an event to the outbox in the caller's transaction; relayed once it commits."""
        route = route_of(event_)
        session.execute(insert(self.outbox).values(
            event_id=event_.event_id, event_type=event_.event_type, exchange=route.exchange,
            routing_key=route.routing_key, body=encode(event_).decode("utf-8"),
            created_at=event_.occurred_at, attempts=0))
        session.info["outbox_staged"] = True

    def first_time(self, session: Session, consumer: str, message_id: str, now: datetime) -> bool:
        """Records that consumer handled message_id; False if it already had (a redelivery)."""
        seen = session.execute(select(self.processed.c.message_id).where(
            self.processed.c.consumer == consumer, self.processed.c.message_id == message_id)).first()
        if seen:
            return False
        session.execute(insert(self.processed).values(consumer=consumer, message_id=message_id,
                                                      processed_at=now))
        return True

    def backlog(self, session: Session) -> int:
        return session.execute(select(func.count()).select_from(self.outbox)
                               .where(self.outbox.c.sent_at.is_(None))).scalar_one()


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(60, 2 ** min(attempts, 6)))


class Relay:
    """Moves committed outbox rows to the broker; a row is marked sent only after its confirm.

    Several replicas may relay the same table: rows are claimed with SKIP LOCKED on PostgreSQL.
    On SQLite a row can be sent twice after a crash between confirm and mark; consumers dedupe."""

    def __init__(self, platform: Platform, factory: sessionmaker, publisher: ConfirmedPublisher,
                 service: str):
        self.platform = platform
        self.factory = factory
        self.publisher = publisher
        self.service = service

    def relay_once(self, now: datetime | None = None) -> int:
        """Relays one batch, every confirm in flight at once; returns how many rows were confirmed.

        On PostgreSQL the batch stays row-locked (SKIP LOCKED) while it is published, so replicas
        share the table; on SQLite the read is committed first, so the process's one connection is
        not held across the broker round trip (a crash in between only re-sends: consumers dedupe)."""
        table = self.platform.outbox
        now = now or datetime.now(timezone.utc)
        sent = 0
        session = self.factory()
        try:
            rows = session.execute(
                select(table.c.id, table.c.event_id, table.c.exchange, table.c.routing_key,
                       table.c.body, table.c.attempts)
                .where(table.c.sent_at.is_(None),
                       (table.c.next_attempt_at.is_(None)) | (table.c.next_attempt_at <= now))
                .order_by(table.c.id).limit(BATCH).with_for_update(skip_locked=True)).all()
            if not rows:
                session.commit()
                return 0
            if session.get_bind().dialect.name == "sqlite":
                session.commit()
            try:
                results = self.publisher.publish_batch(
                    [(r.exchange, r.routing_key, r.body.encode("utf-8"), r.event_id) for r in rows])
            except CONNECTION_ERRORS as exc:
                results = {r.event_id: exc for r in rows}
            confirmed_at = datetime.now(timezone.utc)
            confirmed = [r.id for r in rows if results[r.event_id] is None]
            if confirmed:
                session.execute(update(table).where(table.c.id.in_(confirmed)).values(
                    sent_at=confirmed_at, attempts=table.c.attempts + 1, last_error=None))
            for row in rows:
                exc = results[row.event_id]
                if exc is None:
                    continue
                reason = type(exc).__name__
                FAILED.labels(self.service, reason).inc()
                log.warning("outbox %s %s not relayed: %s", row.exchange, row.routing_key, exc)
                session.execute(update(table).where(table.c.id == row.id).values(
                    attempts=row.attempts + 1, last_error=f"{reason}: {exc}"[:1000],
                    next_attempt_at=now + backoff(row.attempts + 1)))
            sent = len(confirmed)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        PUBLISHED.labels(self.service).inc(sent)
        return sent

    def drain(self) -> int:
        total = 0
        while True:
            sent = self.relay_once()
            total += sent
            if sent < BATCH:
                return total


class OutboxRelay(DependencyProvider):
    """Runs the relay inside a service: woken right after each commit, and swept periodically."""

    def __init__(self, platform: Platform):
        self.platform = platform
        self._running = False

    def setup(self):
        settings = self.container.config["SETTINGS"]
        self.settings = settings
        engine = create_schema(settings.database_url, self.platform.metadata)
        self.relay = Relay(self.platform, sessionmaker(bind=engine, expire_on_commit=False),
                           ConfirmedPublisher(settings), settings.service)

    def start(self):
        self._running = True
        self._thread = self.container.spawn_managed_thread(self._loop, identifier="outbox_relay")

    def stop(self):
        # Let the current batch finish so nothing confirmed is left unmarked.
        self._running = False
        _wake()
        self._thread.wait()
        self.relay.publisher.close()

    def kill(self):
        self._running = False
        self._thread.kill()

    def _loop(self):
        failures = 0
        while self._running:
            try:
                self.relay.drain()
                failures = 0
                with self.relay.factory() as session:
                    BACKLOG.labels(self.settings.service).set(self.platform.backlog(session))
            except (SQLAlchemyError, *CONNECTION_ERRORS) as exc:
                failures += 1
                log.warning("outbox relay paused after error (%s): %s", failures, exc)
                eventlet.sleep(reconnect_delay(failures, self.settings.reconnect_max_seconds))
                continue
            try:
                _wakeup.get(timeout=min(self.settings.outbox_sweep_seconds, 3.0))
            except Empty:
                pass
            try:
                self.relay.publisher.keepalive()
            except CONNECTION_ERRORS:
                pass                    # reconnects on its next batch

    def get_dependency(self, worker_ctx):
        return self.relay

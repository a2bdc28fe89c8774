"""Transactional outbox: events are written with the state change, then relayed with confirms.

A unit of work (services/common/uow.py) inserts its events' rows in its own transaction and, once
that committed, hands the same rows to the relay in memory: the relay publishes them with every
confirm in flight and marks them sent in one statement, without reading them back. A periodic
sweep reads what memory does not hold — rows left by a process that died, rows whose publish
failed and are due again — so a crash or a broker outage loses nothing."""
from __future__ import annotations

import logging
import time
from collections import deque
from datetime import datetime, timedelta, timezone
from typing import Iterable

import eventlet
from eventlet.queue import Empty, LightQueue
from prometheus_client import Counter, Gauge
from sqlalchemy import MetaData, bindparam, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.engine import Connection, Engine

from services.common.backoff import reconnect_delay
from services.common.broker import CONNECTION_ERRORS, ConfirmedPublisher
from services.common.events import Event, encode, route_of
from services.common.tables import platform_tables

log = logging.getLogger(__name__)
BATCH = 200
SWEEP_GRACE = timedelta(seconds=10)   # a younger unsent row may still be in another replica's memory
HANDOFF_MAX = 2_000     # rows held in memory at most; beyond, a backlog waits in the table for the sweep
PUBLISHED = Counter("chuishao_outbox_published_total", "Events relayed and confirmed by the broker",
                    ["service"])
FAILED = Counter("chuishao_outbox_publish_failures_total", "Relay attempts that did not confirm",
                 ["service", "reason"])
BACKLOG = Gauge("chuishao_outbox_backlog", "Events written but not yet confirmed by the broker",
                ["service"])


class Platform:
    """A service's outbox and processed-messages tables, and the operations on them."""

    def __init__(self, metadata: MetaData):
        self.metadata = metadata
        self.outbox, self.processed = platform_tables(metadata)
        # built once: they run in every unit of work
        self._insert_outbox, self._insert_processed = insert(self.outbox), insert(self.processed)
        self._seen = select(self.processed.c.message_id).where(
            self.processed.c.consumer == bindparam("consumer"),
            self.processed.c.message_id.in_(bindparam("ids", expanding=True)))

    @staticmethod
    def rows_of(events: Iterable[Event]) -> list[dict]:
        rows = []
        for event_ in events:
            route = route_of(event_)
            rows.append({"event_id": event_.event_id, "event_type": event_.event_type,
                         "exchange": route.exchange, "routing_key": route.routing_key,
                         "body": encode(event_).decode("utf-8"), "created_at": event_.occurred_at,
                         "attempts": 0})
        return rows

    def insert_outbox(self, conn: Connection, rows: list[dict]) -> None:
        if rows:
            conn.execute(self._insert_outbox, rows if len(rows) > 1 else rows[0])

    def seen(self, conn: Connection, consumer: str, message_ids: list[str]) -> set[str]:
        """Which of message_ids consumer has already handled (one query)."""
        if not message_ids:
            return set()
        return set(conn.execute(self._seen, {"consumer": consumer, "ids": message_ids}).scalars())

    def record_processed(self, conn: Connection, consumer: str, message_ids: list[str], now: datetime) -> None:
        if message_ids:
            rows = [{"consumer": consumer, "message_id": m, "processed_at": now} for m in message_ids]
            conn.execute(self._insert_processed, rows if len(rows) > 1 else rows[0])

    def backlog(self, conn: Connection) -> int:
        return conn.execute(select(func.count()).select_from(self.outbox)
                               .where(self.outbox.c.sent_at.is_(None))).scalar_one()


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(60, 2 ** min(attempts, 6)))


class Relay:
    """Moves committed outbox rows to the broker; a row is marked sent only after its confirm.

    Rows arrive in memory from the process's own commits (`submit`); `relay_once` sweeps the table
    for the rest. Several replicas may sweep one table: rows are claimed with SKIP LOCKED on
    PostgreSQL, and a row younger than SWEEP_GRACE is left to the replica whose memory holds it.
    A crash between confirm and mark, or a replica's memory backlog older than the grace, sends a
    row twice: consumers dedupe by event_id."""

    def __init__(self, platform: Platform, engine: Engine, publisher: ConfirmedPublisher, service: str,
                 handoff_max: int = HANDOFF_MAX):
        self.platform = platform
        self.handoff_max = handoff_max
        self.engine = engine
        self.publisher = publisher
        self.service = service
        self._pending: deque[dict] = deque()
        self._held: set[str] = set()          # event ids in memory, not yet settled
        self.wakeup: LightQueue = LightQueue(maxsize=1)

    # ------------------------------------------------------------------ rows from this process's commits
    def submit(self, rows: list[dict]) -> None:
        """Takes committed rows for publishing. Past `handoff_max` rows in memory (a broker slower than
        the commits) the rest stay in the table only, where the sweep finds them once SWEEP_GRACE has
        passed: a backlog costs the database, not the process's memory."""
        rows = rows[:max(0, self.handoff_max - len(self._pending))]
        self._pending.extend(rows)
        self._held.update(r["event_id"] for r in rows)
        try:
            self.wakeup.put_nowait(True)
        except Exception:  # noqa: BLE001 - already signalled
            pass

    def has_pending(self) -> bool:
        return bool(self._pending)

    def relay_pending(self) -> int:
        """Publishes up to BATCH rows handed over in memory; returns how many were confirmed."""
        if not self._pending:
            return 0
        rows = [self._pending.popleft() for _ in range(min(BATCH, len(self._pending)))]
        try:
            return self._publish_and_mark(rows, datetime.now(timezone.utc))
        finally:
            self._held.difference_update(r["event_id"] for r in rows)

    # ------------------------------------------------------------------ the sweep
    def relay_once(self, now: datetime | None = None, grace: timedelta = timedelta(0)) -> int:
        """Sweeps one batch of unsent rows not in memory: due retries, and rows older than `grace`.

        On PostgreSQL the batch stays row-locked (SKIP LOCKED) while it is published, so replicas
        share the table; on SQLite the read is committed first, so the process's one connection is
        not held across the broker round trip."""
        table = self.platform.outbox
        now = now or datetime.now(timezone.utc)
        conn = self.engine.connect()
        try:
            found = conn.execute(
                select(table.c.id, table.c.event_id, table.c.exchange, table.c.routing_key,
                       table.c.body, table.c.attempts)
                .where(table.c.sent_at.is_(None),
                       table.c.next_attempt_at.is_(None) & (table.c.created_at <= now - grace)
                       | (table.c.next_attempt_at <= now))
                .order_by(table.c.id).limit(BATCH).with_for_update(skip_locked=True)).all()
            rows = [r._asdict() for r in found if r.event_id not in self._held]
            if not rows or conn.dialect.name == "sqlite":
                conn.commit()
            if not rows:
                return 0
            return self._publish_and_mark(rows, now, conn)
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()

    def drain(self, grace: timedelta = timedelta(0)) -> int:
        total = 0
        while True:
            sent = self.relay_once(grace=grace)
            total += sent
            if sent < BATCH:
                return total

    # ------------------------------------------------------------------ publishing
    def _publish_and_mark(self, rows: list[dict], now: datetime, conn: Connection | None = None) -> int:
        results: dict[str, Exception | None]
        try:
            results = self.publisher.publish_batch(
                [(r["exchange"], r["routing_key"], r["body"].encode("utf-8"), r["event_id"]) for r in rows])
        except CONNECTION_ERRORS as exc:
            results = {r["event_id"]: exc for r in rows}
        confirmed_at = datetime.now(timezone.utc)
        table = self.platform.outbox
        confirmed = [r["event_id"] for r in rows if results[r["event_id"]] is None]
        own = conn is None
        conn = conn or self.engine.connect()
        try:
            if confirmed:
                conn.execute(update(table).where(table.c.event_id.in_(confirmed)).values(
                    sent_at=confirmed_at, attempts=table.c.attempts + 1, last_error=None))
            for row in rows:
                error = results[row["event_id"]]
                if error is None:
                    continue
                reason = type(error).__name__
                FAILED.labels(self.service, reason).inc()
                log.warning("outbox %s %s not relayed: %s", row["exchange"], row["routing_key"], error)
                attempts = row.get("attempts", 0) + 1
                conn.execute(update(table).where(table.c.event_id == row["event_id"]).values(
                    attempts=table.c.attempts + 1, last_error=f"{reason}: {error}"[:1000],
                    next_attempt_at=now + backoff(attempts)))
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            if own:
                conn.close()
        PUBLISHED.labels(self.service).inc(len(confirmed))
        return len(confirmed)


class RelayLoop:
    """Runs a relay inside a service: what commits hand over at once, and a sweep every few seconds.

    The first sweep after start takes every unsent row (this process's predecessor may have died
    with some); later sweeps leave rows younger than SWEEP_GRACE to the replica holding them."""

    def __init__(self, relay: Relay, settings):
        self.relay = relay
        self.settings = settings
        self.running = False

    def run(self) -> None:
        self.running = True
        failures = 0
        next_sweep = 0.0
        grace = timedelta(0)
        while self.running:
            try:
                self.relay.relay_pending()
                if time.monotonic() >= next_sweep:
                    self.relay.drain(grace)
                    grace = SWEEP_GRACE
                    with self.relay.engine.connect() as conn:
                        BACKLOG.labels(self.settings.service).set(self.relay.platform.backlog(conn))
                    next_sweep = time.monotonic() + self.settings.outbox_sweep_seconds
                failures = 0
            except (SQLAlchemyError, *CONNECTION_ERRORS) as exc:
                failures += 1
                log.warning("outbox relay paused after error (%s): %s", failures, exc)
                eventlet.sleep(reconnect_delay(failures, self.settings.reconnect_max_seconds))
                continue
            if self.relay.has_pending():
                continue
            try:
                self.relay.wakeup.get(timeout=max(0.0, min(next_sweep - time.monotonic(), 3.0)))
                if self.settings.batch_linger_ms > 0:
                    # rows committed in the next moment go out in the same batch, confirmed together
                    eventlet.sleep(self.settings.batch_linger_ms / 1000)
            except Empty:
                pass
            try:
                self.relay.publisher.keepalive()
            except CONNECTION_ERRORS:
                pass                    # reconnects on its next batch

    def stop(self) -> None:
        self.running = False
        try:
            self.relay.wakeup.put_nowait(True)
        except Exception:  # noqa: BLE001 - already signalled
            pass

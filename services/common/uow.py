"""The unit of work every use case runs in, and the Store that makes one: a service's database,
its outbox and its tracking records, with the outbox relay.

A use case receives a UnitOfWork: it reads and writes through `uow.conn` (a SQLAlchemy Core
connection inside its transaction; no ORM objects on the hot path), announces events with
`uow.emit(...)`, and leaves the rest to the platform. When the block ends without an exception, the
events' outbox rows and the tracking records of the messages consumed are inserted (one statement
each) and everything commits in one transaction; then the rows go to the relay in memory and the
`after_commit` callbacks run. If the block raises, nothing of it is kept."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Callable, Iterator, Sequence, TypeVar

from nameko.extensions import DependencyProvider
from sqlalchemy.engine import Connection, Engine

from services.common.broker import ConfirmedPublisher
from services.common.db import create_schema
from services.common.events import Event, Message
from services.common.outbox import Platform, Relay, RelayLoop

M = TypeVar("M", bound=Message)


class UnitOfWork:
    """One transaction's connection, its clock reading, and what it will announce once it commits."""

    def __init__(self, conn: Connection, now: datetime):
        self.conn = conn
        self.now = now
        self.events: list[Event] = []
        self.consumed: dict[str, list[str]] = {}
        self._after: list[Callable[[], None]] = []

    def emit(self, *events: Event) -> None:
        """Announces events: written to the outbox in this transaction, relayed once it commits."""
        self.events.extend(events)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Runs callback once this transaction has committed (e.g. observing a Prometheus instrument)."""
        self._after.append(callback)


class Store(DependencyProvider):
    """A service's database: units of work over it, its outbox relay, and its tracking records.

    Injected as itself: `with self.store.unit_of_work() as uow: ...`. With `relay=False` (a service
    that announces nothing) no relay runs."""

    def __init__(self, platform: Platform, relay: bool = True):
        self.platform = platform
        self.with_relay = relay
        self.engine: Engine | None = None
        self.relay: Relay | None = None
        self._loop: RelayLoop | None = None

    def setup(self):
        settings = self.container.config["SETTINGS"]
        self.attach(create_schema(settings.database_url, settings.service), settings)

    def attach(self, engine: Engine, settings=None) -> "Store":
        """Attaches the store to an engine (setup does it in a service; tests may do it directly)."""
        self.engine = engine
        if self.with_relay and settings is not None:
            self.relay = Relay(self.platform, engine, ConfirmedPublisher(settings), settings.service)
            self._loop = RelayLoop(self.relay, settings)
        return self

    def start(self):
        if self._loop is not None:
            self._thread = self.container.spawn_managed_thread(self._loop.run, identifier="outbox_relay")

    def stop(self):
        # let the current batch finish so nothing confirmed is left unmarked
        if self._loop is not None:
            self._loop.stop()
            self._thread.wait()
            self.relay.publisher.close()

    def kill(self):
        if self._loop is not None:
            self._loop.running = False
            self._thread.kill()

    def get_dependency(self, worker_ctx):
        return self

    # ------------------------------------------------------------------ units of work
    @contextmanager
    def unit_of_work(self, now: datetime | None = None) -> Iterator[UnitOfWork]:
        if self.engine is None:
            raise RuntimeError("the store is not attached to a database yet (setup() or attach())")
        conn = self.engine.connect()
        uow = UnitOfWork(conn, now or datetime.now(timezone.utc))
        try:
            yield uow
            rows = self.platform.rows_of(uow.events)
            self.platform.insert_outbox(conn, rows)
            for consumer, ids in uow.consumed.items():
                self.platform.record_processed(conn, consumer, ids, uow.now)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()
        if rows and self.relay is not None:
            self.relay.submit(rows)
        for callback in uow._after:
            callback()

    def first_time(self, uow: UnitOfWork, consumer: str, messages: Sequence[M]) -> list[M]:
        """The messages consumer has not handled before, recorded as handled in uow's transaction.

        Events are known by their event_id (one query for the lot, repeats inside the batch dropped
        too); commands carry no event_id and are idempotent by their own request_id, so they pass."""
        ids = [m.event_id for m in messages if isinstance(m, Event)]
        seen = self.platform.seen(uow.conn, consumer, ids)
        fresh: list[M] = []
        recorded = uow.consumed.setdefault(consumer, [])
        for message in messages:
            if isinstance(message, Event):
                if message.event_id in seen:
                    continue
                seen.add(message.event_id)
                recorded.append(message.event_id)
            fresh.append(message)
        return fresh

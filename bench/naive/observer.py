"""The bench's eyes on the naive pipeline: a process that reads the department rows as they are committed.

Nothing is added to the naive pipeline to be measured (no extra queue, no "done" message): each
department row carries `received_at` (the handler started: the call-out was delivered) and
`done_at` (just before its INSERT + COMMIT). This reader polls the department databases every
POLL_SECONDS and reports, in the real departments' record format,
- one `callout` record per row: delivered at `received_at`;
- one `done` record per whistle once all its departments' rows are there, at the latest `done_at`.
Times come from the rows, not from when the reader saw them, so the polling interval does not
enter the latencies (only when the bench learns of them).
"""
from __future__ import annotations

import time
import traceback

from sqlalchemy import MetaData, Table, create_engine, select
from sqlalchemy.engine import make_url

from bench.clients import read_stamp

POLL_SECONDS = 0.2
# PostgreSQL can make a row visible after a row with a higher id (concurrent transactions): every
# poll re-reads this many ids below the highest seen, and skips the rows it knows
OVERLAP = 200


def read_only_engine(url: str):
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return create_engine(f"sqlite:///file:{parsed.database}?mode=ro&uri=true", connect_args={"timeout": 5})
    return create_engine(url, pool_size=1, max_overflow=0)


class Progress:
    """Turns department rows into callout and done records (pure: no database here)."""

    def __init__(self, fanout: int):
        self.fanout = fanout
        self.seen: set[str] = set()
        self.per_whistle: dict[str, list] = {}        # whistle_id -> [rows seen, latest done_at]

    def take(self, department: str, row) -> list[tuple]:
        callout_id, whistle_id, description, received_at, done_at = row
        if callout_id in self.seen:
            return []
        self.seen.add(callout_id)
        stamped = read_stamp(description or "")
        step, seq, raised = stamped if stamped else (None, -1, None)
        out = [("callout", step, seq, raised, received_at, done_at, department, whistle_id, callout_id)]
        entry = self.per_whistle.setdefault(whistle_id, [0, 0.0])
        entry[0] += 1
        entry[1] = max(entry[1], done_at)
        if entry[0] == self.fanout:
            out.append(("done", whistle_id, entry[1]))
        return out


class RowObserver:
    name = "naive-observer"

    def __init__(self, out, stop, max_seconds: float, urls: dict[str, str], fanout: int, name: str | None = None):
        self.out = out
        self.stop = stop
        self.deadline = time.monotonic() + max_seconds
        self.urls = urls
        self.progress = Progress(fanout)
        self.name = name or self.name
        self.highest: dict[str, int] = {d: 0 for d in urls}
        self.rows = 0

    def run(self) -> None:
        engines = {d: read_only_engine(url) for d, url in self.urls.items()}
        tables = {d: Table("callouts", MetaData(), autoload_with=e) for d, e in engines.items()}
        try:
            self.out.put(("ready", self.name, None))
            while not self.stop.is_set() and time.monotonic() < self.deadline:
                started = time.monotonic()
                self.poll(engines, tables)
                time.sleep(max(0.0, POLL_SECONDS - (time.monotonic() - started)))
            self.poll(engines, tables)
            self.out.put(("summary", self.name, {"rows": self.rows}))
        finally:
            for engine in engines.values():
                engine.dispose()

    def poll(self, engines, tables) -> None:
        records = []
        for department, engine in engines.items():
            table = tables[department]
            with engine.connect() as conn:
                rows = conn.execute(select(table.c.id, table.c.callout_id, table.c.whistle_id,
                                           table.c.description, table.c.received_at, table.c.done_at)
                                    .where(table.c.id > self.highest[department] - OVERLAP)
                                    .order_by(table.c.id)).all()
            for row in rows:
                self.highest[department] = max(self.highest[department], row[0])
                taken = self.progress.take(department, row[1:])
                self.rows += bool(taken)
                records += taken
        if records:
            self.out.put(("records", self.name, records))


def run_observer(out, stop, max_seconds: float, params: dict) -> None:
    """Process entry point (multiprocessing, spawn)."""
    name = params.get("name", RowObserver.name)
    try:
        RowObserver(out, stop, max_seconds, **params).run()
    except Exception:  # noqa: BLE001 - reported to the main process, which says so
        out.put(("error", name, traceback.format_exc()))
    finally:
        out.put(("exited", name, None))

"""Metrics use cases: events into the read model, the deadline sweep, the gauges, the rebuild.

The rules are services/metrics/readmodel.py (pure); this module loads the rows a batch touches
(one query per table), folds the events into them, writes what changed (one statement per table
and shape) and, once the transaction has committed, observes in Prometheus exactly what the new
and changed rows contribute. An event seen twice changes no row, so it is never counted twice,
whatever the platform's dedupe.
"""
from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta
from typing import Iterable, Optional

from prometheus_client import Histogram
from sqlalchemy import and_, bindparam, func, insert, or_, select
from sqlalchemy.engine import Connection

from services.common.events import Event
from services.common.sql import update_by_key
from services.common.uow import UnitOfWork
from services.metrics import instruments as m
from services.metrics import readmodel as rm
from services.metrics.orm import callout_facts, metadata, whistle_facts

TABLES = {name: metadata.tables[name] for name in rm.KEYS}
SWEEP_LIMIT = 500


class Watermark:
    """The newest `occurred_at` among the events this process has recorded: the sweep only calls a
    deadline missed once events from after it (less a grace) have come in, so a check-in still
    waiting in the queue behind a backlog (after a restart, say) is never taken for a miss."""

    def __init__(self):
        self._lock = threading.Lock()
        self.at: Optional[datetime] = None

    def advance(self, events: Iterable[Event]) -> None:
        newest = max((e.occurred_at for e in events), default=None)
        with self._lock:
            if newest is not None and (self.at is None or newest > self.at):
                self.at = newest


WATERMARK = Watermark()


# ---------------------------------------------------------------- Prometheus

def observe(observations: Iterable[rm.Observation]) -> None:
    """Applies observations to the instruments; counter increments are summed first."""
    counted: Counter = Counter()
    for o in observations:
        instrument = getattr(m, o.instrument)
        if isinstance(instrument, Histogram):
            instrument.labels(*o.labels).observe(o.value)
        else:
            counted[(o.instrument, o.labels)] += o.value
    for (name, labels), amount in counted.items():
        getattr(m, name).labels(*labels).inc(amount)


# ---------------------------------------------------------------- recording events

def _ids(name: str):
    return bindparam(name, expanding=True)


# built once: the rows a batch touches, by key (call-outs also by whistle and by arbitration)
_c = callout_facts.c
_LOAD_CALLOUTS = (select(callout_facts).where(or_(_c.callout_id.in_(_ids("callouts")),
                                                  _c.whistle_id.in_(_ids("whistles")),
                                                  _c.return_arbitration_id.in_(_ids("arbitrations"))))
                  .with_for_update())
_LOAD = {name: select(table).where(table.c[rm.KEYS[name]].in_(_ids("ids")))
         for name, table in TABLES.items() if name != "callout_facts"}


def load(conn: Connection, needs: rm.Needs) -> rm.State:
    """The stored rows a batch touches; call-outs are locked (PostgreSQL) so the sweep cannot decide
    one of their steps between this read and the batch's write."""
    rows: dict[str, list[dict]] = {}
    if needs.callouts or needs.callouts_of_whistles or needs.callouts_of_arbitrations:
        rows["callout_facts"] = [dict(r._mapping) for r in conn.execute(_LOAD_CALLOUTS, {
            "callouts": list(needs.callouts), "whistles": list(needs.callouts_of_whistles),
            "arbitrations": list(needs.callouts_of_arbitrations)})]
    for name, ids in (("whistle_facts", needs.whistles), ("whistle_history", needs.history),
                      ("escalation_facts", needs.escalations), ("follow_up_facts", needs.follow_ups),
                      ("arbitration_facts", needs.arbitrations), ("team_facts", needs.teams)):
        if ids:
            rows[name] = [dict(r._mapping) for r in conn.execute(_LOAD[name], {"ids": list(ids)})]
    return rm.State(rows)


def write(conn: Connection, state: rm.State) -> None:
    for name, rows in state.inserts().items():
        if rows:
            conn.execute(insert(TABLES[name]), rows)
    for name, changes in state.updates().items():
        update_by_key(conn, TABLES[name], rm.KEYS[name], changes)


def record(uow: UnitOfWork, events: list[Event]) -> None:
    """Folds a batch into the read model (one read and one write per table) and observes, once it has
    committed, what the changed rows add to the instruments."""
    state = rm.fold(load(uow.conn, rm.needs(events)), events)
    write(uow.conn, state)
    observations = state.observations()
    uow.after_commit(lambda: observe(observations))
    uow.after_commit(lambda: WATERMARK.advance(events))


# ---------------------------------------------------------------- the deadline sweep

def sweep_deadlines(uow: UnitOfWork, grace: timedelta, watermark: Optional[datetime],
                    limit: int = SWEEP_LIMIT) -> int:
    """Decides as missed every step whose deadline passed undone before the cutoff (the watermark or
    now, whichever is earlier, less the grace); returns how many call-outs it settled.

    Safe with several replicas and beside the consumer: candidates are locked with SKIP LOCKED on
    PostgreSQL and a decided step is never decided again."""
    if watermark is None:
        return 0
    cutoff = min(uow.now, watermark) - grace
    c = callout_facts.c
    due = or_(and_(c.check_in_outcome.is_(None), c.check_in_by <= cutoff),
              and_(c.arrival_outcome.is_(None), c.arrival_by <= cutoff),
              and_(c.completion_outcome.is_(None), c.completion_by <= cutoff))
    rows = [dict(r._mapping) for r in uow.conn.execute(
        select(callout_facts).where(due).order_by(c.check_in_by).limit(limit)
        .with_for_update(skip_locked=True))]
    state = rm.State({"callout_facts": rows})
    for row in state.rows["callout_facts"].values():
        rm.settle(row, cutoff=cutoff)
    write(uow.conn, state)
    observations = state.observations()
    uow.after_commit(lambda: observe(observations))
    return len(rows)


# ---------------------------------------------------------------- gauges

def open_whistles(conn: Connection) -> dict[str, int]:
    w = whistle_facts.c
    still_open = or_(w.last_closed_at.is_(None),
                     and_(w.last_reopened_at.is_not(None), w.last_reopened_at > w.last_closed_at))
    return {street: n for street, n in conn.execute(
        select(w.street_code, func.count()).where(still_open).group_by(w.street_code))}


def open_callouts(conn: Connection) -> list[dict]:
    """Call-outs still owed (not completed, returned, or no longer owed), of whistles not closed."""
    c, w = callout_facts.c, whistle_facts.c
    closed = and_(w.last_closed_at.is_not(None),
                  or_(w.last_reopened_at.is_(None), w.last_reopened_at < w.last_closed_at))
    statement = (select(c.department_code, c.checked_in_at, c.arrived_at, c.completed_at, c.returned_at,
                        c.completion_outcome, c.check_in_by, c.arrival_by, c.completion_by)
                 .select_from(callout_facts.outerjoin(whistle_facts, w.whistle_id == c.whistle_id))
                 .where(c.completed_at.is_(None), c.returned_at.is_(None), c.issued_seen,
                        or_(c.completion_outcome.is_(None), c.completion_outcome != rm.VOID),
                        or_(w.whistle_id.is_(None), ~closed)))
    return [dict(r._mapping) for r in conn.execute(statement)]


def set_gauges(conn: Connection, now: datetime, departments: Iterable[str], streets: Iterable[str]) -> None:
    """Open whistles per street, open and overdue call-outs per department (every known one, 0 included)."""
    whistles = open_whistles(conn)
    callouts = open_callouts(conn)
    per_department: Counter = Counter(r["department_code"] for r in callouts)
    overdue: Counter = Counter()
    for r in callouts:
        step = rm.overdue_step(r, now)
        if step is not None:
            overdue[(r["department_code"], step)] += 1
    for street in set(streets) | set(whistles):
        m.OPEN_WHISTLES.labels(street).set(whistles.get(street, 0))
    for department in set(departments) | set(per_department):
        m.OPEN_CALLOUTS.labels(department).set(per_department.get(department, 0))
        for step in rm.STEP:
            m.OVERDUE_CALLOUTS.labels(department, step).set(overdue.get((department, step), 0))


# ---------------------------------------------------------------- the rebuild after a restart

def replay(conn: Connection) -> int:
    """Rebuilds every counter and histogram from the read model; returns the rows read."""
    total = 0
    observations: list[rm.Observation] = []
    for name, table in TABLES.items():
        rows = [r._mapping for r in conn.execute(select(table))]
        total += len(rows)
        observations += rm.contributions(name, rows)
    observe(observations)
    return total


def counts(conn: Connection) -> dict[str, int]:
    """Rows per read-model table (for logs and tests)."""
    return {name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in TABLES.items()}


"""Dispatch's tables as its use cases need them: cases, call-outs and their clocks, arbitrations, matrices."""
from __future__ import annotations

import functools
from dataclasses import fields
from datetime import datetime

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from services.common.events import Place
from services.common.sql import update_by_key
from services.dispatch.domain import OPEN, Callout, Case, IllegalStep
from services.dispatch.escalation import STEPS, Ladder
from services.dispatch.matrix import Matrix
from services.dispatch.orm import arbitrations, callouts, cases, matrix_versions, step_deadlines
from services.dispatch.rules import Rules


def _shallow(record) -> dict:
    """A dataclass's fields as a dict, without dataclasses.asdict's deep copy."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


def _case(row) -> Case:
    data = dict(row._mapping)
    data["place"] = Place.model_validate(data["place"])
    return Case(**data)


def case_row(case: Case) -> dict:
    data = _shallow(case)
    data["place"] = case.place.model_dump(mode="json")
    return data


def _callout(row) -> Callout:
    data = dict(row._mapping)
    data["requests"] = tuple(data["requests"] or ())
    return Callout(**data)


def callout_row(callout: Callout) -> dict:
    data = _shallow(callout)
    data["requests"] = list(callout.requests)
    return data


def jsonable(mapping) -> dict:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in mapping.items()}


# statements of the hot path, built once (services/common/sql.py says why)
_HAS_CASE = select(cases.c.whistle_id).where(cases.c.whistle_id == bindparam("whistle_id"))
_LOCK_CASE = select(cases).where(cases.c.whistle_id == bindparam("whistle_id")).with_for_update()
_WHISTLE_OF_CALLOUT = select(callouts.c.whistle_id).where(callouts.c.callout_id == bindparam("callout_id"))
_CALLOUTS_OF = (select(callouts).where(callouts.c.whistle_id == bindparam("whistle_id"))
                .order_by(callouts.c.round, callouts.c.position))
_COUNT_CALLOUTS = select(func.count()).select_from(callouts).where(callouts.c.whistle_id == bindparam("whistle_id"))
_RETURNS_WAITING = select(func.count()).select_from(arbitrations).where(
    arbitrations.c.whistle_id == bindparam("whistle_id"), arbitrations.c.status == "open",
    arbitrations.c.reason == "returned_without_alternative")
_INSERT_CASE, _INSERT_CALLOUTS, _INSERT_DEADLINES = insert(cases), insert(callouts), insert(step_deadlines)


@functools.lru_cache(maxsize=None)
def _stop_clocks(steps: tuple[str, ...]):
    # fixed values, not an expanding IN: this one runs with many parameter sets at once
    return update(step_deadlines).where(step_deadlines.c.callout_id == bindparam("b_callout_id"),
                                        or_(*(step_deadlines.c.step == step for step in steps))
                                        ).values(done=True, next_at=None)


# ---------------------------------------------------------------- the matrix
def store_matrix(conn: Connection, matrix: Matrix, now: datetime) -> None:
    if not conn.execute(select(matrix_versions.c.version).where(
            matrix_versions.c.version == matrix.version)).first():
        conn.execute(insert(matrix_versions).values(version=matrix.version, content=matrix.content,
                                                       loaded_at=now))


def matrix_of(conn: Connection, rules: Rules, version: str) -> Matrix:
    """The matrix a case was dispatched under (cached once read)."""
    if version not in rules.matrices:
        content = conn.execute(select(matrix_versions.c.content).where(
            matrix_versions.c.version == version)).scalar_one()
        rules.matrices[version] = Matrix(content)
    return rules.matrices[version]


# ---------------------------------------------------------------- cases and call-outs
def has_case(conn: Connection, whistle_id: str) -> bool:
    return conn.execute(_HAS_CASE, {"whistle_id": whistle_id}).first() is not None


def add_case(conn: Connection, case: Case) -> None:
    conn.execute(_INSERT_CASE, case_row(case))


def lock_case(conn: Connection, whistle_id: str) -> Case:
    row = conn.execute(_LOCK_CASE, {"whistle_id": whistle_id}).first()
    if row is None:
        raise IllegalStep("whistle_id", f"no whistle {whistle_id} in dispatch")
    return _case(row)


def _changes(before, after) -> dict:
    """The fields whose values differ between two versions of a record, as the table stores them."""
    changed = {}
    for f in fields(after):
        value = getattr(after, f.name)
        if value != getattr(before, f.name):
            changed[f.name] = list(value) if isinstance(value, tuple) else \
                value.model_dump(mode="json") if isinstance(value, Place) else value
    return changed


def save_case(conn: Connection, before: Case, after: Case) -> None:
    """Writes what changed between two versions of a case (nothing when nothing did)."""
    update_by_key(conn, cases, "whistle_id", [(after.whistle_id, _changes(before, after))])


def whistle_of_callout(conn: Connection, callout_id: str) -> str | None:
    return conn.execute(_WHISTLE_OF_CALLOUT, {"callout_id": callout_id}).scalar()


def callouts_of(conn: Connection, whistle_id: str) -> list[Callout]:
    return [_callout(r) for r in conn.execute(_CALLOUTS_OF, {"whistle_id": whistle_id}).all()]


def count_callouts(conn: Connection, whistle_id: str) -> int:
    return conn.execute(_COUNT_CALLOUTS, {"whistle_id": whistle_id}).scalar_one()


def add_callouts(conn: Connection, made: list[Callout], ladder: Ladder) -> None:
    """New call-outs and one clock per step of each, whose first rung is due at the step's deadline."""
    conn.execute(_INSERT_CALLOUTS, [callout_row(c) for c in made])
    conn.execute(_INSERT_DEADLINES, [
        {"callout_id": c.callout_id, "step": step, "due_at": due_at, "done": False, "level": 0,
         "next_at": ladder.next_at(due_at, 0)}
        for c in made for step, due_at in zip(STEPS, (c.check_in_by, c.arrival_by, c.completion_by))])


def save_callout(conn: Connection, before: Callout, after: Callout) -> None:
    update_by_key(conn, callouts, "callout_id", [(after.callout_id, _changes(before, after))])


def stop_clocks(conn: Connection, callout_ids: list[str], steps: tuple[str, ...] = STEPS) -> None:
    if callout_ids:
        params = [{"b_callout_id": c} for c in callout_ids]
        conn.execute(_stop_clocks(steps), params if len(params) > 1 else params[0])


# ---------------------------------------------------------------- arbitrations
def add_arbitration(conn: Connection, arbitration_id: str, whistle_id: str, reason: str,
                    candidates: tuple[str, ...], now: datetime, decide_by: datetime) -> None:
    conn.execute(insert(arbitrations).values(
        arbitration_id=arbitration_id, whistle_id=whistle_id, reason=reason, candidates=list(candidates),
        opened_at=now, decide_by=decide_by, status="open"))


def open_returns_waiting(conn: Connection, whistle_id: str) -> int:
    """Returns of this whistle still waiting for the district to name a department."""
    return conn.execute(_RETURNS_WAITING, {"whistle_id": whistle_id}).scalar_one()


def lock_arbitration(conn: Connection, arbitration_id: str):
    return conn.execute(select(arbitrations).where(
        arbitrations.c.arbitration_id == arbitration_id).with_for_update()).first()


def decide(conn: Connection, arbitration_id: str, decided_by: str, now: datetime, grid_code: str | None,
           department_code: str | None) -> None:
    conn.execute(update(arbitrations).where(arbitrations.c.arbitration_id == arbitration_id).values(
        status="decided", decided_by=decided_by, decided_at=now, grid_code=grid_code,
        department_code=department_code))


def withdraw_open(conn: Connection, whistle_id: str, now: datetime) -> None:
    conn.execute(update(arbitrations).where(arbitrations.c.whistle_id == whistle_id,
                                               arbitrations.c.status == "open").values(
        status="withdrawn", decided_at=now, decided_by="(whistle closed)"))


# ---------------------------------------------------------------- the deadline sweep
def due_steps(conn: Connection, now: datetime, limit: int):
    """Step clocks whose next rung is due, with what an escalation names; row-locked, SKIP LOCKED."""
    return conn.execute(
        select(step_deadlines, callouts.c.whistle_id, callouts.c.department_code, callouts.c.issued_at,
               cases.c.street_code, cases.c.category, cases.c.urgency)
        .join(callouts, callouts.c.callout_id == step_deadlines.c.callout_id)
        .join(cases, cases.c.whistle_id == callouts.c.whistle_id)
        .where(step_deadlines.c.done.is_(False), step_deadlines.c.next_at < now)
        .order_by(step_deadlines.c.next_at).limit(limit)
        .with_for_update(skip_locked=True, of=step_deadlines)).all()


def climb(conn: Connection, step_id: int, from_level: int, to_level: int, next_at: datetime | None) -> bool:
    """Compare-and-set of a clock's level: False if another sweep took these rungs first."""
    return conn.execute(
        update(step_deadlines)
        .where(step_deadlines.c.id == step_id, step_deadlines.c.level == from_level,
               step_deadlines.c.done.is_(False))
        .values(level=to_level, next_at=next_at)).rowcount == 1


def late_arbitrations(conn: Connection, now: datetime, limit: int):
    return conn.execute(
        select(arbitrations.c.arbitration_id, arbitrations.c.whistle_id, arbitrations.c.reason,
               arbitrations.c.decide_by, cases.c.street_code)
        .join(cases, cases.c.whistle_id == arbitrations.c.whistle_id)
        .where(arbitrations.c.status == "open", arbitrations.c.overdue.is_(False),
               arbitrations.c.decide_by < now)
        .limit(limit).with_for_update(skip_locked=True, of=arbitrations)).all()


def mark_overdue(conn: Connection, arbitration_id: str) -> bool:
    return conn.execute(update(arbitrations).where(
        arbitrations.c.arbitration_id == arbitration_id, arbitrations.c.overdue.is_(False))
        .values(overdue=True)).rowcount == 1


# ---------------------------------------------------------------- reads
def case_dict(conn: Connection, whistle_id: str) -> dict | None:
    row = conn.execute(select(cases).where(cases.c.whistle_id == whistle_id)).first()
    return None if row is None else jsonable(row._mapping)


def open_arbitrations(conn: Connection) -> list[dict]:
    rows = conn.execute(select(arbitrations).where(arbitrations.c.status == "open")
                           .order_by(arbitrations.c.decide_by)).all()
    return [jsonable(r._mapping) for r in rows]


def overdue(conn: Connection, now: datetime) -> list[dict]:
    """Steps past their deadline and not done: the district leader's 督办 list."""
    rows = conn.execute(
        select(step_deadlines.c.callout_id, step_deadlines.c.step, step_deadlines.c.due_at,
               step_deadlines.c.level, callouts.c.whistle_id, callouts.c.department_code,
               cases.c.street_code)
        .join(callouts, callouts.c.callout_id == step_deadlines.c.callout_id)
        .join(cases, cases.c.whistle_id == callouts.c.whistle_id)
        .where(step_deadlines.c.done.is_(False), step_deadlines.c.due_at <= now,
               callouts.c.status.in_(OPEN))
        .order_by(step_deadlines.c.due_at)).all()
    return [jsonable(r._mapping) for r in rows]

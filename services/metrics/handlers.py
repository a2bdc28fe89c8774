"""Metrics use cases: record each event once in the read model, then observe it in Prometheus."""
from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from services.common.events import (AllCheckedIn, ArbitrationOpened, CalloutArrived, CalloutCheckedIn,
                                    CalloutCompleted, CalloutEscalated, CalloutReturned, CalloutsIssued, Event,
                                    FollowUpRecorded, TeamAssembled, WhistleClosed, WhistleRaised)
from services.common.sql import update_by_key
from services.common.uow import UnitOfWork
from services.metrics import instruments as m
from services.metrics.orm import callout_facts


def record(uow: UnitOfWork, events: list[Event]) -> None:
    """Stores the batch's call-out facts (one insert and one update for the lot) and observes every
    event in Prometheus once that has committed."""
    _store_facts(uow.conn, events)
    urgency_of = _urgencies(uow.conn, [e.whistle_id for e in events if isinstance(e, AllCheckedIn)])
    for event in events:
        for observe in _observations(event, urgency_of):
            uow.after_commit(observe)


def _fact(callout_id: str, department_code: str, event: CalloutsIssued | CalloutCheckedIn, issued_at,
          check_in_by) -> dict:
    return {"callout_id": callout_id, "whistle_id": event.whistle_id, "department_code": department_code,
            "street_code": event.street_code, "category": event.category, "urgency": event.urgency,
            "issued_at": issued_at, "check_in_by": check_in_by, "checked_in_at": None, "on_time": None}


def _per_callout(events: list[Event]):
    """(callout id, its fact row, the check-in or None) in arrival order, a call-out issued together with
    others counted one by one."""
    for event in events:
        if isinstance(event, CalloutsIssued):
            for c in event.callouts:
                yield c.callout_id, _fact(c.callout_id, c.department_code, event, c.issued_at,
                                          c.deadlines.check_in_by), None
        elif isinstance(event, CalloutCheckedIn):
            yield event.callout_id, _fact(event.callout_id, event.department_code, event, event.issued_at,
                                          event.check_in_by), event


def _store_facts(conn: Connection, events: list[Event]) -> None:
    """One row per call-out; a check-in may overtake its call-out on the bus, and fills the row either way."""
    facts = list(_per_callout(events))
    if not facts:
        return
    ids = list({callout_id for callout_id, _, _ in facts})
    stored = set(conn.execute(select(callout_facts.c.callout_id).where(callout_facts.c.callout_id.in_(ids)))
                 .scalars())
    new: dict[str, dict] = {}
    checked_in: dict[str, dict] = {}
    for callout_id, fact, check_in in facts:
        if callout_id not in stored and callout_id not in new:
            new[callout_id] = fact
        if check_in is not None:
            values = {"checked_in_at": check_in.checked_in_at, "on_time": check_in.on_time}
            if callout_id in new:
                new[callout_id].update(values)
            else:
                checked_in[callout_id] = values
    if new:
        conn.execute(insert(callout_facts), list(new.values()))
    update_by_key(conn, callout_facts, "callout_id", checked_in.items())


def _urgencies(conn: Connection, whistle_ids: list[str]) -> dict[str, str]:
    if not whistle_ids:
        return {}
    rows = conn.execute(select(callout_facts.c.whistle_id, callout_facts.c.urgency)
                        .where(callout_facts.c.whistle_id.in_(set(whistle_ids)))).all()
    return {row.whistle_id: row.urgency for row in rows}


def _observations(event: Event, urgency_of: dict[str, str]) -> list:
    """What to observe in Prometheus for one event."""
    if isinstance(event, WhistleRaised):
        return [m.WHISTLES_RAISED.labels(event.street_code, event.urgency).inc]
    if isinstance(event, CalloutsIssued):
        return [m.CALLOUTS_ISSUED.labels(c.department_code, event.urgency).inc for c in event.callouts]
    if isinstance(event, CalloutCheckedIn):
        latency = (event.checked_in_at - event.issued_at).total_seconds()
        return [lambda: m.CHECKIN_LATENCY.labels(event.department_code, event.urgency).observe(latency),
                m.CHECKINS.labels(event.department_code, event.urgency, str(event.on_time).lower()).inc]
    if isinstance(event, AllCheckedIn):
        latency = (event.last_checked_in_at - event.first_issued_at).total_seconds()
        urgency = urgency_of.get(event.whistle_id, "unknown")
        return [lambda: m.ALL_CHECKED_IN_LATENCY.labels(urgency).observe(latency)]
    if isinstance(event, TeamAssembled):
        counted = [m.TEAMS.labels(event.category, str(not event.gaps).lower()).inc]
        if event.kind != "whistle":
            return counted
        latency = (event.assembled_at - event.formed_at).total_seconds()
        return [*counted, lambda: m.TEAM_ASSEMBLY_LATENCY.labels(event.category).observe(latency)]
    if isinstance(event, CalloutArrived):
        latency = (event.arrived_at - event.issued_at).total_seconds()
        return [lambda: m.ARRIVAL_LATENCY.labels(event.department_code, event.urgency).observe(latency),
                m.STEPS_DONE.labels(event.department_code, event.urgency, "arrival",
                                    str(event.on_time).lower()).inc]
    if isinstance(event, CalloutCompleted):
        latency = (event.completed_at - event.issued_at).total_seconds()
        return [lambda: m.COMPLETION_LATENCY.labels(event.department_code, event.urgency).observe(latency),
                m.STEPS_DONE.labels(event.department_code, event.urgency, "completion",
                                    str(event.on_time).lower()).inc]
    if isinstance(event, CalloutReturned):
        went = "rerouted" if event.rerouted_to else "arbitration"
        return [m.RETURNS.labels(event.department_code, went).inc]
    if isinstance(event, CalloutEscalated):
        return [m.ESCALATIONS.labels(event.department_code, event.step, event.tier).inc]
    if isinstance(event, ArbitrationOpened):
        return [m.ARBITRATIONS.labels(event.reason).inc]
    if isinstance(event, WhistleClosed):
        return [m.CLOSURES.labels(event.street_code).inc]
    if isinstance(event, FollowUpRecorded):
        return [m.FOLLOW_UPS.labels(event.street_code, event.rating).inc]
    return []


def replay_facts(conn: Connection) -> int:
    """Rebuilds the call-out instruments from the read model after a restart; returns rows replayed."""
    rows = conn.execute(select(callout_facts)).all()
    for r in rows:
        m.CALLOUTS_ISSUED.labels(r.department_code, r.urgency).inc()
        if r.checked_in_at is not None:
            m.CHECKIN_LATENCY.labels(r.department_code, r.urgency).observe(
                (r.checked_in_at - r.issued_at).total_seconds())
            m.CHECKINS.labels(r.department_code, r.urgency, str(bool(r.on_time)).lower()).inc()
    return len(rows)

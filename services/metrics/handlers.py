"""Metrics use cases: record each event once in the read model, then observe it in Prometheus."""
from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from services.common.events import (AllCheckedIn, ArbitrationOpened, CalloutArrived, CalloutCheckedIn,
                                    CalloutCompleted, CalloutEscalated, CalloutIssued, CalloutReturned, Event,
                                    FollowUpRecorded, TeamAssembled, WhistleClosed, WhistleRaised)
from services.common.uow import UnitOfWork
from services.metrics import instruments as m
from services.metrics.orm import callout_facts


def record(uow: UnitOfWork, event: Event) -> None:
    """Stores the event's facts and observes it in Prometheus once that has committed."""
    for observe in _facts(uow.session, event):
        uow.after_commit(observe)


def _facts(session: Session, event: Event) -> list:
    """Stores the event's facts; returns the observations to make once that has committed."""
    if isinstance(event, WhistleRaised):
        return [m.WHISTLES_RAISED.labels(event.street_code, event.urgency).inc]
    if isinstance(event, CalloutIssued):
        session.execute(insert(callout_facts).values(
            callout_id=event.callout_id, whistle_id=event.whistle_id,
            department_code=event.department_code, street_code=event.street_code,
            category=event.category, urgency=event.urgency, issued_at=event.issued_at,
            check_in_by=event.deadlines.check_in_by))
        return [m.CALLOUTS_ISSUED.labels(event.department_code, event.urgency).inc]
    if isinstance(event, CalloutCheckedIn):
        # the check-in may overtake its call-out on the bus: the fact is completed either way
        found = session.execute(select(callout_facts.c.callout_id).where(
            callout_facts.c.callout_id == event.callout_id)).first()
        values = dict(checked_in_at=event.checked_in_at, on_time=event.on_time)
        if found:
            session.execute(update(callout_facts).where(
                callout_facts.c.callout_id == event.callout_id).values(**values))
        else:
            session.execute(insert(callout_facts).values(
                callout_id=event.callout_id, whistle_id=event.whistle_id,
                department_code=event.department_code, street_code=event.street_code,
                category=event.category, urgency=event.urgency, issued_at=event.issued_at,
                check_in_by=event.check_in_by, **values))
        latency = (event.checked_in_at - event.issued_at).total_seconds()
        return [lambda: m.CHECKIN_LATENCY.labels(event.department_code, event.urgency).observe(latency),
                m.CHECKINS.labels(event.department_code, event.urgency, str(event.on_time).lower()).inc]
    if isinstance(event, AllCheckedIn):
        latency = (event.last_checked_in_at - event.first_issued_at).total_seconds()
        urgency = session.execute(select(callout_facts.c.urgency).where(
            callout_facts.c.whistle_id == event.whistle_id).limit(1)).scalar() or "unknown"
        return [lambda: m.ALL_CHECKED_IN_LATENCY.labels(urgency).observe(latency)]
    if isinstance(event, TeamAssembled):
        return [m.TEAMS.labels(event.category, str(not event.gaps).lower()).inc]
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


def replay_facts(session: Session) -> int:
    """Rebuilds the call-out instruments from the read model after a restart; returns rows replayed."""
    rows = session.execute(select(callout_facts)).all()
    for r in rows:
        m.CALLOUTS_ISSUED.labels(r.department_code, r.urgency).inc()
        if r.checked_in_at is not None:
            m.CHECKIN_LATENCY.labels(r.department_code, r.urgency).observe(
                (r.checked_in_at - r.issued_at).total_seconds())
            m.CHECKINS.labels(r.department_code, r.urgency, str(bool(r.on_time)).lower()).inc()
    return len(rows)

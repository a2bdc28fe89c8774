"""The assessment's facts read from the read model: what services/metrics/assessment needs for a period.

The same facts `assessment.from_events.facts_from_events` folds from the raw events, field for field
(that module says where each comes from); a call-out whose issue was never received is left out
there and here, since without its deadlines it cannot be assessed.

A period's figures can depend on facts from before it (a case raised late in October is due in
November), so facts are read from `LOOKBACK` before the period's start: longer than the longest
deadline in working days (15, plus the longest holiday) and the published 7-working-day mark.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterable, Optional

from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Connection

from services.metrics.assessment import (CalloutFact, Decision, EscalationFact, FactRef, FollowUpFact, Period,
                                         PeriodFacts, ReturnFact, WhistleFact)
from services.metrics.orm import (assessment_decisions, callout_facts, escalation_facts, follow_up_facts,
                                  whistle_facts, whistle_history)

LOOKBACK = timedelta(days=45)


def _callout(r) -> CalloutFact:
    return CalloutFact(
        callout_id=r.callout_id, whistle_id=r.whistle_id, department=r.department_code, street=r.street_code,
        category=r.category, urgency=r.urgency, issued_at=r.issued_at, check_in_by=r.check_in_by,
        arrival_by=r.arrival_by, completion_by=r.completion_by,
        checked_in_at=r.checked_in_at, check_in_on_time=r.on_time if r.checked_in_at else None,
        arrived_at=r.arrived_at, arrival_on_time=r.arrival_on_time if r.arrived_at else None,
        completed_at=r.completed_at, completion_on_time=r.completion_on_time if r.completed_at else None,
        round=r.round)


def _return(r) -> ReturnFact:
    return ReturnFact(callout_id=r.callout_id, whistle_id=r.whistle_id, department=r.department_code,
                      street=r.street_code, returned_at=r.returned_at, verdict=r.return_verdict or "pending",
                      reason=r.return_reason or "-")


def decision_of(r) -> Decision:
    return Decision(kind=r.kind, fact=FactRef(r.fact_kind, r.fact_id), reason=r.reason, decided_by=r.decided_by,
                    decided_at=r.decided_at, upheld=r.upheld, requested_by=r.requested_by)


def load(conn: Connection, period: Period, as_of: datetime) -> PeriodFacts:
    """Every fact that can touch `period` as known at `as_of`, and every decision about one of them."""
    since = period.start - LOOKBACK
    c, w, f = callout_facts.c, whistle_facts.c, follow_up_facts.c
    follow_ups = conn.execute(select(follow_up_facts).where(f.recorded_at >= period.start, f.recorded_at < period.end,
                                                            f.recorded_at <= as_of)).all()
    # a follow-up counts for the departments of its case however long ago it was called out
    followed = {r.whistle_id for r in follow_ups}
    callouts = conn.execute(select(callout_facts).where(
        c.issued_seen, c.arrival_by.is_not(None), c.completion_by.is_not(None), c.issued_at <= as_of,
        or_(and_(c.issued_at >= since, c.issued_at < period.end), c.whistle_id.in_(followed)))).all()
    whistles = conn.execute(select(whistle_facts).where(
        w.raised_at <= as_of, or_(and_(w.raised_at >= since, w.raised_at < period.end),
                                  w.whistle_id.in_(followed)))).all()
    callout_ids = {r.callout_id for r in callouts}
    whistle_ids = {r.whistle_id for r in whistles}
    history = conn.execute(select(whistle_history).where(
        whistle_history.c.whistle_id.in_(whistle_ids), whistle_history.c.kind.in_(("closed", "reopened")),
        whistle_history.c.at <= as_of)).all() if whistle_ids else []
    closures: dict[str, list[datetime]] = {}
    reopenings: dict[str, list[datetime]] = {}
    for h in history:
        (closures if h.kind == "closed" else reopenings).setdefault(h.whistle_id, []).append(h.at)
    escalations = conn.execute(select(escalation_facts).where(
        escalation_facts.c.callout_id.in_(callout_ids), escalation_facts.c.escalated_at <= as_of)).all() \
        if callout_ids else []
    facts = PeriodFacts(
        callouts=tuple(_callout(r) for r in callouts),
        returns=tuple(_return(r) for r in callouts if r.returned_at is not None and r.returned_at <= as_of),
        escalations=tuple(EscalationFact(
            escalation_id=r.escalation_id, callout_id=r.callout_id, whistle_id=r.whistle_id,
            department=r.department_code, street=r.street_code, step=r.step, tier=r.tier,
            escalated_at=r.escalated_at) for r in escalations),
        whistles=tuple(WhistleFact(
            whistle_id=r.whistle_id, street=r.street_code, category=r.category, urgency=r.urgency,
            source=r.source, raised_at=r.raised_at, place=r.place,
            closures=tuple(sorted(closures.get(r.whistle_id, ()))),
            reopenings=tuple(sorted(reopenings.get(r.whistle_id, ())))) for r in whistles),
        follow_ups=tuple(FollowUpFact(follow_up_id=r.follow_up_id, whistle_id=r.whistle_id, street=r.street_code,
                                      rating=r.rating, recorded_at=r.recorded_at, reopened=r.reopened)
                         for r in follow_ups))
    return PeriodFacts(callouts=facts.callouts, returns=facts.returns, escalations=facts.escalations,
                       whistles=facts.whistles, follow_ups=facts.follow_ups,
                       decisions=tuple(decisions_about(conn, facts, as_of)))


def decisions_about(conn: Connection, facts: PeriodFacts, as_of: Optional[datetime] = None) -> Iterable[Decision]:
    """The decisions recorded (by `as_of`) about any of these facts."""
    refs = {x.ref for x in (*facts.callouts, *facts.returns, *facts.escalations, *facts.whistles,
                            *facts.follow_ups)}
    if not refs:
        return []
    d = assessment_decisions.c
    query = select(assessment_decisions).where(d.fact_id.in_({r.id for r in refs}))
    if as_of is not None:
        query = query.where(d.decided_at <= as_of)
    return [decision_of(r) for r in conn.execute(query.order_by(d.decided_at, d.decision_id))
            if FactRef(r.fact_kind, r.fact_id) in refs]

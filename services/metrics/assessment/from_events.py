"""The assessment's facts folded from the bus events themselves, pure: the reference for the read model.

`facts_from_events(events)` takes the events as the metrics service receives them (in any order,
redeliveries included: an event_id seen twice counts once) and returns the PeriodFacts the
assessment needs. The metrics service keeps the same facts in its read model; this fold says what
each field comes from, and a test can recompute an assessment from raw events with it.

Where a field comes from:
  call-out      CalloutIssued, or the call-out's part of CalloutsIssued (ids, department, street, category,
                urgency, deadlines, issued_at, round)
                + CalloutCheckedIn / CalloutArrived / CalloutCompleted (the step's time and on_time)
  return        CalloutReturned: rerouted_to set → "rerouted"; arbitration_id set → "pending" until
                ArbitrationDecided names the department that must act: the returning one →
                "unjustified", another → "justified"
  escalation    CalloutEscalated (escalation_id is its event_id)
  whistle       WhistleRaised (place: the grid code, or the address without one)
                + WhistleClosed.closed_at, WhistleReopened.reopened_at
  follow-up     FollowUpRecorded (follow_up_id is its event_id; recorded_at its occurred_at)
A step whose call-out was never issued (its CalloutIssued not received) is left out: without the
call-out's deadlines it cannot be assessed.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from services.common.events import (ArbitrationDecided, CalloutArrived, CalloutCheckedIn, CalloutCompleted,
                                    CalloutEscalated, CalloutIssued, CalloutReturned, CalloutsIssued, Event,
                                    FollowUpRecorded, WhistleClosed, WhistleRaised, WhistleReopened)
from services.metrics.assessment.facts import (CalloutFact, Decision, EscalationFact, FollowUpFact, PeriodFacts,
                                               ReturnFact, WhistleFact)


def facts_from_events(events: Iterable[Event], decisions: Iterable[Decision] = ()) -> PeriodFacts:
    seen: set[str] = set()
    unique: list[Event] = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            unique.append(event)

    callouts: dict[str, CalloutFact] = {}
    whistles: dict[str, WhistleFact] = {}
    for e in unique:
        if isinstance(e, CalloutIssued):
            callouts[e.callout_id] = CalloutFact(
                callout_id=e.callout_id, whistle_id=e.whistle_id, department=e.department_code,
                street=e.street_code, category=e.category, urgency=e.urgency, issued_at=e.issued_at,
                check_in_by=e.deadlines.check_in_by, arrival_by=e.deadlines.arrival_by,
                completion_by=e.deadlines.completion_by, round=e.round)
        elif isinstance(e, CalloutsIssued):
            for c in e.callouts:
                callouts[c.callout_id] = CalloutFact(
                    callout_id=c.callout_id, whistle_id=e.whistle_id, department=c.department_code,
                    street=e.street_code, category=e.category, urgency=e.urgency, issued_at=c.issued_at,
                    check_in_by=c.deadlines.check_in_by, arrival_by=c.deadlines.arrival_by,
                    completion_by=c.deadlines.completion_by, round=e.round)
        elif isinstance(e, WhistleRaised):
            whistles[e.whistle_id] = WhistleFact(
                whistle_id=e.whistle_id, street=e.street_code, category=e.category, urgency=e.urgency,
                source=e.source, raised_at=e.raised_at, place=e.grid_code or e.place.address)

    def first(current, at):
        return current is None or at < current

    for e in sorted(unique, key=lambda x: x.occurred_at):
        c = callouts.get(getattr(e, "callout_id", None))
        if isinstance(e, CalloutCheckedIn) and c and first(c.checked_in_at, e.checked_in_at):
            callouts[c.callout_id] = replace(c, checked_in_at=e.checked_in_at, check_in_on_time=e.on_time)
        elif isinstance(e, CalloutArrived) and c and first(c.arrived_at, e.arrived_at):
            callouts[c.callout_id] = replace(c, arrived_at=e.arrived_at, arrival_on_time=e.on_time)
        elif isinstance(e, CalloutCompleted) and c and first(c.completed_at, e.completed_at):
            callouts[c.callout_id] = replace(c, completed_at=e.completed_at, completion_on_time=e.on_time)
        elif isinstance(e, WhistleClosed) and e.whistle_id in whistles:
            w = whistles[e.whistle_id]
            whistles[w.whistle_id] = replace(w, closures=tuple(sorted((*w.closures, e.closed_at))))
        elif isinstance(e, WhistleReopened) and e.whistle_id in whistles:
            w = whistles[e.whistle_id]
            whistles[w.whistle_id] = replace(w, reopenings=tuple(sorted((*w.reopenings, e.reopened_at))))

    decided = {e.arbitration_id: e.department_code for e in unique if isinstance(e, ArbitrationDecided)}
    returns = []
    for e in unique:
        if isinstance(e, CalloutReturned) and e.callout_id in callouts:
            if e.rerouted_to:
                verdict = "rerouted"
            elif e.arbitration_id in decided and decided[e.arbitration_id]:
                verdict = "unjustified" if decided[e.arbitration_id] == e.department_code else "justified"
            else:
                verdict = "pending"
            returns.append(ReturnFact(callout_id=e.callout_id, whistle_id=e.whistle_id, department=e.department_code,
                                      street=e.street_code, returned_at=e.returned_at, verdict=verdict,
                                      reason=e.reason))
    escalations = tuple(EscalationFact(
        escalation_id=e.event_id, callout_id=e.callout_id, whistle_id=e.whistle_id, department=e.department_code,
        street=e.street_code, step=e.step, tier=e.tier, escalated_at=e.escalated_at)
        for e in unique if isinstance(e, CalloutEscalated) and e.callout_id in callouts)
    follow_ups = tuple(FollowUpFact(
        follow_up_id=e.event_id, whistle_id=e.whistle_id, street=e.street_code, rating=e.rating,
        recorded_at=e.occurred_at, reopened=e.reopened) for e in unique if isinstance(e, FollowUpRecorded))
    return PeriodFacts(callouts=tuple(callouts.values()), returns=tuple(returns), escalations=escalations,
                       whistles=tuple(whistles.values()), follow_ups=follow_ups, decisions=tuple(decisions))

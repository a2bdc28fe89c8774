"""Whistle rules, pure: validity, the round-aware status machine, closure, send-back, follow-up, duplicates."""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Iterable

from services.common.errors import Conflict, Invalid, NotFound
from services.common.events import (AllCheckedIn, AllCompleted, ArbitrationDecided, ArbitrationOpened,
                                    ArbitrationOverdue, CalloutArrived, CalloutCheckedIn, CalloutCompleted,
                                    CalloutEscalated, CalloutIssued, CalloutReturned, CalloutsIssued, CalloutStep,
                                    CloseWhistle,
                                    Event,
                                    FieldError, FollowUp, FollowUpRecorded, RaiseWhistle, SendBack,
                                    TeamAssembled, WhistleClosed, WhistleOutcome,
                                    WhistleReopened, WhistleSentBack, iso)
from services.common.geo import distance_m
from services.common.reference import ReferenceData

# raised → (locating) → dispatched → all_checked_in → all_completed → closed; all_completed → sent_back
# and closed → reopened start the next round, whose first call-out makes it dispatched again.
# linked: a second report of a problem already open; it never moves.
STATUSES = ("raised", "locating", "dispatched", "all_checked_in", "all_completed", "closed", "sent_back",
            "reopened", "linked")
WAITING = ("raised", "locating", "sent_back", "reopened")     # a round with no call-out seen yet
NOT_OPEN = ("closed", "linked")                               # never joined by a new report
PLACE_DISPUTES = ("unowned_place", "disputed_place")


class InvalidWhistle(Invalid):
    what = "invalid whistle"


class InvalidRequest(Invalid):
    what = "invalid request"


class NoSuchWhistle(NotFound):
    what = "no such whistle"


class IllegalAction(Conflict):
    """The whistle's status or owner does not allow this now (HTTP 409)."""

    what = "not allowed"


# ---------------------------------------------------------------- raising

def check_against_reference(command: RaiseWhistle, reference: ReferenceData) -> tuple[FieldError, ...]:
    errors = []
    street = reference.street(command.street_code)
    if street is None:
        errors.append(FieldError(field="street_code", message=f"unknown street {command.street_code!r}"))
    elif command.grid_code is not None and command.grid_code not in street.grid_codes:
        errors.append(FieldError(field="grid_code",
                                 message=f"grid {command.grid_code!r} is not in street {command.street_code!r}"))
    if reference.category(command.category) is None:
        errors.append(FieldError(field="category", message=f"unknown category {command.category!r}"))
    return tuple(errors)


def street_in_routing_key(routing_key: str) -> str | None:
    match = re.fullmatch(r"raise\.([a-z][a-z0-9_-]{0,62})", routing_key)
    return match.group(1) if match else None


def verify_sender(command: RaiseWhistle, routing_key: str) -> tuple[FieldError, ...]:
    """A street raises on its own routing key only, so broker permissions can confine it."""
    street = street_in_routing_key(routing_key)
    if street != command.street_code:
        return (FieldError(field="street_code",
                           message=f"{command.street_code!r} does not match routing key {routing_key!r}"),)
    return ()


def rejected_outcome(payload: dict, routing_key: str, errors: tuple[FieldError, ...]) -> WhistleOutcome:
    """What a street hears back about a request that could not be accepted."""
    request_id = payload.get("request_id") if isinstance(payload.get("request_id"), str) else None
    street = street_in_routing_key(routing_key) or "unknown"
    return WhistleOutcome(request_id=(request_id or "").strip()[:128] or "(missing)", street_code=street,
                          outcome="rejected", errors=errors)


# ---------------------------------------------------------------- duplicates

@dataclass(frozen=True)
class Candidate:
    whistle_id: str
    category: str
    status: str
    lon: float | None
    lat: float | None


def duplicate_of(category: str, lon: float | None, lat: float | None, candidates: Iterable[Candidate],
                 radius_m: float) -> tuple[str, float] | None:
    """(id, metres) of the nearest open whistle of the same category within radius_m, or None.

    Ties go to the earlier candidate (pass them oldest first). A radius of 0 turns linking off."""
    if lon is None or lat is None or radius_m <= 0:
        return None
    best = None
    for c in candidates:
        if c.category != category or c.status in NOT_OPEN or c.lon is None or c.lat is None:
            continue
        metres = distance_m(lon, lat, c.lon, c.lat)
        if metres <= radius_m and (best is None or metres < best[1]):
            best = (c.whistle_id, metres)
    return best


# ---------------------------------------------------------------- the status machine

@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    actor: str
    summary: str
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class WhistleState:
    """What the rules need of a whistle; `round` is the round in progress (or asked for)."""

    whistle_id: str
    street_code: str
    status: str
    round: int
    round_started_at: datetime                  # raised, sent back or reopened (the whistle's clock)
    completed: tuple[str, ...] = ()             # departments of the current round's AllCompleted
    followed_up: bool = False                   # the last closure already has its follow-up
    linked_to: str | None = None


def _dispatched_by(state: WhistleState, event: CalloutsIssued) -> WhistleState:
    """Call-outs of an older round are history; those of this round start it or, issued to a
    department not among those that completed (added, rerouted, arbitrated), reopen the work."""
    if event.round > state.round:   # only if the whistle missed its own round change: follow dispatch
        return replace(state, status="dispatched", round=event.round, completed=())
    if event.round < state.round:
        return state
    if state.status in WAITING or (state.status == "all_completed" and any(
            c.department_code not in state.completed for c in event.callouts)):
        return replace(state, status="dispatched")
    return state


def next_state(state: WhistleState, event: Event) -> WhistleState:
    """The whistle after one dispatch or roster event; a late event of an older round changes nothing."""
    if state.status == "linked":
        return state
    if isinstance(event, CalloutsIssued):
        return _dispatched_by(state, event)
    if isinstance(event, CalloutStep):
        # steps carry no round; only a whistle still waiting for its first round learns from them
        return replace(state, status="dispatched") if state.status in ("raised", "locating") else state
    if isinstance(event, ArbitrationOpened):
        placing = event.reason in PLACE_DISPUTES and state.status == "raised"
        return replace(state, status="locating") if placing else state
    if isinstance(event, AllCheckedIn):
        # no round on the event: one whose last check-in predates this round belongs to an older one
        current = event.last_checked_in_at >= state.round_started_at
        ahead = state.status in (*WAITING, "dispatched")       # it may overtake its round's call-outs
        return replace(state, status="all_checked_in") if current and ahead else state
    if isinstance(event, AllCompleted):
        if event.round == state.round and state.status in (*WAITING, "dispatched", "all_checked_in"):
            return replace(state, status="all_completed", completed=event.departments)
        return state
    if isinstance(event, (ArbitrationDecided, ArbitrationOverdue, TeamAssembled)):
        return state
    raise TypeError(f"no progress rule for {type(event).__name__}")


def _late(on_time: bool) -> str:
    return "" if on_time else " (late)"


def timeline_entries(event: Event) -> list[TimelineEntry]:
    """The whistle's timeline lines for one dispatch or roster event: one each, but call-outs issued
    together give a line per department (after where the whistle was located, if it just was)."""
    if not isinstance(event, CalloutsIssued):
        return [timeline_entry(event)]
    lines = []
    if event.located_by is not None:
        where = event.grid_code or "no grid"
        lines.append(TimelineEntry(
            event.occurred_at, "whistle.located", "dispatch",
            f"located in {where} ({'responsibility map' if event.located_by == 'map' else 'as given'})",
            {"grid_code": event.grid_code, "community_code": event.community_code, "method": event.located_by}))
    for callout in event.callouts:
        lines.append(TimelineEntry(
            callout.issued_at, CalloutIssued.event_type, callout.department_code,
            f"call-out to {callout.department_name_zh} ({callout.role}, round {event.round}, {event.reason}), "
            f"check in by {iso(callout.deadlines.check_in_by)}",
            {"callout_id": callout.callout_id, "role": callout.role, "round": event.round, "reason": event.reason,
             "deadlines": callout.deadlines.model_dump(mode="json")}))
    return lines


def timeline_entry(event: Event) -> TimelineEntry:
    """The whistle's timeline line for one dispatch or roster event: who, what, when, with evidence."""
    if isinstance(event, CalloutCheckedIn):
        return TimelineEntry(
            event.checked_in_at, event.event_type, event.department_code,
            f"{event.department_code} checked in, {event.officer} coming{_late(event.on_time)}",
            {"callout_id": event.callout_id, "officer": event.officer, "on_time": event.on_time})
    if isinstance(event, CalloutArrived):
        return TimelineEntry(
            event.arrived_at, event.event_type, event.department_code,
            f"{event.officer} of {event.department_code} on site at {event.location.address}{_late(event.on_time)}",
            {"callout_id": event.callout_id, "officer": event.officer,
             "location": event.location.model_dump(mode="json"), "evidence_ref": event.evidence_ref,
             "on_time": event.on_time})
    if isinstance(event, CalloutCompleted):
        return TimelineEntry(
            event.completed_at, event.event_type, event.department_code,
            f"{event.department_code} completed: {event.summary}{_late(event.on_time)}",
            {"callout_id": event.callout_id, "summary": event.summary,
             "evidence_refs": list(event.evidence_refs), "on_time": event.on_time})
    if isinstance(event, CalloutReturned):
        went = (f"re-routed to {event.rerouted_to}" if event.rerouted_to
                else f"sent to arbitration {event.arbitration_id}" if event.arbitration_id else "not re-routed")
        return TimelineEntry(
            event.returned_at, event.event_type, event.department_code,
            f"{event.department_code} returned the call-out ({event.reason}); {went}",
            {"callout_id": event.callout_id, "reason": event.reason, "rerouted_to": event.rerouted_to,
             "arbitration_id": event.arbitration_id})
    if isinstance(event, CalloutEscalated):
        return TimelineEntry(
            event.escalated_at, event.event_type, event.chased_by,
            f"{event.department_code} missed its {event.step} deadline ({iso(event.due_at)}): escalated to the "
            f"{event.tier} tier, {event.chased_by_name_zh} chases it",
            {"callout_id": event.callout_id, "department_code": event.department_code, "step": event.step,
             "due_at": iso(event.due_at), "level": event.level, "tier": event.tier,
             "chased_by": event.chased_by})
    if isinstance(event, ArbitrationOpened):
        return TimelineEntry(
            event.occurred_at, event.event_type, "dispatch",
            f"arbitration opened ({event.reason}), to be decided by {iso(event.decide_by)}",
            {"arbitration_id": event.arbitration_id, "reason": event.reason,
             "candidates": list(event.candidates), "decide_by": iso(event.decide_by)})
    if isinstance(event, ArbitrationOverdue):
        return TimelineEntry(
            event.escalated_at, event.event_type, event.chased_by,
            f"arbitration not decided by {iso(event.decide_by)}: escalated, {event.chased_by_name_zh} chases it",
            {"arbitration_id": event.arbitration_id, "reason": event.reason, "chased_by": event.chased_by})
    if isinstance(event, ArbitrationDecided):
        decision = " and ".join(f"{k} {v}" for k, v in (("grid", event.grid_code),
                                                        ("department", event.department_code)) if v)
        return TimelineEntry(
            event.decided_at, event.event_type, event.decided_by,
            f"arbitration decided by {event.decided_by}: {decision or 'no change'}",
            {"arbitration_id": event.arbitration_id, "grid_code": event.grid_code,
             "department_code": event.department_code})
    if isinstance(event, AllCheckedIn):
        return TimelineEntry(
            event.last_checked_in_at, event.event_type, "dispatch",
            f"all {len(event.departments)} departments checked in", {"departments": list(event.departments)})
    if isinstance(event, AllCompleted):
        return TimelineEntry(
            event.completed_at, event.event_type, "dispatch",
            f"all {len(event.departments)} departments completed round {event.round}; the street may close it",
            {"departments": list(event.departments), "round": event.round})
    if isinstance(event, TeamAssembled):
        members = ", ".join(f"{m.name} ({m.department_code})" for m in event.members)
        return TimelineEntry(
            event.occurred_at, event.event_type, "roster",
            f"joint team led by {event.lead.name}: {members}"
            + (f"; nobody on duty at {', '.join(event.gaps)}" if event.gaps else ""),
            {"team_id": event.team_id, "gaps": list(event.gaps)})
    raise TypeError(f"no progress rule for {type(event).__name__}")


def apply_progress(state: WhistleState, event: Event) -> tuple[WhistleState, list[TimelineEntry]]:
    return next_state(state, event), timeline_entries(event)


# ---------------------------------------------------------------- what the street decides

def _owned(state: WhistleState, street_code: str) -> list[FieldError]:
    if street_code != state.street_code:
        return [FieldError(field="street_code", message=f"whistle {state.whistle_id} belongs to street "
                                                        f"{state.street_code}, not {street_code}")]
    return []


def _needs(state: WhistleState, status: str, action: str, why: str) -> list[FieldError]:
    if state.status == "linked":
        return [FieldError(field="whistle_id", message=f"whistle {state.whistle_id} joined whistle "
                                                       f"{state.linked_to}; that one is {action} instead")]
    if state.status != status:
        return [FieldError(field="status", message=f"whistle {state.whistle_id} is {state.status}; "
                                                   f"it can be {action} only when {why}")]
    return []


def close(state: WhistleState, command: CloseWhistle, now: datetime) -> tuple[WhistleState, WhistleClosed,
                                                                            TimelineEntry]:
    """销号: the street confirms the work with 两图一表, once every department completed."""
    errors = _owned(state, command.street_code) + _needs(
        state, "all_completed", "closed", "every department has completed (all_completed)")
    if errors:
        raise IllegalAction(errors)
    closed = WhistleClosed(whistle_id=state.whistle_id, street_code=state.street_code,
                           confirmed_by=command.confirmed_by, evidence=command.evidence, closed_at=now,
                           occurred_at=now)
    entry = TimelineEntry(now, closed.event_type, command.confirmed_by,
                          f"{state.street_code} closed the whistle (round {state.round}) with before/after "
                          f"photos and a {len(command.evidence.checklist)}-item checklist",
                          {"evidence": command.evidence.model_dump(mode="json"), "round": state.round})
    return replace(state, status="closed", followed_up=False), closed, entry


def send_back(state: WhistleState, command: SendBack, departments: frozenset[str],
              now: datetime) -> tuple[WhistleState, WhistleSentBack, TimelineEntry]:
    """The street does not accept the work: the named departments (or all) do it again in a new round."""
    unknown = [d for d in command.departments if d not in departments]
    if unknown:
        raise InvalidRequest.one("departments", f"unknown department {', '.join(map(repr, unknown))}")
    errors = _owned(state, command.street_code) + _needs(
        state, "all_completed", "sent back", "every department has completed (all_completed)")
    absent = [d for d in command.departments if d not in state.completed]
    if absent and not errors:
        errors.append(FieldError(field="departments", message=f"{', '.join(absent)} did not complete round "
                                                              f"{state.round} of whistle {state.whistle_id}"))
    if errors:
        raise IllegalAction(errors)
    event = WhistleSentBack(whistle_id=state.whistle_id, street_code=state.street_code, by=command.by,
                            reason=command.reason, departments=command.departments, sent_back_at=now,
                            occurred_at=now)
    who = ", ".join(command.departments) or "every department"
    entry = TimelineEntry(now, event.event_type, command.by,
                          f"{state.street_code} sent round {state.round} back to {who}: {command.reason}",
                          {"reason": command.reason, "departments": list(command.departments),
                           "round": state.round + 1})
    return (replace(state, status="sent_back", round=state.round + 1, round_started_at=now, completed=()),
            event, entry)


def follow_up(state: WhistleState, command: FollowUp, now: datetime) -> tuple[WhistleState, list[Event],
                                                                              list[TimelineEntry]]:
    """回访: one rating per closure; an unsatisfied one may reopen the case for a new round."""
    errors = _needs(state, "closed", "followed up", "it is closed")
    if not errors and state.followed_up:
        errors.append(FieldError(field="whistle_id",
                                 message=f"the closure of whistle {state.whistle_id} already has its follow-up"))
    if command.reopen and command.rating != "unsatisfied":
        errors.append(FieldError(field="reopen", message=f"only an unsatisfied follow-up can reopen the case, "
                                                         f"not a {command.rating} one"))
    if errors:
        raise IllegalAction(errors)
    recorded = FollowUpRecorded(whistle_id=state.whistle_id, street_code=state.street_code,
                                rating=command.rating, comment=command.comment, recorded_by=command.recorded_by,
                                reopened=command.reopen, occurred_at=now)
    entries = [TimelineEntry(now, recorded.event_type, command.recorded_by,
                             f"follow-up: {command.rating}" + (f" ({command.comment})" if command.comment else ""),
                             {"rating": command.rating, "comment": command.comment, "reopen": command.reopen})]
    if not command.reopen:
        return replace(state, followed_up=True), [recorded], entries
    reason = "the complainant is unsatisfied" + (f": {command.comment}" if command.comment else "")
    reopened = WhistleReopened(whistle_id=state.whistle_id, street_code=state.street_code, reason=reason,
                               reopened_at=now, occurred_at=now)
    entries.append(TimelineEntry(now, reopened.event_type, command.recorded_by,
                                 f"reopened for round {state.round + 1}: {reason}",
                                 {"reason": reason, "round": state.round + 1}))
    return (replace(state, status="reopened", round=state.round + 1, round_started_at=now, completed=(),
                    followed_up=True), [recorded, reopened], entries)

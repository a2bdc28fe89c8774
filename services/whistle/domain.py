"""Whistle rules, pure: validity, the round-aware status machine, closure, send-back, follow-up, duplicates."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Iterable

from services.common.errors import Conflict, Invalid, NotFound
from services.common.events import (AllCheckedIn, AllCompleted, ArbitrationDecided, ArbitrationOpened,
                                    ArbitrationOverdue, CalloutArrived, CalloutCheckedIn, CalloutCompleted,
                                    CalloutEscalated, CalloutIssued, CalloutReturned, CalloutsIssued, CalloutStep,
                                    CloseWhistle, Event,
                                    FieldError, FollowUp, FollowUpRecorded, MemberCheckedIn, RaiseWhistle,
                                    RosterGapEscalated,
                                    SendBack, TeamAssembled, WhistleClosed, WhistleLinked, WhistleOutcome,
                                    WhistleRaised, WhistleReopened, WhistleSentBack, iso)
from services.common.field_errors import (ALREADY_FOLLOWED_UP, CLOSE_NOT_YET, DID_NOT_COMPLETE_WHISTLE_ROUND,
                                          FOLLOW_UP_NOT_YET, GRID_NOT_IN_STREET, LINKED_CLOSE, LINKED_FOLLOW_UP,
                                          LINKED_SEND_BACK, NOT_THE_STREETS, ONLY_UNSATISFIED_REOPENS,
                                          ROUTING_KEY_MISMATCH, SEND_BACK_NOT_YET, UNKNOWN_CATEGORY,
                                          UNKNOWN_DEPARTMENTS, UNKNOWN_STREET, Refusal)
from services.common.geo import distance_m
from services.common.reference import ReferenceData
from services.whistle.timeline import TimelineEntry, line

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
        errors.append(FieldError(field="street_code", message=UNKNOWN_STREET.english(street=command.street_code)))
    elif command.grid_code is not None and command.grid_code not in street.grid_codes:
        errors.append(FieldError(field="grid_code", message=GRID_NOT_IN_STREET.english(
            grid=command.grid_code, street=command.street_code)))
    if reference.category(command.category) is None:
        errors.append(FieldError(field="category", message=UNKNOWN_CATEGORY.english(category=command.category)))
    return tuple(errors)


def street_in_routing_key(routing_key: str) -> str | None:
    match = re.fullmatch(r"raise\.([a-z][a-z0-9_-]{0,62})", routing_key)
    return match.group(1) if match else None


def verify_sender(command: RaiseWhistle, routing_key: str) -> tuple[FieldError, ...]:
    """A street raises on its own routing key only, so broker permissions can confine it."""
    street = street_in_routing_key(routing_key)
    if street != command.street_code:
        return (FieldError(field="street_code", message=ROUTING_KEY_MISMATCH.english(
            street=command.street_code, routing_key=routing_key)),)
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
    if isinstance(event, (ArbitrationDecided, ArbitrationOverdue, TeamAssembled, MemberCheckedIn,
                          RosterGapEscalated)):
        return state
    raise TypeError(f"no progress rule for {type(event).__name__}")


def timeline_entries(event: Event, reference: ReferenceData | None = None) -> list[TimelineEntry]:
    """The whistle's timeline lines for one dispatch or roster event: one each, but call-outs issued
    together give a line per department (after where the whistle was located, if it just was).

    An event a principal caused (its `by`: a department's report, the district's decision or added
    department) names it in each line's `detail["principal"]`."""
    by = getattr(event, "by", None)
    lines = _entries(event, reference)
    if by is None:
        return lines
    return [replace(entry, detail={**entry.detail, "principal": by.model_dump(mode="json")}) for entry in lines]


def _entries(event: Event, reference: ReferenceData | None) -> list[TimelineEntry]:
    if not isinstance(event, CalloutsIssued):
        return [timeline_entry(event, reference)]
    lines = []
    if event.located_by is not None:
        located = ("whistle.located", {"grid": event.grid_code, "method": event.located_by}) if event.grid_code \
            else ("whistle.located.no_grid", {"method": event.located_by})
        lines.append(line(event.occurred_at, "whistle.located", "dispatch", *located,
                          {"grid_code": event.grid_code, "community_code": event.community_code,
                           "method": event.located_by}, reference))
    for c in event.callouts:
        lines.append(line(
            c.issued_at, CalloutIssued.event_type, c.department_code, "callout.issued",
            {"department": c.department_code, "role": c.role, "round": event.round, "reason": event.reason,
             "check_in_by": iso(c.deadlines.check_in_by)},
            {"callout_id": c.callout_id, "role": c.role, "round": event.round, "reason": event.reason,
             "deadlines": c.deadlines.model_dump(mode="json")}, reference))
    return lines


def timeline_entry(event: Event, reference: ReferenceData | None = None) -> TimelineEntry:
    """The whistle's timeline line for one dispatch or roster event: who, what, when, with evidence.

    `reference` names streets, departments... in the line's zh-CN summary; without it codes stand in."""
    def entry(at, actor, message, params, detail):
        return line(at, event.event_type, actor, message, params, detail, reference)

    if isinstance(event, CalloutCheckedIn):
        return entry(
            event.checked_in_at, event.department_code, "callout.checked_in",
            {"department": event.department_code, "officer": event.officer, "on_time": event.on_time},
            {"callout_id": event.callout_id, "officer": event.officer, "on_time": event.on_time})
    if isinstance(event, CalloutArrived):
        return entry(
            event.arrived_at, event.department_code, "callout.arrived",
            {"department": event.department_code, "officer": event.officer, "address": event.location.address,
             "on_time": event.on_time},
            {"callout_id": event.callout_id, "officer": event.officer,
             "location": event.location.model_dump(mode="json"), "evidence_ref": event.evidence_ref,
             "on_time": event.on_time})
    if isinstance(event, CalloutCompleted):
        return entry(
            event.completed_at, event.department_code, "callout.completed",
            {"department": event.department_code, "summary": event.summary, "on_time": event.on_time},
            {"callout_id": event.callout_id, "summary": event.summary,
             "evidence_refs": list(event.evidence_refs), "on_time": event.on_time})
    if isinstance(event, CalloutReturned):
        params = {"department": event.department_code, "reason": event.reason}
        if event.rerouted_to:
            message, params["rerouted_to"] = "callout.returned.rerouted", event.rerouted_to
        elif event.arbitration_id:
            message, params["arbitration"] = "callout.returned.arbitration", event.arbitration_id
        else:
            message = "callout.returned"
        return entry(
            event.returned_at, event.department_code, message, params,
            {"callout_id": event.callout_id, "reason": event.reason, "rerouted_to": event.rerouted_to,
             "arbitration_id": event.arbitration_id})
    if isinstance(event, CalloutEscalated):
        return entry(
            event.escalated_at, event.chased_by, "callout.escalated",
            {"department": event.department_code, "step": event.step, "due_at": iso(event.due_at),
             "tier": event.tier, "chaser": {"code": event.chased_by, "name_zh": event.chased_by_name_zh}},
            {"callout_id": event.callout_id, "department_code": event.department_code, "step": event.step,
             "due_at": iso(event.due_at), "level": event.level, "tier": event.tier,
             "chased_by": event.chased_by})
    if isinstance(event, ArbitrationOpened):
        return entry(
            event.occurred_at, "dispatch", "arbitration.opened",
            {"reason": event.reason, "decide_by": iso(event.decide_by)},
            {"arbitration_id": event.arbitration_id, "reason": event.reason,
             "candidates": list(event.candidates), "decide_by": iso(event.decide_by)})
    if isinstance(event, ArbitrationOverdue):
        return entry(
            event.escalated_at, event.chased_by, "arbitration.overdue",
            {"decide_by": iso(event.decide_by),
             "chaser": {"code": event.chased_by, "name_zh": event.chased_by_name_zh}},
            {"arbitration_id": event.arbitration_id, "reason": event.reason, "chased_by": event.chased_by})
    if isinstance(event, ArbitrationDecided):
        decided = {"grid": event.grid_code, "department": event.department_code}
        message = {(True, True): "arbitration.decided.both", (True, False): "arbitration.decided.grid",
                   (False, True): "arbitration.decided.department",
                   (False, False): "arbitration.decided.no_change"}[(bool(event.grid_code),
                                                                     bool(event.department_code))]
        return entry(
            event.decided_at, event.decided_by, message,
            {"by": event.decided_by, **{k: v for k, v in decided.items() if v}},
            {"arbitration_id": event.arbitration_id, "grid_code": event.grid_code,
             "department_code": event.department_code})
    if isinstance(event, AllCheckedIn):
        return entry(
            event.last_checked_in_at, "dispatch", "whistle.all_checked_in", {"count": len(event.departments)},
            {"departments": list(event.departments)})
    if isinstance(event, AllCompleted):
        return entry(
            event.completed_at, "dispatch", "whistle.all_completed",
            {"count": len(event.departments), "round": event.round},
            {"departments": list(event.departments), "round": event.round})
    if isinstance(event, TeamAssembled):
        # the quorum checked in: the team is on site
        params = {"members": [{"name": m.name, "department": m.department_code} for m in event.members]}
        if event.lead is not None:
            params["lead"] = event.lead.name
        if event.gaps:
            params["gaps"] = list(event.gaps)
        message = "team.on_site.no_lead" if event.lead is None else "team.on_site.gaps" if event.gaps \
            else "team.on_site"
        return entry(
            event.assembled_at, "roster", message, params,
            {"team_id": event.team_id, "round": event.round, "gaps": list(event.gaps),
             "members": [m.officer_code for m in event.members]})
    if isinstance(event, MemberCheckedIn):
        return entry(
            event.checked_in_at, event.department_code, "team.member_checked_in",
            {"officer": event.officer.name, "department": event.department_code, "on_time": event.on_time},
            {"team_id": event.team_id, "officer_code": event.officer.officer_code, "on_time": event.on_time})
    if isinstance(event, RosterGapEscalated):
        return entry(
            event.escalated_at, event.chased_by, "roster.gap_escalated",
            {"department": event.department_code, "reason": event.reason, "since": iso(event.detected_at),
             "tier": event.tier, "chaser": {"code": event.chased_by, "name_zh": event.chased_by_name_zh}},
            {"team_id": event.team_id, "department_code": event.department_code, "reason": event.reason,
             "level": event.level, "tier": event.tier, "chased_by": event.chased_by})
    raise TypeError(f"no progress rule for {type(event).__name__}")


def apply_progress(state: WhistleState, event: Event,
                   reference: ReferenceData | None = None) -> tuple[WhistleState, list[TimelineEntry]]:
    return next_state(state, event), timeline_entries(event, reference)


def raised_line(raised: WhistleRaised, reference: ReferenceData | None = None) -> TimelineEntry:
    """The first line of a whistle's timeline."""
    return line(raised.raised_at, raised.event_type, raised.reported_by, "whistle.raised",
                {"street": raised.street_code, "category": raised.category, "urgency": raised.urgency,
                 "source": raised.source},
                {"source": raised.source, "request_id": raised.request_id}, reference)


def linked_lines(command: RaiseWhistle, linked: WhistleLinked, now: datetime,
                 reference: ReferenceData | None = None) -> tuple[TimelineEntry, TimelineEntry]:
    """A report that joined an open whistle: the line on the new report, and the line on the open whistle."""
    own = line(now, linked.event_type, command.reported_by, "whistle.linked",
               {"street": command.street_code, "category": command.category, "distance": linked.distance_m,
                "linked_to": linked.linked_to},
               {"source": command.source, "request_id": command.request_id, "linked_to": linked.linked_to,
                "distance_m": linked.distance_m}, reference)
    joined = line(now, "whistle.report_joined", command.reported_by, "whistle.report_joined",
                  {"description": command.description, "by": command.reported_by, "street": command.street_code,
                   "distance": linked.distance_m},
                  {"whistle_id": linked.whistle_id, "source": command.source, "address": command.place.address,
                   "distance_m": linked.distance_m}, reference)
    return own, joined


# ---------------------------------------------------------------- what the street decides

def _owned(state: WhistleState, street_code: str) -> list[FieldError]:
    if street_code != state.street_code:
        return [FieldError(field="street_code", message=NOT_THE_STREETS.english(
            whistle=state.whistle_id, owner=state.street_code, street=street_code))]
    return []


def _needs(state: WhistleState, status: str, when_linked: Refusal, when_not: Refusal) -> list[FieldError]:
    if state.status == "linked":
        return [FieldError(field="whistle_id", message=when_linked.english(whistle=state.whistle_id,
                                                                           linked_to=state.linked_to))]
    if state.status != status:
        return [FieldError(field="status", message=when_not.english(whistle=state.whistle_id, status=state.status))]
    return []


def close(state: WhistleState, command: CloseWhistle, now: datetime,
          reference: ReferenceData | None = None) -> tuple[WhistleState, WhistleClosed, TimelineEntry]:
    """销号: the street confirms the work with 两图一表, once every department completed."""
    errors = _owned(state, command.street_code) + _needs(state, "all_completed", LINKED_CLOSE, CLOSE_NOT_YET)
    if errors:
        raise IllegalAction(errors)
    closed = WhistleClosed(whistle_id=state.whistle_id, street_code=state.street_code,
                           confirmed_by=command.confirmed_by, evidence=command.evidence, closed_at=now,
                           occurred_at=now)
    entry = line(now, closed.event_type, command.confirmed_by, "whistle.closed",
                 {"street": state.street_code, "round": state.round, "items": len(command.evidence.checklist)},
                 {"evidence": command.evidence.model_dump(mode="json"), "round": state.round}, reference)
    return replace(state, status="closed", followed_up=False), closed, entry


def send_back(state: WhistleState, command: SendBack, departments: frozenset[str], now: datetime,
              reference: ReferenceData | None = None) -> tuple[WhistleState, WhistleSentBack, TimelineEntry]:
    """The street does not accept the work: the named departments (or all) do it again in a new round."""
    unknown = [d for d in command.departments if d not in departments]
    if unknown:
        raise InvalidRequest.one("departments", UNKNOWN_DEPARTMENTS.english(departments=", ".join(map(repr, unknown))))
    errors = _owned(state, command.street_code) + _needs(state, "all_completed", LINKED_SEND_BACK,
                                                         SEND_BACK_NOT_YET)
    absent = [d for d in command.departments if d not in state.completed]
    if absent and not errors:
        errors.append(FieldError(field="departments", message=DID_NOT_COMPLETE_WHISTLE_ROUND.english(
            departments=", ".join(absent), round=state.round, whistle=state.whistle_id)))
    if errors:
        raise IllegalAction(errors)
    event = WhistleSentBack(whistle_id=state.whistle_id, street_code=state.street_code, by=command.by,
                            reason=command.reason, departments=command.departments, sent_back_at=now,
                            occurred_at=now)
    params = {"street": state.street_code, "round": state.round, "reason": command.reason}
    if command.departments:
        message, params["departments"] = "whistle.sent_back", list(command.departments)
    else:
        message = "whistle.sent_back.all"
    entry = line(now, event.event_type, command.by, message, params,
                 {"reason": command.reason, "departments": list(command.departments), "round": state.round + 1},
                 reference)
    return (replace(state, status="sent_back", round=state.round + 1, round_started_at=now, completed=()),
            event, entry)


def follow_up(state: WhistleState, command: FollowUp, now: datetime, reference: ReferenceData | None = None
              ) -> tuple[WhistleState, list[Event], list[TimelineEntry]]:
    """回访: one rating per closure; an unsatisfied one may reopen the case for a new round."""
    errors = _needs(state, "closed", LINKED_FOLLOW_UP, FOLLOW_UP_NOT_YET)
    if not errors and state.followed_up:
        errors.append(FieldError(field="whistle_id", message=ALREADY_FOLLOWED_UP.english(whistle=state.whistle_id)))
    if command.reopen and command.rating != "unsatisfied":
        errors.append(FieldError(field="reopen", message=ONLY_UNSATISFIED_REOPENS.english(rating=command.rating)))
    if errors:
        raise IllegalAction(errors)
    recorded = FollowUpRecorded(whistle_id=state.whistle_id, street_code=state.street_code,
                                rating=command.rating, comment=command.comment, recorded_by=command.recorded_by,
                                reopened=command.reopen, occurred_at=now)
    commented = {"comment": command.comment} if command.comment else {}
    entries = [line(now, recorded.event_type, command.recorded_by,
                    "whistle.follow_up.comment" if commented else "whistle.follow_up",
                    {"rating": command.rating, **commented},
                    {"rating": command.rating, "comment": command.comment, "reopen": command.reopen}, reference)]
    if not command.reopen:
        return replace(state, followed_up=True), [recorded], entries
    reason = "the complainant is unsatisfied" + (f": {command.comment}" if command.comment else "")
    reopened = WhistleReopened(whistle_id=state.whistle_id, street_code=state.street_code, reason=reason,
                               reopened_at=now, occurred_at=now)
    entries.append(line(now, reopened.event_type, command.recorded_by,
                        "whistle.reopened.comment" if commented else "whistle.reopened",
                        {"round": state.round + 1, **commented}, {"reason": reason, "round": state.round + 1},
                        reference))
    return (replace(state, status="reopened", round=state.round + 1, round_started_at=now, completed=(),
                    followed_up=True), [recorded, reopened], entries)

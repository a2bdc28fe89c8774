"""Whistle rules, pure: what makes a whistle valid, and how progress events move its status and timeline."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from services.common.events import (AllCheckedIn, CalloutCheckedIn, CalloutIssued, Event, FieldError,
                                    RaiseWhistle, TeamAssembled, WhistleOutcome)
from services.common.reference import ReferenceData

# Status only moves forward through these; a late or repeated event never moves it back.
STATUSES = ("raised", "dispatched", "all_checked_in")


class InvalidWhistle(ValueError):
    """Raised for a whistle the reference data does not allow; names every bad field."""

    def __init__(self, errors: tuple[FieldError, ...]):
        self.errors = errors
        super().__init__("invalid whistle: " + "; ".join(f"{e.field}: {e.message}" for e in errors))


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


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    actor: str
    summary: str
    detail: dict = field(default_factory=dict)


def advance(status: str, target: str) -> str:
    return target if STATUSES.index(target) > STATUSES.index(status) else status


def apply_progress(status: str, event: Event) -> tuple[str, TimelineEntry]:
    """The whistle's next status and its timeline line for one dispatch or roster event."""
    if isinstance(event, CalloutIssued):
        return advance(status, "dispatched"), TimelineEntry(
            event.issued_at, event.event_type, event.department_code,
            f"call-out to {event.department_name_zh} ({event.role}), check in by "
            f"{event.deadlines.check_in_by.isoformat()}",
            {"callout_id": event.callout_id, "role": event.role,
             "deadlines": event.deadlines.model_dump(mode="json")})
    if isinstance(event, CalloutCheckedIn):
        return advance(status, "dispatched"), TimelineEntry(
            event.checked_in_at, event.event_type, event.department_code,
            f"{event.department_code} checked in, {event.officer} coming"
            + ("" if event.on_time else " (late)"),
            {"callout_id": event.callout_id, "officer": event.officer, "on_time": event.on_time})
    if isinstance(event, AllCheckedIn):
        return advance(status, "all_checked_in"), TimelineEntry(
            event.last_checked_in_at, event.event_type, "dispatch",
            f"all {len(event.departments)} departments checked in", {"departments": list(event.departments)})
    if isinstance(event, TeamAssembled):
        members = ", ".join(f"{m.name} ({m.department_code})" for m in event.members)
        return status, TimelineEntry(
            event.occurred_at, event.event_type, "roster",
            f"joint team led by {event.lead.name}: {members}"
            + (f"; nobody on duty at {', '.join(event.gaps)}" if event.gaps else ""),
            {"team_id": event.team_id, "gaps": list(event.gaps)})
    raise TypeError(f"no progress rule for {type(event).__name__}")

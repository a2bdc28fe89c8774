"""Rows of the tables below the whistle (grid events, their timeline, 12345 tickets, the complainants'
contacts kept apart: in orm.py) to and from their states."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from services.common.events import PersonalContact, Place
from services.whistle.domain import TimelineEntry
from services.whistle.grid_event import GridEventState
from services.whistle.hotline import TicketRecord

_COPIED = ("street_code", "community_code", "grid_code", "category", "source", "description", "reported_by",
           "status", "tier", "tier_since", "accept_by", "handle_by", "verification", "urgency", "signed_for_at",
           "handled_at", "closed_at", "outcome", "resolved_by", "summary", "whistle_id", "passed_up",
           "over_daily_cap", "ticket_id", "opened_at")


def state_values(state: GridEventState, now: datetime) -> dict[str, Any]:
    """The grid_events row of a state (insert: add request_id, the opening request's)."""
    return {"id": state.event_id, **{name: getattr(state, name) for name in _COPIED},
            "address": state.place.address, "lon": state.place.lon, "lat": state.place.lat,
            "photos": list(state.photos), "flagged": list(state.flagged), "requests": list(state.requests),
            "updated_at": now}


def state_of(row: Mapping[str, Any]) -> GridEventState:
    """The state of a grid_events row (row._mapping)."""
    return GridEventState(event_id=row["id"], **{name: row[name] for name in _COPIED},
                          place=Place(address=row["address"], lon=row["lon"], lat=row["lat"]),
                          photos=tuple(row["photos"]), flagged=tuple(row["flagged"]),
                          requests=tuple(row["requests"]))


def ticket_values(record: TicketRecord) -> dict[str, Any]:
    return {"ticket_id": record.ticket_id, "grid_event_id": record.grid_event_id, "street_code": record.street_code,
            "hotline_class": record.hotline_class, "received_at": record.received_at, "due_at": record.due_at,
            "answers": record.answers}


def ticket_of(row: Mapping[str, Any]) -> TicketRecord:
    return TicketRecord(**{k: row[k] for k in ("ticket_id", "grid_event_id", "street_code", "hotline_class",
                                               "received_at", "due_at", "answers")})


def contact_values(contact: PersonalContact, now: datetime) -> dict[str, Any]:
    return {**contact.model_dump(), "created_at": now}


def line_values(grid_event_id: str, entry: TimelineEntry, event_id: str | None = None) -> dict[str, Any]:
    return {"grid_event_id": grid_event_id, "at": entry.at, "kind": entry.kind, "actor": entry.actor,
            "summary": entry.summary, "detail": entry.detail, "event_id": event_id}

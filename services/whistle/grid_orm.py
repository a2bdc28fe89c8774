"""The whistle service's tables below the whistle (additive; to be merged into orm.py): grid events, their
timeline, 12345 tickets, and the complainants' contacts kept apart. Plus the row <-> state mapping."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import (JSON, Boolean, Column, Float, ForeignKey, Index, Integer, String, Table, Text,
                        UniqueConstraint)

from services.common.events import Place
from services.common.tables import Id, UtcDateTime
from services.whistle.contract_draft import PersonalContact
from services.whistle.domain import TimelineEntry
from services.whistle.grid_event import GridEventState
from services.whistle.hotline import TicketRecord
from services.whistle.orm import metadata

grid_events = Table(
    "grid_events", metadata,
    Column("id", String(36), primary_key=True),
    Column("request_id", String(128), nullable=False),
    Column("street_code", String(64), nullable=False),
    Column("community_code", String(64)),
    Column("grid_code", String(64)),
    Column("category", String(64), nullable=False),
    Column("source", String(32), nullable=False),
    Column("description", Text, nullable=False),
    Column("address", String(200), nullable=False),
    Column("lon", Float),
    Column("lat", Float),
    Column("photos", JSON, nullable=False),
    Column("reported_by", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("tier", String(16), nullable=False),
    Column("tier_since", UtcDateTime(), nullable=False),
    Column("accept_by", UtcDateTime()),
    Column("handle_by", UtcDateTime()),
    Column("verification", String(16), nullable=False),
    Column("urgency", String(16)),
    Column("signed_for_at", UtcDateTime()),
    Column("handled_at", UtcDateTime()),
    Column("closed_at", UtcDateTime()),
    Column("outcome", String(16)),
    Column("resolved_by", String(16)),
    Column("summary", Text),
    Column("whistle_id", String(36), ForeignKey("whistles.id")),
    Column("passed_up", Integer, nullable=False, default=0),
    Column("over_daily_cap", Boolean, nullable=False, default=False),
    Column("flagged", JSON, nullable=False),                # street deadlines already chased
    Column("ticket_id", String(64), unique=True),           # a 12345 ticket's: the same ticket is one event
    Column("requests", JSON, nullable=False),               # request ids applied (idempotency)
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("street_code", "request_id", name="uq_grid_event_request"),
)
# the sweep: reported past accept_by, accepted past handle_by
Index("ix_grid_events_accept_due", grid_events.c.status, grid_events.c.accept_by)
Index("ix_grid_events_handle_due", grid_events.c.status, grid_events.c.handle_by)
# the daily cap's count of a grid's reports in a day
Index("ix_grid_events_grid_day", grid_events.c.grid_code, grid_events.c.source, grid_events.c.opened_at)
# a whistle's closure or reopening finds its event; Open311's GET requests by date
Index("ix_grid_events_whistle", grid_events.c.whistle_id)
Index("ix_grid_events_opened", grid_events.c.opened_at, grid_events.c.category)

grid_event_timeline = Table(
    "grid_event_timeline", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("grid_event_id", String(36), ForeignKey("grid_events.id"), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("summary", Text, nullable=False),                # zh-CN; detail["text"] renders it again in English
    Column("detail", JSON, nullable=False),
    Column("event_id", String(64), unique=True),
)
Index("ix_grid_event_timeline_event", grid_event_timeline.c.grid_event_id, grid_event_timeline.c.at,
      grid_event_timeline.c.id)

hotline_tickets = Table(
    "hotline_tickets", metadata,
    Column("ticket_id", String(64), primary_key=True),
    Column("grid_event_id", String(36), ForeignKey("grid_events.id"), nullable=False, unique=True),
    Column("street_code", String(64), nullable=False),
    Column("hotline_class", String(16), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("due_at", UtcDateTime(), nullable=False),
    Column("answers", Integer, nullable=False, default=0),
)

# Personal data: to be readable only by the street owning the event and the follow-up desk (the access
# rule the service enforces); never joined into a grid event's, a whistle's or a call-out's payload.
complainant_contacts = Table(
    "complainant_contacts", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("grid_event_id", String(36), ForeignKey("grid_events.id"), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("name", String(200)),
    Column("phone", String(40)),
    Column("email", String(254)),
    Column("device_id", String(200)),
    Column("account_id", String(200)),
    Column("created_at", UtcDateTime(), nullable=False),
)
Index("ix_complainant_contacts_event", complainant_contacts.c.grid_event_id)

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

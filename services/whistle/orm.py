"""The whistle service's tables: whistles and their timeline, the events below the whistle (grid events, their
timeline, 12345 tickets, complainants' contacts kept apart), plus the platform's outbox."""
from __future__ import annotations

from sqlalchemy import (JSON, Boolean, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text,
                        UniqueConstraint)

from services.common.outbox import Platform
from services.common.tables import Id, UtcDateTime

metadata = MetaData()
platform = Platform(metadata)

whistles = Table(
    "whistles", metadata,
    Column("id", String(36), primary_key=True),
    Column("request_id", String(128), nullable=False),
    Column("street_code", String(64), nullable=False),
    Column("grid_code", String(64)),
    Column("category", String(64), nullable=False),
    Column("urgency", String(16), nullable=False),
    Column("source", String(32), nullable=False),
    Column("description", Text, nullable=False),
    Column("address", String(200), nullable=False),
    Column("lon", Float),
    Column("lat", Float),
    Column("reported_by", String(200), nullable=False),
    Column("status", String(32), nullable=False),
    Column("round", Integer, nullable=False, default=1),
    Column("round_started_at", UtcDateTime(), nullable=False),
    Column("completed", JSON, nullable=False, default=list),   # departments of the round's AllCompleted
    Column("linked_to", String(36), ForeignKey("whistles.id")),
    Column("closure", JSON),                                   # the last closure: who, when, 两图一表
    Column("follow_up", JSON),                                 # the last closure's follow-up
    Column("raised_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("street_code", "request_id", name="uq_whistle_request"),
)
# the duplicate check's prefilter: open whistles of one category in a lat/lon box
Index("ix_whistles_nearby", whistles.c.category, whistles.c.status, whistles.c.lat, whistles.c.lon)
# every read of a whistle lists the whistles linked to it (PostgreSQL indexes no foreign key by itself)
Index("ix_whistles_linked_to", whistles.c.linked_to)

timeline = Table(
    "timeline", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("whistle_id", String(36), ForeignKey("whistles.id"), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("summary", Text, nullable=False),
    Column("detail", JSON, nullable=False),
    Column("event_id", String(64), unique=True),
    # the line's message key and parameters, rendered in the reader's language (summary: as zh-CN)
    Column("message", String(64)),
    Column("params", JSON),
)
Index("ix_timeline_whistle", timeline.c.whistle_id, timeline.c.at, timeline.c.id)

# ---------------------------------------------------------------- below the whistle: grid events, 12345 tickets

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

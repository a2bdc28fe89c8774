"""The whistle service's tables: whistles and their timeline (plus the platform's outbox)."""
from __future__ import annotations

from sqlalchemy import (JSON, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text,
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
)
Index("ix_timeline_whistle", timeline.c.whistle_id, timeline.c.at, timeline.c.id)

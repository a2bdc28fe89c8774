"""The whistle service's tables: whistles and their timeline (plus the platform's outbox)."""
from __future__ import annotations

from sqlalchemy import (JSON, Column, Float, ForeignKey, Index, MetaData, String, Table, Text,
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
    Column("raised_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("street_code", "request_id", name="uq_whistle_request"),
)

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

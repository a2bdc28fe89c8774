"""The roster service's tables: officers and assembled joint teams (plus the platform's outbox)."""
from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, MetaData, String, Table

from services.common.outbox import Platform
from services.common.tables import UtcDateTime

metadata = MetaData()
platform = Platform(metadata)

officers = Table(
    "officers", metadata,
    Column("code", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("department_code", String(64), nullable=False, index=True),
    Column("shifts", JSON, nullable=False),
    Column("team_lead", Boolean, nullable=False, default=False),
)

teams = Table(
    "teams", metadata,
    Column("team_id", String(36), primary_key=True),
    Column("whistle_id", String(36), nullable=False, unique=True),
    Column("lead_officer", String(64), nullable=False),
    Column("members", JSON, nullable=False),
    Column("gaps", JSON, nullable=False),
    Column("assembled_at", UtcDateTime(), nullable=False),
)

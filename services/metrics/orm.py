"""The metrics service's read model: one row per call-out, kept for latency, SLA and assessment."""
from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, MetaData, String, Table

from services.common.outbox import Platform
from services.common.tables import UtcDateTime

metadata = MetaData()
platform = Platform(metadata)

callout_facts = Table(
    "callout_facts", metadata,
    Column("callout_id", String(36), primary_key=True),
    Column("whistle_id", String(36), nullable=False, index=True),
    Column("department_code", String(64), nullable=False),
    Column("street_code", String(64), nullable=False),
    Column("category", String(64), nullable=False),
    Column("urgency", String(16), nullable=False),
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("check_in_by", UtcDateTime(), nullable=False),
    Column("checked_in_at", UtcDateTime()),
    Column("on_time", Boolean),
)
Index("ix_facts_department_month", callout_facts.c.department_code, callout_facts.c.issued_at)

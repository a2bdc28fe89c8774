"""The dispatch service's tables: call-outs with their deadlines (plus the platform's outbox)."""
from __future__ import annotations

from sqlalchemy import Column, Index, MetaData, String, Table, UniqueConstraint

from services.common.outbox import Platform
from services.common.tables import UtcDateTime

metadata = MetaData()
platform = Platform(metadata)

callouts = Table(
    "callouts", metadata,
    Column("callout_id", String(36), primary_key=True),
    Column("whistle_id", String(36), nullable=False),
    Column("department_code", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("street_code", String(64), nullable=False),
    Column("category", String(64), nullable=False),
    Column("urgency", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("matrix_version", String(32), nullable=False),
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("check_in_by", UtcDateTime(), nullable=False),
    Column("arrival_by", UtcDateTime(), nullable=False),
    Column("completion_by", UtcDateTime(), nullable=False),
    Column("checked_in_at", UtcDateTime()),
    Column("officer", String(200)),
    Column("checkin_request_id", String(128)),
    UniqueConstraint("whistle_id", "department_code", name="uq_callout_department"),
)
Index("ix_callouts_whistle", callouts.c.whistle_id)
Index("ix_callouts_due", callouts.c.status, callouts.c.check_in_by)

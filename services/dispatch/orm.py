"""The dispatch service's tables: cases, call-outs, step deadlines, arbitrations, matrix versions."""
from __future__ import annotations

from sqlalchemy import (JSON, Boolean, Column, Index, Integer, MetaData, String, Table, Text,
                        UniqueConstraint)

from services.common.outbox import Platform
from services.common.tables import Id, UtcDateTime

metadata = MetaData()
platform = Platform(metadata)

matrix_versions = Table(
    "matrix_versions", metadata,
    Column("version", String(32), primary_key=True),
    Column("content", JSON, nullable=False),
    Column("loaded_at", UtcDateTime(), nullable=False),
)

cases = Table(
    "cases", metadata,
    Column("whistle_id", String(36), primary_key=True),
    Column("street_code", String(64), nullable=False),
    Column("community_code", String(64)),
    Column("grid_code", String(64)),
    Column("category", String(64), nullable=False),
    Column("urgency", String(16), nullable=False),
    Column("place", JSON, nullable=False),
    Column("description", Text, nullable=False),
    Column("raised_at", UtcDateTime(), nullable=False),
    Column("matrix_version", String(32), nullable=False),
    Column("round", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("all_checked_in_round", Integer, nullable=False, default=0),
    Column("all_completed_round", Integer, nullable=False, default=0),
)

callouts = Table(
    "callouts", metadata,
    Column("callout_id", String(36), primary_key=True),
    Column("whistle_id", String(36), nullable=False),
    Column("department_code", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("round", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("check_in_by", UtcDateTime(), nullable=False),
    Column("arrival_by", UtcDateTime(), nullable=False),
    Column("completion_by", UtcDateTime(), nullable=False),
    Column("checked_in_at", UtcDateTime()),
    Column("officer", String(200)),
    Column("arrived_at", UtcDateTime()),
    Column("completed_at", UtcDateTime()),
    Column("returned_at", UtcDateTime()),
    Column("requests", JSON, nullable=False),
    Column("position", Integer, nullable=False, default=0),
)
Index("ix_callouts_whistle", callouts.c.whistle_id)
# One live call-out per department per round; a department that returned may be called again.
Index("uq_callout_live_department_round", callouts.c.whistle_id, callouts.c.department_code, callouts.c.round,
      unique=True, postgresql_where=callouts.c.status != "returned",
      sqlite_where=callouts.c.status != "returned")

# One clock per call-out step; the sweep escalates rows whose next rung is due.
step_deadlines = Table(
    "step_deadlines", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("callout_id", String(36), nullable=False),
    Column("step", String(16), nullable=False),
    Column("due_at", UtcDateTime(), nullable=False),
    Column("done", Boolean, nullable=False, default=False),
    Column("level", Integer, nullable=False, default=0),
    Column("next_at", UtcDateTime()),
    UniqueConstraint("callout_id", "step", name="uq_deadline_step"),
)
Index("ix_deadlines_next", step_deadlines.c.next_at)

arbitrations = Table(
    "arbitrations", metadata,
    Column("arbitration_id", String(36), primary_key=True),
    Column("whistle_id", String(36), nullable=False, index=True),
    Column("reason", String(40), nullable=False),
    Column("candidates", JSON, nullable=False),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("decide_by", UtcDateTime(), nullable=False),
    Column("status", String(16), nullable=False),          # open | decided | withdrawn
    Column("overdue", Boolean, nullable=False, default=False),
    Column("decided_by", String(200)),
    Column("decided_at", UtcDateTime()),
    Column("grid_code", String(64)),
    Column("department_code", String(64)),
)

# A joint team's roster gap (roster.gap: a department with nobody for the team), escalated like a
# missed deadline from when it was found, until someone is assigned or the department released.
roster_gaps = Table(
    "roster_gaps", metadata,
    Column("team_id", String(36), primary_key=True),
    Column("department_code", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),              # whistle | operation
    Column("whistle_id", String(36)),
    Column("operation_code", String(64)),
    Column("occurrence_id", String(96)),
    Column("street_code", String(64)),
    Column("category", String(64), nullable=False),
    Column("urgency", String(16), nullable=False),
    Column("round", Integer, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("detected_at", UtcDateTime(), nullable=False),
    Column("ended_at", UtcDateTime()),                       # someone assigned, or the department released
    Column("level", Integer, nullable=False, default=0),
    Column("next_at", UtcDateTime()),
)
Index("ix_roster_gaps_next", roster_gaps.c.next_at)

"""The roster service's tables: officers, duty schedules, joint teams and their members (the service
history), planned operations, plus the platform's outbox."""
from __future__ import annotations

from sqlalchemy import (JSON, Boolean, Column, Date, ForeignKey, Index, Integer, MetaData, String, Table, Text,
                        UniqueConstraint)

from services.common.outbox import Platform
from services.common.tables import Id, UtcDateTime

metadata = MetaData()
platform = Platform(metadata)

officer_records = Table(
    "officer_records", metadata,
    Column("code", String(64), primary_key=True),
    Column("department_code", String(64), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("badge", String(32), nullable=False, unique=True),
    Column("certificate_number", String(64), nullable=False, unique=True),
    Column("certificate_expires_on", Date, nullable=False),
    Column("qualifications", JSON, nullable=False),          # category codes
    Column("contact", String(64), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("postings", JSON, nullable=False),                # [{"level": ..., "code": ...}]
    Column("updated_at", UtcDateTime(), nullable=False),
)

chief_pairs = Table(
    "chief_pairs", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),              # street (双街长) | road (双路长)
    Column("street_code", String(64), nullable=False, index=True),
    Column("road", String(200), nullable=False, default=""),  # "" for a street pair: keeps the key unique
    Column("cadre", String(64), nullable=False, index=True),
    Column("leader_name", String(200), nullable=False),
    Column("leader_title", String(200), nullable=False),
    Column("leader_contact", String(64), nullable=False),
    UniqueConstraint("kind", "street_code", "road"),
)

duty_schedules = Table(
    "duty_schedules", metadata,
    Column("department_code", String(64), primary_key=True),
    Column("time_zone", String(64), nullable=False),
    Column("rotations", JSON, nullable=False),               # [Rotation.model_dump(mode="json")]
    Column("version", Integer, nullable=False, default=1),   # compare-and-set on every edit
    Column("updated_at", UtcDateTime(), nullable=False),
)

duty_changes = Table(                                        # overrides and swaps, in the order made (id)
    "duty_changes", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("department_code", String(64), nullable=False),
    Column("kind", String(16), nullable=False),              # override | swap
    Column("body", JSON, nullable=False),                    # Override / Swap .model_dump(mode="json")
    Column("starts_at", UtcDateTime(), nullable=False),      # earliest instant it touches
    Column("ends_at", UtcDateTime(), nullable=False),        # latest: rows ended long ago need not be loaded
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", String(200), nullable=False),
)
Index("ix_duty_changes_department_end", duty_changes.c.department_code, duty_changes.c.ends_at)

duty_leave = Table(
    "duty_leave", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("department_code", String(64), nullable=False),
    Column("officer_code", String(64), nullable=False, index=True),
    Column("starts_at", UtcDateTime(), nullable=False),
    Column("ends_at", UtcDateTime(), nullable=False),
    Column("reason", String(16), nullable=False),
    Column("note", String(200)),
    Column("created_at", UtcDateTime(), nullable=False),
)
Index("ix_duty_leave_department_end", duty_leave.c.department_code, duty_leave.c.ends_at)

joint_operations = Table(
    "joint_operations", metadata,
    Column("code", String(64), primary_key=True),
    Column("organiser", String(64), nullable=False),
    Column("definition", JSON, nullable=False),              # JointOperation.model_dump(mode="json")
    Column("active", Boolean, nullable=False, default=True),
    Column("updated_at", UtcDateTime(), nullable=False),
)

operation_occurrences = Table(                               # one row per occurrence a team was formed for
    "operation_occurrences", metadata,
    Column("occurrence_id", String(96), primary_key=True),
    Column("operation_code", String(64), nullable=False, index=True),
    Column("starts_at", UtcDateTime(), nullable=False),
    Column("ends_at", UtcDateTime(), nullable=False),
    Column("team_id", String(36), nullable=False),
)

joint_teams = Table(
    "joint_teams", metadata,
    Column("team_id", String(36), primary_key=True),
    Column("kind", String(16), nullable=False),              # whistle | operation
    Column("whistle_id", String(36), unique=True),
    Column("operation_code", String(64)),
    Column("occurrence_id", String(96), unique=True),
    Column("category", String(64), nullable=False),
    Column("urgency", String(16), nullable=False),
    Column("street_code", String(64)),
    Column("community_code", String(64)),
    Column("grid_code", String(64)),
    Column("starts_at", UtcDateTime()),                      # a planned operation's start
    Column("place", JSON),                                   # the whistle's place, for members assigned later
    Column("description", Text),
    Column("slots", JSON, nullable=False),                   # [{department, role, open, tried, gap_since}]
    Column("round", Integer, nullable=False, default=1),
    Column("formed_at", UtcDateTime(), nullable=False),
    Column("assembled_at", UtcDateTime()),
    Column("assembled_round", Integer, nullable=False, default=0),
    Column("released_at", UtcDateTime()),
    Column("next_sweep_at", UtcDateTime()),                  # earliest check-in deadline, or a gap's retry
    Column("version", Integer, nullable=False, default=1),
)
Index("ix_joint_teams_sweep", joint_teams.c.next_sweep_at)

team_members = Table(                                        # every assignment; also the service history
    "team_members", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),  # order of assignment within the team
    Column("team_id", String(36), ForeignKey("joint_teams.team_id"), nullable=False, index=True),
    Column("department_code", String(64), nullable=False),
    Column("officer_code", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("round", Integer, nullable=False),
    # assigned | present | declined | no_show | off_shift | released
    Column("status", String(16), nullable=False),
    Column("assigned_at", UtcDateTime(), nullable=False),
    Column("check_in_by", UtcDateTime(), nullable=False),
    Column("checked_in_at", UtcDateTime()),
    Column("ended_at", UtcDateTime()),
)
Index("ix_team_members_officer_status", team_members.c.officer_code, team_members.c.status)   # workload
Index("ix_team_members_department_assigned", team_members.c.department_code, team_members.c.assigned_at)
Index("ix_team_members_officer_assigned", team_members.c.officer_code, team_members.c.assigned_at)  # history

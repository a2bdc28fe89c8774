"""The metrics service's read model: the facts latency, SLA and the assessment are computed from.

Every row is written from events by services/metrics/readmodel.py (pure) and only ever moves
forward: a step's time, once set, is never changed, and a step's deadline outcome is decided once
(met, missed, or void: it no longer applies). The Prometheus instruments are a function of these
rows (readmodel.contributions), which is how they are rebuilt after a restart.
"""
from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, MetaData, String, Table, Text, true

from services.common.outbox import Platform
from services.common.tables import UtcDateTime

metadata = MetaData()
platform = Platform(metadata)

# One row per call-out. `issued_seen` is false while only a step event of it has arrived (a check-in
# may overtake its call-out on the bus); the issue fills the deadlines in when it comes.
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
    Column("on_time", Boolean),                      # the check-in's: dispatch's verdict
    Column("issued_seen", Boolean, nullable=False, server_default=true()),
    Column("round", Integer, nullable=False, server_default="1"),
    Column("arrival_by", UtcDateTime()),
    Column("completion_by", UtcDateTime()),
    Column("arrived_at", UtcDateTime()),
    Column("arrival_on_time", Boolean),
    Column("completed_at", UtcDateTime()),
    Column("completion_on_time", Boolean),
    Column("returned_at", UtcDateTime()),
    Column("return_reason", Text),
    Column("rerouted_to", String(64)),
    Column("return_arbitration_id", String(64), index=True),
    Column("return_verdict", String(16)),            # rerouted, pending, justified, unjustified
    # each step's deadline outcome, decided once: met, missed, void (returned before it fell due)
    Column("check_in_outcome", String(8)),
    Column("arrival_outcome", String(8)),
    Column("completion_outcome", String(8)),
)
Index("ix_facts_department_month", callout_facts.c.department_code, callout_facts.c.issued_at)
Index("ix_facts_issued_at", callout_facts.c.issued_at)
# what the deadline sweep looks for: a step not decided whose deadline has passed
Index("ix_facts_check_in_undecided", callout_facts.c.check_in_outcome, callout_facts.c.check_in_by)
Index("ix_facts_arrival_undecided", callout_facts.c.arrival_outcome, callout_facts.c.arrival_by)
Index("ix_facts_completion_undecided", callout_facts.c.completion_outcome, callout_facts.c.completion_by)

# One row per whistle raised; closures and reopenings are in whistle_history.
whistle_facts = Table(
    "whistle_facts", metadata,
    Column("whistle_id", String(36), primary_key=True),
    Column("street_code", String(64), nullable=False),
    Column("grid_code", String(64)),
    Column("category", String(64), nullable=False),
    Column("urgency", String(16), nullable=False),
    Column("source", String(32), nullable=False),
    Column("place", String(200), nullable=False),    # the grid code, or the address without one
    Column("raised_at", UtcDateTime(), nullable=False, index=True),
    Column("last_closed_at", UtcDateTime()),
    Column("last_reopened_at", UtcDateTime()),
)

# What happened to a whistle after it was raised, one row per event: closed, reopened, linked (a
# report of the same problem joined it), all_checked_in (every department of a round checked in).
# `started_at` is what its latency counts from (raised_at for a closure, the round's first call-out
# for all_checked_in); the labels are copied in so a row alone says what it contributes.
whistle_history = Table(
    "whistle_history", metadata,
    Column("event_id", String(64), primary_key=True),
    Column("whistle_id", String(36), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("street_code", String(64), nullable=False),
    Column("category", String(64)),
    Column("urgency", String(16)),
    Column("at", UtcDateTime(), nullable=False),
    Column("started_at", UtcDateTime()),
)

escalation_facts = Table(
    "escalation_facts", metadata,
    Column("escalation_id", String(64), primary_key=True),      # the event's id
    Column("callout_id", String(36), nullable=False, index=True),
    Column("whistle_id", String(36), nullable=False),
    Column("department_code", String(64), nullable=False),
    Column("street_code", String(64), nullable=False),
    Column("step", String(16), nullable=False),
    Column("tier", String(16), nullable=False),
    Column("level", Integer, nullable=False),
    Column("escalated_at", UtcDateTime(), nullable=False, index=True),
)

follow_up_facts = Table(
    "follow_up_facts", metadata,
    Column("follow_up_id", String(64), primary_key=True),       # the event's id
    Column("whistle_id", String(36), nullable=False, index=True),
    Column("street_code", String(64), nullable=False),
    Column("rating", String(32), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False, index=True),
    Column("reopened", Boolean, nullable=False),
)

# An arbitration, opened, then decided or found overdue (or both); a row may start from any of the
# three events (they can overtake each other) and is completed by the others.
arbitration_facts = Table(
    "arbitration_facts", metadata,
    Column("arbitration_id", String(64), primary_key=True),
    Column("whistle_id", String(36), nullable=False),
    Column("street_code", String(64), nullable=False),
    Column("category", String(64)),
    Column("reason", String(64), nullable=False),
    Column("opened_at", UtcDateTime()),
    Column("decide_by", UtcDateTime()),
    Column("decided_at", UtcDateTime()),
    Column("decided_by", String(200)),
    Column("decided_department", String(64)),
    Column("decided_grid", String(64)),
    Column("overdue_at", UtcDateTime()),
)

team_facts = Table(
    "team_facts", metadata,
    Column("team_id", String(64), primary_key=True),
    Column("whistle_id", String(36), nullable=False),
    Column("category", String(64), nullable=False),
    Column("complete", Boolean, nullable=False),                 # no roster gap
    Column("assembled_at", UtcDateTime(), nullable=False),
    Column("latency_seconds", Float),                            # raised → on site, when the raise was known
)

# 免责与申诉: exemptions and appeals, appended, never changed (a later decision on the same fact is a
# new row; the assessment applies them in the order decided).
assessment_decisions = Table(
    "assessment_decisions", metadata,
    Column("decision_id", String(36), primary_key=True),
    Column("kind", String(16), nullable=False),                  # exemption, appeal
    Column("fact_kind", String(16), nullable=False),
    Column("fact_id", String(64), nullable=False, index=True),
    Column("reason", Text, nullable=False),
    Column("decided_by", String(200), nullable=False),
    Column("decided_at", UtcDateTime(), nullable=False),
    Column("upheld", Boolean, nullable=False),
    Column("requested_by", String(200)),
    Column("recorded_by", String(200), nullable=False),          # the principal that recorded it
)

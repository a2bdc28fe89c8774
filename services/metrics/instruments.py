"""The Prometheus instruments the metrics service exports (names follow Prometheus conventions).

Latency histograms have a bucket boundary exactly at every clock deadline in force, read from the
reference data (REFERENCE_DATA), so "share within 30 minutes" is an exact bucket, not an estimate:
each step's deadlines per urgency, the check-in deadline plus every escalation tier's wait (when a
missed check-in reaches the district, the city), and 24 h for the published 24小时签收率. Deadlines in
working days have no fixed length in seconds; their histograms carry nominal 7, 15 and 30 days.
Labels are of bounded cardinality only (department, street, category, urgency, step, tier...),
never an id.
"""
from __future__ import annotations

from typing import Iterable

from prometheus_client import Counter, Gauge, Histogram

from services.common.events import ArbitrationOpened
from services.common.reference import ReferenceData, load_reference

# A readable ladder between the deadlines: a minute to a day (30 minutes, the origin rule's "on site
# within 30 minutes", whatever the district's own deadlines are).
LADDER = (60, 300, 600, 900, 1200, 1800, 2700, 3600, 7200, 14400, 43200, 86400)
NOMINAL_DAYS = tuple(d * 86400 for d in (3, 7, 15, 30))
SIGN_FOR_SECONDS = 24 * 3600       # 24小时签收率


def deadline_buckets(reference: ReferenceData, steps: Iterable[str], *, escalation: bool = False,
                     days: bool = False) -> tuple[float, ...]:
    """Bucket bounds: the ladder, every clock deadline of `steps` per urgency, and optionally the moments
    a missed deadline reaches each escalation tier and the nominal day marks for working-day deadlines."""
    marks = set(LADDER)
    for level in reference.urgencies.values():
        for step in steps:
            clock = getattr(level, step).as_timedelta()
            if clock is None:
                continue
            marks.add(clock.total_seconds())
            if escalation:
                marks.update((clock + tier.after.as_timedelta()).total_seconds() for tier in reference.escalation)
    if days:
        marks.update(NOMINAL_DAYS)
    return tuple(sorted(marks))


REFERENCE = load_reference()
CHECKIN_BUCKETS = tuple(sorted({*deadline_buckets(REFERENCE, ["check_in"], escalation=True), SIGN_FOR_SECONDS}))
ARRIVAL_BUCKETS = deadline_buckets(REFERENCE, ["arrival"], escalation=True)
COMPLETION_BUCKETS = deadline_buckets(REFERENCE, ["completion"], escalation=True, days=True)
TEAM_BUCKETS = deadline_buckets(REFERENCE, ["check_in", "arrival"])
CLOSURE_BUCKETS = deadline_buckets(REFERENCE, ["completion"], days=True)

# -- latency (histograms) --------------------------------------------------------------------------
CHECKIN_LATENCY = Histogram(
    "chuishao_checkin_latency_seconds", "Time from a call-out being issued to its department checking in",
    ["department", "urgency"], buckets=CHECKIN_BUCKETS)
ALL_CHECKED_IN_LATENCY = Histogram(
    "chuishao_all_checked_in_latency_seconds",
    "Time from a whistle's first call-out to the last of its departments checking in",
    ["urgency"], buckets=CHECKIN_BUCKETS)
ARRIVAL_LATENCY = Histogram(
    "chuishao_arrival_latency_seconds", "Time from a call-out being issued to its department arriving on site",
    ["department", "urgency"], buckets=ARRIVAL_BUCKETS)
COMPLETION_LATENCY = Histogram(
    "chuishao_completion_latency_seconds", "Time from a call-out being issued to its department completing",
    ["department", "urgency"], buckets=COMPLETION_BUCKETS)
TEAM_ASSEMBLY_LATENCY = Histogram(
    "chuishao_team_assembly_latency_seconds",
    "Time from a whistle being raised to its joint enforcement team being on site (the team's quorum of "
    "members checked in)",
    ["category"], buckets=TEAM_BUCKETS)
CLOSURE_LATENCY = Histogram(
    "chuishao_whistle_closure_latency_seconds", "Time from a whistle being raised to its street closing it (销号)",
    ["street", "urgency"], buckets=CLOSURE_BUCKETS)

# -- counters --------------------------------------------------------------------------------------
WHISTLES_RAISED = Counter("chuishao_whistles_raised_total", "Whistles raised by streets",
                          ["street", "source", "category", "urgency"])
CALLOUTS_ISSUED = Counter("chuishao_callouts_issued_total", "Call-outs issued to departments",
                          ["department", "urgency"])
CHECKINS = Counter("chuishao_checkins_total", "Check-ins, by whether they met the check-in deadline",
                   ["department", "urgency", "on_time"])
DEADLINE_OUTCOMES = Counter(
    "chuishao_deadline_outcomes_total",
    "Call-out steps decided against their deadline, each counted once: met (done in time) or missed "
    "(the deadline passed first, whether or not the step came later)",
    ["department", "street", "urgency", "step", "outcome"])
TEAMS = Counter("chuishao_joint_teams_total",
                "Joint enforcement teams assembled on site (each round), by whether a department was missing",
                ["category", "complete"])
STEPS_DONE = Counter("chuishao_steps_total",
                     "Department steps (arrival, completion), by whether they met their deadline",
                     ["department", "urgency", "step", "on_time"])
RETURNS = Counter("chuishao_callouts_returned_total", "Call-outs returned (退单), by where they went",
                  ["department", "went_to"])
ESCALATIONS = Counter("chuishao_escalations_total", "Missed steps escalated (督办), by tier",
                      ["department", "step", "tier"])
ARBITRATIONS = Counter("chuishao_arbitrations_opened_total", "Arbitrations opened, by reason", ["reason"])
ARBITRATIONS_DECIDED = Counter("chuishao_arbitrations_decided_total",
                               "Arbitrations the district decided, by whether it decided in time",
                               ["on_time"])
ARBITRATIONS_OVERDUE = Counter("chuishao_arbitrations_overdue_total",
                               "Arbitrations not decided in time, escalated to the city", ["reason"])
# few and known: exported at 0 from the start, so "none in the last day" reads 0, not "no data"
ARBITRATION_REASONS = ArbitrationOpened.model_fields["reason"].annotation.__args__
for _reason in ARBITRATION_REASONS:
    ARBITRATIONS.labels(_reason)
    ARBITRATIONS_OVERDUE.labels(_reason)
for _on_time in ("true", "false"):
    ARBITRATIONS_DECIDED.labels(_on_time)
CLOSURES = Counter("chuishao_whistles_closed_total", "Whistles closed by their street", ["street"])
REOPENINGS = Counter("chuishao_whistles_reopened_total", "Closed whistles reopened after an unsatisfied follow-up",
                     ["street"])
DUPLICATES = Counter("chuishao_whistles_linked_total",
                     "Reports of a problem already being handled, joined to the open whistle", ["street", "category"])
FOLLOW_UPS = Counter("chuishao_follow_ups_total", "Follow-up ratings (回访)", ["street", "rating"])

# -- gauges (set from the read model) --------------------------------------------------------------
OPEN_WHISTLES = Gauge("chuishao_open_whistles", "Whistles raised and not closed", ["street"])
OPEN_CALLOUTS = Gauge("chuishao_open_callouts", "Call-outs issued and neither completed nor returned",
                      ["department"])
OVERDUE_CALLOUTS = Gauge("chuishao_overdue_callouts",
                         "Open call-outs past the deadline of the step they are at", ["department", "step"])

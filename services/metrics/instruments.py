"""The Prometheus instruments the metrics service exports (names follow Prometheus conventions)."""
from __future__ import annotations

from prometheus_client import Counter, Histogram

# From half a minute to a day: the 30-minute rule sits in the middle, the 24-hour sign-for rate at the top.
LATENCY_BUCKETS = (30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 7200, 14400, 43200, 86400)

CHECKIN_LATENCY = Histogram(
    "chuishao_checkin_latency_seconds", "Time from a call-out being issued to its department checking in",
    ["department", "urgency"], buckets=LATENCY_BUCKETS)
ALL_CHECKED_IN_LATENCY = Histogram(
    "chuishao_all_checked_in_latency_seconds",
    "Time from a whistle's first call-out to the last of its departments checking in",
    ["urgency"], buckets=LATENCY_BUCKETS)
CALLOUTS_ISSUED = Counter("chuishao_callouts_issued_total", "Call-outs issued to departments",
                          ["department", "urgency"])
CHECKINS = Counter("chuishao_checkins_total", "Check-ins, by whether they met the check-in deadline",
                   ["department", "urgency", "on_time"])
WHISTLES_RAISED = Counter("chuishao_whistles_raised_total", "Whistles raised by streets",
                          ["street", "urgency"])
TEAMS = Counter("chuishao_joint_teams_total", "Joint enforcement teams assembled, by whether one had a gap",
                ["category", "complete"])
ARRIVAL_LATENCY = Histogram(
    "chuishao_arrival_latency_seconds", "Time from a call-out being issued to its department arriving on site",
    ["department", "urgency"], buckets=LATENCY_BUCKETS)
COMPLETION_LATENCY = Histogram(
    "chuishao_completion_latency_seconds", "Time from a call-out being issued to its department completing",
    ["department", "urgency"],
    buckets=LATENCY_BUCKETS + (3 * 86400, 7 * 86400, 15 * 86400, 30 * 86400))
STEPS_DONE = Counter("chuishao_steps_total",
                     "Department steps (arrival, completion), by whether they met their deadline",
                     ["department", "urgency", "step", "on_time"])
RETURNS = Counter("chuishao_callouts_returned_total", "Call-outs returned (退单), by where they went",
                  ["department", "went_to"])
ESCALATIONS = Counter("chuishao_escalations_total", "Missed steps escalated (督办), by tier",
                      ["department", "step", "tier"])
ARBITRATIONS = Counter("chuishao_arbitrations_opened_total", "Arbitrations opened, by reason", ["reason"])
CLOSURES = Counter("chuishao_whistles_closed_total", "Whistles closed by their street", ["street"])
FOLLOW_UPS = Counter("chuishao_follow_ups_total", "Follow-up ratings (回访)", ["street", "rating"])

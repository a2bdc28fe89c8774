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

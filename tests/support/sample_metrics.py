"""Sample traffic through the real instrument definitions, for promtool and a real Prometheus.

`observe_every_instrument()` gives every chuishao instrument a few plausible samples;
`python -m tests.support.sample_metrics PORT` serves /metrics and keeps observing (a tick every
0.2 s, for at most --seconds), so rates and quantiles over a few seconds have something to show.
"""
from __future__ import annotations

import argparse
import random
import time

from prometheus_client import start_http_server

import services.common.consumer as consumer
import services.common.ops_metrics as ops
import services.common.outbox as outbox
import services.common.queue_probe as probe
import services.metrics.instruments as m
from services.common.reference import load_reference

REFERENCE = load_reference()
DEPARTMENTS = [d.code for d in REFERENCE.departments]
STREETS = [s.code for s in REFERENCE.streets]
CATEGORIES = [c.code for c in REFERENCE.categories]
URGENCIES = list(REFERENCE.urgencies)
SOURCES = ["hotline_12345", "grid_patrol", "road_office", "street_office"]


def tick(rnd: random.Random) -> None:
    """One moment of district life: a whistle, its call-outs, their steps, and the plumbing."""
    street, category, urgency = rnd.choice(STREETS), rnd.choice(CATEGORIES), rnd.choice(URGENCIES)
    m.WHISTLES_RAISED.labels(street, rnd.choice(SOURCES), category, urgency).inc()
    for department in rnd.sample(DEPARTMENTS, 2):
        late = rnd.random() < 0.1
        m.CALLOUTS_ISSUED.labels(department, urgency).inc()
        m.CHECKINS.labels(department, urgency, str(not late).lower()).inc()
        latency = rnd.uniform(2400, 5000) if late else rnd.uniform(60, 1700)
        m.CHECKIN_LATENCY.labels(department, urgency).observe(latency)
        m.DEADLINE_OUTCOMES.labels(department, street, urgency, "check_in", "missed" if late else "met").inc()
        m.ARRIVAL_LATENCY.labels(department, urgency).observe(rnd.uniform(300, 3000))
        m.DEADLINE_OUTCOMES.labels(department, street, urgency, "arrival", "met").inc()
        m.STEPS_DONE.labels(department, urgency, "arrival", "true").inc()
        m.COMPLETION_LATENCY.labels(department, urgency).observe(rnd.uniform(3600, 90000))
        m.STEPS_DONE.labels(department, urgency, "completion", str(rnd.random() < 0.9).lower()).inc()
        m.DEADLINE_OUTCOMES.labels(department, street, urgency, "completion", "met").inc()
        if late:
            for tier in ("street", "district", "city"):
                m.ESCALATIONS.labels(department, "check_in", tier).inc()
        if rnd.random() < 0.1:
            m.RETURNS.labels(department, rnd.choice(("rerouted", "arbitration"))).inc()
    m.ALL_CHECKED_IN_LATENCY.labels(urgency).observe(rnd.uniform(300, 2000))
    m.TEAM_ASSEMBLY_LATENCY.labels(category).observe(rnd.uniform(60, 1500))
    m.TEAMS.labels(category, str(rnd.random() < 0.9).lower()).inc()
    m.CLOSURE_LATENCY.labels(street, urgency).observe(rnd.uniform(3600, 400000))
    m.CLOSURES.labels(street).inc()
    m.FOLLOW_UPS.labels(street, rnd.choice(("satisfied", "basically_satisfied", "unsatisfied"))).inc()
    m.REOPENINGS.labels(street).inc(rnd.random() < 0.1)
    m.DUPLICATES.labels(street, category).inc(rnd.random() < 0.2)
    m.ARBITRATIONS.labels(rnd.choice(("unowned_place", "disputed_place", "returned_without_alternative"))).inc()
    m.ARBITRATIONS_DECIDED.labels(str(rnd.random() < 0.8).lower()).inc()
    m.ARBITRATIONS_OVERDUE.labels("unowned_place").inc(rnd.random() < 0.1)
    for s in STREETS:
        m.OPEN_WHISTLES.labels(s).set(rnd.randint(0, 20))
    for d in DEPARTMENTS:
        m.OPEN_CALLOUTS.labels(d).set(rnd.randint(0, 15))
        for step in ("check_in", "arrival", "completion"):
            m.OVERDUE_CALLOUTS.labels(d, step).set(rnd.randint(0, 3))
        probe.DEPARTMENT_CONSUMERS.labels(d).set(rnd.choice((1, 1, 2)))
    probe.DEADLETTER_BACKLOG.set(rnd.randint(0, 2))
    for service in ("whistle", "dispatch", "roster", "metrics"):
        outbox.PUBLISHED.labels(service).inc(rnd.randint(1, 5))
        outbox.FAILED.labels(service, rnd.choice(("Unroutable", "NotConfirmed"))).inc(rnd.random() < 0.05)
        outbox.BACKLOG.labels(service).set(rnd.randint(0, 5))
        ops.OUTBOX_OLDEST_UNSENT_AGE.labels(service).set(rnd.uniform(0, 3))
        consumer.CONSUMED.labels(service, f"{service}.events", rnd.choice(
            ("ok", "ok", "ok", "retried", "dead_lettered", "rejected"))).inc()


def observe_every_instrument(ticks: int = 3, seed: int = 15) -> None:
    rnd = random.Random(seed)
    for _ in range(ticks):
        tick(rnd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int)
    parser.add_argument("--seconds", type=float, default=300, help="stop after this long")
    args = parser.parse_args()
    start_http_server(args.port, addr="127.0.0.1")
    rnd = random.Random(15)
    observe_every_instrument()
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        tick(rnd)
        time.sleep(0.2)


if __name__ == "__main__":
    main()

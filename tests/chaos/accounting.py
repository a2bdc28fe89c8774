"""Counting after the storm: what was sent, stored, issued, delivered and checked in; what was lost or doubled.

Read straight from each service's own database, from metrics' /metrics, from the broker, and from the
ledger of what the outside world did and saw. Nothing here trusts a service's own word that all is well.
"""
from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pika
import requests
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine

from services.common.broker import department_queue
from services.common.events import DEADLETTERS
from services.dispatch.orm import callouts as d_callouts, cases as d_cases, platform as d_platform
from services.metrics.orm import callout_facts, platform as m_platform
from services.roster.orm import joint_teams as r_teams, platform as r_platform
from services.whistle.orm import platform as w_platform, timeline as w_timeline, whistles as w_whistles
from tests.chaos.traffic import Ledger, departments_of
from tests.support.bus import SERVICE_QUEUES, Bus, dead_letters as bus_dead_letters, nodes_of

METRIC = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")


def metric_sum(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        match = METRIC.match(line)
        if match and match.group("name") == name:
            total += float(match.group("value"))
    return total


class Databases:
    """One engine per service database (SQLite file or PostgreSQL), for reading only."""

    def __init__(self, template: str):
        self.engines: dict[str, Engine] = {}
        for service in ("whistle", "dispatch", "roster", "metrics"):
            url = template.replace("{service}", service)
            kwargs = {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else {"pool_pre_ping": True}
            self.engines[service] = create_engine(url, **kwargs)

    def scalar(self, service: str, query):
        with self.engines[service].connect() as conn:
            return conn.execute(query).scalar()

    def rows(self, service: str, query):
        with self.engines[service].connect() as conn:
            return conn.execute(query).all()

    def dispose(self):
        for engine in self.engines.values():
            engine.dispose()


def backlog(db: Databases, service: str, platform) -> int:
    return db.scalar(service, select(func.count()).select_from(platform.outbox)
                     .where(platform.outbox.c.sent_at.is_(None)))


BACKLOGS = (("whistle", w_platform), ("dispatch", d_platform), ("roster", r_platform), ("metrics", m_platform))


def queue_depths(amqp_uri: str, namespace: str, departments=()) -> dict[str, int]:
    """Ready messages on each service queue, department call-out queue and the dead-letter queue."""
    depths = {}
    connection = pika.BlockingConnection(nodes_of(amqp_uri))
    try:
        for queue in (*SERVICE_QUEUES, *(department_queue(d) for d in departments), DEADLETTERS):
            channel = connection.channel()
            try:
                depths[queue] = channel.queue_declare(f"{namespace}{queue}", passive=True).method.message_count
                channel.close()
            except pika.exceptions.ChannelClosedByBroker:
                depths[queue] = -1
    finally:
        connection.close()
    return depths


def unacked(broker, namespace: str) -> dict[str, int]:
    """Messages delivered to a consumer and not yet acknowledged, per queue of the namespace (rabbitmqctl).

    After the drain nothing should be held: a message a service processed but never acknowledged
    occupies one of its consumer's prefetch slots for as long as the connection lives."""
    done = broker.ctl_run("list_queues", "name", "messages_unacknowledged", "-q", "--no-table-headers",
                          timeout=60)
    held = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].startswith(namespace) and parts[1].isdigit() and int(parts[1]):
            held[parts[0][len(namespace):]] = int(parts[1])
    return held


def dead_letters(amqp_uri: str, namespace: str) -> list[dict]:
    """Every dead letter (left in place): consumer, reason, routing key, and the request/callout it concerns."""
    bus = Bus(amqp_uri, namespace)
    try:
        letters = bus_dead_letters(bus)
    finally:
        bus.close()
    out = []
    for headers, body in letters:
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        payload = payload if isinstance(payload, dict) else {}
        out.append({"consumer": headers.get("x-dead-consumer"), "reason": str(headers.get("x-dead-reason")),
                    "routing_key": headers.get("x-original-routing-key"), "type": payload.get("type"),
                    "ids": {k: payload[k] for k in ("request_id", "whistle_id", "callout_id") if payload.get(k)}})
    return out


def progress(db: Databases, ledger: Ledger, metrics_url: str | None, amqp_uri: str, namespace: str) -> dict:
    """Cheap counts for the drain loop: when these stop changing and agree, the system has settled.

    `metrics_url` None: metrics' Prometheus counters are not compared (several metrics replicas: each
    rebuilds the whole history from the read model when it starts, so their sum is not the total)."""
    snap = ledger.snapshot()
    counts = {
        "confirmed": snap["confirmed"],
        "stored": db.scalar("whistle", select(func.count()).select_from(w_whistles)),
        "complete": snap["complete"],
        "issued": db.scalar("dispatch", select(func.count()).select_from(d_callouts)),
        "delivered": snap["callouts"],
        "checked_in": db.scalar("dispatch", select(func.count()).select_from(d_callouts)
                                .where(d_callouts.c.checked_in_at.is_not(None))),
        "accepted": snap["accepted"],
        "facts_checked_in": db.scalar("metrics", select(func.count()).select_from(callout_facts)
                                      .where(callout_facts.c.checked_in_at.is_not(None))),
        "timeline_checked_in": db.scalar("whistle", select(func.count()).select_from(w_timeline)
                                         .where(w_timeline.c.kind == "callout.checked_in")),
    }
    counts["backlog"] = sum(backlog(db, s, p) for s, p in BACKLOGS)
    if metrics_url is None:
        counts["latency_count"] = None
    else:
        try:
            text = requests.get(metrics_url, timeout=5).text
            counts["latency_count"] = int(metric_sum(text, "chuishao_checkin_latency_seconds_count"))
        except requests.RequestException:
            counts["latency_count"] = -1
    try:
        depths = queue_depths(amqp_uri, namespace, departments_of(list(ledger.plans.values())))
        counts["queued"] = sum(v for k, v in depths.items() if k != DEADLETTERS and v > 0)
        counts["dead_letters"] = depths.get(DEADLETTERS, 0)
    except Exception:  # noqa: BLE001 - the broker may be briefly away
        counts["queued"] = -1
    return counts


def settled(c: dict) -> bool:
    return (c["stored"] == c["confirmed"] and c["complete"] == c["stored"] and c["issued"] == c["delivered"]
            and c["checked_in"] == c["issued"] and c["accepted"] == c["checked_in"]
            and c["facts_checked_in"] == c["checked_in"] and c["latency_count"] in (None, c["checked_in"])
            and c["timeline_checked_in"] == c["checked_in"] and c["backlog"] == 0 and c["queued"] == 0)


@dataclass
class Findings:
    figures: dict = field(default_factory=dict)
    lost: dict = field(default_factory=dict)          # kind -> list of examples (ids)
    duplicates: dict = field(default_factory=dict)
    wire: dict = field(default_factory=dict)
    dead_letters: list = field(default_factory=list)
    unacked: dict = field(default_factory=dict)       # queue -> messages held unacknowledged
    queues: dict = field(default_factory=dict)        # queue -> messages left on it

    @property
    def lost_total(self) -> int:
        return sum(len(v) for v in self.lost.values())

    @property
    def duplicates_total(self) -> int:
        return sum(len(v) for v in self.duplicates.values())


def _bodies(db: Databases, service: str, platform, event_type: str) -> list[dict]:
    rows = db.rows(service, select(platform.outbox.c.body).where(platform.outbox.c.event_type == event_type))
    return [json.loads(r.body) for r in rows]


def collect(db: Databases, ledger: Ledger, metrics_url: str | None, broker, namespace: str,
            joint_categories: set[str]) -> Findings:
    f = Findings()
    amqp_uri = broker.amqp_uri
    f.unacked = unacked(broker, namespace)
    plans = ledger.plans
    confirmed = set(ledger.confirmed)

    # ---------------------------------------------------------------- whistle service
    rows = db.rows("whistle", select(w_whistles.c.id, w_whistles.c.street_code, w_whistles.c.request_id))
    ours = [r for r in rows if r.request_id in plans]
    by_request = defaultdict(set)
    for r in ours:
        by_request[(r.street_code, r.request_id)].add(r.id)
    whistle_of = {rid: next(iter(ids)) for (_, rid), ids in by_request.items()}
    request_of = {r.id: r.request_id for r in ours}
    raised_events = defaultdict(set)
    for body in _bodies(db, "whistle", w_platform, "whistle.raised"):
        raised_events[body["request_id"]].add(body["whistle_id"])
    timeline_kinds = Counter()
    timeline_per = defaultdict(Counter)
    for r in db.rows("whistle", select(w_timeline.c.whistle_id, w_timeline.c.kind)):
        timeline_kinds[r.kind] += 1
        timeline_per[r.whistle_id][r.kind] += 1

    # ---------------------------------------------------------------- dispatch service
    case_rows = db.rows("dispatch", select(d_cases.c.whistle_id))
    callout_rows = db.rows("dispatch", select(d_callouts.c.callout_id, d_callouts.c.whistle_id,
                                               d_callouts.c.department_code, d_callouts.c.round,
                                               d_callouts.c.status, d_callouts.c.checked_in_at))
    issued_by = defaultdict(list)                  # (whistle, department, round) -> callout ids
    issued_for = defaultdict(set)                  # whistle -> departments
    for c in callout_rows:
        issued_by[(c.whistle_id, c.department_code, c.round)].append(c.callout_id)
        issued_for[c.whistle_id].add(c.department_code)
    checked_in = {c.callout_id for c in callout_rows if c.checked_in_at is not None}
    callouts_of = Counter(c.whistle_id for c in callout_rows)
    checked_in_of = Counter(c.whistle_id for c in callout_rows if c.checked_in_at is not None)
    issued_events = Counter(b["callout_id"] for b in _bodies(db, "dispatch", d_platform, "callout.issued"))
    announced = Counter(c["callout_id"] for b in _bodies(db, "dispatch", d_platform, "callouts.issued")
                        for c in b["callouts"])
    checkin_events = Counter(b["callout_id"] for b in _bodies(db, "dispatch", d_platform, "callout.checked_in"))

    # ---------------------------------------------------------------- roster and metrics
    team_rows = db.rows("roster", select(r_teams.c.whistle_id))
    teams_of = Counter(r.whistle_id for r in team_rows)
    facts = db.rows("metrics", select(callout_facts.c.callout_id, callout_facts.c.checked_in_at))
    fact_ids = {r.callout_id for r in facts}
    fact_checked = {r.callout_id for r in facts if r.checked_in_at is not None}
    prometheus = metrics_url is not None
    metrics_text = requests.get(metrics_url, timeout=10).text if prometheus else ""
    latency_count = metric_sum(metrics_text, "chuishao_checkin_latency_seconds_count")
    issued_metric = metric_sum(metrics_text, "chuishao_callouts_issued_total")
    checkins_metric = metric_sum(metrics_text, "chuishao_checkins_total")

    # ---------------------------------------------------------------- broker
    f.dead_letters = dead_letters(amqp_uri, namespace)
    depths = queue_depths(amqp_uri, namespace, departments_of(list(plans.values())))
    f.queues = {q: n for q, n in depths.items() if n}

    # ---------------------------------------------------------------- figures
    stored_requests = {rid for (_, rid) in by_request}
    expected = sum(len(plans[rid].departments) for rid in stored_requests)
    expected_sent = sum(len(plans[rid].departments) for rid in confirmed)
    delivered = {cid for cid, r in ledger.received.items() if r.request_id in plans}
    joint = {rid for rid in stored_requests if plans[rid].category in joint_categories}
    f.figures = {
        "whistles planned": len(plans),
        "whistles sent (confirmed by the broker)": len(confirmed),
        "whistles stored (unique street+request id)": len(by_request),
        "whistle rows stored": len(ours),
        "dispatch cases": len(case_rows),
        "call-outs expected (matrix, for stored whistles)": expected,
        "call-outs expected (matrix, for sent whistles)": expected_sent,
        "call-outs issued (dispatch rows)": len(callout_rows),
        "call-outs received by departments (distinct)": len(delivered),
        "check-ins sent by departments (distinct call-outs)": len(ledger.checkins),
        "check-ins accepted (outcomes seen)": len(ledger.accepted),
        "check-ins recorded by dispatch": len(checked_in),
        "check-ins on whistle timelines": timeline_kinds["callout.checked_in"],
        "call-out facts in metrics": len(fact_ids),
        "check-ins in metrics facts": len(fact_checked),
        **({"metrics chuishao_checkin_latency_seconds_count (sum)": int(latency_count),
            "metrics chuishao_checkins_total (sum)": int(checkins_metric),
            "metrics chuishao_callouts_issued_total (sum)": int(issued_metric)} if prometheus else
           {"metrics' Prometheus counters": "not compared: several metrics replicas"}),
        "joint teams expected / formed": f"{len(joint)} / {len(team_rows)}",
        "outbox backlog (all services)": sum(backlog(db, s, p) for s, p in BACKLOGS),
        "messages left on service queues": sum(v for k, v in depths.items() if k != DEADLETTERS and v > 0),
        "messages held unacknowledged after the drain": sum(f.unacked.values()),
        "dead letters": len(f.dead_letters),
    }
    f.wire = {
        "whistle publishes (incl. retries)": ledger.publishes,
        "whistle publish retries by reason": dict(ledger.publish_failures),
        "call-out deliveries to departments (incl. redeliveries)": ledger.callout_deliveries,
        "check-in sends (incl. retries)": sum(c.sends for c in ledger.checkins.values()),
        "check-ins answered 'repeated'": ledger.accepted_repeated,
        "department reconnects by reason": dict(ledger.department_errors),
        "street outcomes 'raised' seen": len(ledger.outcomes_raised),
        "street outcomes 'rejected' seen": len(ledger.outcomes_rejected),
        "check-in outcomes 'rejected' seen": len(ledger.rejected),
        "call-outs not for our whistles": len(ledger.strays),
    }

    # ---------------------------------------------------------------- lost
    lost = f.lost
    lost["sent but not stored"] = sorted(confirmed - stored_requests)
    missing = []
    for rid in sorted(stored_requests):
        wid = whistle_of[rid]
        for dept in sorted(plans[rid].departments - issued_for.get(wid, set())):
            missing.append(f"{rid}/{dept}")
    lost["expected call-out not issued"] = missing
    lost["issued but never delivered to its department"] = sorted(
        c.callout_id for c in callout_rows if c.callout_id not in ledger.received)
    lost["checked in but not recorded"] = sorted(cid for cid in ledger.checkins if cid not in checked_in)
    lost["call-out issued but not announced to ourselves"] = sorted(
        c.callout_id for c in callout_rows if c.callout_id not in announced)
    lost["call-out missing from metrics facts"] = sorted(
        c.callout_id for c in callout_rows if c.callout_id not in fact_ids)
    lost["check-in missing from metrics facts"] = sorted(checked_in - fact_checked)
    lost["latency observations missing from /metrics"] = (
        [f"{int(len(checked_in) - latency_count)} observations"]
        if prometheus and latency_count < len(checked_in) else [])
    lost["progress missing from whistle timelines"] = sorted(
        wid for wid in request_of
        if timeline_per[wid]["callout.issued"] < callouts_of[wid]
        or timeline_per[wid]["callout.checked_in"] < checked_in_of[wid])
    lost["joint team not formed"] = sorted(rid for rid in joint if teams_of[whistle_of[rid]] == 0)

    # ---------------------------------------------------------------- duplicate effects
    dup = f.duplicates
    dup["two whistles for one request id"] = sorted(
        {rid for (_, rid), ids in by_request.items() if len(ids) > 1}
        | {rid for rid, ids in raised_events.items() if rid in plans and len(ids) > 1})
    dup["two cases for one whistle"] = sorted(
        wid for wid, n in Counter(r.whistle_id for r in case_rows).items() if n > 1)
    received_by = defaultdict(set)
    for r in ledger.received.values():
        received_by[(r.whistle_id, r.department, r.round)].add(r.callout_id)
    dup["two call-outs for one (whistle, department, round)"] = sorted(
        {"/".join(map(str, k)) for k, ids in issued_by.items() if len(ids) > 1}
        | {"/".join(map(str, k)) for k, ids in received_by.items() if len(ids) > 1})
    dup["one call-out issued twice (two events)"] = sorted(cid for cid, n in issued_events.items() if n > 1)
    dup["one call-out announced twice"] = sorted(cid for cid, n in announced.items() if n > 1)
    dup["two check-ins recorded for one call-out"] = sorted(cid for cid, n in checkin_events.items() if n > 1)
    dup["latency observation counted twice in /metrics"] = (
        [f"{int(latency_count - len(checked_in))} observations"]
        if prometheus and latency_count > len(checked_in) else [])
    dup["call-out counted twice in /metrics"] = (
        [f"{int(issued_metric - len(callout_rows))} call-outs"]
        if prometheus and issued_metric > len(callout_rows) else [])
    dup["progress recorded twice on whistle timelines"] = sorted(
        wid for wid in request_of
        if timeline_per[wid]["callout.issued"] > callouts_of[wid]
        or timeline_per[wid]["callout.checked_in"] > checked_in_of[wid]
        or timeline_per[wid]["whistle.raised"] > 1)
    dup["two joint teams for one whistle"] = sorted(wid for wid, n in teams_of.items() if n > 1)
    return f


def drain(db: Databases, ledger: Ledger, metrics_url: str | None, broker, namespace: str, deadline: float,
          stall: float, log=print) -> tuple[dict, str]:
    """Polls until the counts agree (settled), stop changing for `stall` seconds, or the deadline passes."""
    last, changed = None, time.monotonic()
    counts = {}
    while True:
        try:
            counts = progress(db, ledger, metrics_url, broker.amqp_uri, namespace)
            counts["unacked"] = sum(unacked(broker, namespace).values()) if settled(counts) else -1
        except Exception as exc:  # noqa: BLE001 - a database or broker briefly away
            log(f"drain: could not count yet: {exc}")
            time.sleep(1)
            if time.monotonic() > deadline:
                return counts, "deadline"
            continue
        if settled(counts) and counts["unacked"] == 0:
            return counts, "settled"
        if counts != last:
            last, changed = counts, time.monotonic()
            log(f"drain: {counts}")
        elif time.monotonic() - changed > stall:
            return counts, f"no change for {stall:g} s"
        if time.monotonic() > deadline:
            return counts, "deadline"
        time.sleep(1)

"""One storm: whistles streamed through the running services while faults are injected mid-stream, the
drain, the counts, the report, and the list of what went wrong. Shared by the fault suite, the cluster
run and the replica runs (test_faults.py, test_cluster.py, test_replicas.py)."""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import Protocol

from services.common.reference import load_reference
from tests.chaos import accounting, report
from tests.chaos.faults import Fault, FaultRecord, Schedule
from tests.chaos.traffic import Ledger, Pacer, Traffic, plans
from tests.support.processes import ROOT

SERVICES = ("whistle", "dispatch", "roster", "metrics")


def env_number(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


def say(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Observer(Protocol):
    """Something that watches the system during the stream (e.g. an HTTP client) and reports on it."""

    def start(self, ledger: Ledger) -> None: ...
    def stop(self) -> None: ...
    def figures(self) -> dict: ...
    def problems(self) -> list[str]: ...


@dataclass
class Storm:
    """What to run: `count` whistles at up to `rate`/s, at most `window` in flight, and the faults."""

    stack: object                      # a ChaosStack, started
    broker: object                     # a PrivateBroker or PrivateCluster: what the outside world reaches
    faults: list[Fault]
    count: int
    rate: float
    window: int
    retry_after: float
    report_name: str
    settings: dict = field(default_factory=dict)      # shown in the report's Run table
    observers: list = field(default_factory=list)


@dataclass
class Outcome:
    findings: accounting.Findings
    records: list[FaultRecord]
    problems: list[str]
    path: object
    observed: dict


def run(storm: Storm) -> Outcome:
    stack, broker, faults = storm.stack, storm.broker, storm.faults
    reference = load_reference()
    started = time.monotonic()
    all_plans = plans(reference, storm.count, stack.run_id)
    segment = storm.count / (len(faults) + 1)
    ledger = Ledger(all_plans)
    pacer = Pacer(ledger, storm.rate, storm.window, segment, len(faults))
    traffic = Traffic(broker.amqp_uri, stack.namespace, reference, all_plans, ledger, pacer, storm.retry_after)
    schedule = Schedule(faults, ledger, pacer, segment)
    db = accounting.Databases(stack.database_url)
    # several metrics replicas: each rebuilds the whole history when it starts, so their counters are not compared
    metrics_url = f"{stack.url('metrics')}/metrics" if len(stack.replica_keys("metrics")) == 1 else None
    try:
        traffic.start()
        for observer in storm.observers:
            observer.start(ledger)
        schedule.start()
        say(f"{storm.count} whistles at up to {storm.rate:g}/s (at most {storm.window} in flight), "
            f"{len(faults)} faults")
        stream_deadline = time.monotonic() + storm.count / storm.rate * 4 + len(faults) * 200 + 120
        last = 0.0
        while (traffic.publisher.is_alive() or schedule.is_alive()) and time.monotonic() < stream_deadline:
            time.sleep(0.5)
            if time.monotonic() - last > 10:
                last = time.monotonic()
                done = sum(1 for r in schedule.records if r.ended)
                say(f"{ledger.snapshot()} faults done {done}/{len(faults)}")
        streamed = time.monotonic()
        stream_finished = not traffic.publisher.is_alive() and not schedule.is_alive()
        schedule.stop()
        for observer in storm.observers:
            observer.stop()
        say("stream over; draining" if stream_finished else "stream deadline passed; draining what there is")

        drain_deadline = time.monotonic() + 180 + storm.count / 20
        counts, why = accounting.drain(db, ledger, metrics_url, broker, stack.namespace,
                                       drain_deadline, stall=max(45.0, 2 * storm.retry_after), log=say)
        drained = time.monotonic()
        diagnostics = ""
        if why != "settled":
            say(f"not settled ({why}): dumping every service's greenthreads to its log, asking the broker")
            stack.dump_stacks()
            diagnostics = broker.diagnostics()
            time.sleep(1)
        joint = {c.code for c in reference.categories if c.joint_enforcement}
        findings = accounting.collect(db, ledger, metrics_url, broker, stack.namespace, joint)
    finally:
        traffic.stop()
        schedule.stop()
        for observer in storm.observers:
            observer.stop()
        db.dispose()

    settings = {"whistles": storm.count,
                "replicas": ", ".join(f"{s} {len(stack.replica_keys(s))}" for s in SERVICES),
                "faults": len(faults), **storm.settings,
                "rate limit (whistles/s)": f"{storm.rate:g}", "in-flight window": storm.window,
                "database": stack.database_url.split(":")[0],
                "MAX_DELIVERY_ATTEMPTS": stack.env()["MAX_DELIVERY_ATTEMPTS"],
                "check-in re-send after (s)": f"{storm.retry_after:g}, doubling to {16 * storm.retry_after:g}",
                "departments": len(traffic.departments)}
    elapsed = {"stream (s)": f"{streamed - started:.0f}", "drain (s)": f"{drained - streamed:.0f}",
               "throughput (whistles/s, stream)": f"{len(ledger.confirmed) / max(1.0, streamed - started):.1f}"}
    observed = {}
    for observer in storm.observers:
        observed.update(observer.figures())
    text = report.render(settings, findings, schedule.records, {"why": why, "counts": counts}, elapsed,
                         diagnostics, observed)
    path = report.write(text, ROOT, storm.report_name)
    say(f"report written to {path}")
    print("\n" + text, flush=True)

    problems = []
    if traffic.publisher.error or schedule.error:
        problems.append(f"a driver thread failed: {traffic.publisher.error or schedule.error!r}")
    if not stream_finished:
        problems.append(f"the stream did not finish: {ledger.snapshot()}")
    failed_faults = [f"{r.name}: {r.error}" for r in schedule.records if r.error]
    if failed_faults:
        problems.append(f"faults that could not be injected or healed: {failed_faults}")
    unrecovered = [r.name for r in schedule.records if r.started and r.recovered is None]
    if unrecovered:
        problems.append(f"no recovery measured after: {unrecovered}")
    lost = {k: len(v) for k, v in findings.lost.items() if v}
    duplicates = {k: len(v) for k, v in findings.duplicates.items() if v}
    if lost:
        problems.append(f"LOST {findings.lost_total}: {lost}")
    if duplicates:
        problems.append(f"DUPLICATE EFFECTS {findings.duplicates_total}: {duplicates}")
    if findings.unacked:
        problems.append(f"messages held unacknowledged after the drain (a consumer's prefetch slots lost): "
                        f"{findings.unacked}")
    if findings.figures["outbox backlog (all services)"]:
        problems.append(f"outbox backlog left: {findings.figures['outbox backlog (all services)']}")
    for observer in storm.observers:
        problems += observer.problems()
    return Outcome(findings, schedule.records, problems, path, observed)

"""The fault suite: a stream of whistles through all four services while they are killed, the broker
restarts, databases go away and connections are cut; then nothing may be lost and nothing doubled.

Size: CHAOS_WHISTLES (default 300, the small run inside `make test`; `make chaos` runs 10,000).
Other knobs (environment): CHAOS_RATE (whistles/s, default sized so the stream spans every fault),
CHAOS_WINDOW (whistles in flight at most, default 60), CHAOS_DB_OUTAGE_SECONDS (5),
CHAOS_CUT_SECONDS (5), CHAOS_DOWN_SECONDS (2: how long a killed service or the stopped broker stays
down), CHAOS_CHECKIN_RETRY_SECONDS (30; doubles per re-send, up to 16 times), CHAOS_FAULT_ROUNDS (times
the eight faults are repeated, default one per 2,500 whistles). The report is printed and written to var/chaos-report.md.

Topology: the suite starts its own RabbitMQ node (tests/chaos/broker.py) and a cuttable TCP proxy
(tests/chaos/proxy.py) in front of it. The services reach the broker only through the proxy; the
streets, the departments and the observers of this test connect to the node directly.
"""
from __future__ import annotations

import os
import sys
import time

import pytest

from services.common.reference import load_reference
from tests.chaos import accounting, report
from tests.chaos.faults import Schedule, default_faults
from tests.chaos.proxy import ProxyProcess
from tests.chaos.stack import ChaosStack
from tests.chaos.traffic import Ledger, Pacer, Traffic, plans
from tests.support.processes import ROOT, drop_databases, free_port

pytestmark = pytest.mark.chaos
SERVICES = ("whistle", "dispatch", "roster", "metrics")


def env_number(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


def say(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@pytest.fixture
def chaos_stack(private_broker, tmp_path):
    proxy = ProxyProcess(free_port(), private_broker.port, free_port(), tmp_path / "proxy.log").start()
    stack = ChaosStack(tmp_path, extra_env={
        "MAX_DELIVERY_ATTEMPTS": os.environ.get("CHAOS_MAX_DELIVERY_ATTEMPTS", "5"),   # the production default
        "PYTHONUNBUFFERED": "1",
    })
    stack.amqp_uri = f"amqp://guest:guest@127.0.0.1:{proxy.listen_port}/"
    stack.proxy = proxy
    try:
        yield stack
    finally:
        stack.stop()
        proxy.stop()
        drop_databases(stack.database_url, SERVICES)


def test_nothing_lost_nothing_doubled_under_faults(private_broker, chaos_stack, request):
    stack, broker, proxy = chaos_stack, private_broker, chaos_stack.proxy
    count = int(env_number("CHAOS_WHISTLES", 300))
    rate = env_number("CHAOS_RATE", min(60.0, max(3.0, count / 50)))
    window = int(env_number("CHAOS_WINDOW", 60))
    db_seconds = env_number("CHAOS_DB_OUTAGE_SECONDS", 5)
    cut_seconds = env_number("CHAOS_CUT_SECONDS", 5)
    down_seconds = env_number("CHAOS_DOWN_SECONDS", 2)
    retry_after = env_number("CHAOS_CHECKIN_RETRY_SECONDS", 30)
    reference = load_reference()
    started = time.monotonic()

    say(f"private broker {broker.nodename} on :{broker.port}, proxy :{proxy.listen_port}, "
        f"databases {stack.database_url}")
    stack.start(*SERVICES)
    say("four services up behind the proxy")

    rounds = int(env_number("CHAOS_FAULT_ROUNDS", max(1, count // 2500)))
    faults = default_faults(stack, broker, proxy, db_seconds, cut_seconds, down_seconds) * rounds
    all_plans = plans(reference, count, stack.run_id)
    segment = count / (len(faults) + 1)
    ledger = Ledger(all_plans)
    pacer = Pacer(ledger, rate, window, segment, len(faults))
    traffic = Traffic(broker.amqp_uri, stack.namespace, reference, all_plans, ledger, pacer, retry_after)
    schedule = Schedule(faults, ledger, pacer, segment)
    db = accounting.Databases(stack.database_url)
    metrics_url = f"{stack.url('metrics')}/metrics"
    try:
        traffic.start()
        schedule.start()
        say(f"{count} whistles at up to {rate:g}/s (at most {window} in flight), {len(faults)} faults")
        stream_deadline = time.monotonic() + count / rate * 4 + len(faults) * 200 + 120
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
        say("stream over; draining" if stream_finished else "stream deadline passed; draining what there is")

        drain_deadline = time.monotonic() + 180 + count / 20
        counts, why = accounting.drain(db, ledger, metrics_url, broker, stack.namespace,
                                       drain_deadline, stall=max(45.0, 2 * retry_after), log=say)
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
        db.dispose()

    settings = {"whistles": count, "faults": f"{len(faults)} ({rounds} round(s) of {len(faults) // rounds})",
                "rate limit (whistles/s)": f"{rate:g}", "in-flight window": window,
                "database": stack.database_url.split(":")[0], "MAX_DELIVERY_ATTEMPTS":
                stack.env()["MAX_DELIVERY_ATTEMPTS"],
                "check-in re-send after (s)": f"{retry_after:g}, doubling to {16 * retry_after:g}",
                "departments": len(traffic.departments)}
    elapsed = {"stream (s)": f"{streamed - started:.0f}", "drain (s)": f"{drained - streamed:.0f}",
               "throughput (whistles/s, stream)": f"{len(ledger.confirmed) / max(1.0, streamed - started):.1f}"}
    text = report.render(settings, findings, schedule.records, {"why": why, "counts": counts}, elapsed,
                         diagnostics)
    path = report.write(text, ROOT)
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
    if problems:
        request.node.add_report_section("call", "service logs", stack.logs())
    assert not problems, f"see {path}:\n" + "\n".join(problems)

"""The fault suite: a stream of whistles through all four services while they are killed, the broker
restarts, databases go away and connections are cut; then nothing may be lost and nothing doubled.

Size: CHAOS_WHISTLES (default 300, the small run inside `make test`; `make chaos` runs 10,000).
Other knobs (environment): CHAOS_RATE (whistles/s, default sized so the stream spans every fault),
CHAOS_WINDOW (whistles in flight at most, default 60), CHAOS_DB_OUTAGE_SECONDS (5),
CHAOS_CUT_SECONDS (5), CHAOS_DOWN_SECONDS (2: how long a killed service or the stopped broker stays
down), CHAOS_CHECKIN_RETRY_SECONDS (30; doubles per re-send, up to 16 times), CHAOS_FAULT_ROUNDS (times
the eight faults are repeated, default one per 2,500 whistles). The report is printed and written to
var/chaos-report.md.

Replicas: CHAOS_REPLICAS runs each service as competing replicas, "2" for every service or per service
("whistle=3,dispatch=3,roster=2,metrics=2"; `make replica-test`, on PostgreSQL). Each kill then hits one
replica (round k the k-th); the report goes to var/chaos-report-replicas.md. With several metrics
replicas its Prometheus counters are not compared (each replica rebuilds the whole history from the
read model when it starts, so their sum is not the total); its read model is.

Topology: the suite starts its own RabbitMQ node (tests/chaos/broker.py) and a cuttable TCP proxy
(tests/chaos/proxy.py) in front of it. The services reach the broker only through the proxy; the
streets, the departments and the observers of this test connect to the node directly.
"""
from __future__ import annotations

import os

import pytest

from tests.chaos import storm
from tests.chaos.faults import default_faults
from tests.chaos.proxy import ProxyProcess
from tests.chaos.stack import ChaosStack, parse_replicas
from tests.chaos.storm import SERVICES, env_number, say
from tests.support.processes import drop_databases, free_port

pytestmark = pytest.mark.chaos


@pytest.fixture
def chaos_stack(private_broker, tmp_path):
    proxy = ProxyProcess(free_port(), private_broker.port, free_port(), tmp_path / "proxy.log").start()
    stack = ChaosStack(tmp_path, extra_env={
        "MAX_DELIVERY_ATTEMPTS": os.environ.get("CHAOS_MAX_DELIVERY_ATTEMPTS", "5"),   # the production default
        "PYTHONUNBUFFERED": "1",
    }, replicas=parse_replicas(os.environ.get("CHAOS_REPLICAS", ""), SERVICES))
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
    db_seconds = env_number("CHAOS_DB_OUTAGE_SECONDS", 5)
    cut_seconds = env_number("CHAOS_CUT_SECONDS", 5)
    down_seconds = env_number("CHAOS_DOWN_SECONDS", 2)

    say(f"private broker {broker.nodename} on :{broker.port}, proxy :{proxy.listen_port}, "
        f"databases {stack.database_url}")
    stack.start(*SERVICES)
    say("four services up behind the proxy")

    rounds = int(env_number("CHAOS_FAULT_ROUNDS", max(1, count // 2500)))
    faults = []
    for k in range(rounds):          # round k kills the k-th replica of each service (the only one, without replicas)
        targets = tuple(stack.replica_keys(s)[k % len(stack.replica_keys(s))] for s in SERVICES)
        faults += default_faults(stack, broker, proxy, db_seconds, cut_seconds, down_seconds, services=targets)
    outcome = storm.run(storm.Storm(
        stack, broker, faults, count,
        rate=env_number("CHAOS_RATE", min(60.0, max(3.0, count / 50))),
        window=int(env_number("CHAOS_WINDOW", 60)),
        retry_after=env_number("CHAOS_CHECKIN_RETRY_SECONDS", 30),
        report_name="chaos-report-replicas.md" if stack.replicas else "chaos-report.md",
        settings={"fault rounds": f"{rounds} of {len(faults) // rounds}"}))
    if outcome.problems:
        request.node.add_report_section("call", "service logs", stack.logs())
    assert not outcome.problems, f"see {outcome.path}:\n" + "\n".join(outcome.problems)

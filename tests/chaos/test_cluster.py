"""The four services on a three-node RabbitMQ cluster (`make cluster-test`): a stream of whistles while one
node is stopped and later started again, then another is killed (-9) and started again; nothing may be
lost and nothing doubled.

Topology: three private nodes on loopback ports joined into one cluster (tests/chaos/broker.py
PrivateCluster); the services, the streets and the departments get every node in AMQP_URI
(`;`-separated) and fail over to the next when theirs goes. Every queue of the deployment must be a
quorum queue with a replica on each node, so a node's loss loses no message and stops no consumer;
while each node is down, every service's nameko RPC must answer again (its RPC queue is quorum too).

Knobs (environment): CLUSTER_WHISTLES (default 120, the small run inside `make test`; `make
cluster-test` runs 1,000), CLUSTER_RATE (whistles/s, default 5; 8), CLUSTER_DOWN_SECONDS (how long
each node stays down, default 5; 15), CLUSTER_REPLICAS (replicas per service, as CHAOS_REPLICAS;
default one each). Report: var/cluster-report.md.
"""
from __future__ import annotations

import os
import time

import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import create_engine, select

from services.common.broker import department_queue, street_queue
from services.common.events import DEADLETTERS
from services.common.guard import rpc_context
from services.common.reference import load_reference
from tests.chaos import storm
from tests.chaos.broker import PrivateCluster, rabbitmq_scripts
from tests.chaos.faults import kill_node, stop_node
from tests.chaos.stack import ChaosStack, parse_replicas
from tests.chaos.storm import SERVICES, env_number, say
from tests.support.bus import SERVICE_QUEUES
from services.whistle.orm import whistles
from tests.support.processes import drop_databases

pytestmark = pytest.mark.chaos
RPC_SERVICES = ("whistle", "dispatch", "roster")       # the services with nameko RPC entrypoints


@pytest.fixture(scope="module")
def private_cluster(tmp_path_factory):
    if rabbitmq_scripts() is None:
        pytest.skip("rabbitmq-server is not installed: the cluster run starts three private RabbitMQ nodes")
    cluster = PrivateCluster(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start()
    except Exception:
        cluster.kill()
        raise
    yield cluster
    try:
        cluster.stop()
    finally:
        cluster.kill()


@pytest.fixture
def cluster_stack(private_cluster, tmp_path):
    stack = ChaosStack(tmp_path, extra_env={"MAX_DELIVERY_ATTEMPTS": "5", "PYTHONUNBUFFERED": "1"},
                       replicas=parse_replicas(os.environ.get("CLUSTER_REPLICAS", ""), SERVICES))
    stack.amqp_uri = private_cluster.amqp_uri
    try:
        yield stack
    finally:
        stack.stop()
        drop_databases(stack.database_url, SERVICES)


def expected_queues(namespace: str) -> set[str]:
    """Queues the deployment must have declared (at least: every queue found is checked, these must be found)."""
    reference = load_reference()
    names = {*SERVICE_QUEUES, DEADLETTERS, *(f"rpc-{s}" for s in RPC_SERVICES)}
    names |= {department_queue(d.code) for d in reference.departments}
    names |= {f"department.{d.code}.outcomes" for d in reference.departments}
    names |= {street_queue(s.code) for s in reference.streets}
    return {f"{namespace}{n}" for n in names}


class RpcProbe:
    """While a node is down: how long until each service answers an RPC call about a stored whistle."""

    CALLS = (("whistle", "get_whistle"), ("dispatch", "callouts_of"), ("roster", "team_of"))

    def __init__(self, stack, patience: float = 30.0):
        self.stack = stack
        self.patience = patience
        self.answered: dict[str, dict[str, float | None]] = {}     # fault -> service -> seconds

    def during(self, fault: str):
        def probe():
            whistle_id = self._a_whistle()
            started = time.monotonic()
            found = self.answered.setdefault(fault, {})
            for service, method in self.CALLS:
                found[service] = None
                while time.monotonic() - started < self.patience:
                    try:
                        with ClusterRpcProxy(self.stack.rpc_config(), timeout=5, context_data=self._context()) as rpc:
                            getattr(getattr(rpc, service), method)(whistle_id)
                        found[service] = round(time.monotonic() - started, 1)
                        break
                    except Exception:  # noqa: BLE001 - its node is gone, or the consumer not back yet
                        time.sleep(0.5)
        return probe

    # ------------------------------------------------------------------ as a storm observer
    def start(self, ledger) -> None:
        pass

    def stop(self) -> None:
        pass

    def figures(self) -> dict:
        return {f"RPC {service} answered again while {fault} (s after it went down)":
                "no answer" if seconds is None else seconds
                for fault, found in self.answered.items() for service, seconds in found.items()}

    def problems(self) -> list[str]:
        return [f"{service} RPC did not answer within {self.patience:g} s while {fault}"
                for fault, found in self.answered.items() for service, seconds in found.items() if seconds is None]

    def _context(self) -> dict:
        """A service principal's token where the stack issues them (Stack.token, once RPC checks tokens)."""
        token = getattr(self.stack, "token", None)
        return rpc_context(token()) if token else {}

    def _a_whistle(self) -> str:
        engine = create_engine(self.stack.database_url.replace("{service}", "whistle"))
        try:
            with engine.connect() as conn:
                return conn.execute(select(whistles.c.id).limit(1)).scalar_one()
        finally:
            engine.dispose()


def test_a_node_lost_mid_stream_loses_nothing(private_cluster, cluster_stack, request):
    cluster, stack = private_cluster, cluster_stack
    nodes = sorted(n.nodename for n in cluster.nodes)
    say(f"cluster {cluster.nodename}; databases {stack.database_url}")
    stack.start(*SERVICES)
    say("four services up on the cluster")

    queues = cluster.queues(stack.namespace)
    assert expected_queues(stack.namespace) <= set(queues), expected_queues(stack.namespace) - set(queues)
    unreplicated = {name: shape for name, shape in queues.items() if shape != ("quorum", nodes)}
    assert not unreplicated, f"queues that are not quorum queues on all three nodes: {unreplicated}"

    down = env_number("CLUSTER_DOWN_SECONDS", 5)
    count = int(env_number("CLUSTER_WHISTLES", 120))
    rpc = RpcProbe(stack)
    faults = [stop_node(cluster, 0, down, rpc.during("stop node 1")),
              kill_node(cluster, 1, down, rpc.during("kill -9 node 2"))]
    outcome = storm.run(storm.Storm(
        stack, cluster, faults, count,
        rate=env_number("CLUSTER_RATE", 5), window=60, retry_after=30, report_name="cluster-report.md",
        settings={"broker": f"3-node cluster ({', '.join(nodes)})",
                  "queues": f"{len(queues)}, every one quorum with a replica on each node"},
        observers=[rpc]))
    problems = list(outcome.problems)
    if len(rpc.answered) != len(faults):
        problems.append(f"the RPC probe ran during {sorted(rpc.answered)} only")
    if problems:
        request.node.add_report_section("call", "service logs", stack.logs())
    assert not problems, f"see {outcome.path}:\n" + "\n".join(problems)

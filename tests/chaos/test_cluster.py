"""The four services on a three-node RabbitMQ cluster (`make cluster-test`): a stream of whistles while one
node is stopped and later started again, then another is killed (-9) and started again; nothing may be
lost and nothing doubled.

Topology: three private nodes on loopback ports joined into one cluster (tests/chaos/broker.py
PrivateCluster); the services, the streets and the departments get every node in AMQP_URI
(`;`-separated) and fail over to the next when theirs goes. Every queue of the deployment must be a
quorum queue with a replica on each node, so a node's loss loses no message and stops no consumer.

Knobs (environment): CLUSTER_WHISTLES (default 120, the small run inside `make test`; `make
cluster-test` runs 1,000), CLUSTER_RATE (whistles/s, default 5; 8), CLUSTER_DOWN_SECONDS (how long
each node stays down, default 5; 15), CLUSTER_REPLICAS (replicas per service, as CHAOS_REPLICAS;
default one each). Report: var/cluster-report.md.
"""
from __future__ import annotations

import os

import pytest

from services.common.broker import department_queue, street_queue
from services.common.events import DEADLETTERS
from services.common.reference import load_reference
from tests.chaos import storm
from tests.chaos.broker import PrivateCluster, rabbitmq_scripts
from tests.chaos.faults import kill_node, stop_node
from tests.chaos.stack import ChaosStack, parse_replicas
from tests.chaos.storm import SERVICES, env_number, say
from tests.support.bus import SERVICE_QUEUES
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
    reference = load_reference()
    names = {*SERVICE_QUEUES, DEADLETTERS, *(f"rpc-{s}" for s in RPC_SERVICES)}
    names |= {department_queue(d.code) for d in reference.departments}
    names |= {f"department.{d.code}.outcomes" for d in reference.departments}
    names |= {street_queue(s.code) for s in reference.streets}
    return {f"{namespace}{n}" for n in names}


def test_a_node_lost_mid_stream_loses_nothing(private_cluster, cluster_stack, request):
    cluster, stack = private_cluster, cluster_stack
    nodes = sorted(n.nodename for n in cluster.nodes)
    say(f"cluster {cluster.nodename}; databases {stack.database_url}")
    stack.start(*SERVICES)
    say("four services up on the cluster")

    queues = cluster.queues(stack.namespace)
    assert set(queues) == expected_queues(stack.namespace), set(queues) ^ expected_queues(stack.namespace)
    unreplicated = {name: shape for name, shape in queues.items() if shape != ("quorum", nodes)}
    assert not unreplicated, f"queues that are not quorum queues on all three nodes: {unreplicated}"

    down = env_number("CLUSTER_DOWN_SECONDS", 5)
    count = int(env_number("CLUSTER_WHISTLES", 120))
    outcome = storm.run(storm.Storm(
        stack, cluster, [stop_node(cluster, 0, down), kill_node(cluster, 1, down)], count,
        rate=env_number("CLUSTER_RATE", 5), window=60, retry_after=30, report_name="cluster-report.md",
        settings={"broker": f"3-node cluster ({', '.join(nodes)})",
                  "queues": f"{len(queues)}, every one quorum with a replica on each node"}))
    if outcome.problems:
        request.node.add_report_section("call", "service logs", stack.logs())
    assert not outcome.problems, f"see {outcome.path}:\n" + "\n".join(outcome.problems)

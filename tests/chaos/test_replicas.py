"""Every service as competing replicas on PostgreSQL (`make replica-test`): a rolling restart of each
service, one replica at a time, while whistles stream through and an HTTP client reads from every
service; nothing may be lost, nothing doubled, and no HTTP request may get a 5xx or go unanswered.

How HTTP is counted (tests/chaos/http_poller.py): each read goes to the service's replicas in turn,
as a load balancer would; a replica that is down (connection refused, reset, or no answer within
10 s) is a connection error and the next replica is asked; a 5xx from any replica, or a request no
replica answered, is a failure. The kill -9 of single replicas is the fault suite's storm with
CHAOS_REPLICAS (test_faults.py), which `make replica-test` runs too.

Knobs (environment): REPLICAS (as CHAOS_REPLICAS; default two of each service), REPLICA_WHISTLES
(default 300), REPLICA_RATE (default 5/s). PostgreSQL: DATABASE_URL when it names one, else
TEST_POSTGRES_URL (scripts/postgres-url.sh's default). Report: var/replicas-rolling-report.md.
"""
from __future__ import annotations

import os

import pytest

from tests.chaos import storm
from tests.chaos.faults import rolling_restart
from tests.chaos.http_poller import HttpPoller
from tests.chaos.stack import ChaosStack, parse_replicas
from tests.chaos.storm import SERVICES, env_number, say
from tests.migrations.conftest import postgres_template, postgres_unreachable
from tests.support.processes import drop_databases

pytestmark = pytest.mark.chaos


@pytest.fixture
def replica_stack(private_broker, tmp_path):
    if postgres_unreachable():
        pytest.skip(f"replicas share their service's database, which must be PostgreSQL: {postgres_unreachable()}")
    replicas = parse_replicas(os.environ.get("REPLICAS", "2"), SERVICES)
    stack = ChaosStack(tmp_path, extra_env={"MAX_DELIVERY_ATTEMPTS": "5", "PYTHONUNBUFFERED": "1"},
                       replicas=replicas)
    stack.database_url = postgres_template().replace("{service}", f"{{service}}_{stack.run_id}")
    stack.amqp_uri = private_broker.amqp_uri
    try:
        yield stack
    finally:
        stack.stop()
        drop_databases(stack.database_url, SERVICES)


def test_a_rolling_restart_of_every_service_under_load_loses_nothing_and_answers_every_request(
        private_broker, replica_stack, request):
    stack = replica_stack
    say(f"replicas {stack.replicas}; databases {stack.database_url.split('@')[-1]}")
    stack.start(*SERVICES)
    say("every replica up")
    poller = HttpPoller(stack)
    outcome = storm.run(storm.Storm(
        stack, private_broker, [rolling_restart(stack, s) for s in SERVICES],
        int(env_number("REPLICA_WHISTLES", 300)), rate=env_number("REPLICA_RATE", 5), window=60,
        retry_after=30, report_name="replicas-rolling-report.md",
        settings={"HTTP": "GET a whistle, its call-outs, its team, /metrics, round after round, over the replicas"},
        observers=[poller]))
    if outcome.problems:
        request.node.add_report_section("call", "service logs", stack.logs())
    assert not outcome.problems, f"see {outcome.path}:\n" + "\n".join(outcome.problems)

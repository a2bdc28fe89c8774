"""The fault suite's own broker: a private RabbitMQ node, never the machine's."""
from __future__ import annotations

import logging

import pytest

from tests.chaos.broker import PrivateBroker, rabbitmq_scripts


def pytest_configure(config):
    # the clients reconnect through every fault; pika logs each refused attempt with a traceback
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    config.addinivalue_line("markers", "chaos: fault injection against a private RabbitMQ node (tests/chaos)")


@pytest.fixture(scope="session")
def private_broker(tmp_path_factory):
    if rabbitmq_scripts() is None:
        pytest.skip("rabbitmq-server is not installed: the fault suite starts a private RabbitMQ node of its "
                    "own and cannot run without it (apt-get install rabbitmq-server)")
    broker = PrivateBroker(tmp_path_factory.mktemp("chaos") / "rabbitmq")
    try:
        broker.start()
    except Exception:
        broker.kill()
        raise
    yield broker
    try:
        broker.stop()
    finally:
        broker.kill()

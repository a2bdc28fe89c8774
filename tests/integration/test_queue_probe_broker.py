"""The queue probe against the real RabbitMQ: consumers and depths as the broker counts them."""
from __future__ import annotations

import os
import uuid

import pytest
from kombu import Connection

from services.common.broker import department_queue
from services.common.queue_probe import department_consumers, probe
from tests.support.waiting import wait_for
from tests.unit.test_queue_probe import settings

pytestmark = pytest.mark.integration
AMQP_URI = os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")


def test_consumer_counts_and_depth_from_the_broker():
    ns = f"test.probe-{uuid.uuid4().hex[:8]}."
    cfg = settings(ns)
    listening, silent = (ns + department_queue(d) for d in ("chengguan", "gongan"))
    with Connection(AMQP_URI, connect_timeout=5) as conn:
        admin = conn.channel()
        reader = conn.channel()
        try:
            for queue in (listening, silent):
                admin.queue_declare(queue, durable=True, auto_delete=False, arguments={"x-queue-type": "quorum"})
            for _ in range(3):
                admin.basic_publish(admin.prepare_message(b"{}"), exchange="", routing_key=silent)
            reader.basic_consume(listening, callback=lambda message: None)
            expected = {"chengguan": 1, "gongan": 0, "shuiwu": 0}
            wait_for(lambda: department_consumers(conn.channel, cfg, expected) == expected, 10,
                     what="one consumer on chengguan's queue")
            depth = wait_for(lambda: (d := probe(conn.channel, silent)) and d.messages == 3 and d, 10,
                             what="3 messages in gongan's queue")
            assert depth.consumers == 0
            assert probe(conn.channel, ns + "nowhere") is None
            reader.close()
            wait_for(lambda: department_consumers(conn.channel, cfg, ["chengguan"]) == {"chengguan": 0}, 10,
                     what="the consumer gone")
        finally:
            cleanup = conn.channel()
            for queue in (listening, silent):
                cleanup.queue_delete(queue)
            cleanup.close()

"""Reading consumer counts and queue depths from passive declares (a fake channel: pure logic)."""
from __future__ import annotations

from collections import namedtuple

import pytest
from amqp.exceptions import NotFound
from prometheus_client import REGISTRY

from services.common.queue_probe import QueueDepth, department_consumers, export, probe
from services.common.settings import Settings

Ok = namedtuple("Ok", "queue message_count consumer_count")


class FakeBroker:
    def __init__(self, queues):
        self.queues, self.channels = queues, []

    def channel(self):
        broker = self

        class Channel:
            closed = False

            def queue_declare(self, queue, passive=False):
                assert passive, "a probe must never create a queue"
                if queue not in broker.queues:
                    self.closed = True
                    raise NotFound("NOT_FOUND - no queue")
                return Ok(queue, *broker.queues[queue])

            def close(self):
                self.closed = True
        ch = Channel()
        self.channels.append(ch)
        return ch


def settings(namespace=""):
    return Settings(service="dispatch", amqp_uri="amqp://x", database_url="sqlite://", web_address="x:1",
                    namespace=namespace, max_attempts=5, confirm_timeout=5, outbox_sweep_seconds=2, prefetch=10,
                    sender_check="off", sender_superusers=())


def test_a_probe_reads_depth_and_consumers_on_its_own_channel_and_closes_it():
    broker = FakeBroker({"deadletters": (7, 0)})
    assert probe(broker.channel, "deadletters") == QueueDepth("deadletters", 7, 0)
    assert probe(broker.channel, "nowhere") is None
    assert len(broker.channels) == 2 and all(ch.closed for ch in broker.channels)


def test_department_consumers_names_every_department_and_a_missing_queue_has_none():
    broker = FakeBroker({"t.department.chengguan.callouts": (0, 2), "t.department.gongan.callouts": (5, 0)})
    counts = department_consumers(broker.channel, settings("t."), ["gongan", "chengguan", "shuiwu"])
    assert counts == {"chengguan": 2, "gongan": 0, "shuiwu": 0}


def test_export_sets_the_gauges():
    export({"chengguan": 2, "gongan": 0}, QueueDepth("deadletters", 3, 1))
    value = REGISTRY.get_sample_value
    assert value("chuishao_department_consumers", {"department": "chengguan"}) == 2
    assert value("chuishao_department_consumers", {"department": "gongan"}) == 0
    assert value("chuishao_deadletter_backlog") == 3
    export({}, None)
    assert value("chuishao_deadletter_backlog") == 0


def test_a_broken_connection_is_not_read_as_nobody_listening():
    def broken():
        raise ConnectionRefusedError("broker away")
    with pytest.raises(ConnectionRefusedError):
        department_consumers(broken, settings(), ["chengguan"])


def test_the_outbox_age_is_zero_when_empty_and_never_negative():
    from datetime import datetime, timedelta, timezone

    from services.common.ops_metrics import oldest_unsent_age
    now = datetime(2025, 10, 9, 2, 0, tzinfo=timezone.utc)
    assert oldest_unsent_age(None, now) == 0
    assert oldest_unsent_age(now - timedelta(seconds=90), now) == 90
    assert oldest_unsent_age(now + timedelta(seconds=5), now) == 0

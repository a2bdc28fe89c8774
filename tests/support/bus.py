"""Plain pika clients for tests: what an outside street or department system would do."""
from __future__ import annotations

import json
import time
import uuid

import pika

from services.common.broker import HOTLINE_ANSWERS, department_queue, street_queue
from services.common.events import DEADLETTERS, EXCHANGES
from services.common.reference import load_reference
from services.common.settings import broker_nodes


def nodes_of(amqp_uri: str) -> list[pika.URLParameters]:
    """pika's parameters for each node of a `;`-separated AMQP_URI: BlockingConnection tries them in turn."""
    return [pika.URLParameters(uri) for uri in broker_nodes(amqp_uri)]


def service_queues() -> list[str]:
    """Every queue the services' bus entrypoints declare, read from the services themselves."""
    import importlib

    from services.common.consumer import BusConsumer
    names = []
    for service in ("whistle", "dispatch", "roster", "metrics"):
        cls = importlib.import_module(f"services.{service}.service").SERVICE
        for attribute in dir(cls):
            for entrypoint in getattr(getattr(cls, attribute), "nameko_entrypoints", ()):
                if isinstance(entrypoint, BusConsumer):
                    names.append(entrypoint.queue)
    return names


SERVICE_QUEUES = tuple(service_queues())


class Bus:
    """A blocking pika connection in one namespace, with confirms on."""

    def __init__(self, amqp_uri: str, namespace: str):
        self.namespace = namespace
        self.connection = pika.BlockingConnection(nodes_of(amqp_uri))
        self.channel = self.connection.channel()
        self.channel.confirm_delivery()
        for name in EXCHANGES:
            self.channel.exchange_declare(self.name(name), "topic", durable=True)

    def name(self, bus_name: str) -> str:
        return f"{self.namespace}{bus_name}"

    def publish(self, exchange: str, routing_key: str, body, content_type: str | None = "application/json",
                headers: dict | None = None, message_id: str | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        self.channel.basic_publish(self.name(exchange), routing_key, data,
                                   pika.BasicProperties(content_type=content_type, delivery_mode=2,
                                                        headers=headers,
                                                        message_id=message_id or str(uuid.uuid4())),
                                   mandatory=True)

    def listen(self, exchange: str, routing_key: str) -> "Listener":
        """A private queue bound to one routing key, like a department binding only its own."""
        result = self.channel.queue_declare("", exclusive=True, auto_delete=True)
        queue = result.method.queue
        self.channel.queue_bind(queue, self.name(exchange), routing_key)
        return Listener(self, queue)

    def close(self) -> None:
        if self.connection.is_open:
            self.connection.close()


class Listener:
    def __init__(self, bus: Bus, queue: str):
        self.bus = bus
        self.queue = queue

    def get(self, timeout: float = 20.0, predicate=None):
        """The next message (decoded JSON body, properties) matching predicate, within timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            method, props, body = self.bus.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                self.bus.connection.sleep(0.05)
                continue
            payload = json.loads(body)
            if predicate is None or predicate(payload):
                return payload, props, method
        raise AssertionError(f"no matching message on {self.queue} within {timeout}s")

    def get_all(self, count: int, timeout: float = 20.0, predicate=None) -> list[dict]:
        return [self.get(timeout, predicate)[0] for _ in range(count)]

    def within(self, seconds: float, predicate=None) -> list[dict]:
        """Every message (decoded) matching predicate that arrives within `seconds` (a bounded wait)."""
        found = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            method, _, body = self.bus.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                self.bus.connection.sleep(0.05)
                continue
            payload = json.loads(body)
            if predicate is None or predicate(payload):
                found.append(payload)
        return found

    def nothing_more(self, settle: float = 1.0) -> bool:
        """True if no further message arrives within `settle` seconds (a bounded negative check)."""
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline:
            method, _, _ = self.bus.channel.basic_get(self.queue, auto_ack=False)
            if method is not None:
                self.bus.channel.basic_nack(method.delivery_tag, requeue=True)
                return False
            self.bus.connection.sleep(0.05)
        return True


def dead_letters(bus: Bus) -> list[tuple[dict, bytes]]:
    """Every dead letter in the namespace (headers, body), left in place."""
    out = []
    channel = bus.connection.channel()
    try:
        while True:
            method, props, body = channel.basic_get(bus.name(DEADLETTERS), auto_ack=False)
            if method is None:
                break
            out.append((props.headers or {}, body))
    finally:
        channel.close()    # unacked messages go back to the queue
    return out


def delete_namespace(amqp_uri: str, namespace: str, services=("whistle", "dispatch", "roster", "metrics")):
    """Removes every queue and exchange a test run declared under its namespace."""
    reference = load_reference()
    queues = [*service_queues(), DEADLETTERS, *(f"rpc-{s}" for s in services)]
    queues += [department_queue(d.code) for d in reference.departments]
    queues += [f"department.{d.code}.{kind}" for d in reference.departments for kind in ("outcomes", "assignments")]
    queues += [street_queue(s.code) for s in reference.streets] + [HOTLINE_ANSWERS]
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    try:
        for queue in queues:
            channel = connection.channel()
            channel.queue_delete(f"{namespace}{queue}")
            channel.close()
        for exchange in (*EXCHANGES, DEADLETTERS, "nameko-rpc"):
            channel = connection.channel()
            channel.exchange_delete(f"{namespace}{exchange}")
            channel.close()
    finally:
        connection.close()

"""How many messages wait in a queue and how many consumers read it: a passive declare, no side effect.

For the gauges ops alert on: a department's call-out queue with no consumer (nobody at the
department is listening, so call-outs pile up unseen) and the dead-letter backlog. A passive
`queue_declare` never creates or changes a queue; on a queue that does not exist the broker answers
404 and closes the channel, so every probe uses a channel of its own.

    with connect(settings) as conn:
        consumers = department_consumers(conn.channel, settings, reference.department_codes)
        dead = probe(conn.channel, settings.name(DEADLETTERS))
        export(consumers, dead)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional

from amqp.exceptions import NotFound
from prometheus_client import Gauge

from services.common.broker import department_queue
from services.common.settings import Settings

DEPARTMENT_CONSUMERS = Gauge(
    "chuishao_department_consumers",
    "Consumers reading a department's call-out queue (0: nobody at the department is listening)",
    ["department"])
DEADLETTER_BACKLOG = Gauge("chuishao_deadletter_backlog", "Messages waiting in the dead-letter queue")


@dataclass(frozen=True)
class QueueDepth:
    queue: str
    messages: int
    consumers: int


def probe(open_channel: Callable[[], Any], queue: str) -> Optional[QueueDepth]:
    """The queue's depth and consumer count, or None when it does not exist. Connection errors
    propagate: "cannot tell" must not read as "nobody listening"."""
    channel = open_channel()
    try:
        ok = channel.queue_declare(queue, passive=True)
    except NotFound:
        return None                      # the broker closed this channel with the 404
    try:
        channel.close()
    except Exception:  # noqa: BLE001 - the answer is in hand; a failing close changes nothing
        pass
    return QueueDepth(queue=ok.queue, messages=ok.message_count, consumers=ok.consumer_count)


def department_consumers(open_channel: Callable[[], object], settings: Settings,
                         departments: Iterable[str]) -> dict[str, int]:
    """Consumers per department on its call-out queue; a queue that does not exist has none."""
    out = {}
    for code in sorted(departments):
        depth = probe(open_channel, settings.name(department_queue(code)))
        out[code] = depth.consumers if depth else 0
    return out


def export(consumers: Mapping[str, int], deadletters: Optional[QueueDepth]) -> None:
    """Sets the gauges from one round of probes (a missing dead-letter queue holds nothing)."""
    for code, count in consumers.items():
        DEPARTMENT_CONSUMERS.labels(code).set(count)
    DEADLETTER_BACKLOG.set(deadletters.messages if deadletters else 0)

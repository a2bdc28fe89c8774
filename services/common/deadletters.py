"""Dead letters, read without losing any: list, replay after a fix, or drop (`chuishao dlq`, `make dlq`)."""
from __future__ import annotations

from typing import Callable

import pika
from pika.exceptions import ChannelClosedByBroker

from services.common.events import DEADLETTERS

DEAD_HEADERS = ("x-dead-reason", "x-dead-consumer", "x-original-exchange", "x-original-routing-key",
                "x-original-content-type", "x-dead-lettered-at", "x-attempts")


class DeadLetterQueue:
    """The `deadletters` queue, read without losing anything: what is not settled goes back."""

    def __init__(self, amqp_uri: str, namespace: str = ""):
        self.queue = f"{namespace}{DEADLETTERS}"
        self.connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))

    def close(self):
        if self.connection.is_open:
            self.connection.close()

    def count(self) -> int:
        """Dead letters waiting now (0 when the queue was never declared)."""
        channel = self.connection.channel()
        try:
            return channel.queue_declare(self.queue, passive=True).method.message_count
        except ChannelClosedByBroker as exc:
            if exc.reply_code != 404:
                raise
            return 0
        finally:
            if channel.is_open:
                channel.close()

    def _walk(self, settle, each: Callable[[], None] | None = None):
        """Fetches each message waiting when the walk began, once; settle(channel, method, props, body) acks
        or leaves it. A letter that fails again and comes back meanwhile is left for the next walk."""
        waiting = self.count()
        channel = self.connection.channel()
        channel.confirm_delivery()
        seen = 0
        try:
            while seen < waiting:
                method, props, body = channel.basic_get(self.queue, auto_ack=False)
                if method is None:
                    break
                seen += 1
                settle(channel, method, props, body)
                if each is not None:
                    each()
        finally:
            channel.close()      # whatever was not acked returns to the queue
        return seen

    def list(self) -> list[dict]:
        letters = []
        self._walk(lambda ch, m, p, b: letters.append(describe(p, b)))
        return letters

    def replay(self, message_ids: set[str] | None, each: Callable[[], None] | None = None) -> list[str]:
        """Republishes the chosen letters (all if None) where they first went; returns their ids.

        `each` is called after every letter looked at (replayed or not), e.g. to move a progress bar."""
        replayed = []

        def settle(channel, method, props, body):
            if message_ids is not None and props.message_id not in message_ids:
                return
            headers = {k: v for k, v in (props.headers or {}).items() if k not in DEAD_HEADERS}
            original = props.headers or {}
            channel.basic_publish(original.get("x-original-exchange", ""),
                                  original.get("x-original-routing-key", ""), body,
                                  pika.BasicProperties(content_type=original.get("x-original-content-type")
                                                       or props.content_type, delivery_mode=2,
                                                       message_id=props.message_id, headers=headers),
                                  mandatory=True)
            channel.basic_ack(method.delivery_tag)
            replayed.append(props.message_id)

        self._walk(settle, each)
        return replayed

    def drop(self, message_ids: set[str]) -> list[str]:
        dropped = []

        def settle(channel, method, props, body):
            if props.message_id in message_ids:
                channel.basic_ack(method.delivery_tag)
                dropped.append(props.message_id)

        self._walk(settle)
        return dropped


def describe(props, body: bytes) -> dict:
    headers = props.headers or {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = repr(body[:200])
    return {"id": props.message_id, "reason": headers.get("x-dead-reason"),
            "consumer": headers.get("x-dead-consumer"), "exchange": headers.get("x-original-exchange"),
            "routing_key": headers.get("x-original-routing-key"), "at": headers.get("x-dead-lettered-at"),
            "attempts": headers.get("x-attempts"), "bytes": len(body), "body": text}

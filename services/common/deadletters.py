"""Dead letters, read without losing any: list, replay after a fix, or drop (`chuishao dlq`, `make dlq`).

A replay is published by the operator's own broker account (`ops-duty` in a provisioned deployment:
`AMQP_URI=$(python -m services.common.provision uri ops-duty)`), stamped with that account as its
AMQP `user_id`, which the broker verifies. With SENDER_CHECK=user_id the services accept a street's
or a department's command from that account only when it is listed in SENDER_SUPERUSERS; the
letter's `x-original-user-id` (the account that first sent it, recorded when it was dead-lettered)
goes along, and `x-replayed-by` names the operator's account."""
from __future__ import annotations

import builtins

from typing import Callable
from urllib.parse import unquote, urlparse

import pika
from pika.exceptions import ChannelClosedByBroker

from services.common.events import DEADLETTERS

DEAD_HEADERS = ("x-dead-reason", "x-dead-consumer", "x-original-exchange", "x-original-routing-key",
                "x-original-content-type", "x-dead-lettered-at", "x-attempts")
ORIGINAL_USER = "x-original-user-id"
REPLAYED_BY = "x-replayed-by"


def broker_account(amqp_uri: str) -> str:
    """The account an AMQP URI logs in as (pika's default, guest, when it names none)."""
    return unquote(urlparse(amqp_uri).username or "") or "guest"


def replay_properties(props, account: str) -> pika.BasicProperties:
    """A dead letter's properties for its replay: the original content type and id, its own headers
    without the dead-letter ones (the original sender kept), and the replaying account as user_id."""
    original = props.headers or {}
    headers = {k: v for k, v in original.items() if k not in DEAD_HEADERS}
    headers[REPLAYED_BY] = account
    return pika.BasicProperties(content_type=original.get("x-original-content-type") or props.content_type,
                                delivery_mode=2, message_id=props.message_id, headers=headers, user_id=account)


class DeadLetterQueue:
    """The `deadletters` queue, read without losing anything: what is not settled goes back."""

    def __init__(self, amqp_uri: str, namespace: str = ""):
        self.queue = f"{namespace}{DEADLETTERS}"
        self.account = broker_account(amqp_uri)
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

    def list(self) -> builtins.list[dict]:
        letters = []
        self._walk(lambda ch, m, p, b: letters.append(describe(p, b)))
        return letters

    def replay(self, message_ids: set[str] | None, each: Callable[[], None] | None = None) -> builtins.list[str]:
        """Republishes the chosen letters (all if None) where they first went, as this connection's
        account (replay_properties); returns their ids.

        `each` is called after every letter looked at (replayed or not), e.g. to move a progress bar."""
        replayed = []

        def settle(channel, method, props, body):
            if message_ids is not None and props.message_id not in message_ids:
                return
            original = props.headers or {}
            channel.basic_publish(original.get("x-original-exchange", ""),
                                  original.get("x-original-routing-key", ""), body,
                                  replay_properties(props, self.account), mandatory=True)
            channel.basic_ack(method.delivery_tag)
            replayed.append(props.message_id)

        self._walk(settle, each)
        return replayed

    def drop(self, message_ids: set[str]) -> builtins.list[str]:
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
            "attempts": headers.get("x-attempts"), "sent_by": headers.get(ORIGINAL_USER), "bytes": len(body),
            "body": text}

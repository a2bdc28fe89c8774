"""Operator tool for dead letters: list, show, replay after a fix, or drop. `make dlq ARGS='list'`."""
from __future__ import annotations

import argparse
import json
import sys

import pika

from services.common.events import DEADLETTERS
from services.common.settings import load_settings

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

    def _walk(self, settle):
        """Fetches every message once; settle(channel, method, props, body) acks or leaves it."""
        channel = self.connection.channel()
        channel.confirm_delivery()
        seen = 0
        try:
            while True:
                method, props, body = channel.basic_get(self.queue, auto_ack=False)
                if method is None:
                    break
                seen += 1
                settle(channel, method, props, body)
        finally:
            channel.close()      # whatever was not acked returns to the queue
        return seen

    def list(self) -> list[dict]:
        letters = []
        self._walk(lambda ch, m, p, b: letters.append(describe(p, b)))
        return letters

    def replay(self, message_ids: set[str] | None) -> list[str]:
        """Republishes the chosen letters (all if None) where they first went; returns their ids."""
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

        self._walk(settle)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dlq", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="one line per dead letter")
    show = sub.add_parser("show", help="a dead letter in full")
    show.add_argument("id")
    replay = sub.add_parser("replay", help="republish to the original exchange and routing key")
    replay.add_argument("ids", nargs="*")
    replay.add_argument("--all", action="store_true")
    drop = sub.add_parser("drop", help="delete dead letters for good")
    drop.add_argument("ids", nargs="+")
    args = parser.parse_args(argv)
    settings = load_settings("whistle")
    dlq = DeadLetterQueue(settings.amqp_uri, settings.namespace)
    try:
        if args.command == "list":
            letters = dlq.list()
            for letter in letters:
                print(f"{letter['id']}  {letter['at']}  {letter['consumer']}  "
                      f"{letter['exchange']}/{letter['routing_key']}  {letter['reason'][:120]}")
            print(f"{len(letters)} dead letter(s)")
        elif args.command == "show":
            found = [d for d in dlq.list() if d["id"] == args.id]
            if not found:
                print(f"no dead letter {args.id}", file=sys.stderr)
                return 1
            print(json.dumps(found[0], ensure_ascii=False, indent=2))
        elif args.command == "replay":
            if not args.ids and not args.all:
                print("name the ids to replay, or --all", file=sys.stderr)
                return 2
            done = dlq.replay(None if args.all else set(args.ids))
            print(f"replayed {len(done)}: {' '.join(done)}")
            missing = set(args.ids) - set(done)
            if missing:
                print(f"not found: {' '.join(sorted(missing))}", file=sys.stderr)
                return 1
        elif args.command == "drop":
            done = dlq.drop(set(args.ids))
            print(f"dropped {len(done)}")
    except pika.exceptions.AMQPError as exc:
        print(f"broker error: {exc!r} (is RabbitMQ up at AMQP_URI?)", file=sys.stderr)
        return 1
    finally:
        dlq.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

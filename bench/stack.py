"""The four services as separate processes (the tests' helpers), and what can be read from outside them.

Everything here only reads: queue depths by passive declare, outbox rows with a read-only query.
"""
from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path

import pika
from sqlalchemy import MetaData, create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url

from services.common.settings import load_settings
from services.common.tables import platform_tables
from tests.support.bus import SERVICE_QUEUES, delete_namespace
from tests.support.processes import Stack, drop_databases, free_port

SERVICES = ("whistle", "dispatch", "roster", "metrics")


class BenchStack(Stack):
    """A fresh bus namespace and fresh databases; the services run with their production defaults.

    `db_template` is a PostgreSQL URL with a `{service}` placeholder, or None for SQLite files in tmp."""

    def configure(self, db_template: str | None) -> "BenchStack":
        self.namespace = f"bench{self.run_id}."
        if db_template:
            self.database_url = db_template.replace("{service}", f"{{service}}_{self.run_id}")
        else:
            self.database_url = f"sqlite:///{self.tmp}/{{service}}.db"
        return self

    def env(self) -> dict:
        env = super().env()
        defaults = load_settings("whistle", env={})
        # the tests shorten these; a benchmark runs what production runs (unless told otherwise)
        env["OUTBOX_SWEEP_SECONDS"] = os.environ.get("OUTBOX_SWEEP_SECONDS", str(defaults.outbox_sweep_seconds))
        env["MAX_DELIVERY_ATTEMPTS"] = os.environ.get("MAX_DELIVERY_ATTEMPTS", str(defaults.max_attempts))
        for service in SERVICES:      # each service must use the database announced for this run
            env.pop(f"{service.upper()}_DATABASE_URL", None)
        return env

    def start_replicas(self, services, replicas: int = 1) -> "BenchStack":
        """`replicas` processes of each service, all in the same namespace and databases (competing
        consumers), one after the other; each replica gets a web port of its own."""
        for name in services:
            for r in range(replicas):
                key = name if r == 0 else f"{name}#{r + 1}"
                port = self.ports[name] if r == 0 else free_port()
                env = self.env()
                env[f"{name.upper()}_WEB_ADDRESS"] = f"127.0.0.1:{port}"
                self.processes[key] = self.process_type(name, env, self.tmp / f"{key}.log", port).start()
        return self

    def pids(self) -> dict[str, int]:
        return {name: p.process.pid for name, p in self.processes.items() if p.process}

    def db_url(self, service: str) -> str:
        return self.database_url.replace("{service}", service)

    def cleanup(self, extra_queues: list[str] = ()) -> None:
        """Deletes the namespace's queues and exchanges and drops PostgreSQL databases.

        A loaded broker may time out a handshake: a few bounded retries."""
        try:
            for attempt in range(4):
                try:
                    delete_queues(self.amqp_uri, [f"{self.namespace}{q}" for q in extra_queues])
                    delete_namespace(self.amqp_uri, self.namespace)
                    break
                except pika.exceptions.AMQPError:
                    if attempt == 3:
                        raise
                    time.sleep(3)
        finally:
            drop_databases(self.database_url, SERVICES)


def consumer_queues() -> list[str]:
    """The queues the services consume, read from their entrypoints (falls back to the tests' list)."""
    try:
        import importlib
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
        found = []
        for service in SERVICES:
            cls = importlib.import_module(f"services.{service}.service").SERVICE
            for attr in dir(cls):
                for ext in getattr(getattr(cls, attr, None), ENTRYPOINT_EXTENSIONS_ATTR, ()) or ():
                    queue = getattr(ext, "queue", None)
                    if isinstance(queue, str) and queue not in found:
                        found.append(queue)
        return found or list(SERVICE_QUEUES)
    except Exception:  # noqa: BLE001 - a service mid-edit must not stop the benchmark
        return list(SERVICE_QUEUES)


def delete_queues(amqp_uri: str, queues: list[str]) -> None:
    if not queues:
        return
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    try:
        for queue in queues:
            channel = connection.channel()
            channel.queue_delete(queue)
            channel.close()
    finally:
        connection.close()


def queue_depths(amqp_uri: str, queues: list[str]) -> dict[str, int | None]:
    """Messages ready in each queue (passive declare; not counting the few a consumer holds unacked)."""
    depths: dict[str, int | None] = {}
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    try:
        channel = connection.channel()
        for queue in queues:
            try:
                depths[queue] = channel.queue_declare(queue, passive=True).method.message_count
            except pika.exceptions.ChannelClosedByBroker:      # no such queue
                depths[queue] = None
                channel = connection.channel()
    finally:
        connection.close()
    return depths


def dead_letter_reasons(amqp_uri: str, queue: str, limit: int = 10) -> list[dict]:
    """The first `limit` dead letters' consumer and reason headers, read without taking them (none is acked)."""
    letters = []
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    try:
        channel = connection.channel()
        for _ in range(limit):
            method, props, _body = channel.basic_get(queue, auto_ack=False)
            if method is None:
                break
            headers = props.headers or {}
            letters.append({"consumer": str(headers.get("x-dead-consumer", "?")),
                            "routing_key": str(headers.get("x-original-routing-key", method.routing_key)),
                            "reason": str(headers.get("x-dead-reason", "(no x-dead-reason header)"))[:300]})
    except pika.exceptions.ChannelClosedByBroker:      # no such queue
        pass
    finally:
        connection.close()      # every letter fetched goes back to the queue
    return letters


def service_queue_names(namespace: str, queues: list[str]) -> list[str]:
    return [f"{namespace}{q}" for q in queues]


def _read_only_engine(url: str):
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database)
        if not path.exists():
            return None
        return create_engine(f"sqlite:///file:{path}?mode=ro&uri=true", connect_args={"timeout": 5})
    return create_engine(url, pool_size=1, max_overflow=0)


def outbox_counts(url: str, since: datetime | None = None, until: datetime | None = None) -> dict | None:
    """{'unsent': n, 'sent': {event_type: n}} for rows sent in [since, until]; None without an outbox."""
    engine = _read_only_engine(url)
    if engine is None:
        return None
    try:
        if not inspect(engine).has_table("outbox"):
            return None
        outbox, _ = platform_tables(MetaData())
        with engine.connect() as conn:
            unsent = conn.execute(select(func.count()).select_from(outbox)
                                  .where(outbox.c.sent_at.is_(None))).scalar_one()
            sent, lag = {}, []
            if since is not None and until is not None:
                rows = conn.execute(select(outbox.c.event_type, func.count())
                                    .where(outbox.c.sent_at >= since, outbox.c.sent_at <= until)
                                    .group_by(outbox.c.event_type)).all()
                sent = {event_type: n for event_type, n in rows}
                # how long events waited in the outbox: written (committed) -> confirmed by the broker
                lag = [(s - c).total_seconds() for c, s in conn.execute(
                    select(outbox.c.created_at, outbox.c.sent_at)
                    .where(outbox.c.created_at >= since, outbox.c.created_at <= until,
                           outbox.c.sent_at.is_not(None)))]
        return {"unsent": unsent, "sent": sent, "lag": lag}
    finally:
        engine.dispose()


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def postgres_usable(template: str) -> str | None:
    """None if the server in the template accepts a login; otherwise why not."""
    url = make_url(template.replace("{service}", "probe"))
    try:
        engine = create_engine(url.set(database="postgres"), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means: no PostgreSQL round
        return str(exc).splitlines()[0]

"""The naive pipeline's nameko services: a dispatcher and one department service per department.

Plain nameko: `nameko.messaging.consume` on a durable queue, `nameko.messaging.Publisher` (its
defaults: persistent messages, publisher confirms), SQLAlchemy Core through a tiny dependency
provider. The exchange and queue names depend on the run's namespace, so the classes are built at
start-up by `dispatcher_service` / `department_service`.

Same ground as the real services, so the comparison is about the work done per message: durable
quorum queues, prefetch = `max_workers`, SQLite in WAL mode with `synchronous=NORMAL` (the real
services' pragmas) or PostgreSQL through green psycopg2.
"""
from __future__ import annotations

import time

from kombu import Exchange, Queue
from nameko.extensions import DependencyProvider
from nameko.messaging import Publisher, consume
from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, create_engine, event, insert
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError

QUORUM = {"x-queue-type": "quorum"}

metadata = MetaData()
# the dispatcher's dedupe table: one row per request it has dispatched
raises = Table("raises", metadata,
               Column("request_id", String(100), primary_key=True),
               Column("received_at", Float, nullable=False))
# a department's table: one row per call-out it received. `id` orders the rows for the bench's reader.
callouts = Table("callouts", metadata,
                 Column("id", Integer, primary_key=True, autoincrement=True),
                 Column("callout_id", String(150), nullable=False, unique=True),
                 Column("whistle_id", String(100), nullable=False),
                 Column("department_code", String(40), nullable=False),
                 Column("description", Text),
                 Column("received_at", Float, nullable=False),     # handler entered (time.time())
                 Column("done_at", Float, nullable=False))         # handled: just before its INSERT + COMMIT


def exchange(namespace: str, name: str) -> Exchange:
    return Exchange(f"{namespace}{name}", type="topic", durable=True)


def dispatcher_queue(namespace: str) -> str:
    return f"{namespace}naive.dispatcher.raises"


def department_queue(namespace: str, department: str) -> str:
    return f"{namespace}naive.department.{department}.callouts"


def make_engine(url: str) -> Engine:
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
        return engine
    return create_engine(url)


class Database(DependencyProvider):
    """One SQLAlchemy engine per service, tables created at start-up."""

    def __init__(self, url: str):
        self.url = url
        self.engine: Engine | None = None

    def setup(self) -> None:
        self.engine = make_engine(self.url)
        metadata.create_all(self.engine)

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.dispose()

    def get_dependency(self, worker_ctx) -> Engine:
        return self.engine


def dispatcher_service(namespace: str, database_url: str, departments: list[str]) -> type:
    whistles = exchange(namespace, "whistles")
    queue = Queue(dispatcher_queue(namespace), exchange=whistles, routing_key="raise.#", durable=True,
                  queue_arguments=QUORUM)

    class NaiveDispatcher:
        name = "naive_dispatcher"
        db = Database(database_url)
        publish = Publisher(exchange=exchange(namespace, "callouts"))

        @consume(queue)
        def on_raise(self, body: dict) -> None:
            request_id = body["request_id"]
            try:
                with self.db.begin() as conn:
                    conn.execute(insert(raises).values(request_id=request_id, received_at=time.time()))
            except IntegrityError:
                return          # raised before: dispatched already
            for department in departments:
                self.publish({"callout_id": f"{request_id}:{department}", "whistle_id": request_id,
                              "department_code": department, "street_code": body.get("street_code"),
                              "category": body.get("category"), "urgency": body.get("urgency"),
                              "description": body.get("description")},
                             routing_key=f"callout.{department}.{body.get('urgency')}")

    return NaiveDispatcher


def department_service(namespace: str, database_url: str, department: str) -> type:
    queue = Queue(department_queue(namespace, department), exchange=exchange(namespace, "callouts"),
                  routing_key=f"callout.{department}.*", durable=True, queue_arguments=QUORUM)

    class NaiveDepartment:
        name = f"naive_department_{department}"
        db = Database(database_url)

        @consume(queue)
        def on_callout(self, body: dict) -> None:
            received = time.time()
            try:
                with self.db.begin() as conn:
                    conn.execute(insert(callouts).values(
                        callout_id=body["callout_id"], whistle_id=body["whistle_id"],
                        department_code=department, description=body.get("description"),
                        received_at=received, done_at=time.time()))
            except IntegrityError:
                pass            # delivered again: the row is there

    return NaiveDepartment

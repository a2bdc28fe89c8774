"""The two pipelines a session can drive with the same pacer: the real services, and the naive reference.

Each knows how to start and stop its processes, which helper processes watch it (and so when a
call-out is delivered and a whistle is done), what its backlog is, and which messages it publishes.

- real:  the four chuishao services (`--replicas` processes of each), the simulated departments
  checking in over the bus, the observer waiting for `whistle.all_checked_in`;
- naive: bench/naive's dispatcher and department services, read by the row observer.
"""
from __future__ import annotations

import pika

from bench.naive.stack import NaiveStack
from bench.stack import (SERVICES, BenchStack, consumer_queues, dead_letter_reasons, outbox_counts,
                         queue_depths, service_queue_names, utc)
from bench.stats import summary_ms

NAIVE_DEPARTMENTS = 3


class RealPipeline:
    label = "real"

    def __init__(self, amqp_uri: str, load, db_template: str | None, tmp, replicas: int = 1):
        self.amqp_uri = amqp_uri
        self.load = load
        self.db_template = db_template
        self.tmp = tmp
        self.replicas = replicas
        self.stack: BenchStack | None = None
        self.groups = list(SERVICES)

    @property
    def namespace(self) -> str:
        return self.stack.namespace

    def start(self) -> str:
        self.service_queues = consumer_queues()
        self.stack = BenchStack(self.tmp).configure(self.db_template)
        self.stack.amqp_uri = self.amqp_uri
        self.stack.start_replicas(SERVICES, self.replicas)
        ns = self.stack.namespace
        self.done_queue = f"{ns}bench.all_checked_in"
        connection = pika.BlockingConnection(pika.URLParameters(self.amqp_uri))
        try:
            channel = connection.channel()
            channel.queue_declare(self.done_queue, durable=False, auto_delete=False)
            channel.queue_bind(self.done_queue, f"{ns}events", "whistle.all_checked_in")
        finally:
            connection.close()
        # the outside parties' queues the services declared (a missing one is named, not fatal)
        wanted = [f"{ns}department.{d}.{kind}" for d in self.load.departments for kind in ("callouts", "outcomes")]
        wanted += [f"{ns}street.{s}.outcomes" for s in self.load.streets]
        self.present = {q[len(ns):] for q, n in queue_depths(self.amqp_uri, wanted).items() if n is not None}
        missing = sorted(q[len(ns):] for q in wanted if q[len(ns):] not in self.present)
        if any(q.endswith(".callouts") for q in missing):
            raise RuntimeError(f"the services did not declare these department queues: {missing}")
        replicas = f", {self.replicas} replicas of each" if self.replicas > 1 else ""
        note = f"namespace {ns}{replicas}"
        if missing:
            note += f"; queues not declared by the services, not read: {', '.join(missing)}"
        return note

    def helpers(self, dept_procs: int) -> list[tuple[str, dict]]:
        specs = [("observer", {"done_queue": self.done_queue,
                               "queues": [f"street.{s}.outcomes" for s in self.load.streets
                                          if f"street.{s}.outcomes" in self.present]})]
        groups = [self.load.departments[i::dept_procs] for i in range(dept_procs)]
        for i, departments in enumerate(g for g in groups if g):
            specs.append(("departments", {
                "name": f"departments-{i}", "departments": departments, "prefetch": 200,
                "outcome_queues": [f"department.{d}.outcomes" for d in departments
                                   if f"department.{d}.outcomes" in self.present]}))
        return specs

    def process_pids(self) -> dict[str, int]:
        """Every service process: 'whistle', 'whistle#2'... with replicas."""
        return self.stack.pids()

    @staticmethod
    def group_of(process: str) -> str:
        return process.split("#", 1)[0]

    def expected_callouts(self, street: str, category: str) -> int:
        return self.load.fanout.get((street, category), 0)

    def backlog(self, since: float | None = None, until: float | None = None) -> dict:
        ns = self.stack.namespace
        service_queues = queue_depths(self.amqp_uri, service_queue_names(ns, self.service_queues))
        department_queues = queue_depths(self.amqp_uri,
                                         [f"{ns}department.{d}.callouts" for d in self.load.departments])
        deadletters = queue_depths(self.amqp_uri, [f"{ns}deadletters"])[f"{ns}deadletters"]
        outboxes = {s: outbox_counts(self.stack.db_url(s), since and utc(since), until and utc(until))
                    for s in SERVICES}
        return {
            "queues": {q[len(ns):]: n for q, n in service_queues.items()},
            "queued": sum(n or 0 for n in service_queues.values()),
            "department_queued": sum(n or 0 for n in department_queues.values()),
            "deadletters": deadletters,
            "outbox_unsent": {s: o["unsent"] for s, o in outboxes.items() if o is not None},
            "outbox_sent": {s: o["sent"] for s, o in outboxes.items() if o is not None},
            "outbox_lag": {s: summary_ms(o["lag"]) for s, o in outboxes.items() if o is not None and o["lag"]},
        }

    def dead_letters(self) -> list[dict]:
        return dead_letter_reasons(self.amqp_uri, f"{self.stack.namespace}deadletters")

    def published(self, after: dict, records: list, raises_in_window: int, t0: float, t1: float) -> dict:
        """Messages published inside the window, by type: the bench's commands and every outbox row sent."""
        by_type: dict[str, int] = {}
        for per_type in after["outbox_sent"].values():
            for event_type, n in per_type.items():
                by_type[event_type] = by_type.get(event_type, 0) + n
        by_type["RaiseWhistle (bench)"] = raises_in_window
        by_type["CheckIn (bench)"] = sum(1 for r in records if t0 <= r[3] <= t1)
        return by_type

    def close(self) -> None:
        if self.stack is not None:
            self.stack.stop()
            self.stack.cleanup(extra_queues=[*self.service_queues, "bench.all_checked_in"])


class NaivePipeline:
    label = "naive"
    replicas = 1

    def __init__(self, amqp_uri: str, load, db_template: str | None, tmp):
        self.amqp_uri = amqp_uri
        self.load = load
        self.departments = load.departments[:NAIVE_DEPARTMENTS]
        self.stack = NaiveStack(tmp, amqp_uri, db_template, self.departments)
        self.groups = list(self.stack.services())
        self.started = False

    @property
    def namespace(self) -> str:
        return self.stack.namespace

    def start(self) -> str:
        self.started = True
        self.stack.start()
        return f"namespace {self.stack.namespace}, departments {', '.join(self.departments)}"

    def helpers(self, dept_procs: int) -> list[tuple[str, dict]]:
        return [("rows", {"name": "naive-observer", "urls": self.stack.department_urls(),
                          "fanout": len(self.departments)})]

    def process_pids(self) -> dict[str, int]:
        return self.stack.pids()

    @staticmethod
    def group_of(process: str) -> str:
        return process

    def expected_callouts(self, street: str, category: str) -> int:
        return len(self.departments)

    def backlog(self, since: float | None = None, until: float | None = None) -> dict:
        ns = self.stack.namespace
        queues = queue_depths(self.amqp_uri, self.stack.queues())
        return {"queues": {q[len(ns):]: n for q, n in queues.items()},
                "queued": sum(n or 0 for n in queues.values()),
                "department_queued": 0, "deadletters": None,
                "outbox_unsent": {}, "outbox_sent": {}, "outbox_lag": {}}

    def dead_letters(self) -> list[dict]:
        return []           # the naive pipeline has none

    def published(self, after: dict, records: list, raises_in_window: int, t0: float, t1: float) -> dict:
        """The bench's raises and the dispatcher's call-outs (counted when delivered) inside the window."""
        return {"RaiseWhistle (bench)": raises_in_window,
                "call-out (naive dispatcher)": sum(1 for r in records if t0 <= r[2] <= t1)}

    def close(self) -> None:
        if self.started:
            self.stack.stop()
            self.stack.cleanup()

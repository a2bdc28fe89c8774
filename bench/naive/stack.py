"""The naive pipeline's processes: one dispatcher and one service per department, in a namespace of their own.

Ready means: every naive queue exists and has its service consuming it (read by passive declare).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pika
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.naive.services import department_queue, dispatcher_queue

ROOT = Path(__file__).resolve().parents[2]
EXCHANGES = ("whistles", "callouts")


class NaiveStack:
    """`db_template` is a PostgreSQL URL with `{service}`, or None for SQLite files in `tmp`."""

    def __init__(self, tmp: Path, amqp_uri: str, db_template: str | None, departments: list[str]):
        self.tmp = tmp
        self.amqp_uri = amqp_uri
        self.departments = list(departments)
        self.run_id = uuid.uuid4().hex[:8]
        self.namespace = f"benchnaive{self.run_id}."
        if db_template:
            self.database_url = db_template.replace("{service}", f"naive_{{service}}_{self.run_id}")
        else:
            self.database_url = f"sqlite:///{tmp}/naive_{{service}}.db"
        self.processes: dict[str, subprocess.Popen] = {}
        self._logs: list = []

    # names: the process group "dispatcher" or "dept-<code>"; the database "dispatcher" or "department_<code>"
    def services(self) -> dict[str, list[str]]:
        """group name -> runner arguments."""
        return {"dispatcher": ["dispatcher"], **{f"dept-{d}": ["department", d] for d in self.departments}}

    def db_url(self, database: str) -> str:
        return self.database_url.replace("{service}", database)

    def department_urls(self) -> dict[str, str]:
        return {d: self.db_url(f"department_{d}") for d in self.departments}

    def queues(self) -> list[str]:
        return [dispatcher_queue(self.namespace), *(department_queue(self.namespace, d) for d in self.departments)]

    def env(self) -> dict:
        env = dict(os.environ)
        env.update({"AMQP_URI": self.amqp_uri, "BUS_NAMESPACE": self.namespace,
                    "NAIVE_DATABASE_URL": self.database_url, "NAIVE_DEPARTMENTS": ",".join(self.departments),
                    "PYTHONUNBUFFERED": "1"})
        return env

    # ---------------------------------------------------------------- lifecycle
    def start(self, timeout: float = 40) -> "NaiveStack":
        for database in ["dispatcher", *(f"department_{d}" for d in self.departments)]:
            _create_database(self.db_url(database))
        services = self.services()
        # the departments first: the dispatcher's call-outs must find their queues bound
        for group in [g for g in services if g != "dispatcher"] + ["dispatcher"]:
            self._spawn(group, services[group])
            queue = (dispatcher_queue(self.namespace) if group == "dispatcher"
                     else department_queue(self.namespace, group[len("dept-"):]))
            self._wait_consumed(group, queue, timeout)
        return self

    def _spawn(self, group: str, args: list[str]) -> None:
        log = open(self.tmp / f"naive-{group}.log", "ab")
        self._logs.append(log)
        self.processes[group] = subprocess.Popen([sys.executable, "-m", "bench.naive.runner", *args],
                                                 env=self.env(), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

    def _wait_consumed(self, group: str, queue: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes[group]
            if process.poll() is not None:
                raise RuntimeError(f"naive {group} exited with {process.returncode}:\n{self.tail(group)}")
            if consumers(self.amqp_uri, queue):
                return
            time.sleep(0.1)
        raise RuntimeError(f"naive {group} not consuming {queue} after {timeout:g}s:\n{self.tail(group)}")

    def tail(self, group: str, lines: int = 30) -> str:
        path = self.tmp / f"naive-{group}.log"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def pids(self) -> dict[str, int]:
        return {group: p.pid for group, p in self.processes.items()}

    def stop(self, timeout: float = 20) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self._logs:
            log.close()

    def cleanup(self) -> None:
        """Deletes the namespace's queues and exchanges and drops its PostgreSQL databases."""
        try:
            connection = pika.BlockingConnection(pika.URLParameters(self.amqp_uri))
            try:
                for queue in self.queues():
                    channel = connection.channel()
                    channel.queue_delete(queue)
                    channel.close()
                for name in EXCHANGES:
                    channel = connection.channel()
                    channel.exchange_delete(f"{self.namespace}{name}")
                    channel.close()
            finally:
                connection.close()
        finally:
            for database in ["dispatcher", *(f"department_{d}" for d in self.departments)]:
                _drop_database(self.db_url(database))


def consumers(amqp_uri: str, queue: str) -> int:
    """Consumers on a queue (0 when it does not exist yet)."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    try:
        return connection.channel().queue_declare(queue, passive=True).method.consumer_count
    except pika.exceptions.ChannelClosedByBroker:
        return 0
    finally:
        if connection.is_open:
            connection.close()


def _admin(url: str):
    parsed = make_url(url)
    return parsed, create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")


def _create_database(url: str) -> None:
    if not url.startswith("postgresql"):
        return
    parsed, admin = _admin(url)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    finally:
        admin.dispose()


def _drop_database(url: str) -> None:
    if not url.startswith("postgresql"):
        return
    parsed, admin = _admin(url)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    finally:
        admin.dispose()

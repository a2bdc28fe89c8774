"""The faults, and the schedule that injects them mid-stream and measures the recovery from each."""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.chaos.traffic import Ledger, Pacer

log = logging.getLogger("chaos")
SERVICES = ("whistle", "dispatch", "roster", "metrics")


@dataclass
class FaultRecord:
    name: str
    description: str
    planned_after: int                 # whistles sent when it was due
    sent_at_start: int = 0
    started: float = 0.0               # time.monotonic()
    ended: float = 0.0                 # the cause removed: process respawned, node up, lock released, proxy healed
    probe: str | None = None           # the first whistle raised after the fault ended
    recovered: float | None = None     # when that whistle had reached all its departments
    early_probe: str | None = None     # the first whistle raised after the fault began
    early_done: float | None = None    # when that one had reached all its departments
    error: str | None = None

    @property
    def duration(self) -> float:
        return self.ended - self.started

    @property
    def recovery(self) -> float | None:
        return None if self.recovered is None else self.recovered - self.ended

    @property
    def served_after(self) -> float | None:
        """From the start of the fault until the first whistle raised after it began was at every
        department: less than the fault lasted when the system went on working through it."""
        return None if self.early_done is None else self.early_done - self.started


@dataclass
class Fault:
    name: str
    description: str
    inject: Callable[[], None]         # returns when the fault is over (its cause removed)


def kill_service(stack, name: str, down_seconds: float) -> Fault:
    def inject():
        process = stack.processes[name]
        process.kill()                                    # SIGKILL: no shutdown, no last ack, no last commit
        time.sleep(down_seconds)
        process.start(timeout=90)                         # returns once /health answers 200
    return Fault(f"kill -9 {name}", f"SIGKILL {name} mid-stream, {down_seconds:g} s down, restart", inject)


def restart_broker(broker, down_seconds: float) -> Fault:
    def inject():
        broker.stop()
        time.sleep(down_seconds)
        broker.start()
    return Fault("restart broker", f"rabbitmqctl stop of the private node, {down_seconds:g} s down, start",
                 inject)


def cut_proxy(proxy, seconds: float) -> Fault:
    def inject():
        proxy.cut(seconds)
        deadline = time.monotonic() + seconds + 10
        while time.monotonic() < deadline and not proxy.stats().get("listening"):
            time.sleep(0.1)
    return Fault("cut connections", f"every service-broker connection reset, new ones refused for {seconds:g} s",
                 inject)


def database_outage(stack, name: str, seconds: float) -> Fault:
    url = stack.database_url.replace("{service}", name)
    if make_url(url).get_backend_name() == "sqlite":
        return Fault(f"lock {name} db", f"BEGIN EXCLUSIVE held on {name}'s SQLite file for {seconds:g} s",
                     lambda: sqlite_lock(make_url(url).database, seconds))
    return Fault(f"stop {name} db", f"{name}'s PostgreSQL backends terminated, connections refused "
                 f"for {seconds:g} s", lambda: postgres_outage(url, seconds))


def sqlite_lock(path: str, seconds: float) -> None:
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        time.sleep(seconds)
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def postgres_outage(url: str, seconds: float) -> None:
    database = make_url(url).database
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false'))
            try:
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                      "WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": database})
                    time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
            finally:
                conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true'))
    finally:
        admin.dispose()


def default_faults(stack, broker, proxy, db_seconds: float, cut_seconds: float, down_seconds: float,
                   services: tuple[str, ...] = SERVICES, db_services: tuple[str, ...] = ("whistle", "dispatch"),
                   ) -> list[Fault]:
    """Each kind of fault, interleaved: every service killed in turn, the broker restarted, databases
    made unavailable, connections cut."""
    kills = [kill_service(stack, s, down_seconds) for s in services]
    others = [restart_broker(broker, down_seconds), *(database_outage(stack, s, db_seconds) for s in db_services),
              cut_proxy(proxy, cut_seconds)]
    out = []
    for i in range(max(len(kills), len(others))):
        out += kills[i:i + 1] + others[i:i + 1]
    return out


class Schedule(threading.Thread):
    """Injects fault k once segment k is half sent and fault k-1 has recovered; measures each recovery."""

    def __init__(self, faults: list[Fault], ledger: Ledger, pacer: Pacer, segment: float,
                 recovery_timeout: float = 45.0):
        super().__init__(name="fault-schedule", daemon=True)
        self.faults = faults
        self.ledger = ledger
        self.pacer = pacer
        self.segment = segment
        self.recovery_timeout = recovery_timeout
        self.records: list[FaultRecord] = []
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self):
        try:
            for k, fault in enumerate(self.faults):
                due = int(self.segment * (k + 0.5))
                record = FaultRecord(fault.name, fault.description, due)
                self.records.append(record)
                if not self._wait(lambda due=due: self.ledger.snapshot()["attempted"] >= due, None):
                    return
                record.sent_at_start = self.ledger.snapshot()["confirmed"]
                record.started = time.monotonic()
                log.info("fault %s: %s", k + 1, fault.description)
                try:
                    fault.inject()
                except Exception as exc:  # noqa: BLE001 - recorded; the run goes on and reports it
                    record.error = f"{type(exc).__name__}: {exc}"
                    log.exception("fault %s failed", fault.name)
                record.ended = time.monotonic()
                self.pacer.fault_ended()
                self._measure(record)
        except BaseException as exc:  # noqa: BLE001
            self.error = exc
            log.exception("fault schedule failed")

    def _measure(self, record: FaultRecord) -> None:
        """Waits (bounded) for the first whistles raised after the fault began and after it ended to
        reach all their departments."""
        early = self.ledger.first_attempt_after(record.started)
        if early:
            record.early_probe = early
            record.early_done = self._wait(lambda: self.ledger.completed_at.get(early), self.recovery_timeout)
        probe = self._wait(lambda: self.ledger.first_attempt_after(record.ended), self.recovery_timeout)
        if not probe:
            return
        record.probe = probe
        done = self._wait(lambda: self.ledger.completed_at.get(probe), self.recovery_timeout)
        if done:
            record.recovered = done

    def _wait(self, probe, timeout: float | None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.stopping.is_set() and (deadline is None or time.monotonic() < deadline):
            value = probe()
            if value:
                return value
            time.sleep(0.05)
        return None

    def stop(self):
        self.stopping.set()


def stop_node(cluster, index: int, down_seconds: float, while_down: Callable[[], None] | None = None) -> Fault:
    """`rabbitmqctl stop` of one node, `down_seconds` (at least; `while_down` runs meanwhile), start."""
    node = cluster.nodes[index]

    def inject():
        node.stop()
        _down(down_seconds, while_down)
        node.start()
    return Fault(f"stop node {index + 1}", f"rabbitmqctl stop of {node.nodename}, {down_seconds:g} s down, "
                 f"start (rejoins the cluster)", inject)


def kill_node(cluster, index: int, down_seconds: float, while_down: Callable[[], None] | None = None) -> Fault:
    """SIGKILL of one node's whole process group, `down_seconds` (at least) down, start."""
    node = cluster.nodes[index]

    def inject():
        node.kill()
        _down(down_seconds, while_down)
        node.start()
    return Fault(f"kill -9 node {index + 1}", f"SIGKILL of {node.nodename}, {down_seconds:g} s down, start "
                 f"(rejoins the cluster)", inject)


def _down(seconds: float, while_down: Callable[[], None] | None) -> None:
    until = time.monotonic() + seconds
    if while_down is not None:
        while_down()
    time.sleep(max(0.0, until - time.monotonic()))


def rolling_restart(stack, service: str) -> Fault:
    """Every replica of the service in turn: SIGTERM, wait for it to exit, start it, wait for /health."""
    keys = stack.replica_keys(service)

    def inject():
        for key in keys:
            process = stack.processes[key]
            process.stop()                                # SIGTERM: finishes what it holds, then exits
            process.start(timeout=90)
    return Fault(f"rolling restart {service}", f"{len(keys)} replicas of {service}, one at a time: SIGTERM, "
                 f"exit, start, ready", inject)

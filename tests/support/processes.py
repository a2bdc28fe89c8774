"""Running services as separate processes for tests, each with its own namespace, databases and ports."""
from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import ClassVar

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from services.common.auth.keystore import AuthFiles
from services.common.auth.principals import Kind
from services.common.auth.tokens import Issued, issue
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/"
# whom a test acts as when it names only the kind of principal
DEFAULT_CODES = {Kind.STREET: "daxigou", Kind.DEPARTMENT: "chengguan", Kind.DISTRICT: "zhangwei",
                 Kind.ASSESSMENT: "kaohe", Kind.OPERATOR: "duty", Kind.SERVICE: "whistle",
                 Kind.HOTLINE: "beijing12345", Kind.FOLLOW_UP: "huifang", Kind.OPEN311: "fixmystreet"}


LISTENER_PORTS_FROM = 20000


def _ephemeral_low(default: int = 32768) -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def free_port() -> int:
    """A free loopback port for a listener, below the kernel's ephemeral range.

    A service or broker node that the tests stop and start again binds its port a second time; a port
    from the ephemeral range (what binding port 0 gives) may by then be some other process's outgoing
    connection, and the restart fails with "address in use"."""
    low = _ephemeral_low()
    chooser = random.SystemRandom()
    for _ in range(200):
        port = chooser.randrange(LISTENER_PORTS_FROM, low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:          # the low range is full: whatever the kernel gives
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def amqp_uri() -> str:
    return os.environ.get("AMQP_URI", DEFAULT_AMQP)


def database_template(run_id: str, tmp: Path) -> str:
    """SQLite files under tmp, or fresh PostgreSQL databases when DATABASE_URL names PostgreSQL."""
    configured = os.environ.get("DATABASE_URL", "")
    if configured.startswith("postgresql"):
        return configured.replace("{service}", f"{{service}}_{run_id}")
    return f"sqlite:///{tmp}/{{service}}.db"


def drop_databases(template: str, services) -> None:
    if not template.startswith("postgresql"):
        return
    for service in services:
        url = make_url(template.replace("{service}", service))
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class ServiceProcess:
    name: str
    env: dict
    log_path: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "services.common.runner", self.name]

    start_timeout: ClassVar[float] = 40

    def start(self, timeout: float | None = None) -> "ServiceProcess":
        self.spawn()
        return self.wait_ready(timeout)

    def spawn(self) -> "ServiceProcess":
        """Starts the process without waiting for it (Stack.start spawns several, then waits for each)."""
        self._asked = None
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.command(), env=self.env, cwd=ROOT, stdout=self.log,
                                        stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout: float | None = None) -> "ServiceProcess":
        wait_for(self._ready, timeout=timeout or self.start_timeout,
                 what=f"{self.name} to be ready (log: {self.log_path})")
        return self

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")
        return requests.get(f"{self.url}/health", timeout=1).status_code == 200

    def ask_to_stop(self, sig=signal.SIGTERM) -> None:
        """Sends the signal once (a second SIGTERM to nameko while it stops gracefully hangs it)."""
        if self.process and self.process.poll() is None and getattr(self, "_asked", None) != sig:
            self.process.send_signal(sig)
            self._asked = sig

    def stop(self, sig=signal.SIGTERM, timeout: float = 20) -> int | None:
        if self.process and self.process.poll() is None:
            self.ask_to_stop(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "log", None):
            self.log.close()
        return self.process.returncode if self.process else None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


@dataclass
class Stack:
    """A namespace on the real broker, databases, and the service processes started in it.

    The services verify bearer tokens against the stack's own key directory (CHUISHAO_AUTH_DIR in its
    tmp, one signing key made with the stack); `token()` issues one for any principal, `bearer()` is
    the HTTP header, `rpc()` a ClusterRpcProxy that sends it in the context data. A test that names
    no principal acts as a service (`service:whistle`), which the rule table lets do everything but
    the operators' dead letters."""

    tmp: Path
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    processes: dict = field(default_factory=dict)
    extra_env: dict = field(default_factory=dict)

    def __post_init__(self):
        self.namespace = f"t{self.run_id}."
        self.amqp_uri = amqp_uri()
        self.database_url = database_template(self.run_id, self.tmp)
        self.ports = {s: free_port() for s in ("whistle", "dispatch", "roster", "metrics")}
        self.auth = AuthFiles(self.tmp / "auth")
        self.signing_key = self.auth.rotate(datetime.now(timezone.utc))
        self.tokens: dict[tuple[Kind, str], Issued] = {}

    # ------------------------------------------------------------------ principals
    def issued(self, kind: Kind = Kind.SERVICE, code: str | None = None) -> Issued:
        """The stack's token for a principal (one per principal, issued on first use, valid 12 h)."""
        principal = (kind, code or DEFAULT_CODES[kind])
        if principal not in self.tokens:
            issued = issue(kind, principal[1], self.signing_key, datetime.now(timezone.utc), timedelta(hours=12))
            self.auth.record(issued, "tests")
            self.tokens[principal] = issued
        return self.tokens[principal]

    def token(self, kind: Kind = Kind.SERVICE, code: str | None = None) -> str:
        return self.issued(kind, code).token

    def bearer(self, kind: Kind = Kind.SERVICE, code: str | None = None) -> dict:
        """The Authorization header of a principal's token, for requests."""
        return {"Authorization": f"Bearer {self.token(kind, code)}"}

    def rpc(self, kind: Kind = Kind.SERVICE, code: str | None = None):
        """A ClusterRpcProxy calling as a principal (its token in nameko's context data)."""
        from nameko.standalone.rpc import ClusterRpcProxy

        from services.common.guard import rpc_context
        return ClusterRpcProxy(self.rpc_config(), context_data=rpc_context(self.token(kind, code)))

    def env(self) -> dict:
        env = dict(os.environ)
        env.update({"AMQP_URI": self.amqp_uri, "BUS_NAMESPACE": self.namespace,
                    "DATABASE_URL": self.database_url, "PYTHONUNBUFFERED": "1",
                    "OUTBOX_SWEEP_SECONDS": "0.5", "MAX_DELIVERY_ATTEMPTS": "3",
                    "CHUISHAO_AUTH_DIR": str(self.auth.root)})
        for service, port in self.ports.items():
            env[f"{service.upper()}_WEB_ADDRESS"] = f"127.0.0.1:{port}"
        env.update(self.extra_env)
        return env

    process_type: ClassVar[type[ServiceProcess]] = ServiceProcess

    def start(self, *names: str) -> "Stack":
        """Starts the services named side by side and returns once every one of them is ready."""
        started = [self.process_type(name, self.env(), self.tmp / f"{name}.log", self.ports[name]).spawn()
                   for name in names]
        self.processes.update({process.name: process for process in started})
        for process in started:
            process.wait_ready()
        return self

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def rpc_config(self) -> dict:
        return {"AMQP_URI": self.amqp_uri, "rpc_exchange": f"{self.namespace}nameko-rpc"}

    def stop(self) -> None:
        """Asks every service to stop at once, then waits for each (killing one that takes over 20 s)."""
        for process in self.processes.values():
            process.ask_to_stop()
        for process in self.processes.values():
            process.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{p.tail()}" for n, p in self.processes.items())

"""Private RabbitMQ nodes for the fault suite: their own names, ports, data and logs, never the machine's broker.

A node runs in the foreground as a child process of the suite (so a crashed test leaves nothing
behind that we cannot find), with a config file of its own: the machine's /etc/rabbitmq config would
make it listen on the shared port 5672. PrivateCluster joins several such nodes into one cluster
(a shared Erlang cookie, `rabbitmqctl join_cluster`), all on loopback ports.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from tests.support.processes import free_port


def rabbitmq_scripts() -> tuple[str, str] | None:
    """(rabbitmq-server, rabbitmqctl) that run as the current user, or None if RabbitMQ is not installed.

    Debian's /usr/sbin scripts are a wrapper that switches to the rabbitmq user (and drops our
    environment); the real scripts sit beside the wrapper's target."""
    server = shutil.which("rabbitmq-server") or next(
        (p for p in ("/usr/sbin/rabbitmq-server", "/usr/lib/rabbitmq/bin/rabbitmq-server") if os.path.exists(p)),
        None)
    if not server:
        return None
    real = Path(os.path.realpath(server))
    if real.name == "rabbitmq-script-wrapper":
        server = str(real.parent / "rabbitmq-server")
    ctl = str(Path(server).parent / "rabbitmqctl")
    if not (os.path.exists(server) and os.path.exists(ctl)):
        return None
    return server, ctl


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class PrivateBroker:
    """One RabbitMQ node on 127.0.0.1:<port>, data under `base`; start, stop and restart keep its data."""

    def __init__(self, base: Path, nodename: str | None = None, cookie: str | None = None):
        scripts = rabbitmq_scripts()
        if scripts is None:
            raise RuntimeError("rabbitmq-server is not installed")
        self.server, self.ctl = scripts
        self.base = base
        self.base.mkdir(parents=True, exist_ok=True)
        self.nodename = nodename or f"chaos-{uuid.uuid4().hex[:8]}@localhost"
        if cookie is not None:            # the nodes of one cluster (and their rabbitmqctl) share it
            path = base / ".erlang.cookie"
            path.write_text(cookie)
            path.chmod(0o400)
        self.port = free_port()
        self.dist_port = free_port()
        self.log_path = base / "node.out"
        self.process: subprocess.Popen | None = None
        (base / "enabled_plugins").write_text("[].\n")
        (base / "rabbitmq-env.conf").write_text("# the chaos suite's node: everything is in the environment\n")
        (base / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\n"
            "loopback_users.guest = true\n"
            "log.console = false\n"
            "log.file.level = info\n"
            "disk_free_limit.absolute = 50MB\n")

    @property
    def amqp_uri(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update({
            "HOME": str(self.base),            # the Erlang cookie of this node and its rabbitmqctl
            "RABBITMQ_NODENAME": self.nodename,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_PID_FILE": str(self.base / "node.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.base / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        })
        return env

    def ctl_run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([self.ctl, "-n", self.nodename, *args], env=self.env(), capture_output=True,
                              text=True, timeout=timeout)

    def start(self, timeout: float = 90) -> "PrivateBroker":
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is taken: not starting a second node on it")
        log = open(self.log_path, "ab")
        guard = Path(__file__).with_name("guard.py")     # stops the node if this test process dies
        self.process = subprocess.Popen([sys.executable, str(guard), self.server], env=self.env(), cwd=self.base,
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited with {self.process.returncode}:\n{self.tail()}")
            if port_open(self.port):
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"RabbitMQ node {self.nodename} did not open port {self.port} in {timeout}s:\n"
                               f"{self.tail()}")
        remaining = max(5.0, deadline - time.monotonic())
        done = self.ctl_run("await_startup", "--timeout", str(int(remaining)), timeout=remaining + 10)
        if done.returncode != 0:
            raise RuntimeError(f"await_startup failed: {done.stdout}{done.stderr}\n{self.tail()}")
        return self

    def stop(self, timeout: float = 60) -> None:
        """A clean shutdown (rabbitmqctl stop), killing the node if it does not go in time."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.ctl_run("stop", timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._wait_port_closed(timeout=20)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)    # guard, script, erl and its port programs
            except ProcessLookupError:
                pass
            self.process.wait(timeout=30)

    def diagnostics(self) -> str:
        """The node's own view: queues (ready, unacked, consumers), connections, channels."""
        out = []
        for args in (("list_queues", "name", "messages_ready", "messages_unacknowledged", "consumers"),
                     ("list_connections", "name", "state", "channels", "recv_oct", "send_oct"),
                     ("list_channels", "connection", "number", "consumer_count", "messages_unacknowledged",
                      "prefetch_count")):
            try:
                done = self.ctl_run(*args, "--no-table-headers", "-q", timeout=30)
                out.append(f"$ rabbitmqctl {' '.join(args)}\n{done.stdout}{done.stderr}")
            except subprocess.TimeoutExpired:
                out.append(f"$ rabbitmqctl {args[0]}: timed out")
        return "\n".join(out)

    def _wait_port_closed(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and port_open(self.port):
            time.sleep(0.1)

    def tail(self, lines: int = 30) -> str:
        out = []
        for path in [self.log_path, *sorted((self.base / "log").glob("*.log"))]:
            try:
                text = path.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                continue
            out.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(out) or "(no broker log)"


class PrivateCluster:
    """`size` private nodes on loopback ports joined into one cluster, the first being the seed.

    Behaves as a PrivateBroker where the fault suite reads the broker (amqp_uri, ctl_run,
    diagnostics): amqp_uri lists every node, `;`-separated, as AMQP_URI takes it; rabbitmqctl runs
    against the first node that is up."""

    def __init__(self, base: Path, size: int = 3):
        cookie = uuid.uuid4().hex.upper()
        run = uuid.uuid4().hex[:6]
        self.nodes = [PrivateBroker(base / f"node{i}", f"cluster-{run}-{i}@localhost", cookie)
                      for i in range(1, size + 1)]

    @property
    def amqp_uri(self) -> str:
        return ";".join(node.amqp_uri for node in self.nodes)

    @property
    def nodename(self) -> str:
        return ", ".join(node.nodename for node in self.nodes)

    def start(self, timeout: float = 120) -> "PrivateCluster":
        """Starts the nodes side by side, then joins each to the seed (stop_app, join_cluster, start_app)."""
        errors: list[BaseException] = []

        def start(node):
            try:
                node.start(timeout)
            except BaseException as exc:  # noqa: BLE001 - raised below, after every thread is done
                errors.append(exc)
        threads = [threading.Thread(target=start, args=(node,)) for node in self.nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        seed = self.nodes[0]
        for node in self.nodes[1:]:
            for args in (("stop_app",), ("join_cluster", seed.nodename), ("start_app",)):
                done = node.ctl_run(*args, timeout=timeout)
                if done.returncode != 0:
                    raise RuntimeError(f"{node.nodename}: rabbitmqctl {' '.join(args)} failed: "
                                       f"{done.stdout}{done.stderr}\n{node.tail()}")
        running = self.running_nodes()
        if sorted(running) != sorted(node.nodename for node in self.nodes):
            raise RuntimeError(f"the cluster formed with {running}, not every node")
        return self

    def running_nodes(self) -> list[str]:
        """The nodes the cluster says are running (rabbitmqctl cluster_status, as JSON)."""
        done = self.ctl_run("cluster_status", "--formatter", "json", timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"cluster_status failed: {done.stdout}{done.stderr}")
        return json.loads(done.stdout)["running_nodes"]

    def live(self) -> PrivateBroker:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None and port_open(node.port):
                return node
        raise RuntimeError("no node of the cluster is up")

    def ctl_run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return self.live().ctl_run(*args, timeout=timeout)

    def queues(self, namespace: str) -> dict[str, tuple[str, list[str]]]:
        """Each queue of the namespace: its type and the nodes its replicas live on (none for a classic one)."""
        done = self.ctl_run("list_queues", "name", "type", "members", "--formatter", "json", timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"list_queues failed: {done.stdout}{done.stderr}")
        return {q["name"]: (q["type"], sorted(q.get("members") or [])) for q in json.loads(done.stdout)
                if q["name"].startswith(namespace)}

    def diagnostics(self) -> str:
        return self.live().diagnostics()

    def stop(self, timeout: float = 60) -> None:
        for node in reversed(self.nodes):
            node.stop(timeout)

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()

    def tail(self, lines: int = 30) -> str:
        return "\n".join(f"=== {node.nodename}\n{node.tail(lines)}" for node in self.nodes)

"""The services for the fault suite: the shared Stack, started through tests.chaos.runner (stack dumps),
with as many replicas of each service as asked for."""
from __future__ import annotations

import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from typing import ClassVar

from tests.support.processes import ServiceProcess, Stack, free_port


def runner_command() -> list[str]:
    """How a service is started: tests.chaos.runner, or CHAOS_SERVICE_RUNNER (a script path), e.g. one
    that patches a candidate fix in, to run the suite against it before it lands in services/."""
    script = os.environ.get("CHAOS_SERVICE_RUNNER", "").strip()
    return [sys.executable, script] if script else [sys.executable, "-m", "tests.chaos.runner"]


class ChaosServiceProcess(ServiceProcess):
    def command(self) -> list[str]:
        return [*runner_command(), self.name]

    start_timeout: ClassVar[float] = 90

    def dump_stacks(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)


def parse_replicas(text: str, services) -> dict[str, int]:
    """CHAOS_REPLICAS: a count for every service ("2"), or per service ("whistle=3,dispatch=3,roster=2")."""
    text = text.strip()
    if not text:
        return {}
    if text.isdigit():
        return {s: int(text) for s in services}
    counts = {}
    for part in text.split(","):
        service, _, count = part.partition("=")
        if service.strip() not in services or not count.strip().isdigit() or int(count) < 1:
            raise ValueError(f"CHAOS_REPLICAS: {part!r} is not <service>=<count> for one of {', '.join(services)}")
        counts[service.strip()] = int(count)
    return counts


@dataclass
class ChaosStack(Stack):
    """`replicas` (service -> count, 1 when absent): each replica is its own process with its own HTTP
    port, keyed `<service>` for the first and `<service>.2`, `<service>.3`... for the others."""

    process_type: ClassVar[type[ServiceProcess]] = ChaosServiceProcess
    replicas: dict = field(default_factory=dict)

    def __post_init__(self):
        super().__post_init__()
        self.replica_ports: dict[str, int] = {}

    def replica_keys(self, service: str) -> list[str]:
        return [service] + [f"{service}.{n}" for n in range(2, self.replicas.get(service, 1) + 1)]

    def start(self, *names: str) -> "ChaosStack":
        """Starts every replica of each service named, a service's replicas at once."""
        for name in names:
            processes = [self._replica(key) for key in self.replica_keys(name)]
            errors: list[BaseException] = []

            def start(process, errors=errors):
                try:
                    process.start()
                except BaseException as exc:  # noqa: BLE001 - raised below, once all have tried
                    errors.append(exc)
            threads = [threading.Thread(target=start, args=(p,)) for p in processes]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if errors:
                raise errors[0]
        return self

    def _replica(self, key: str) -> ServiceProcess:
        service = key.split(".")[0]
        port = self.ports[service] if key == service else self.replica_ports.setdefault(key, free_port())
        env = {**self.env(), f"{service.upper()}_WEB_ADDRESS": f"127.0.0.1:{port}"}
        process = self.process_type(service, env, self.tmp / f"{key}.log", port)
        self.processes[key] = process
        return process

    def urls(self, service: str) -> list[str]:
        """The HTTP base URL of each replica of the service."""
        return [self.processes[key].url for key in self.replica_keys(service)]

    def dump_stacks(self) -> None:
        for process in self.processes.values():
            process.dump_stacks()

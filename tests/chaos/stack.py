"""The services for the fault suite: the shared Stack, started through tests.chaos.runner (stack dumps)."""
from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass
from typing import ClassVar

from tests.support.processes import ServiceProcess, Stack


def runner_command() -> list[str]:
    """How a service is started: tests.chaos.runner, or CHAOS_SERVICE_RUNNER (a script path), e.g. one
    that patches a candidate fix in, to run the suite against it before it lands in services/."""
    script = os.environ.get("CHAOS_SERVICE_RUNNER", "").strip()
    return [sys.executable, script] if script else [sys.executable, "-m", "tests.chaos.runner"]


class ChaosServiceProcess(ServiceProcess):
    def command(self) -> list[str]:
        return [*runner_command(), self.name]

    def start(self, timeout: float = 90) -> "ChaosServiceProcess":
        return super().start(timeout)

    def dump_stacks(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)


@dataclass
class ChaosStack(Stack):
    process_type: ClassVar[type[ServiceProcess]] = ChaosServiceProcess

    def dump_stacks(self) -> None:
        for process in self.processes.values():
            process.dump_stacks()

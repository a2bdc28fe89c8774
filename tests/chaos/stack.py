"""The services for the fault suite: the shared Stack, started through tests.chaos.runner (stack dumps)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass

from tests.support.processes import ROOT, ServiceProcess, Stack
from tests.support.waiting import wait_for


def runner_command() -> list[str]:
    """How a service is started: tests.chaos.runner, or CHAOS_SERVICE_RUNNER (a script path), e.g. one
    that patches a candidate fix in, to run the suite against it before it lands in services/."""
    script = os.environ.get("CHAOS_SERVICE_RUNNER", "").strip()
    return [sys.executable, script] if script else [sys.executable, "-m", "tests.chaos.runner"]


class ChaosServiceProcess(ServiceProcess):
    def start(self, timeout: float = 90) -> "ChaosServiceProcess":
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen([*runner_command(), self.name],
                                        env=self.env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(self._ready, timeout=timeout, what=f"{self.name} to be ready (log: {self.log_path})")
        return self

    def dump_stacks(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)


@dataclass
class ChaosStack(Stack):
    def start(self, *names: str) -> "ChaosStack":
        for name in names:
            process = ChaosServiceProcess(name, self.env(), self.tmp / f"{name}.log", self.ports[name])
            self.processes[name] = process.start()
        return self

    def dump_stacks(self) -> None:
        for process in self.processes.values():
            process.dump_stacks()

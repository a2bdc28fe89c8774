"""A real Prometheus and promtool for tests: found (or installed by scripts/ensure-prometheus.sh),
started on a free port with its own configuration and data directory, stopped and removed after."""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest
import requests
import yaml

from tests.support.processes import ROOT, free_port
from tests.support.waiting import wait_for

ENSURE = ROOT / "scripts" / "ensure-prometheus.sh"
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"


def prometheus_bin_dir() -> Path:
    """Where prometheus and promtool are, installing them when we can. Skips the test only when that is
    impossible here; under `make test` (REQUIRE_PROMETHEUS=1) a missing Prometheus fails instead."""
    found = shutil.which("promtool")
    if found and shutil.which("prometheus"):
        return Path(found).parent
    result = subprocess.run(["bash", str(ENSURE)], capture_output=True, text=True, timeout=600)
    if result.returncode == 0 and result.stdout.strip():
        return Path(result.stdout.strip().splitlines()[-1])
    reason = f"prometheus/promtool cannot be installed here: {result.stderr.strip()}"
    if os.environ.get("REQUIRE_PROMETHEUS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def promtool(*args: str, stdin: Optional[str] = None, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess:
    return subprocess.run([str(prometheus_bin_dir() / "promtool"), *args], input=stdin, capture_output=True,
                          text=True, timeout=120, cwd=cwd)


@dataclass
class Prometheus:
    """A private Prometheus scraping `targets` every second, with the shipped rule files; each target is
    labelled with its service's name from `services` (target -> name), or "sample"."""

    workdir: Path
    targets: list[str]
    port: int = field(default_factory=free_port)
    services: dict[str, str] = field(default_factory=dict)
    process: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> "Prometheus":
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                  "rule_files": [str(PROMETHEUS_DIR / "recording.yml"), str(PROMETHEUS_DIR / "alerts.yml")],
                  "scrape_configs": [{"job_name": "chuishao", "static_configs": [
                      {"targets": [target], "labels": {"service": self.services.get(target, "sample")}}
                      for target in self.targets]}]}
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = open(self.workdir / "prometheus.log", "ab")
        self.process = subprocess.Popen(
            [str(prometheus_bin_dir() / "prometheus"), f"--config.file={self.workdir / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.workdir / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=self.workdir)
        wait_for(self._ready, timeout=timeout, what=f"Prometheus on {self.port} (log: {self.workdir}/prometheus.log)")
        return self

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"prometheus exited with {self.process.returncode}: "
                                 f"{(self.workdir / 'prometheus.log').read_text()[-2000:]}")
        return requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200

    def query(self, expr: str) -> dict:
        """The API's answer to an instant query (status, and data or error)."""
        return requests.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10).json()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if getattr(self, "log", None):
            self.log.close()

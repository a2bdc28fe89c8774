"""The HTTP APIs fuzzed from their OpenAPI document (schemathesis): no 5xx, whatever comes in."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
OPENAPI = Path(__file__).resolve().parents[2] / "deploy" / "openapi.yaml"


@pytest.fixture(scope="module", autouse=True)
def services(stack):
    stack.start("whistle", "dispatch", "roster")


@pytest.mark.parametrize("service", ["whistle", "dispatch", "roster"])
def test_no_input_makes_a_service_fail_with_a_5xx(stack, service, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", str(OPENAPI), "--url", stack.url(service),
         "--include-tag", service, "--checks", "not_a_server_error", "--max-examples", "30",
         "--seed", "1", "--workers", "1", "--phases", "examples,fuzzing"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "passed" in run.stdout.lower() or "no issues found" in run.stdout.lower(), run.stdout[-2000:]

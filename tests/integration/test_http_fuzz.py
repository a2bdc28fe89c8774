"""The HTTP APIs fuzzed from their OpenAPI document (schemathesis): no 5xx, whatever comes in."""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from services.common.auth.keystore import AuthFiles
from services.common.auth.principals import Kind
from services.common.auth.tokens import issue

pytestmark = pytest.mark.integration
OPENAPI = Path(__file__).resolve().parents[2] / "deploy" / "openapi.yaml"
TAGS = {"whistle": "whistle", "dispatch": "dispatch", "roster": "roster", "metrics": "assessment"}


@pytest.fixture(scope="module")
def token(stack, tmp_path_factory):
    """District staff's token (the assessment's routes are guarded; the others are not yet)."""
    files = AuthFiles(tmp_path_factory.mktemp("auth"))
    key = files.rotate(datetime.now(timezone.utc))
    stack.extra_env["CHUISHAO_AUTH_DIR"] = str(files.root)
    stack.start("whistle", "dispatch", "roster", "metrics")
    return issue(Kind.DISTRICT, "zhangwei", key, datetime.now(timezone.utc), timedelta(hours=1)).token


@pytest.mark.parametrize("service", list(TAGS))
def test_no_input_makes_a_service_fail_with_a_5xx(stack, token, service, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", str(OPENAPI), "--url", stack.url(service),
         "--include-tag", TAGS[service], "--checks", "not_a_server_error", "--max-examples", "30",
         "--seed", "1", "--workers", "1", "--phases", "examples,fuzzing",
         "--header", f"Authorization: Bearer {token}"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "passed" in run.stdout.lower() or "no issues found" in run.stdout.lower(), run.stdout[-2000:]

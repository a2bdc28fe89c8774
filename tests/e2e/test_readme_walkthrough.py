"""The README's first-whistle walkthrough, run as written: its shell blocks, with the token it tells a newcomer
to issue (`make -s token ...`), against the four services (their addresses swapped for the test's)."""
from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from services.common.auth.keystore import Verifier
from services.common.auth.principals import Kind
from services.department_client import DepartmentClient
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
WALKTHROUGH = README[README.index("## Your first whistle in five minutes"):
                     README.index("### The same from the command line")]
BLOCKS = re.findall(r"```bash\n(.*?)```", WALKTHROUGH, re.S)
DEFAULTS = {"whistle": "127.0.0.1:8000", "dispatch": "127.0.0.1:8001", "metrics": "127.0.0.1:9102"}


@pytest.fixture(scope="module", autouse=True)
def everything(stack):
    stack.start("whistle", "dispatch", "roster", "metrics")


def shell(stack, script: str) -> str:
    for service, default in DEFAULTS.items():
        script = script.replace(default, stack.url(service).removeprefix("http://"))
    env = {**os.environ, "CHUISHAO_AUTH_DIR": str(stack.auth.root)}      # make token signs with the stack's key
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_walkthrough_works_with_the_token_it_issues(stack):
    issue, raise_it, callouts, timeline = BLOCKS
    assert "make -s token ARGS='issue --street daxigou'" in issue and "Authorization: Bearer $T" in raise_it
    whistle_id, token = shell(stack, f"{issue}\n{raise_it}\necho \"$T\"\n").split()     # the block echoes $W
    principal = Verifier(stack.auth.root).verify(token, datetime.now(timezone.utc))
    assert (principal.kind, principal.code) == (Kind.STREET, "daxigou")

    listed = wait_for(lambda: (rows := json.loads(shell(stack, f"T={token}; W={whistle_id}\n{callouts}"))["callouts"])
                      and len(rows) == 3 and rows, what="the three call-outs")
    assert {c["department_code"] for c in listed} == {"chengguan", "guihua", "zhujian"}

    # 城管's system checks in (the walkthrough's pika block, as the packaged client)
    with DepartmentClient(stack.amqp_uri, "chengguan", stack.namespace) as client:
        callout = next(c for c in client.callouts(timeout=30) if c.whistle_id == whistle_id)
        assert client.check_in(callout.callout_id, "执法队员 王建国").outcome == "accepted"

    timeline_only = timeline.splitlines()[0]
    lines = wait_for(lambda: (t := json.loads(shell(stack, f"T={token}; W={whistle_id}\n{timeline_only}"))["timeline"])
                     and any(e["kind"] == "callout.checked_in" for e in t) and t, what="the check-in on the timeline")
    raised = lines[0]
    assert raised["kind"] == "whistle.raised" and raised["detail"]["principal"]["code"] == "daxigou"
    assert "chuishao_checkin" in shell(stack, timeline.splitlines()[1])      # /metrics, without a token

"""The pika department client and its CLI against the real broker and the whistle and dispatch processes.

A whistle raised over the whistle service's HTTP API is called out to the market supervision bureau
(food_safety calls only `shichang`); the bureau's system, holding nothing of ours but this client,
receives the call-out and checks in, arrives and completes over AMQP.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pika
import pytest
import requests

from services.common.auth.principals import Kind
from services.common.events import Place
from services.department_client import DepartmentClient, InvalidReport, ReportRejected
from tests.support.samples import whistle_request
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEPARTMENT = "shichang"


@pytest.fixture(scope="module", autouse=True)
def services(stack):
    stack.start("whistle", "dispatch")


def raise_whistle(stack, address: str) -> str:
    # no coordinates: the grid is given, so neither the responsibility map nor duplicate linking
    # (which both need a point) decides whether shichang is called
    body = whistle_request(category="food_safety", urgency="urgent", place={"address": address},
                           description="农贸市场摊位出售过期熟食 (expired cooked food on sale)",
                           request_id=f"req-{uuid.uuid4().hex[:12]}")
    response = requests.post(f"{stack.url('whistle')}/api/v1/whistles", json=body, timeout=10,
                             headers=stack.bearer(Kind.STREET, body["street_code"]))
    assert response.status_code == 201, response.text
    return response.json()["whistle_id"]


def callouts_of(stack, whistle_id: str) -> list[dict]:
    """The call-outs of a whistle as the department reads them (its own only)."""
    response = requests.get(f"{stack.url('dispatch')}/api/v1/whistles/{whistle_id}/callouts", timeout=10,
                            headers=stack.bearer(Kind.DEPARTMENT, DEPARTMENT))
    assert response.status_code == 200, response.text
    return response.json()["callouts"]


def waiting_callouts(stack) -> int:
    """Ready (not handed out, not unacked) messages on the department's durable call-out queue."""
    connection = pika.BlockingConnection(pika.URLParameters(stack.amqp_uri))
    try:
        declared = connection.channel().queue_declare(f"{stack.namespace}department.{DEPARTMENT}.callouts",
                                                      passive=True)
        return declared.method.message_count
    finally:
        connection.close()


def cli(stack, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """The CLI as a department would run it (`chuishao dept`, in English); broker and namespace come from
    AMQP_URI and BUS_NAMESPACE."""
    env = {**os.environ, "AMQP_URI": stack.amqp_uri, "BUS_NAMESPACE": stack.namespace,
           "PYTHONIOENCODING": "utf-8", "CHUISHAO_LANG": "en"}
    return subprocess.run([sys.executable, "-m", "services.department_client", "--department", DEPARTMENT,
                           *args], env=env, cwd=ROOT, capture_output=True, text=True, encoding="utf-8",
                          timeout=timeout)


def test_the_client_needs_neither_nameko_nor_kombu():
    probe = ("import sys, services.department_client, services.department_client.__main__, services.cli.main; "
             "print(sorted({m.split('.')[0] for m in sys.modules} & "
             "{'nameko', 'kombu', 'amqp', 'eventlet', 'sqlalchemy', 'shapely'}))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_department_receives_its_callout_and_checks_in_arrives_and_completes(stack, bus):
    whistle_id = raise_whistle(stack, "大溪沟街道人和街12号 人和农贸市场")
    with DepartmentClient(stack.amqp_uri, DEPARTMENT, stack.namespace) as client:
        received = list(client.callouts(timeout=30, count=1))
        assert len(received) == 1
        callout = received[0]
        assert callout.whistle_id == whistle_id and callout.department_code == DEPARTMENT
        assert callout.role == "lead" and callout.departments == (DEPARTMENT,)
        assert callout.category_name_zh == "食品安全" and callout.urgency == "urgent"
        assert callout.deadlines.check_in_by < callout.deadlines.completion_by
        assert waiting_callouts(stack) == 0                        # acknowledged once the loop came back

        checked = client.check_in(callout.callout_id, "市场监管 梁晨", note="十分钟到场")
        assert (checked.outcome, checked.action, checked.callout_id) == ("accepted", "checkin", callout.callout_id)
        assert checked.request_id and not checked.repeated

        with pytest.raises(ReportRejected) as twice:
            client.check_in(callout.callout_id, "市场监管 宋佳")
        assert "already" in str(twice.value)
        assert [e.field for e in twice.value.errors] == ["callout_id"]
        assert twice.value.outcome.outcome == "rejected"

        sent = bus.listen("checkins", f"arrival.{DEPARTMENT}")
        with pytest.raises(ValueError) as invalid:                  # InvalidReport is a ValueError
            client.arrive(callout.callout_id, "市场监管 梁晨", {"address": "人和农贸市场"}, evidence_ref="")
        assert isinstance(invalid.value, InvalidReport) and "evidence_ref" in str(invalid.value)
        with pytest.raises(ValueError, match="evidence_ref"):
            client.arrive(callout.callout_id, "市场监管 梁晨", {"address": "人和农贸市场"}, evidence_ref=None)
        assert sent.nothing_more(settle=1.0)                        # nothing was published

        arrived = client.arrive(callout.callout_id, "市场监管 梁晨",
                                Place(address="人和农贸市场 B区", lon=106.5517, lat=29.5631),
                                "photo://shichang/arrival-1")
        assert (arrived.outcome, arrived.action) == ("accepted", "arrival")
        again = client.arrive(callout.callout_id, "市场监管 梁晨", "人和农贸市场 B区",
                              "photo://shichang/arrival-1", request_id=arrived.request_id)
        assert again.outcome == "accepted" and again.repeated     # a retry with its request_id is safe

        completed = client.complete(callout.callout_id, "下架过期熟食12份，责令摊主整改",
                                    ["photo://shichang/after-1", "form://shichang/check-1"])
        assert (completed.outcome, completed.action) == ("accepted", "completion")

    [row] = callouts_of(stack, whistle_id)
    assert row["callout_id"] == callout.callout_id
    assert row["status"] == "completed" and row["officer"] == "市场监管 梁晨"
    assert row["checked_in_at"] and row["arrived_at"] and row["completed_at"]
    with stack.rpc() as rpc:
        assert rpc.dispatch.case_of(whistle_id)["status"] == "all_completed"   # 事不完，人不走: now it is


def test_a_callout_whose_handling_crashed_comes_back_and_the_cli_acts_on_it(stack):
    whistle_id = raise_whistle(stack, "大溪沟街道文化宫路3号 小吃街")
    with DepartmentClient(stack.amqp_uri, DEPARTMENT, stack.namespace) as client:
        with pytest.raises(RuntimeError):
            for callout in client.callouts(timeout=30):
                crashed = callout
                raise RuntimeError("the bureau's system fell over while handling it")
    assert crashed.whistle_id == whistle_id
    wait_for(lambda: waiting_callouts(stack) == 1, timeout=10, what="the call-out back on its queue")

    listened = cli(stack, "listen", "--count", "1", "--json", "--idle", "30")
    assert listened.returncode == 0, listened.stderr
    [line] = listened.stdout.strip().splitlines()
    payload = json.loads(line)
    assert payload["type"] == "callout.issued" and payload["callout_id"] == crashed.callout_id
    assert payload["whistle_id"] == whistle_id and payload["department_code"] == DEPARTMENT
    assert waiting_callouts(stack) == 0

    first = cli(stack, "checkin", crashed.callout_id, "--officer", "市场监管 郑浩")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("accepted: check-in of call-out " + crashed.callout_id)
    second = cli(stack, "checkin", crashed.callout_id, "--officer", "市场监管 谢婷")
    assert second.returncode == 1, second.stdout + second.stderr
    assert "rejected" in second.stderr and "already" in second.stderr

    [row] = callouts_of(stack, whistle_id)
    assert row["status"] == "checked_in" and row["officer"] == "市场监管 郑浩"


def test_the_cli_prints_a_readable_line_and_refuses_bad_input_before_sending(stack, bus):
    whistle_id = raise_whistle(stack, "大溪沟街道滨江路88号 学校食堂")
    listened = cli(stack, "listen", "--count", "1", "--idle", "30")
    assert listened.returncode == 0, listened.stderr
    [line] = listened.stdout.strip().splitlines()
    assert line.startswith("[Urgent (water, power, gas, heating)] Food safety @ 大溪沟街道滨江路88号 学校食堂 | "
                           "check in by ")
    assert "on site by " in line and "complete by " in line and f"whistle {whistle_id}" in line
    [row] = callouts_of(stack, whistle_id)
    assert f"call-out {row['callout_id']}" in line

    sent = bus.listen("checkins", f"*.{DEPARTMENT}")
    no_evidence = cli(stack, "arrive", row["callout_id"], "--officer", "市场监管 梁晨", "--address", "食堂",
                      "--evidence", "")
    assert no_evidence.returncode == 2
    assert "--evidence" in no_evidence.stderr and "must not be empty" in no_evidence.stderr
    short_reason = cli(stack, "return", row["callout_id"], "--reason", "不")
    assert short_reason.returncode == 2 and "give a reason of at least 4 characters" in short_reason.stderr
    missing = cli(stack, "complete", row["callout_id"], "--summary", "处置完毕")      # no --evidence
    assert missing.returncode == 2 and "--evidence" in missing.stderr
    assert sent.nothing_more(settle=1.0)

    returned = cli(stack, "return", row["callout_id"], "--reason", "学校食堂归教委监管，非本局职责")
    assert returned.returncode == 0, returned.stderr
    mine = [c for c in callouts_of(stack, whistle_id) if c["callout_id"] == row["callout_id"]]
    assert [c["status"] for c in mine] == ["returned"]

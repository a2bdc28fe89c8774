"""Verifiable senders: with SENDER_CHECK=user_id a department or a street proves itself by its own broker
account, and the timeline names the account that acted."""
from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from urllib.parse import urlparse

import pika
import pytest

from tests.support.bus import dead_letters
from tests.support.samples import publish_event, raised, whistle_request
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
PASSWORD = "drill-" + uuid.uuid4().hex[:8]


def _ctl(*args):
    return subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def department_users(stack):
    """Broker accounts dept-shichang, dept-gongan and street-daxigou (needs rabbitmqctl on this machine's broker)."""
    host = urlparse(stack.amqp_uri).hostname
    if host not in ("127.0.0.1", "localhost") or not shutil.which("rabbitmqctl") or os.geteuid() != 0:
        pytest.skip("needs rabbitmqctl as root against the local broker to create department accounts")
    users = {"dept-shichang": "checkins", "dept-gongan": "checkins", "street-daxigou": "whistles"}
    for user, exchange in users.items():
        _ctl("delete_user", user)
        assert _ctl("add_user", user, PASSWORD).returncode == 0
        assert _ctl("set_permissions", "-p", "/", user, "^$", f"^{stack.namespace}{exchange}$",
                    "^amq\\.gen.*").returncode == 0
    yield users
    for user in users:
        _ctl("delete_user", user)


def publish_as(stack, user, routing_key, body, user_id, exchange="checkins"):
    params = pika.URLParameters(stack.amqp_uri.replace("guest:guest", f"{user}:{PASSWORD}"))
    connection = pika.BlockingConnection(params)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        import json
        channel.basic_publish(f"{stack.namespace}{exchange}", routing_key, json.dumps(body).encode(),
                              pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                                   user_id=user_id, message_id=str(uuid.uuid4())))
    finally:
        if connection.is_open:
            connection.close()


def test_only_the_departments_own_account_may_report_for_it(stack, bus, department_users):
    stack.extra_env.update(SENDER_CHECK="user_id")
    stack.start("dispatch")
    checked_in = bus.listen("events", "callout.checked_in")
    event = raised(category="food_safety")
    publish_event(bus, event)
    with stack.rpc() as rpc:
        [callout] = wait_for(lambda: rpc.dispatch.callouts_of(event.whistle_id), what="the call-out")
    report = {"callout_id": callout["callout_id"], "department_code": "shichang", "officer": "市场所 周"}

    bus.publish("checkins", "checkin.shichang", {**report, "request_id": "anonymous"})
    publish_as(stack, "dept-gongan", "checkin.shichang", {**report, "request_id": "impostor"}, "dept-gongan")
    anonymous = wait_for(lambda: [h for h, b in dead_letters(bus) if b"anonymous" in b], what="dead letter")[0]
    impostor = wait_for(lambda: [h for h, b in dead_letters(bus) if b"impostor" in b], what="dead letter")[0]
    assert "no verifiable sender" in anonymous["x-dead-reason"]
    assert "'dept-gongan' may not send for dept 'shichang'" in impostor["x-dead-reason"]

    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as forged:      # the broker checks user_id
        publish_as(stack, "dept-gongan", "checkin.shichang", {**report, "request_id": "forged"}, "dept-shichang")
    assert forged.value.reply_code == 406

    publish_as(stack, "dept-shichang", "checkin.shichang", {**report, "request_id": "genuine"}, "dept-shichang")
    with stack.rpc() as rpc:
        done = wait_for(lambda: [c for c in rpc.dispatch.callouts_of(event.whistle_id) if c["status"] == "checked_in"],
                        what="the genuine check-in")
    assert done[0]["officer"] == "市场所 周"
    event, _, _ = checked_in.get(predicate=lambda p: p["callout_id"] == callout["callout_id"])
    assert event["by"] == {"kind": "department", "code": "shichang", "token_id": "amqp:dept-shichang"}


def test_a_whistle_raised_over_the_bus_names_the_streets_verified_account(stack, bus, department_users):
    stack.extra_env.update(SENDER_CHECK="user_id")
    stack.start("whistle")
    outcomes = bus.listen("whistles", "outcome.daxigou.*")
    request = whistle_request()
    publish_as(stack, "street-daxigou", "raise.daxigou", request, "street-daxigou", exchange="whistles")
    outcome, _, _ = outcomes.get(predicate=lambda p: p["request_id"] == request["request_id"])
    assert outcome["outcome"] == "raised"
    with stack.rpc() as rpc:
        timeline = rpc.whistle.get_whistle(outcome["whistle_id"])["timeline"]
    [line] = [e for e in timeline if e["kind"] == "whistle.raised"]
    assert line["detail"]["principal"] == {"kind": "street", "code": "daxigou", "token_id": "amqp:street-daxigou"}
    assert line["actor"] == request["reported_by"]

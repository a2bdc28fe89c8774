"""Poison and malformed messages on every exchange the services consume: each is dead-lettered with its
reason by every consumer it reaches, and every consumer keeps serving the next message."""
from __future__ import annotations

import json
import uuid

import pytest
import requests

from tests.support.bus import SERVICE_QUEUES, dead_letters
from tests.support.samples import whistle_request
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

# (exchange, routing key, event type for event payloads or None for commands, consumers it reaches)
TARGETS = [
    ("whistles", "raise.daxigou", None, {"whistle.raise_requests"}),
    ("events", "whistle.raised", "whistle.raised", {"dispatch.whistles", "metrics.events"}),
    ("events", "callout.checked_in", "callout.checked_in", {"whistle.progress", "metrics.events"}),
    ("events", "whistle.reopened", "whistle.reopened", {"dispatch.rounds", "metrics.events"}),
    ("events", "callouts.issued", "callouts.issued", {"whistle.progress", "roster.callouts", "metrics.events"}),
    ("events", "roster.gap", "roster.gap", {"dispatch.roster_gaps"}),
    ("assignments", "assignment.chengguan.urgent", "team.officer_assigned", {"dispatch.roster_gaps"}),
    ("checkins", "checkin.chengguan", None, {"dispatch.checkins"}),
    ("checkins", "member_checkin.chengguan", None, {"roster.member_checkins"}),
    ("checkins", "member_decline.chengguan", None, {"roster.member_declines"}),
    ("checkins", "arrival.chengguan", None, {"dispatch.arrivals"}),
    ("checkins", "completion.chengguan", None, {"dispatch.completions"}),
    ("checkins", "return.chengguan", None, {"dispatch.returns"}),
    ("hotline", "ticket.daxigou", None, {"whistle.tickets"}),
    ("events", "grid_event.closed", "grid_event.closed", {"metrics.grid_events"}),
]
KINDS = {
    "invalid_json": (lambda t: b'{"type": ', "application/json", "invalid JSON"),
    "wrong_content_type": (lambda t: json.dumps({"type": t}).encode(), "text/plain", "content_type"),
    "future_schema": (lambda t: json.dumps({**({"type": t} if t else {}), "schema_version": 2}).encode(),
                      "application/json", "schema_version"),
    "missing_fields": (lambda t: json.dumps({"type": t} if t else {"request_id": "x"}).encode(),
                       "application/json", "Field required"),
    "oversized": (lambda t: b" " * 70_000, "application/json", "exceeds"),
}


def test_the_targets_reach_every_queue_the_services_consume():
    """A consumer added to a service without a poison case here fails this test."""
    assert set().union(*(t[3] for t in TARGETS)) == set(SERVICE_QUEUES)


@pytest.fixture(scope="module", autouse=True)
def everything(stack):
    stack.start("whistle", "dispatch", "roster", "metrics")


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("exchange, routing_key, event_type, consumers", TARGETS,
                         ids=[f"{t[0]}:{t[1]}" for t in TARGETS])
def test_poison_is_dead_lettered_by_every_consumer_with_its_reason(bus, kind, exchange, routing_key,
                                                                    event_type, consumers):
    body, content_type, reason = KINDS[kind]
    marker = uuid.uuid4().hex
    bus.publish(exchange, routing_key, body(event_type), content_type=content_type, headers={"marker": marker})
    letters = wait_for(lambda: (found := [h for h, _ in dead_letters(bus) if h.get("marker") == marker])
                       and len(found) >= len(consumers) and found, what=f"{len(consumers)} dead letters")
    assert {h["x-dead-consumer"].split(".", 1)[1] for h in letters} == consumers
    for letter in letters:
        assert reason in letter["x-dead-reason"], letter["x-dead-reason"]
        assert letter["x-original-routing-key"] == routing_key
        if kind == "future_schema" and event_type:
            # events are read tolerantly, but another major version is refused before its fields are read
            assert (f"schema_version: version 2 of {event_type} is not read by this release"
                    in letter["x-dead-reason"]), letter["x-dead-reason"]


def test_a_report_for_an_unknown_department_is_refused(bus):
    outcomes = bus.listen("checkins", "outcome.nosuch.rejected")
    bus.publish("checkins", "checkin.nosuch", {"request_id": "r-nosuch", "callout_id": "c-1",
                                               "department_code": "nosuch", "officer": "x"})
    outcome, _, _ = outcomes.get(predicate=lambda p: p["request_id"] == "r-nosuch")
    assert "no call-out c-1" in outcome["errors"][0]["message"]


def test_after_all_that_every_consumer_still_serves(stack, bus):
    outcomes = bus.listen("whistles", "outcome.daxigou.raised")
    callouts = bus.listen("callouts", "callout.huanwei.*")
    request = whistle_request()
    bus.publish("whistles", "raise.daxigou", request)
    outcome, _, _ = outcomes.get(predicate=lambda p: p["request_id"] == request["request_id"])
    callout, _, _ = callouts.get(predicate=lambda p: p["whistle_id"] == outcome["whistle_id"])
    bus.publish("checkins", "checkin.huanwei", {"request_id": "alive", "callout_id": callout["callout_id"],
                                                "department_code": "huanwei", "officer": "环卫 孙"})
    wait_for(lambda: 'chuishao_checkins_total{department="huanwei"' in requests.get(
        f"{stack.url('metrics')}/metrics", timeout=5).text, what="metrics to count the check-in")
    team_or_timeline = requests.get(f"{stack.url('whistle')}/api/v1/whistles/{outcome['whistle_id']}/timeline",
                                    headers=stack.bearer(), timeout=5).json()["timeline"]
    wait_for(lambda: any(e["kind"] == "callout.checked_in" for e in requests.get(
        f"{stack.url('whistle')}/api/v1/whistles/{outcome['whistle_id']}/timeline", headers=stack.bearer(),
        timeout=5).json()["timeline"]),
        what="the whistle's timeline to show the check-in")
    assert team_or_timeline[0]["kind"] == "whistle.raised"

"""Graceful shutdown: SIGTERM lets in-flight work finish; a restart resumes where it stopped."""
from __future__ import annotations

import signal
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import pytest

from tests.support.samples import publish_event, raised

pytestmark = pytest.mark.integration
BURST = 40


def test_sigterm_mid_burst_then_restart_loses_and_doubles_nothing(stack, bus):
    stack.start("dispatch")
    callouts = bus.listen("callouts", "callout.#")
    events = [raised(category="garbage_dumping") for _ in range(BURST)]
    for event in events:
        publish_event(bus, event)
    first, _, _ = callouts.get(timeout=20)                                   # work is under way
    process = stack.processes["dispatch"]
    assert process.stop(signal.SIGTERM, timeout=30) == 0                      # a clean exit, not a kill
    stack.start("dispatch")
    mine = {e.whistle_id for e in events}
    received = callouts.get_all(BURST * 3 - 1, timeout=60, predicate=lambda p: p["whistle_id"] in mine)
    assert callouts.nothing_more(settle=2.0)
    pairs = [(c["whistle_id"], c["department_code"]) for c in [first, *received]]
    assert len(pairs) == len(set(pairs)) == BURST * 3                        # each exactly once
    with stack.rpc() as rpc:
        for event in events[:5]:
            assert len(rpc.dispatch.callouts_of(event.whistle_id)) == 3


def test_restart_resumes_deadline_sweeps_every_missed_rung_once_in_order(stack, bus, drill_reference):
    """Dispatch is stopped while every rung of a whistle's call-outs falls due; after the restart each
    missed rung (3 call-outs x 3 steps x 3 tiers) is emitted once, lowest tier first."""
    if "dispatch" in stack.processes:
        stack.processes["dispatch"].stop(signal.SIGTERM, timeout=30)
    stack.extra_env.update(REFERENCE_DATA=str(drill_reference), ESCALATION_SWEEP_SECONDS="0.2")
    stack.start("dispatch")
    callouts = bus.listen("callouts", "callout.#")
    escalations = bus.listen("events", "callout.escalated")
    event = raised(category="garbage_dumping")
    publish_event(bus, event)
    issued = callouts.get_all(3, timeout=20, predicate=lambda p: p["whistle_id"] == event.whistle_id)
    assert stack.processes["dispatch"].stop(signal.SIGTERM, timeout=30) == 0
    stopped_at = datetime.now(timezone.utc)

    # the city tier of the completion step is the last rung: 4 s after completion_by (drill ladder)
    last_rung = max(datetime.fromisoformat(c["deadlines"]["completion_by"]) for c in issued) + timedelta(seconds=4)
    bus.connection.sleep(max(0.0, (last_rung - datetime.now(timezone.utc)).total_seconds()) + 0.5)
    restarted_at = datetime.now(timezone.utc)
    stack.start("dispatch")

    expected = 3 * 3 * 3
    unique: dict[str, dict] = {}
    deadline = time.monotonic() + 30
    while len(unique) < expected and time.monotonic() < deadline:
        payload, _, _ = escalations.get(timeout=max(0.1, deadline - time.monotonic()),
                                        predicate=lambda p: p["whistle_id"] == event.whistle_id)
        unique.setdefault(payload["event_id"], payload)    # arrival order kept: dicts keep insertion order
    assert len(unique) == expected, f"{len(unique)} of {expected} rungs after the restart"
    assert escalations.nothing_more(settle=1.5)
    ladders = defaultdict(list)
    for rung in unique.values():
        ladders[(rung["callout_id"], rung["step"])].append(rung["level"])
    assert len(ladders) == 9 and all(levels == [1, 2, 3] for levels in ladders.values())
    missed = [r for r in unique.values() if datetime.fromisoformat(r["escalated_at"]) >= restarted_at]
    assert missed, "nothing was left for the restarted sweeper: the test did not stop it in time"
    assert all(datetime.fromisoformat(r["escalated_at"]) <= stopped_at or r in missed for r in unique.values())

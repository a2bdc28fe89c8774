"""Graceful shutdown: SIGTERM lets in-flight work finish; a restart resumes where it stopped."""
from __future__ import annotations

import signal

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from tests.integration.test_dispatch_service import publish_event, raised

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
    with ClusterRpcProxy(stack.rpc_config()) as rpc:
        for event in events[:5]:
            assert len(rpc.dispatch.callouts_of(event.whistle_id)) == 3

"""Two dispatch processes sweeping one database: every overdue step escalates exactly once per tier."""
from __future__ import annotations

import json
import re
import time
from collections import Counter

import pytest
import requests

from tests.support.processes import ServiceProcess, free_port
from tests.support.samples import publish_event, raised

pytestmark = pytest.mark.integration
WHISTLES = 12          # garbage_dumping calls 3 departments: 36 call-outs, 3 steps each, 3 tiers


def fired(url: str) -> float:
    match = re.search(r"^chuishao_dispatch_escalations_fired_total ([0-9.e+]+)$",
                      requests.get(f"{url}/metrics", timeout=5).text, re.M)
    return float(match.group(1)) if match else 0.0


def test_two_replicas_escalate_each_rung_exactly_once(stack, bus, drill_reference):
    stack.extra_env.update(REFERENCE_DATA=str(drill_reference), ESCALATION_SWEEP_SECONDS="0.2")
    stack.start("dispatch")
    twin = ServiceProcess("dispatch", {**stack.env(), "DISPATCH_WEB_ADDRESS": f"127.0.0.1:{(port := free_port())}"},
                          stack.tmp / "dispatch-2.log", port).start()
    try:
        escalations = bus.listen("events", "callout.escalated")
        mine = set()
        for _ in range(WHISTLES):
            event = raised(category="garbage_dumping")
            mine.add(event.whistle_id)
            publish_event(bus, event)
        expected = WHISTLES * 3 * 3 * 3
        # the wire is at-least-once (two relays may both send a row): count distinct events
        unique: dict[str, dict] = {}
        deadline = time.monotonic() + 90
        while len(unique) < expected and time.monotonic() < deadline:
            event, _, _ = escalations.get(timeout=max(0.1, deadline - time.monotonic()),
                                          predicate=lambda p: p["whistle_id"] in mine)
            unique[event["event_id"]] = event
        settle = time.monotonic() + 2.0
        while time.monotonic() < settle:           # nothing new may follow: duplicates of known ids only
            method, _, body = bus.channel.basic_get(escalations.queue, auto_ack=True)
            if method is None:
                bus.connection.sleep(0.05)
                continue
            assert json.loads(body)["event_id"] in unique, "an escalation fired twice"
        seen = list(unique.values())
        rungs = Counter((e["callout_id"], e["step"], e["level"]) for e in seen)
        assert len(rungs) == expected and set(rungs.values()) == {1}
        assert Counter(e["tier"] for e in seen) == {"street": expected // 3, "district": expected // 3,
                                                    "city": expected // 3}
        first, second = fired(stack.url("dispatch")), fired(twin.url)
        assert first + second == expected
        print(f"replica escalations: {first:.0f} + {second:.0f} = {expected}")
    finally:
        twin.stop()

"""The relay's memory hand-off is bounded: past its limit, committed rows wait in the table for the sweep."""
from __future__ import annotations

from services.common.outbox import Relay


def rows(first: int, count: int) -> list[dict]:
    return [{"event_id": f"e-{n}", "exchange": "events", "routing_key": "x", "body": "{}"}
            for n in range(first, first + count)]


def test_rows_past_the_limit_are_left_to_the_sweep_not_held_in_memory():
    relay = Relay(platform=None, engine=None, publisher=None, service="test", handoff_max=5)
    relay.submit(rows(0, 3))
    relay.submit(rows(3, 4))                       # only two more fit
    assert [r["event_id"] for r in relay._pending] == [f"e-{n}" for n in range(5)]
    # the sweep skips what memory holds, so the two left out are the sweep's to send
    assert relay._held == {f"e-{n}" for n in range(5)}
    relay.submit(rows(7, 1))
    assert len(relay._pending) == 5 and "e-7" not in relay._held


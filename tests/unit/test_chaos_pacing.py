"""The fault suite's own pacing: back-pressure that cannot run away, and check-in re-sends that back off."""
from __future__ import annotations

from tests.chaos.traffic import CheckinSent, Ledger, Pacer, Plan


class Flight:
    """A ledger stand-in with a settable number of whistles in flight."""

    def __init__(self, in_flight: int = 0):
        self.count = in_flight

    def in_flight(self) -> int:
        return self.count


def pacer(flight: Flight, window: int = 10, patience: float = 20.0) -> Pacer:
    made = Pacer(flight, rate=10.0, window=window, segment=1e9, faults=0, patience=patience)
    made.started = 0.0
    return made


def test_whistles_go_at_the_rate_while_below_the_window():
    p = pacer(Flight(3))
    assert p.may_send(5, now=0.5)
    assert not p.may_send(6, now=0.5)          # whistle 6 is due at 0.6 s


def test_a_full_window_holds_the_stream_until_patience_then_lets_one_through_per_patience():
    flight = Flight(10)
    p = pacer(flight, window=10, patience=20.0)
    assert not p.may_send(1, now=1.0)
    assert not p.may_send(1, now=20.9)
    assert p.may_send(1, now=21.0)             # stuck for 20 s: one whistle keeps the schedule going
    assert not p.may_send(2, now=21.1)         # ...but not the full rate: the next waits again
    assert not p.may_send(2, now=40.9)
    assert p.may_send(2, now=41.1)
    flight.count = 9                           # the system caught up: the bound is lifted at once
    assert p.may_send(3, now=41.2)
    assert p.may_send(4, now=41.2)


def test_unanswered_check_ins_are_re_sent_with_doubling_waits_capped_at_sixteen_times():
    ledger = Ledger([Plan(index=0, request_id="r1", street="s", grid="g", category="c", urgency="normal",
                          departments=frozenset({"d"}))])
    ledger.unanswered["d"]["c1"] = sent = CheckinSent("ci-c1", first_at=0.0, last_at=0.0)
    waits = []
    for _ in range(7):
        last = sent.last_at
        due = next(t for t in range(int(last), int(last) + 2000) if ledger.due_retries("d", 30, t))
        waits.append(due - last)
        sent.sends += 1
        sent.last_at = due
    assert waits == [30, 60, 120, 240, 480, 480, 480]

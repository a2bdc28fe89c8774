"""The reconnect wait: doubling from 0.2 s, never past the cap, jittered within its upper half."""
from __future__ import annotations

import pytest

from services.common.backoff import reconnect_delay


@pytest.mark.parametrize("failures, lowest, highest", [(1, 0.1, 0.2), (2, 0.2, 0.4), (3, 0.4, 0.8),
                                                      (4, 0.8, 1.6), (5, 1.0, 2.0), (60, 1.0, 2.0)])
def test_the_wait_doubles_up_to_the_cap(failures, lowest, highest):
    assert reconnect_delay(failures, cap=2.0, draw=lambda: 0.0) == pytest.approx(lowest)
    assert reconnect_delay(failures, cap=2.0, draw=lambda: 1.0) == pytest.approx(highest)


def test_a_five_second_outage_is_noticed_within_the_cap_of_its_end():
    waited, failures = 0.0, 0
    while waited < 5.0:                       # every attempt during the outage fails
        failures += 1
        waited += reconnect_delay(failures, cap=2.0, draw=lambda: 1.0)
    assert waited - 5.0 <= 2.0

"""How long a loop waits before it tries the broker or the database again: doubling, capped, jittered."""
from __future__ import annotations

import random
from typing import Callable

FIRST_WAIT = 0.2


def reconnect_delay(failures: int, cap: float, draw: Callable[[], float] = random.random) -> float:
    """Seconds to wait after `failures` consecutive failures (1, 2, ...).

    The cap bounds how long a service stays away after the broker or the network is back: with the
    old 10 s cap a 5 s connection cut cost 7 s more before the services noticed the broker had
    returned. The jitter (half the wait) keeps a fleet of replicas from reconnecting in lockstep."""
    ceiling = min(cap, FIRST_WAIT * 2 ** min(max(failures, 1) - 1, 16))
    return ceiling / 2 + draw() * ceiling / 2

"""A token bucket per principal, for writes (OWASP API4). Pure: the caller passes the clock.

Each principal's bucket holds up to `burst` writes and refills at `per_minute`; a write taken from
an empty bucket is refused with the seconds until one is back (HTTP 429, `Retry-After`). Buckets
live in the process: with N replicas behind a balancer a principal gets up to N times the rate."""
from __future__ import annotations

import math
import os
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    per_minute: float
    burst: int

    def __post_init__(self):
        if not self.per_minute > 0 or self.burst < 1:
            raise ValueError("a write rate needs per_minute > 0 and burst >= 1")

    @classmethod
    def from_env(cls, env=os.environ) -> "Rate":
        """WRITE_RATE_PER_MINUTE (default 60) and WRITE_BURST (default 20)."""
        try:
            return cls(float(env.get("WRITE_RATE_PER_MINUTE", "60")), int(env.get("WRITE_BURST", "20")))
        except ValueError as exc:
            raise ValueError(f"WRITE_RATE_PER_MINUTE / WRITE_BURST: {exc}") from None


class TokenBuckets:
    """Buckets by key (a principal's `kind:code`), at most `max_keys` of them kept."""

    def __init__(self, rate: Rate, max_keys: int = 10_000):
        self.rate = rate
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()   # key -> (tokens, at)

    def take(self, key: str, now: float) -> float:
        """Takes one write for `key` at monotonic time `now`: 0.0 if allowed, else seconds to wait."""
        per_second = self.rate.per_minute / 60.0
        tokens, at = self._buckets.pop(key, (float(self.rate.burst), now))
        tokens = min(float(self.rate.burst), tokens + max(0.0, now - at) * per_second)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            self._trim()
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / per_second

    def _trim(self) -> None:
        # the least recently used go first; a forgotten bucket comes back full, which is the
        # most a principal can gain from it
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)


def retry_after_header(wait: float) -> str:
    """Retry-After in whole seconds, rounded up (never 0 for a refused write)."""
    return str(max(1, math.ceil(wait)))

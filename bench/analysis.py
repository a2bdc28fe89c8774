"""The bench's arithmetic on what it measured: the ramp's knee, CPU per whistle, ratios, replica factors.

Pure: numbers and dicts in, numbers and dicts out (no clock, no processes, no broker).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

# process groups that are not part of a pipeline's own cost
OUTSIDE = ("bench",)


@dataclass
class KneeSearch:
    """Decides, interval by interval of an open-loop ramp, whether the system still keeps up.

    An interval fails when its p99 (counting unfinished whistles at their age) exceeds the limit,
    or when the unfinished whistles grew by more than max(5, half a second of offered load) for
    `growth_intervals` intervals running. The knee is the last rate before the first failure."""

    p99_limit_ms: float
    growth_intervals: int = 2
    knee: float | None = None
    reason: str | None = None
    checks: list[dict] = field(default_factory=list)
    _growing: int = 0

    def check(self, rate: float, p99_ms: float, outstanding: int) -> bool:
        """Takes one interval's figures; True while the ramp should go on."""
        if self.reason:
            return False
        if self.checks and outstanding - self.checks[-1]["outstanding"] > max(5, 0.5 * rate):
            self._growing += 1
        else:
            self._growing = 0
        self.checks.append({"rate": rate, "p99_ms": p99_ms, "outstanding": outstanding})
        if p99_ms > self.p99_limit_ms:
            self.reason = f"p99 raise→done above {self.p99_limit_ms / 1000:g} s at {rate:g}/s"
        elif self._growing >= self.growth_intervals:
            self.reason = f"backlog grew for {self.growth_intervals} intervals in a row, up to {rate:g}/s"
        if self.reason:
            return False
        self.knee = rate
        return True


def ratio(value: float | None, reference: float | None) -> float | None:
    """value ÷ reference, or None when either is missing, not a number, or the reference is 0."""
    if value is None or reference is None:
        return None
    if isinstance(value, float) and math.isnan(value) or isinstance(reference, float) and math.isnan(reference):
        return None
    return value / reference if reference else None


def cpu_per_whistle(costs: list[dict]) -> dict | None:
    """Mean CPU ms per whistle by process group over warm-up costs, and the pipeline's total.

    Each cost is {'whistles', 'rate', 'cpu_ms_per_whistle': {group: ms}}. The total (`pipeline`)
    is every group but the bench's own processes: the services, the broker, and PostgreSQL when
    measured. Groups are averaged over the costs that have them."""
    costs = [c for c in costs if c and c.get("whistles")]
    if not costs:
        return None
    groups: list[str] = []
    for cost in costs:
        groups += [g for g in cost["cpu_ms_per_whistle"] if g not in groups]
    mean = {}
    for group in groups:
        values = [c["cpu_ms_per_whistle"][group] for c in costs if group in c["cpu_ms_per_whistle"]]
        mean[group] = sum(values) / len(values)
    return {"groups": mean, "pipeline": sum(v for g, v in mean.items() if g not in OUTSIDE),
            "whistles": sum(c["whistles"] for c in costs), "stacks": len(costs), "rate": costs[0]["rate"]}


def step_at(steps: list[dict], rate: float) -> dict | None:
    return next((s for s in steps if s["rate"] == rate), None)


def replica_factor(one: dict, more: dict) -> dict:
    """How much more a round with more replicas carried than the same round with one.

    {'knee': knee ratio or None, 'rates': {rate: whistles/s done ratio}} for the rates both measured."""
    knee_one = (one.get("ramp") or {}).get("knee")
    knee_more = (more.get("ramp") or {}).get("knee")
    rates = {}
    for step in more.get("steps", []):
        base = step_at(one.get("steps", []), step["rate"])
        if base is not None:
            rates[step["rate"]] = ratio(step["whistles_per_s"], base["whistles_per_s"])
    return {"knee": ratio(knee_more, knee_one), "rates": rates}


def left_behind(after_drain: dict, incomplete: int) -> dict[str, int]:
    """What was still somewhere once the bench stopped waiting: {what: count}, only the non-zero ones."""
    found = {
        "unfinished whistles": incomplete,
        "service queues": after_drain.get("queued") or 0,
        "department queues": after_drain.get("department_queued") or 0,
        "unsent outbox rows": sum((after_drain.get("outbox_unsent") or {}).values()),
        "dead letters": after_drain.get("deadletters") or 0,
    }
    return {k: v for k, v in found.items() if v}

"""Percentiles and latency summaries (pure Python: the bench needs nothing beyond the project's own deps)."""
from __future__ import annotations

import math
from typing import Iterable

PERCENTILES = (50, 95, 99)


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on already sorted values."""
    if not sorted_values:
        return math.nan
    if len(sorted_values) == 1:
        return sorted_values[0]
    rank = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


def summary_ms(seconds: Iterable[float]) -> dict:
    """{'n', 'p50', 'p95', 'p99', 'max'} in milliseconds (NaN when there is nothing to summarise)."""
    values = sorted(1000.0 * s for s in seconds)
    out = {"n": len(values)}
    for q in PERCENTILES:
        out[f"p{q}"] = percentile(values, q)
    out["max"] = values[-1] if values else math.nan
    return out


def fmt_ms(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if value >= 10_000:
        return f"{value / 1000:.0f} s"
    if value >= 1000:
        return f"{value / 1000:.1f} s"
    if value >= 10:
        return f"{value:.0f}"
    return f"{value:.1f}"


def fmt_summary(s: dict) -> str:
    """'p50 / p95 / p99 / max' in ms; '≥ …' when some never arrived (counted at their age at the end)."""
    text = " / ".join(fmt_ms(s.get(k, math.nan)) for k in ("p50", "p95", "p99", "max"))
    return f"≥ {text} ({s['unfinished']} unfinished)" if s.get("unfinished") else text

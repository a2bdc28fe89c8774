"""Drill deadlines: the reference district with every deadline scaled down, so a demo shows late
check-ins, escalations up to the city and overdue arbitrations in minutes instead of hours.

`drill(data, scale)` takes the reference data as loaded from YAML and returns it with every clock
span (deadlines, escalation waits, the arbitration limit) multiplied by `scale` (default 1/60: a
minute of the district is a second of the drill, 30m -> 30s) and every span in working days made a
clock span of that many scaled days. The areas file is made absolute, so the drill file can live
anywhere (e.g. var/drill.yaml).
"""
from __future__ import annotations

from pathlib import Path

from services.common.reference import Span

DEFAULT_SCALE = 1 / 60


def scaled(text: str, scale: float) -> str:
    span = Span.parse(text)
    seconds = span.as_timedelta().total_seconds() if span.as_timedelta() is not None else span.amount * 86400
    return f"{max(0, round(seconds * scale))}s"


def drill(data: dict, source: Path, scale: float = DEFAULT_SCALE) -> dict:
    if not 0 < scale <= 1:
        raise ValueError(f"scale {scale!r} must be more than 0 and at most 1")
    out = dict(data)
    out["urgencies"] = {code: {**level, **{step: scaled(level[step], scale) for step in ("check_in", "arrival",
                                                                                         "completion")}}
                        for code, level in data["urgencies"].items()}
    out["escalation"] = [{**tier, "after": scaled(tier["after"], scale)} for tier in data["escalation"]]
    out["arbitration"] = {**data["arbitration"],
                          "decide_within": scaled(data["arbitration"]["decide_within"], scale)}
    if data.get("areas"):
        out["areas"] = str((source.parent / data["areas"]).resolve())
    return out

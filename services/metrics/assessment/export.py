"""An assessment as plain data: a JSON-ready dict (for HTTP and RPC) and CSV (one row per unit)."""
from __future__ import annotations

import csv
import io
from fractions import Fraction
from typing import Optional

from services.metrics.assessment.result import Assessment, Ratio, UnitResult

RATES = ("response", "resolution", "satisfaction", "sign_for", "closed_in_time", "closure")
CSV_COLUMNS = ("kind", "rank", "code", "name_zh", "name_en", "score",
               *(f"{r}_{part}" for r in RATES for part in ("rate", "numerator", "denominator")),
               "escalations_street", "escalations_district", "escalations_city",
               "points_base", "points_lost", "points", "zero_loss", "flag", "volume")


def _num(value: Optional[Fraction], digits: int = 6) -> Optional[float]:
    return None if value is None else round(float(value), digits)


def _ratio(r: Ratio) -> dict:
    return {"rate": _num(r.value), "numerator": _num(r.numerator), "denominator": r.denominator}


def unit_dict(u: UnitResult) -> dict:
    return {"kind": u.kind, "code": u.code, "name_zh": u.name_zh, "name_en": u.name_en, "rank": u.rank,
            "flag": u.flag, "score": _num(u.score), "volume": u.volume,
            **{r: _ratio(getattr(u, r)) for r in RATES},
            "escalations": dict(u.escalations),
            "points": {"base": _num(u.points_base), "lost": _num(u.points_lost), "left": _num(u.points),
                       "zero_loss": u.zero_loss,
                       "deductions": [{"rule": d.rule, "fact": {"kind": d.fact.kind, "id": d.fact.id},
                                       "points": _num(d.points), "at": d.at.isoformat()} for d in u.deductions]}}


def as_dict(a: Assessment) -> dict:
    return {
        "period": a.period.label, "kind": a.period.kind, "start": a.period.start.isoformat(),
        "end": a.period.end.isoformat(), "as_of": a.as_of.isoformat(),
        "district": unit_dict(a.district),
        "departments": [unit_dict(u) for u in a.departments],
        "streets": [unit_dict(u) for u in a.streets],
        "worst_overdue": [{"callout_id": o.callout_id, "whistle_id": o.whistle_id, "department": o.department,
                           "street": o.street, "category": o.category, "step": o.step,
                           "due_at": o.due_at.isoformat(), "done_at": o.done_at.isoformat() if o.done_at else None,
                           "overdue_seconds": int(o.overdue.total_seconds())} for o in a.worst_overdue],
        "hotspots": [{"street": h.street, "categories": [list(c) for c in h.categories],
                      "places": [list(p) for p in h.places]} for h in a.hotspots],
        "audit": [{"kind": line.decision.kind, "fact": {"kind": line.decision.fact.kind, "id": line.decision.fact.id},
                   "reason": line.decision.reason, "decided_by": line.decision.decided_by,
                   "decided_at": line.decision.decided_at.isoformat(), "requested_by": line.decision.requested_by,
                   "upheld": line.decision.upheld, "effect": line.effect,
                   "removed": [{"kind": r.kind, "id": r.id} for r in line.removed]} for line in a.audit],
    }


def to_csv(a: Assessment) -> str:
    """Departments then streets, in ranking order; rates as fractions of 1, empty when undefined."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for u in (*a.departments, *a.streets):
        escalations = dict(u.escalations)
        row = [u.kind, u.rank, u.code, u.name_zh, u.name_en, _num(u.score)]
        for r in RATES:
            ratio = getattr(u, r)
            row += [_num(ratio.value), _num(ratio.numerator), ratio.denominator]
        row += [escalations["street"], escalations["district"], escalations["city"], _num(u.points_base),
                _num(u.points_lost), _num(u.points), u.zero_loss, u.flag, u.volume]
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()

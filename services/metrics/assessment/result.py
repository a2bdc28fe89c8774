"""What an assessment produces: per-unit figures, ranking, flags, overdue cases, hotspots, audit."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Literal, Optional

from services.metrics.assessment.exemptions import AuditLine
from services.metrics.assessment.facts import FactRef, Step
from services.metrics.assessment.periods import Period

UnitKind = Literal["department", "street", "district"]
Flag = Literal["horse", "snail"]


@dataclass(frozen=True)
class Ratio:
    """A rate as counted: `numerator` (exact; a weighted count for satisfaction) over `denominator`.
    With nothing to count, the rate is undefined (None), never 0 % or 100 %."""

    numerator: Fraction
    denominator: int

    @property
    def value(self) -> Optional[Fraction]:
        return None if self.denominator == 0 else Fraction(self.numerator) / self.denominator

    @property
    def percent(self) -> Optional[float]:
        v = self.value
        return None if v is None else float(v * 100)


EMPTY = Ratio(Fraction(0), 0)


@dataclass(frozen=True)
class Deduction:
    """Points lost (扣分) for one fact under one rule of the points scheme."""

    rule: str
    fact: FactRef
    points: Fraction
    at: datetime


@dataclass(frozen=True)
class UnitResult:
    kind: UnitKind
    code: str
    name_zh: str
    name_en: str
    response: Ratio            # 响应率
    resolution: Ratio          # 解决率
    satisfaction: Ratio        # 满意率
    sign_for: Ratio            # 24小时签收率
    closed_in_time: Ratio      # 7日办结率
    closure: Ratio             # 办结率
    escalations: tuple[tuple[str, int], ...]   # (tier, count), street → district → city
    deductions: tuple[Deduction, ...]
    points_base: Fraction
    volume: int                # what makes a unit eligible for a flag (see core.assess)
    score: Optional[Fraction]  # 0..100
    rank: Optional[int] = None
    flag: Optional[Flag] = None

    @property
    def points_lost(self) -> Fraction:
        return sum((d.points for d in self.deductions), Fraction(0))

    @property
    def points(self) -> Fraction:
        return self.points_base - self.points_lost

    @property
    def assessed(self) -> bool:
        """Something of the unit's fell in the period: a rate with a denominator, or a deduction."""
        return bool(self.deductions) or any(r.denominator for r in (
            self.response, self.resolution, self.satisfaction, self.sign_for, self.closed_in_time, self.closure))

    @property
    def zero_loss(self) -> bool:
        """零失分: assessed, and no point lost in the period."""
        return self.assessed and not self.deductions

    def name(self, language: str = "zh") -> str:
        return self.name_zh if language == "zh" else self.name_en


@dataclass(frozen=True)
class Overdue:
    """A call-out step done late, or not done by `as_of`, by how much."""

    callout_id: str
    whistle_id: str
    department: str
    street: str
    category: str
    step: Step
    due_at: datetime
    done_at: Optional[datetime]
    overdue: timedelta


@dataclass(frozen=True)
class Hotspots:
    """What recurs most in one street: (category, count) and (place, count), most first."""

    street: str
    categories: tuple[tuple[str, int], ...]
    places: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Assessment:
    period: Period
    as_of: datetime
    departments: tuple[UnitResult, ...]    # ranked first (rank 1, 2, ...), then the unranked by code
    streets: tuple[UnitResult, ...]
    district: UnitResult
    worst_overdue: tuple[Overdue, ...]
    hotspots: tuple[Hotspots, ...]
    audit: tuple[AuditLine, ...]

    def holder(self, kind: Literal["department", "street"], flag: Flag) -> Optional[UnitResult]:
        units = self.departments if kind == "department" else self.streets
        return next((u for u in units if u.flag == flag), None)

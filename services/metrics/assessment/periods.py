"""Assessment periods: calendar months and quarters in Asia/Shanghai (考核期: 月度、季度).

A period runs from local midnight on its first day (inclusive) to local midnight on the first
day of the next period (exclusive); `start` and `end` are those instants, timezone-aware.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from services.common.workdays import CHINA

Kind = Literal["month", "quarter"]
QUARTER_ZH = ("一", "二", "三", "四")


class PeriodError(ValueError):
    """A period that cannot be read; the message says what is expected."""


@dataclass(frozen=True, order=True)
class Period:
    kind: Kind
    year: int
    number: int          # 1..12 for a month, 1..4 for a quarter

    def __post_init__(self):
        if self.kind not in ("month", "quarter"):
            raise PeriodError(f"period kind {self.kind!r} must be month or quarter")
        top = 12 if self.kind == "month" else 4
        if not 1 <= self.number <= top:
            raise PeriodError(f"{self.kind} number {self.number} must be 1..{top}")
        if not 2000 <= self.year <= 2999:
            raise PeriodError(f"year {self.year} is out of range")

    @classmethod
    def parse(cls, text: str) -> "Period":
        """`2025-10` is October 2025, `2025-Q4` the fourth quarter of 2025."""
        value = text.strip().upper()
        if m := re.fullmatch(r"(\d{4})-(\d{1,2})", value):
            return cls("month", int(m.group(1)), int(m.group(2)))
        if m := re.fullmatch(r"(\d{4})-Q([1-4])", value):
            return cls("quarter", int(m.group(1)), int(m.group(2)))
        raise PeriodError(f"period {text!r} must look like 2025-10 (a month) or 2025-Q4 (a quarter)")

    @classmethod
    def containing(cls, instant: datetime, kind: Kind = "month") -> "Period":
        local = instant.astimezone(CHINA)
        number = local.month if kind == "month" else (local.month - 1) // 3 + 1
        return cls(kind, local.year, number)

    @property
    def first_month(self) -> int:
        return self.number if self.kind == "month" else 3 * (self.number - 1) + 1

    @property
    def months(self) -> tuple[int, ...]:
        return (self.number,) if self.kind == "month" else tuple(range(self.first_month, self.first_month + 3))

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.first_month, 1, tzinfo=CHINA)

    @property
    def end(self) -> datetime:
        month = self.months[-1] + 1
        year = self.year + (month > 12)
        return datetime(year, (month - 1) % 12 + 1, 1, tzinfo=CHINA)

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end

    def previous(self) -> "Period":
        top = 12 if self.kind == "month" else 4
        return Period(self.kind, self.year - 1, top) if self.number == 1 else Period(self.kind, self.year,
                                                                                     self.number - 1)

    @property
    def label(self) -> str:
        return f"{self.year}-{self.number:02d}" if self.kind == "month" else f"{self.year}-Q{self.number}"

    def title(self, language: str = "zh") -> str:
        if language == "zh":
            return (f"{self.year}年{self.number}月" if self.kind == "month"
                    else f"{self.year}年第{QUARTER_ZH[self.number - 1]}季度")
        return (self.start.strftime("%B %Y") if self.kind == "month" else f"Q{self.number} {self.year}")

    def __str__(self) -> str:
        return self.label

"""The district's reference data (streets, grids, departments, categories, matrix, deadlines), read from a data file."""
from __future__ import annotations

import os
import re
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

URGENCIES = ("emergency", "urgent", "normal", "complex")
Urgency = Literal["emergency", "urgent", "normal", "complex"]
CODE = r"^[a-z][a-z0-9_-]{0,62}$"
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "deploy" / "reference" / "district.yaml"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


SpanUnit = Literal["seconds", "minutes", "hours", "working_days"]


class Span(Strict):
    """A deadline span: clock time (minutes/hours) or working days on the Chinese calendar."""

    amount: int = Field(ge=0)
    unit: SpanUnit

    @classmethod
    def parse(cls, text: str) -> "Span":
        match = re.fullmatch(r"(\d+)\s*(s|m|h|wd)", text.strip())
        if not match:
            raise ValueError(f"span {text!r} must look like 30m, 2h or 7wd (or 45s, for drills and tests)")
        units: dict[str, SpanUnit] = {"s": "seconds", "m": "minutes", "h": "hours", "wd": "working_days"}
        unit = units[match.group(2)]
        return cls(amount=int(match.group(1)), unit=unit)

    def as_timedelta(self) -> timedelta | None:
        """Clock spans as a timedelta; None for working days (they need the calendar)."""
        if self.unit == "seconds":
            return timedelta(seconds=self.amount)
        if self.unit == "minutes":
            return timedelta(minutes=self.amount)
        if self.unit == "hours":
            return timedelta(hours=self.amount)
        return None

    def __str__(self) -> str:
        return f"{self.amount}{ {'seconds': 's', 'minutes': 'm', 'hours': 'h', 'working_days': 'wd'}[self.unit] }"


def _span(value):
    return Span.parse(value) if isinstance(value, str) else value


class Grid(Strict):
    code: str = Field(pattern=CODE)
    name_zh: str
    name_en: str


class Community(Strict):
    code: str = Field(pattern=CODE)
    name_zh: str
    name_en: str
    grids: tuple[Grid, ...] = Field(min_length=1)


class Street(Strict):
    code: str = Field(pattern=CODE)
    name_zh: str
    name_en: str
    communities: tuple[Community, ...] = Field(min_length=1)

    @property
    def grid_codes(self) -> frozenset[str]:
        return frozenset(g.code for c in self.communities for g in c.grids)


class Department(Strict):
    code: str = Field(pattern=CODE)
    name_zh: str
    name_en: str


class Category(Strict):
    code: str = Field(pattern=CODE)
    name_zh: str
    name_en: str
    lead: str
    support: tuple[str, ...] = ()
    joint_enforcement: bool = False
    # when a department returns (退单) a call-out of this category, who is called instead
    alternatives: dict[str, str] = Field(default_factory=dict)


class MatrixOverride(Strict):
    """A street's own assignment for one category (权责清单 differ between streets and towns)."""

    street: str
    category: str
    lead: str
    support: tuple[str, ...] = ()


class EscalationTier(Strict):
    tier: Literal["street", "district", "city"]
    after: Span                      # measured from the missed deadline
    owner_zh: str                    # who chases the department at this tier
    owner_en: str

    _parse = field_validator("after", mode="before")(_span)

    @field_validator("after")
    @classmethod
    def _clock(cls, value: Span) -> Span:
        if value.unit == "working_days":
            raise ValueError("escalation waits are clock time (m or h), not working days")
        return value


class Arbitration(Strict):
    decide_within: Span
    office_zh: str
    office_en: str

    _parse = field_validator("decide_within", mode="before")(_span)


class UrgencyLevel(Strict):
    name_zh: str
    name_en: str
    check_in: Span
    arrival: Span
    completion: Span

    _parse = field_validator("check_in", "arrival", "completion", mode="before")(_span)

    @field_validator("check_in", "arrival", "completion")
    @classmethod
    def _positive(cls, value: Span) -> Span:
        if value.amount == 0:
            raise ValueError("a deadline of zero leaves no time to act")
        return value


class District(Strict):
    code: str = Field(pattern=CODE)
    name_zh: str
    name_en: str


class ReferenceData(Strict):
    district: District
    streets: tuple[Street, ...] = Field(min_length=1)
    departments: tuple[Department, ...] = Field(min_length=1)
    categories: tuple[Category, ...] = Field(min_length=1)
    urgencies: dict[Urgency, UrgencyLevel]
    matrix_overrides: tuple[MatrixOverride, ...] = ()
    escalation: tuple[EscalationTier, ...] = Field(min_length=1)
    arbitration: Arbitration
    duplicate_radius_m: float = Field(default=100, ge=0)
    areas: Optional[str] = None      # GeoJSON file of grid polygons, relative to this file

    @model_validator(mode="after")
    def _consistent(self) -> "ReferenceData":
        problems: list[str] = []
        for kind, items in (("street", self.streets), ("department", self.departments),
                            ("category", self.categories)):
            codes = [i.code for i in items]
            dupes = sorted({c for c in codes if codes.count(c) > 1})
            if dupes:
                problems.append(f"duplicate {kind} codes: {', '.join(dupes)}")
        grids = [g for s in self.streets for g in s.grid_codes]
        if len(grids) != len(set(grids)):
            problems.append("a grid code appears under two streets")
        departments = {d.code for d in self.departments}
        for category in self.categories:
            for code in (category.lead, *category.support):
                if code not in departments:
                    problems.append(f"category {category.code} names unknown department {code}")
            if category.lead in category.support:
                problems.append(f"category {category.code} lists its lead {category.lead} as support")
        for category in self.categories:
            for returned, alternative in category.alternatives.items():
                for code in (returned, alternative):
                    if code not in departments:
                        problems.append(f"category {category.code} alternative names unknown department {code}")
        streets = {s.code for s in self.streets}
        categories = {c.code for c in self.categories}
        for override in self.matrix_overrides:
            if override.street not in streets:
                problems.append(f"matrix override names unknown street {override.street}")
            if override.category not in categories:
                problems.append(f"matrix override names unknown category {override.category}")
            for code in (override.lead, *override.support):
                if code not in departments:
                    problems.append(f"matrix override for {override.street}/{override.category} "
                                    f"names unknown department {code}")
        communities = [c.code for s in self.streets for c in s.communities]
        if len(communities) != len(set(communities)):
            problems.append("a community code appears twice")
        tiers = [t.tier for t in self.escalation]
        if tiers != sorted(set(tiers), key=("street", "district", "city").index):
            problems.append("escalation tiers must climb street, district, city, each once")
        missing = [u for u in URGENCIES if u not in self.urgencies]
        if missing:
            problems.append(f"urgencies missing: {', '.join(missing)}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def street(self, code: str) -> Street | None:
        return next((s for s in self.streets if s.code == code), None)

    def category(self, code: str) -> Category | None:
        return next((c for c in self.categories if c.code == code), None)

    def department(self, code: str) -> Department | None:
        return next((d for d in self.departments if d.code == code), None)

    @property
    def department_codes(self) -> frozenset[str]:
        return frozenset(d.code for d in self.departments)

    def assignment(self, street: str, category: str) -> tuple[str, tuple[str, ...]] | None:
        """(lead, support) for a category in a street, the street's override first."""
        for override in self.matrix_overrides:
            if override.street == street and override.category == category:
                return override.lead, override.support
        found = self.category(category)
        return (found.lead, found.support) if found else None

    def street_of_grid(self, grid: str) -> tuple[str, str] | None:
        """(street code, community code) of a grid."""
        for street in self.streets:
            for community in street.communities:
                if any(g.code == grid for g in community.grids):
                    return street.code, community.code
        return None


def parse_reference(text: str) -> ReferenceData:
    return ReferenceData.model_validate(yaml.safe_load(text))


def areas_path(reference: ReferenceData, reference_path: str | None = None) -> Path | None:
    if not reference.areas:
        return None
    base = Path(reference_path or os.environ.get("REFERENCE_DATA") or DEFAULT_PATH).parent
    return base / reference.areas


@lru_cache(maxsize=4)
def load_reference(path: str | None = None) -> ReferenceData:
    """Reads the reference data file named by REFERENCE_DATA (or the shipped demo district)."""
    chosen = Path(path or os.environ.get("REFERENCE_DATA") or DEFAULT_PATH)
    return parse_reference(chosen.read_text(encoding="utf-8"))

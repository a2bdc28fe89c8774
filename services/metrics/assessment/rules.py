"""The assessment's configuration (考核办法): weights, points, flags, the published indicators.

Read from `deploy/reference/assessment.yaml` (or ASSESSMENT_RULES) at the edge, validated here,
and handed to the pure core. Every field has the default the district ships, so an empty file is
a valid configuration. A bad value raises `RulesError` naming the field.
"""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from services.common.reference import Span

DEFAULT_PATH = Path(__file__).resolve().parents[3] / "deploy" / "reference" / "assessment.yaml"


class RulesError(ValueError):
    """The configuration is wrong; the message names every bad field."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def exact(value: float) -> Fraction:
    """A configured decimal as an exact fraction (0.35 is 7/20, not 0.34999...)."""
    return Fraction(str(value))


class Weights(Strict):
    """The three rates' shares of the score; they must add up to 1."""

    response: float = Field(default=0.30, ge=0, le=1)
    resolution: float = Field(default=0.35, ge=0, le=1)
    satisfaction: float = Field(default=0.35, ge=0, le=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> "Weights":
        total = exact(self.response) + exact(self.resolution) + exact(self.satisfaction)
        if total != 1:
            raise ValueError(f"response + resolution + satisfaction must be 1, not {float(total):g}")
        return self

    def as_fractions(self) -> dict[str, Fraction]:
        return {"response": exact(self.response), "resolution": exact(self.resolution),
                "satisfaction": exact(self.satisfaction)}


class SatisfactionScores(Strict):
    """What one follow-up rating is worth in the satisfaction rate (满意 + 基本满意 by default)."""

    satisfied: float = Field(default=1.0, ge=0, le=1)
    basically_satisfied: float = Field(default=1.0, ge=0, le=1)
    unsatisfied: float = Field(default=0.0, ge=0, le=1)


class Published(Strict):
    """The indicators districts publish: 24小时签收率 and 7日办结率."""

    sign_for_within: Span = Span(amount=24, unit="hours")
    close_within: Span = Span(amount=7, unit="working_days")

    @field_validator("sign_for_within", "close_within", mode="before")
    @classmethod
    def _parse(cls, value):
        return Span.parse(value) if isinstance(value, str) else value


class DepartmentDeductions(Strict):
    """分值管理, departments: points lost per fact."""

    missed_check_in: float = Field(default=2, ge=0)
    late_arrival: float = Field(default=1, ge=0)
    escalated_to_city: float = Field(default=5, ge=0)
    unjustified_return: float = Field(default=3, ge=0)


class StreetDeductions(Strict):
    """分值管理, streets: points lost per fact."""

    escalated_to_city: float = Field(default=5, ge=0)
    reopened: float = Field(default=2, ge=0)


class Points(Strict):
    base: float = Field(default=100, ge=0)
    department: DepartmentDeductions = DepartmentDeductions()
    street: StreetDeductions = StreetDeductions()


class Flags(Strict):
    """骏马旗 / 蜗牛旗: only a unit with at least `min_volume` counted cases can hold a flag."""

    min_volume: int = Field(default=5, ge=1)


class Bulletin(Strict):
    worst_overdue: int = Field(default=10, ge=0)
    hotspots: int = Field(default=3, ge=0)
    hotspot_min_count: int = Field(default=2, ge=1)


class AssessmentRules(Strict):
    # Codes of units shown with their figures but never ranked nor flagged: parties called as
    # support that are not district departments (the street office, the residents' committee).
    not_ranked: tuple[str, ...] = ("jiedao", "shequ")
    weights: Weights = Weights()
    satisfaction_scores: SatisfactionScores = SatisfactionScores()
    published: Published = Published()
    points: Points = Points()
    flags: Flags = Flags()
    bulletin: Bulletin = Bulletin()


def parse_rules(text: str, source: str = "assessment rules") -> AssessmentRules:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise RulesError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise RulesError(f"{source}: must be a mapping of settings")
    try:
        return AssessmentRules.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: "
                             f"{'unexpected field' if e['type'] == 'extra_forbidden' else e['msg']}"
                             for e in exc.errors())
        raise RulesError(f"{source}: {problems}") from None


def load_rules(path: Optional[str] = None) -> AssessmentRules:
    """Reads ASSESSMENT_RULES (or the shipped deploy/reference/assessment.yaml)."""
    chosen = Path(path or os.environ.get("ASSESSMENT_RULES") or DEFAULT_PATH)
    return parse_rules(chosen.read_text(encoding="utf-8"), str(chosen))

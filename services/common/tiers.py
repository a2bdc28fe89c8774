"""Rules below the whistle, read from a data file (deploy/reference/tiers.yaml): the deadlines of the
grid, community and street tiers, the on-site verification (核查) rules, the 12345 hotline's
deadline classes (接诉即办) and the optional daily-cap policy (南夏墅)."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal, Optional

import yaml
from pydantic import Field, field_validator, model_validator

from services.common.reference import CODE, ReferenceData, Span, Strict, Urgency

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "deploy" / "reference" / "tiers.yaml"

# 小事不出网格、大事不出社区、难事不出街道: the tiers an event climbs, lowest first.
TIERS = ("grid", "community", "street")
GridTier = Literal["grid", "community", "street"]
# Where an event below the whistle comes from (a whistle's own sources are in services.common.events).
EVENT_SOURCES = ("grid_patrol", "hotline_12345", "road_office", "resident_report")
EventSource = Literal["grid_patrol", "hotline_12345", "road_office", "resident_report"]
# Who may check a report on site: the street's (city-management) team, or a grid worker.
Verifier = Literal["street_team", "grid_worker"]
VERIFIERS: tuple[Verifier, ...] = ("street_team", "grid_worker")
HOTLINE_CLASSES = ("emergency", "utilities", "ordinary", "complex")
HotlineClass = Literal["emergency", "utilities", "ordinary", "complex"]


def _span(value):
    return Span.parse(value) if isinstance(value, str) else value


class TierDeadlines(Strict):
    """A tier accepts (受理) an event within `accept` of its arrival there, and handles (处置) it within
    `handle` of accepting it; missing either passes it up one tier (the street is chased instead)."""

    accept: Span
    handle: Span

    _parse = field_validator("accept", "handle", mode="before")(_span)

    @field_validator("accept", "handle")
    @classmethod
    def _positive(cls, value: Span) -> Span:
        if value.amount == 0:
            raise ValueError("a deadline of zero leaves no time to act")
        return value


class VerificationRule(Strict):
    """核查: reports of this category and/or source need an on-site check, with a photo, before they may
    be whistled. A rule without category (or source) matches every category (or source)."""

    category: Optional[str] = Field(default=None, pattern=CODE)
    source: Optional[EventSource] = None
    required: bool = True
    by: tuple[Verifier, ...] = VERIFIERS        # who may carry out the check

    @model_validator(mode="after")
    def _checkers(self) -> "VerificationRule":
        if self.required and not self.by:
            raise ValueError("a required check must name who may carry it out (by)")
        return self


class Verification(Strict):
    rules: tuple[VerificationRule, ...] = ()    # the first rule that matches decides

    def rule_for(self, category: str, source: str) -> VerificationRule | None:
        return next((r for r in self.rules if r.category in (None, category) and r.source in (None, source)),
                    None)


class HotlineLevel(Strict):
    name_zh: str
    name_en: str
    complete_within: Span                # 办结 deadline from the hotline's receipt of the call
    urgency: Urgency                     # the whistle's urgency if the street whistles the ticket

    _parse = field_validator("complete_within", mode="before")(_span)


class Hotline(Strict):
    """接诉即办: deadline classes, the category → class default, and the two indicators' windows."""

    classes: dict[HotlineClass, HotlineLevel]
    category_classes: dict[str, HotlineClass] = Field(default_factory=dict)
    default_class: HotlineClass = "ordinary"
    sign_for_within: Span                # 24小时签收率: signed for within this of the receipt
    complete_indicator_within: Span      # 7日办结率: completed within this of the receipt

    _parse = field_validator("sign_for_within", "complete_indicator_within", mode="before")(_span)

    @model_validator(mode="after")
    def _every_class(self) -> "Hotline":
        missing = [c for c in HOTLINE_CLASSES if c not in self.classes]
        if missing:
            raise ValueError(f"hotline classes missing: {', '.join(missing)}")
        return self

    def class_of(self, category: str) -> HotlineClass:
        return self.category_classes.get(category, self.default_class)


class DailyCap(Strict):
    """南夏墅: a grid reports at most `per_grid_per_day` problems a day before points are deducted.
    Recorded on the event for the assessment; a report is never refused for it."""

    enabled: bool = False
    per_grid_per_day: int = Field(default=3, ge=1)
    sources: tuple[EventSource, ...] = ("grid_patrol",)     # the reports that count
    streets: tuple[str, ...] = ()                           # empty: every street of the district

    def applies(self, street_code: str, source: str) -> bool:
        return (self.enabled and source in self.sources
                and (not self.streets or street_code in self.streets))


class TierRules(Strict):
    tiers: dict[GridTier, TierDeadlines]
    verification: Verification = Verification()
    hotline: Hotline
    daily_cap: DailyCap = DailyCap()

    @model_validator(mode="after")
    def _every_tier(self) -> "TierRules":
        missing = [t for t in TIERS if t not in self.tiers]
        if missing:
            raise ValueError(f"tiers missing: {', '.join(missing)}")
        return self

    def problems_with(self, reference: ReferenceData) -> list[str]:
        """What in these rules names a category or street the district does not have."""
        categories = {c.code for c in reference.categories}
        streets = {s.code for s in reference.streets}
        problems = [f"verification rule names unknown category {r.category}"
                    for r in self.verification.rules if r.category is not None and r.category not in categories]
        problems += [f"hotline category_classes names unknown category {c}"
                     for c in self.hotline.category_classes if c not in categories]
        problems += [f"daily_cap names unknown street {s}" for s in self.daily_cap.streets if s not in streets]
        return problems


def parse_tiers(text: str) -> TierRules:
    return TierRules.model_validate(yaml.safe_load(text))


def check_against(rules: TierRules, reference: ReferenceData) -> TierRules:
    """The rules, if every category and street they name is the district's; ValueError naming each one not."""
    problems = rules.problems_with(reference)
    if problems:
        raise ValueError("; ".join(problems))
    return rules


@lru_cache(maxsize=4)
def load_tiers(path: str | None = None) -> TierRules:
    """Reads the file named by TIERS_DATA (or the shipped demo rules), once."""
    chosen = Path(path or os.environ.get("TIERS_DATA") or DEFAULT_PATH)
    return parse_tiers(chosen.read_text(encoding="utf-8"))

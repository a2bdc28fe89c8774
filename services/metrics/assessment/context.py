"""What the assessment needs besides the facts: rules, names, case deadlines, the calendar."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping

from services.common.reference import ReferenceData, Span
from services.common.workdays import IsWorkday, after_working_days
from services.metrics.assessment.rules import AssessmentRules


@dataclass(frozen=True)
class Names:
    zh: str
    en: str


@dataclass(frozen=True)
class Directory:
    """Display names by code; a code it does not know is shown as itself."""

    district: Names = Names("本区", "the district")
    departments: Mapping[str, Names] = field(default_factory=dict)
    streets: Mapping[str, Names] = field(default_factory=dict)
    categories: Mapping[str, Names] = field(default_factory=dict)
    places: Mapping[str, Names] = field(default_factory=dict)     # grid codes

    @classmethod
    def from_reference(cls, reference: ReferenceData) -> "Directory":
        return cls(
            district=Names(reference.district.name_zh, reference.district.name_en),
            departments={d.code: Names(d.name_zh, d.name_en) for d in reference.departments},
            streets={s.code: Names(s.name_zh, s.name_en) for s in reference.streets},
            categories={c.code: Names(c.name_zh, c.name_en) for c in reference.categories},
            places={g.code: Names(g.name_zh, g.name_en)
                    for s in reference.streets for c in s.communities for g in c.grids})

    @staticmethod
    def _name(table: Mapping[str, Names], code: str, language: str) -> str:
        found = table.get(code)
        return code if found is None else (found.zh if language == "zh" else found.en)

    def department(self, code: str, language: str = "zh") -> str:
        return self._name(self.departments, code, language)

    def street(self, code: str, language: str = "zh") -> str:
        return self._name(self.streets, code, language)

    def category(self, code: str, language: str = "zh") -> str:
        return self._name(self.categories, code, language)

    def place(self, code: str, language: str = "zh") -> str:
        return self._name(self.places, code, language)


@dataclass(frozen=True)
class Context:
    """`case_deadlines`: per urgency, the span within which a case must be resolved (the completion
    deadline its urgency sets in the reference data); `is_workday`: the calendar for working days."""

    rules: AssessmentRules
    case_deadlines: Mapping[str, Span]
    is_workday: IsWorkday
    directory: Directory = Directory()

    @classmethod
    def from_reference(cls, reference: ReferenceData, rules: AssessmentRules, is_workday: IsWorkday) -> "Context":
        return cls(rules=rules, is_workday=is_workday, directory=Directory.from_reference(reference),
                   case_deadlines={u: level.completion for u, level in reference.urgencies.items()})

    def after(self, start: datetime, span: Span) -> datetime:
        clock = span.as_timedelta()
        return start + clock if clock is not None else after_working_days(start, span.amount, self.is_workday)

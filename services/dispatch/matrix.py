"""The responsibility matrix (权责清单), pure and versioned: who leads, who supports, who takes a return."""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass

from services.common.reference import ReferenceData


@dataclass(frozen=True)
class Matrix:
    """One version of the matrix. A case keeps the version it was dispatched under."""

    content: dict   # {"categories": {code: {...}}, "overrides": [{street, category, lead, support}]}

    @classmethod
    def from_reference(cls, reference: ReferenceData) -> "Matrix":
        categories = {
            c.code: {"name_zh": c.name_zh, "lead": c.lead, "support": list(c.support),
                     "joint_enforcement": c.joint_enforcement, "alternatives": dict(sorted(c.alternatives.items()))}
            for c in sorted(reference.categories, key=lambda c: c.code)}
        overrides = [{"street": o.street, "category": o.category, "lead": o.lead, "support": list(o.support)}
                     for o in sorted(reference.matrix_overrides, key=lambda o: (o.street, o.category))]
        return cls({"categories": categories, "overrides": overrides})

    @functools.cached_property
    def version(self) -> str:
        return hashlib.sha256(json.dumps(self.content, sort_keys=True, ensure_ascii=False)
                              .encode()).hexdigest()[:12]

    def knows(self, category: str) -> bool:
        return category in self.content["categories"]

    def category_name(self, category: str) -> str:
        return self.content["categories"][category]["name_zh"]

    def joint_enforcement(self, category: str) -> bool:
        return self.content["categories"][category]["joint_enforcement"]

    def assignment(self, street: str, category: str) -> tuple[str, ...]:
        """The departments to call, lead first: the street's override, else the district's row."""
        for override in self.content["overrides"]:
            if override["street"] == street and override["category"] == category:
                return (override["lead"], *override["support"])
        row = self.content["categories"][category]
        return (row["lead"], *row["support"])

    def alternative(self, category: str, returned_by: str) -> str | None:
        return self.content["categories"][category]["alternatives"].get(returned_by)

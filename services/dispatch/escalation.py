"""The escalation ladder (督办), pure: when each tier fires for a missed step, and who chases it then."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.common.reference import EscalationTier, ReferenceData

STEPS = ("check_in", "arrival", "completion")


@dataclass(frozen=True)
class Rung:
    level: int                  # 1-based: the n-th escalation of this step
    tier: str
    fires_at: datetime
    chased_by: str              # the code of whoever now chases the department
    chased_by_name_zh: str


@dataclass(frozen=True)
class Ladder:
    tiers: tuple[EscalationTier, ...]
    district_code: str

    @classmethod
    def from_reference(cls, reference: ReferenceData) -> "Ladder":
        return cls(reference.escalation, reference.district.code)

    def owner(self, tier: EscalationTier, street_code: str) -> str:
        return {"street": street_code, "district": self.district_code, "city": "city"}[tier.tier]

    def next_at(self, due_at: datetime, level: int) -> datetime | None:
        """When the escalation after `level` fires; None when the top tier has been reached."""
        if level >= len(self.tiers):
            return None
        return due_at + self.tiers[level].after.as_timedelta()

    def due(self, due_at: datetime, level: int, street_code: str, now: datetime) -> list[Rung]:
        """Every rung above `level` whose time has come, in order: catches up after downtime."""
        rungs = []
        while level < len(self.tiers):
            fires_at = self.next_at(due_at, level)
            if fires_at >= now:      # a step done at the deadline instant is on time: not yet late
                break
            tier = self.tiers[level]
            level += 1
            rungs.append(Rung(level, tier.tier, fires_at, self.owner(tier, street_code), tier.owner_zh))
        return rungs

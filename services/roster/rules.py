"""How joint teams are run, from the roster file's `teams:` section and the district's deadlines; pure.

A whistle's members must check in within its urgency's check-in deadline (the district's
`urgencies`, 30 minutes by default); a planned operation's within `check_in_within` of its start."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Mapping

from pydantic import Field, field_validator

from services.common.reference import ReferenceData, Strict
from services.roster.codes import Codes
from services.roster.officers import CHINA
from services.roster.schedule import Length
from services.roster.teams import Quorum, TeamRules

PLANNED = "planned"


class TeamSettings(Strict):
    check_in_within: Length = timedelta(minutes=30)     # a planned operation's members, from its start
    open_case_limit: int = Field(default=3, ge=1, le=50)
    quorum_share: float = Field(default=1.0, gt=0, le=1)  # of the team's departments present (rounded up)
    quorum_lead_required: bool = True
    gap_retry: Length = timedelta(minutes=1)           # how soon a department with nobody is tried again
    form_ahead: Length = timedelta(hours=1)            # a planned operation's team is formed this long before

    @field_validator("check_in_within", "gap_retry", "form_ahead")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than zero")
        return value


@dataclass(frozen=True)
class RosterRules:
    """What the roster decides with, built once per process."""

    reference: ReferenceData
    codes: Codes
    settings: TeamSettings
    check_weeks: int = 8                                # how far ahead new rotations are checked for overlaps

    @classmethod
    def build(cls, reference: ReferenceData, settings: TeamSettings, check_weeks: int = 8) -> "RosterRules":
        return cls(reference, Codes.from_reference(reference), settings, check_weeks)

    @property
    def department_names(self) -> Mapping[str, str]:
        return MappingProxyType({d.code: d.name_zh for d in self.reference.departments})

    def team_rules(self, urgency: str) -> TeamRules:
        """The rules for a team of a case of this urgency ("planned" for an operation)."""
        level = self.reference.urgencies.get(urgency) if urgency != PLANNED else None
        within = level.check_in.as_timedelta() if level is not None else None
        return TeamRules(check_in_within=within or self.settings.check_in_within,
                         open_case_limit=self.settings.open_case_limit,
                         quorum=Quorum(self.settings.quorum_lead_required, self.settings.quorum_share), zone=CHINA)

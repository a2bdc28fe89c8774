"""History of service (for the monthly assessment): who served on which team, for which whistle or
operation, from when to when, and whether they checked in on time. Pure records and queries."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Iterable, Optional

from services.roster.officers import CHINA
from services.roster.teams import MemberStatus, Role, Team


@dataclass(frozen=True)
class ServiceRecord:
    officer: str
    department: str
    team_id: str
    kind: str                       # whistle | operation
    ref: str                        # whistle id or operation occurrence id
    category: str
    role: Role
    round: int
    assigned_at: datetime
    check_in_by: datetime
    checked_in_at: Optional[datetime]    # served from
    ended_at: Optional[datetime]         # served to (None: still serving)
    outcome: MemberStatus

    @property
    def on_time(self) -> Optional[bool]:
        """True or False once checked in; None for someone who never did."""
        return None if self.checked_in_at is None else self.checked_in_at <= self.check_in_by

    def served(self, now: datetime) -> timedelta:
        """Time on the team since check-in (until release, or `now` while serving)."""
        if self.checked_in_at is None:
            return timedelta(0)
        return max(timedelta(0), (self.ended_at or now) - self.checked_in_at)


def records(team: Team) -> tuple[ServiceRecord, ...]:
    case = team.case
    return tuple(ServiceRecord(m.officer, m.department, team.team_id, case.kind, case.ref, case.category, m.role,
                               m.round, m.assigned_at, m.check_in_by, m.checked_in_at, m.ended_at, m.status)
                 for m in team.members)


def of_officer(found: Iterable[ServiceRecord], officer: str) -> tuple[ServiceRecord, ...]:
    return tuple(r for r in found if r.officer == officer)


def of_department(found: Iterable[ServiceRecord], department: str) -> tuple[ServiceRecord, ...]:
    return tuple(r for r in found if r.department == department)


def in_month(found: Iterable[ServiceRecord], year: int, month: int, zone: tzinfo = CHINA) -> tuple[ServiceRecord, ...]:
    """Assignments made in that calendar month, in `zone`."""
    return tuple(r for r in found
                 if (local := r.assigned_at.astimezone(zone)).year == year and local.month == month)


@dataclass(frozen=True)
class Summary:
    officer: str
    department: str
    assignments: int
    checked_in: int
    on_time: int
    late: int
    no_shows: int
    declined: int
    served: timedelta


def summarise(found: Iterable[ServiceRecord], now: datetime) -> tuple[Summary, ...]:
    """One line per officer, by department then officer."""
    groups: dict[tuple[str, str], list[ServiceRecord]] = defaultdict(list)
    for r in found:
        groups[(r.department, r.officer)].append(r)
    return tuple(Summary(officer, department, len(rs), sum(r.checked_in_at is not None for r in rs),
                         sum(r.on_time is True for r in rs), sum(r.on_time is False for r in rs),
                         sum(r.outcome == "no_show" for r in rs), sum(r.outcome == "declined" for r in rs),
                         sum((r.served(now) for r in rs), timedelta(0)))
                 for (department, officer), rs in sorted(groups.items()))

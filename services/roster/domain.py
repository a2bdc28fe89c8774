"""Roster rules, pure: which shift is on, and who makes up a joint enforcement team ("城管+N")."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")
DAY_STARTS, NIGHT_STARTS = time(8, 0), time(20, 0)


@dataclass(frozen=True)
class Officer:
    code: str
    name: str
    department_code: str
    shifts: tuple[str, ...]
    team_lead: bool = False


@dataclass(frozen=True)
class Team:
    lead: Officer
    members: tuple[Officer, ...]     # one per department with somebody on duty, lead department first
    gaps: tuple[str, ...]            # departments with nobody on duty


class NoTeam(ValueError):
    """The lead department has nobody on duty: there is no one to lead the team."""


def shift_at(now: datetime, tz=CHINA) -> str:
    local = now.astimezone(tz).time()
    return "day" if DAY_STARTS <= local < NIGHT_STARTS else "night"


def pick(officers: list[Officer], department: str, shift: str) -> Officer | None:
    """The department's team lead if on duty, else its first officer on duty (by code)."""
    on_duty = sorted((o for o in officers if o.department_code == department and shift in o.shifts),
                     key=lambda o: (not o.team_lead, o.code))
    return on_duty[0] if on_duty else None


def assemble_team(departments: tuple[str, ...], officers: list[Officer], shift: str) -> Team:
    """departments[0] leads; every other department sends one officer, or is reported as a gap."""
    members, gaps = [], []
    for department in departments:
        chosen = pick(officers, department, shift)
        if chosen is None:
            gaps.append(department)
        else:
            members.append(chosen)
    if not members or members[0].department_code != departments[0]:
        raise NoTeam(f"nobody from lead department {departments[0]} is on the {shift} shift")
    return Team(lead=members[0], members=tuple(members), gaps=tuple(gaps))

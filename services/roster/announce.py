"""What a team's changes say on the bus: teams.Outcome changes as contract events (services/common/events.py)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Mapping, Optional

from services.common.events import (Event, MemberCheckedIn, MemberReplaced, OfficerAssigned, Place, RosterGap,
                                    TeamAssembled, TeamReleased)
from services.common.events import TeamOfficer as OfficerRef
from services.roster.officers import Officer
from services.roster.teams import (Assembled, Assigned, Change, CheckedIn, Member, Released, Replaced, Team)
from services.roster.teams import RosterGap as Gap


@dataclass(frozen=True)
class Context:
    """What the events tell beyond the team: names, and the whistle's place and description."""

    officers: Mapping[str, Officer]
    department_names: Mapping[str, str]
    place: Optional[Place] = None
    description: Optional[str] = None


def _officer(code: str, department: str, context: Context) -> OfficerRef:
    found = context.officers.get(code)
    return OfficerRef(officer_code=code, name=found.name if found else code, department_code=department,
                      badge=found.badge if found else "-")


def _ref(member: Member | None, context: Context) -> OfficerRef | None:
    return _officer(member.officer, member.department, context) if member else None


def _common(team: Team) -> dict:
    case = team.case
    return dict(team_id=team.team_id, kind=case.kind, category=case.category, street_code=case.street,
                round=team.round, whistle_id=case.ref if case.kind == "whistle" else None,
                operation_code=case.operation, occurrence_id=case.ref if case.kind == "operation" else None)


def announce(team: Team, changes: tuple[Change, ...], context: Context, now: datetime) -> list[Event]:
    """The events for `changes`, in order, given the team after them."""
    common, case = _common(team), team.case
    out: list[Event] = []
    for change in changes:
        if isinstance(change, Assigned):
            m = change.member
            out.append(OfficerAssigned(
                **common, department_code=m.department,
                department_name_zh=context.department_names.get(m.department, m.department),
                officer=_ref(m, context), role=m.role, lead=_ref(team.lead, context), urgency=case.urgency,
                community_code=case.community, grid_code=case.grid, place=context.place,
                description=context.description, starts_at=case.starts_at, assigned_at=m.assigned_at,
                check_in_by=m.check_in_by, replaces=change.replaces.officer if change.replaces else None,
                occurred_at=now))
        elif isinstance(change, CheckedIn):
            m = change.member
            out.append(MemberCheckedIn(**common, department_code=m.department, officer=_ref(m, context),
                                       checked_in_at=m.checked_in_at, check_in_by=m.check_in_by,
                                       on_time=change.on_time, occurred_at=now))
        elif isinstance(change, Replaced):
            old = change.old
            out.append(MemberReplaced(**common, department_code=old.department, officer=_ref(old, context),
                                      reason=old.status, replaced_by=change.new.officer if change.new else None,
                                      replaced_at=old.ended_at, occurred_at=now))
        elif isinstance(change, Gap):
            out.append(RosterGap(**common, department_code=change.department, role=change.role,
                                 reason=change.reason, urgency=case.urgency, detected_at=change.at, occurred_at=now))
        elif isinstance(change, Assembled):
            done = change.team
            present = [done.current(d) for d in done.present]
            out.append(TeamAssembled(**common, lead=_ref(done.lead, context),
                                     members=tuple(_ref(m, context) for m in present),
                                     gaps=tuple(d for d in done.departments if d not in done.present),
                                     formed_at=done.formed_at, assembled_at=done.assembled_at, occurred_at=now))
        elif isinstance(change, Released):
            departments = [change.department] if change.department else list(
                dict.fromkeys([*team.departments, *(m.department for m in change.members)]))
            by_department = {m.department: m for m in change.members}
            out += [TeamReleased(**common, department_code=d, officer=_ref(by_department.get(d), context),
                                 whole=change.department is None, released_at=now, occurred_at=now)
                    for d in departments]
    return out

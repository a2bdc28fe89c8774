"""Roster use cases: load officers from the reference data, assemble a joint team for a call-out."""
from __future__ import annotations

import uuid

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from services.common.events import CalloutsIssued, TeamAssembled, TeamMember
from services.common.reference import ReferenceData
from services.common.uow import UnitOfWork
from services.roster.domain import NoTeam, Officer, assemble_team, shift_at
from services.roster.orm import officers, teams


def load_officers(conn: Connection, reference: ReferenceData) -> int:
    """Makes the officers table match the reference data; returns how many officers it holds."""
    conn.execute(delete(officers))
    for o in reference.officers:
        conn.execute(insert(officers).values(code=o.code, name=o.name, department_code=o.department,
                                                shifts=list(o.shifts), team_lead=o.team_lead))
    return len(reference.officers)


def _member(officer: Officer) -> TeamMember:
    return TeamMember(officer_code=officer.code, name=officer.name, department_code=officer.department_code)


def on_callouts_issued(uow: UnitOfWork, event: CalloutsIssued) -> TeamAssembled | None:
    """Assembles the whistle's joint team when its lead call-out needs joint enforcement."""
    conn, now = uow.conn, uow.now
    lead = next((c for c in event.callouts if c.role == "lead"), None)
    if not event.joint_enforcement or lead is None:
        return None
    if conn.execute(select(teams.c.team_id).where(teams.c.whistle_id == event.whistle_id)).first():
        return None
    rows = conn.execute(select(officers).where(officers.c.department_code.in_(event.departments))).all()
    pool = [Officer(r.code, r.name, r.department_code, tuple(r.shifts), r.team_lead) for r in rows]
    try:
        team = assemble_team(event.departments, pool, shift_at(now))
    except NoTeam:
        team = None
    if team is None:
        assembled = TeamAssembled(
            team_id=str(uuid.uuid4()), whistle_id=event.whistle_id, street_code=event.street_code,
            category=event.category, lead=TeamMember(officer_code="-", name="(nobody on duty)",
                                                     department_code=lead.department_code),
            members=(), gaps=event.departments, occurred_at=now)
    else:
        assembled = TeamAssembled(
            team_id=str(uuid.uuid4()), whistle_id=event.whistle_id, street_code=event.street_code,
            category=event.category, lead=_member(team.lead),
            members=tuple(_member(m) for m in team.members), gaps=team.gaps, occurred_at=now)
    conn.execute(insert(teams).values(
        team_id=assembled.team_id, whistle_id=event.whistle_id, lead_officer=assembled.lead.officer_code,
        members=[m.model_dump() for m in assembled.members], gaps=list(assembled.gaps), assembled_at=now,
        street_code=event.street_code, departments=list(event.departments)))
    uow.emit(assembled)
    return assembled


def team_of(conn: Connection, whistle_id: str) -> dict | None:
    row = conn.execute(select(teams).where(teams.c.whistle_id == whistle_id)).first()
    if row is None:
        return None
    data = dict(row._mapping)
    data["assembled_at"] = data["assembled_at"].isoformat()
    return data

"""The roster's tables as its use cases need them: officers, 双长制 pairs, duty schedules, planned
operations, joint teams and their members (which are also the service history)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Optional

from sqlalchemy import and_, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from services.common.events import Place
from services.common.sql import update_by_key
from services.roster.history import ServiceRecord
from services.roster.officers import Certificate, ChiefPair, Officer, Posting
from services.roster.operations import JointOperation
from services.roster.orm import (chief_pairs, duty_changes, duty_leave, duty_schedules, joint_operations,
                                 joint_teams, officer_records, operation_occurrences, team_members)
from services.roster.schedule import DEFAULT_ZONE, DepartmentSchedule, Leave, Override, Swap
from services.roster.teams import ACTIVE, Case, Member, Slot, Team, Workload

# ---------------------------------------------------------------- officers


def _officer(row) -> Officer:
    return Officer(code=row.code, name=row.name, department=row.department_code, badge=row.badge,
                   certificate=Certificate(number=row.certificate_number, expires_on=row.certificate_expires_on),
                   qualifications=tuple(row.qualifications), contact=row.contact, active=row.active,
                   postings=tuple(Posting(**p) for p in row.postings))


def _officer_values(officer: Officer, now: datetime) -> dict:
    return {"code": officer.code, "department_code": officer.department, "name": officer.name,
            "badge": officer.badge, "certificate_number": officer.certificate.number,
            "certificate_expires_on": officer.certificate.expires_on,
            "qualifications": list(officer.qualifications), "contact": officer.contact, "active": officer.active,
            "postings": [p.model_dump() for p in officer.postings], "updated_at": now}


def officers(conn: Connection, department: str | None = None) -> dict[str, Officer]:
    query = select(officer_records).order_by(officer_records.c.code)
    if department is not None:
        query = query.where(officer_records.c.department_code == department)
    return {row.code: _officer(row) for row in conn.execute(query)}


def save_officers(conn: Connection, new: Iterable[Officer], changed: Iterable[Officer], now: datetime) -> None:
    """Inserts the new officers and rewrites the changed ones (by code)."""
    rows = [_officer_values(o, now) for o in new]
    if rows:
        conn.execute(insert(officer_records), rows)
    update_by_key(conn, officer_records, "code",
                  [(o.code, {k: v for k, v in _officer_values(o, now).items() if k != "code"}) for o in changed])


# ---------------------------------------------------------------- 双长制 pairs

def _pair_values(pair: ChiefPair) -> dict:
    return {"kind": pair.kind, "street_code": pair.street, "road": pair.road or "", "cadre": pair.cadre,
            "leader_name": pair.leader_name, "leader_title": pair.leader_title, "leader_contact": pair.leader_contact}


def pairs(conn: Connection) -> list[ChiefPair]:
    rows = conn.execute(select(chief_pairs).order_by(chief_pairs.c.id)).all()
    return [ChiefPair(kind=r.kind, street=r.street_code, road=r.road or None, cadre=r.cadre, leader_name=r.leader_name,
                      leader_title=r.leader_title, leader_contact=r.leader_contact) for r in rows]


def upsert_pairs(conn: Connection, found: Iterable[ChiefPair]) -> None:
    """The pairs, one per street (双街长) or road (双路长): a pair for the same street or road is replaced."""
    for pair in found:
        values = _pair_values(pair)
        key = and_(chief_pairs.c.kind == pair.kind, chief_pairs.c.street_code == pair.street,
                   chief_pairs.c.road == values["road"])
        if conn.execute(update(chief_pairs).where(key).values(values)).rowcount == 0:
            conn.execute(insert(chief_pairs).values(values))


# ---------------------------------------------------------------- duty schedules

@dataclass(frozen=True)
class StoredSchedule:
    schedule: DepartmentSchedule
    version: int              # 0: the department has no schedule row yet


def schedules(conn: Connection, since: datetime,
              departments: Iterable[str] | None = None) -> dict[str, DepartmentSchedule]:
    """Every department's schedule (or these departments'), with the overrides, swaps and leave that
    end after `since` (older ones cannot change who is on duty from then on), changes in the order made."""
    wanted = None if departments is None else sorted(set(departments))
    rows = select(duty_schedules)
    changes = select(duty_changes).where(duty_changes.c.ends_at > since).order_by(duty_changes.c.id)
    leave = select(duty_leave).where(duty_leave.c.ends_at > since).order_by(duty_leave.c.id)
    if wanted is not None:
        rows = rows.where(duty_schedules.c.department_code.in_(wanted))
        changes = changes.where(duty_changes.c.department_code.in_(wanted))
        leave = leave.where(duty_leave.c.department_code.in_(wanted))
    found: dict[str, dict] = {r.department_code: {"department": r.department_code, "time_zone": r.time_zone,
                                                  "rotations": r.rotations, "changes": [], "leave": []}
                              for r in conn.execute(rows)}
    for r in conn.execute(changes):
        found.setdefault(r.department_code, _empty(r.department_code))["changes"].append(r.body)
    for r in conn.execute(leave):
        found.setdefault(r.department_code, _empty(r.department_code))["leave"].append(
            {"officer": r.officer_code, "start": r.starts_at, "end": r.ends_at, "reason": r.reason, "note": r.note})
    return {code: DepartmentSchedule.model_validate(data) for code, data in found.items()}


def _empty(department: str) -> dict:
    return {"department": department, "time_zone": DEFAULT_ZONE, "rotations": [], "changes": [], "leave": []}


def lock_schedule(conn: Connection, department: str, since: datetime) -> StoredSchedule:
    """The department's schedule for an edit, its row locked (version 0 if it has none yet)."""
    row = conn.execute(select(duty_schedules.c.version).where(duty_schedules.c.department_code == department)
                       .with_for_update()).first()
    schedule = schedules(conn, since, [department]).get(department) or DepartmentSchedule(department=department)
    return StoredSchedule(schedule, row.version if row else 0)


def save_rotations(conn: Connection, stored: StoredSchedule, changed: DepartmentSchedule, now: datetime) -> bool:
    """Writes the schedule's time zone and rotations; False if someone else changed them meanwhile."""
    values = {"time_zone": changed.time_zone, "rotations": [r.model_dump(mode="json") for r in changed.rotations],
              "updated_at": now}
    if stored.version == 0:
        conn.execute(insert(duty_schedules).values(department_code=changed.department, version=1, **values))
        return True
    return conn.execute(update(duty_schedules).where(
        duty_schedules.c.department_code == changed.department, duty_schedules.c.version == stored.version)
        .values(version=stored.version + 1, **values)).rowcount == 1


def _span(change: Override | Swap) -> tuple[datetime, datetime]:
    if isinstance(change, Override):
        return change.start, change.end
    return min(change.first_start, change.second_start), max(change.first_end, change.second_end)


def add_change(conn: Connection, department: str, change: Override | Swap, by: str, now: datetime) -> None:
    starts, ends = _span(change)
    conn.execute(insert(duty_changes).values(department_code=department, kind=change.kind,
                                             body=change.model_dump(mode="json"), starts_at=starts, ends_at=ends,
                                             created_at=now, created_by=by[:200]))


def add_leave(conn: Connection, department: str, leave: Leave, now: datetime) -> None:
    conn.execute(insert(duty_leave).values(department_code=department, officer_code=leave.officer,
                                           starts_at=leave.start, ends_at=leave.end, reason=leave.reason,
                                           note=leave.note, created_at=now))


def rostered(conn: Connection) -> frozenset[str]:
    """The departments that keep a duty roster (a schedule with rotations): they send team members."""
    return frozenset(r.department_code for r in conn.execute(select(duty_schedules.c.department_code,
                                                                    duty_schedules.c.rotations)) if r.rotations)


# ---------------------------------------------------------------- planned operations

def upsert_operations(conn: Connection, found: Iterable[JointOperation], now: datetime) -> None:
    for operation in found:
        values = {"organiser": operation.organiser, "definition": operation.model_dump(mode="json"),
                  "active": operation.active, "updated_at": now}
        if conn.execute(update(joint_operations).where(joint_operations.c.code == operation.code)
                        .values(values)).rowcount == 0:
            conn.execute(insert(joint_operations).values(code=operation.code, **values))


def lock_operations(conn: Connection) -> list[JointOperation]:
    """The active operations, their rows locked (SKIP LOCKED: another replica plans those)."""
    rows = conn.execute(select(joint_operations.c.definition).where(joint_operations.c.active.is_(True))
                        .order_by(joint_operations.c.code).with_for_update(skip_locked=True)).all()
    return [JointOperation.model_validate(r.definition) for r in rows]


def planned(conn: Connection, occurrence_ids: Iterable[str]) -> set[str]:
    ids = list(occurrence_ids)
    if not ids:
        return set()
    return set(conn.execute(select(operation_occurrences.c.occurrence_id)
                            .where(operation_occurrences.c.occurrence_id.in_(ids))).scalars())


def add_occurrence(conn: Connection, operation: str, occurrence_id: str, start: datetime, end: datetime,
                   team_id: str) -> None:
    conn.execute(insert(operation_occurrences).values(occurrence_id=occurrence_id, operation_code=operation,
                                                      starts_at=start, ends_at=end, team_id=team_id))


def ended_operation_teams(conn: Connection, now: datetime, limit: int) -> list[str]:
    """Teams of operation occurrences that are over and not yet released."""
    return list(conn.execute(
        select(joint_teams.c.team_id)
        .join(operation_occurrences, operation_occurrences.c.team_id == joint_teams.c.team_id)
        .where(joint_teams.c.released_at.is_(None), operation_occurrences.c.ends_at <= now)
        .order_by(operation_occurrences.c.ends_at).limit(limit)
        .with_for_update(skip_locked=True, of=joint_teams)).scalars())


# ---------------------------------------------------------------- teams and members

@dataclass(frozen=True)
class StoredTeam:
    team: Team
    member_ids: tuple[int, ...]         # team_members.id of each of team.members, in order
    version: int
    place: Optional[Place] = None
    description: Optional[str] = None


def _case(row) -> Case:
    return Case(kind=row.kind, ref=row.whistle_id if row.kind == "whistle" else row.occurrence_id,
                category=row.category, urgency=row.urgency, street=row.street_code, community=row.community_code,
                grid=row.grid_code, starts_at=row.starts_at, operation=row.operation_code)


def _slot(data: dict) -> Slot:
    gap_since = data.get("gap_since")
    return Slot(data["department"], data["role"], data["open"], tuple(data["tried"]),
                datetime.fromisoformat(gap_since) if gap_since else None)


def _slot_values(slot: Slot) -> dict:
    return {"department": slot.department, "role": slot.role, "open": slot.open, "tried": list(slot.tried),
            "gap_since": slot.gap_since.isoformat() if slot.gap_since else None}


def _member(row) -> Member:
    return Member(row.department_code, row.officer_code, row.role, row.round, row.assigned_at, row.check_in_by,
                  row.status, row.checked_in_at, row.ended_at)


def _member_values(member: Member) -> dict:
    return {"department_code": member.department, "officer_code": member.officer, "role": member.role,
            "round": member.round, "status": member.status, "assigned_at": member.assigned_at,
            "check_in_by": member.check_in_by, "checked_in_at": member.checked_in_at, "ended_at": member.ended_at}


_MEMBERS_OF = (select(team_members).where(team_members.c.team_id == bindparam("team_id"))
               .order_by(team_members.c.id))


def load_team(conn: Connection, *, team_id: str | None = None, whistle_id: str | None = None,
              lock: bool = False) -> StoredTeam | None:
    """A team by id or by whistle, with its members; its row locked for a change with `lock`."""
    query = select(joint_teams)
    query = query.where(joint_teams.c.team_id == team_id) if team_id is not None \
        else query.where(joint_teams.c.whistle_id == whistle_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        return None
    members = conn.execute(_MEMBERS_OF, {"team_id": row.team_id}).all()
    team = Team(team_id=row.team_id, case=_case(row), slots=tuple(_slot(s) for s in row.slots),
                members=tuple(_member(m) for m in members), formed_at=row.formed_at, round=row.round,
                assembled_at=row.assembled_at, assembled_round=row.assembled_round, released_at=row.released_at)
    return StoredTeam(team, tuple(m.id for m in members), row.version,
                      Place.model_validate(row.place) if row.place else None, row.description)


def _team_values(team: Team, next_sweep_at: datetime | None) -> dict:
    return {"slots": [_slot_values(s) for s in team.slots], "round": team.round, "assembled_at": team.assembled_at,
            "assembled_round": team.assembled_round, "released_at": team.released_at,
            "next_sweep_at": next_sweep_at}


def insert_team(conn: Connection, team: Team, next_sweep_at: datetime | None, place: Place | None = None,
                description: str | None = None) -> None:
    case = team.case
    conn.execute(insert(joint_teams).values(
        team_id=team.team_id, kind=case.kind, whistle_id=case.ref if case.kind == "whistle" else None,
        operation_code=case.operation, occurrence_id=case.ref if case.kind == "operation" else None,
        category=case.category, urgency=case.urgency, street_code=case.street, community_code=case.community,
        grid_code=case.grid, starts_at=case.starts_at, place=place.model_dump(mode="json") if place else None,
        description=description, formed_at=team.formed_at, version=1, **_team_values(team, next_sweep_at)))
    _insert_members(conn, team.team_id, team.members)


def _insert_members(conn: Connection, team_id: str, members: Iterable[Member]) -> None:
    rows = [{"team_id": team_id, **_member_values(m)} for m in members]
    if rows:
        conn.execute(insert(team_members), rows)


class ConcurrentChange(RuntimeError):
    """The team changed under this unit of work (another replica): it is retried from the start."""


def save_team(conn: Connection, stored: StoredTeam, after: Team, next_sweep_at: datetime | None) -> None:
    """Writes what changed: the team's row (compare-and-set on its version), changed members, new members."""
    done = conn.execute(update(joint_teams).where(joint_teams.c.team_id == after.team_id,
                                                  joint_teams.c.version == stored.version)
                        .values(version=stored.version + 1, **_team_values(after, next_sweep_at))).rowcount
    if done != 1:
        raise ConcurrentChange(f"team {after.team_id} changed meanwhile")
    before = stored.team.members
    update_by_key(conn, team_members, "id", [
        (member_id, {k: v for k, v in _member_values(new).items() if _member_values(old)[k] != v})
        for member_id, old, new in zip(stored.member_ids, before, after.members) if old != new])
    _insert_members(conn, after.team_id, after.members[len(before):])


def workload(conn: Connection) -> Workload:
    """Each officer's open cases (active memberships of teams not released) and latest assignment."""
    open_rows = conn.execute(
        select(team_members.c.officer_code, func.count())
        .join(joint_teams, joint_teams.c.team_id == team_members.c.team_id)
        .where(team_members.c.status.in_(ACTIVE), joint_teams.c.released_at.is_(None))
        .group_by(team_members.c.officer_code)).all()
    last_rows = conn.execute(select(team_members.c.officer_code, func.max(team_members.c.assigned_at))
                             .group_by(team_members.c.officer_code)).all()
    return Workload({code: count for code, count in open_rows}, {code: at for code, at in last_rows})


def due_teams(conn: Connection, now: datetime, limit: int) -> list[str]:
    """Teams whose next check-in deadline or gap retry has passed, row-locked (SKIP LOCKED)."""
    return list(conn.execute(
        select(joint_teams.c.team_id)
        .where(joint_teams.c.released_at.is_(None), joint_teams.c.next_sweep_at < now)
        .order_by(joint_teams.c.next_sweep_at).limit(limit)
        .with_for_update(skip_locked=True)).scalars())


# ---------------------------------------------------------------- the service history

def service_records(conn: Connection, start: datetime, end: datetime, officer: str | None = None,
                    department: str | None = None) -> list[ServiceRecord]:
    """Assignments made in [start, end), of one officer or one department, in the order made."""
    query = (select(team_members, joint_teams.c.kind, joint_teams.c.whistle_id, joint_teams.c.occurrence_id,
                    joint_teams.c.category)
             .join(joint_teams, joint_teams.c.team_id == team_members.c.team_id)
             .where(team_members.c.assigned_at >= start, team_members.c.assigned_at < end)
             .order_by(team_members.c.assigned_at, team_members.c.id))
    if officer is not None:
        query = query.where(team_members.c.officer_code == officer)
    if department is not None:
        query = query.where(team_members.c.department_code == department)
    return [ServiceRecord(r.officer_code, r.department_code, r.team_id, r.kind,
                          r.whistle_id if r.kind == "whistle" else r.occurrence_id, r.category, r.role, r.round,
                          r.assigned_at, r.check_in_by, r.checked_in_at, r.ended_at, r.status)
            for r in conn.execute(query)]


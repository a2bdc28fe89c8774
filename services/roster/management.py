"""Roster use cases for a department's officers and duty schedule, and the roster's reads: who is on
duty, the weeks ahead with their coverage gaps, iCal feeds, the service history, the 双长制 pairs.

Each edit takes the unit of work and the process's RosterRules, and either changes everything it
was asked to or nothing (InvalidRoster / NotAllowed name every bad field)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal, Optional

from pydantic import ValidationError
from sqlalchemy.engine import Connection

from services.common.errors import Conflict, NotFound
from services.common.events import field_errors
from services.common.uow import UnitOfWork
from services.roster import history as service_history
from services.roster import ical
from services.roster import officers as roster_officers
from services.roster import repository as repo
from services.roster import schedule as duty
from services.roster.errors import InvalidRoster
from services.roster.importing import ImportReport, import_csv, import_yaml
from services.roster.officers import CHINA, Officer, chiefs_of
from services.roster.rules import RosterRules
from services.roster.schedule import DepartmentSchedule, Edited, Leave, Override, Rotation, Swap

Format = Literal["csv", "yaml"]


def known_department(rules: RosterRules, department: str) -> None:
    if department not in rules.codes.departments:
        raise InvalidRoster.one("department_code", f"unknown department {department!r}")


def _today(now: datetime):
    return now.astimezone(CHINA).date()


# ---------------------------------------------------------------- officers

def register_officer(uow: UnitOfWork, rules: RosterRules, officer: Officer) -> Officer:
    existing = repo.officers(uow.conn)
    roster_officers.register(officer, rules.codes, _today(uow.now), existing)
    repo.save_officers(uow.conn, [officer], [], uow.now)
    return officer


def update_officer(uow: UnitOfWork, rules: RosterRules, officer: Officer) -> Officer:
    existing = repo.officers(uow.conn)
    roster_officers.update(officer, rules.codes, _today(uow.now), existing)
    repo.save_officers(uow.conn, [], [officer], uow.now)
    return officer


def import_officers(uow: UnitOfWork, rules: RosterRules, department: str, text: str, fmt: Format) -> ImportReport:
    """New officers of `department` from a CSV or YAML file: the good rows are stored, every bad row reported."""
    known_department(rules, department)
    reader = import_csv if fmt == "csv" else import_yaml
    report = reader(text, rules.codes, _today(uow.now), repo.officers(uow.conn), department)
    repo.save_officers(uow.conn, report.officers, [], uow.now)
    return report


def officers_of(conn: Connection, department: str) -> list[dict]:
    return [o.model_dump(mode="json") for o in repo.officers(conn, department).values()]


# ---------------------------------------------------------------- duty schedules

def _schedule_for_edit(uow: UnitOfWork, rules: RosterRules, department: str) -> repo.StoredSchedule:
    known_department(rules, department)
    return repo.lock_schedule(uow.conn, department, uow.now)


def replace_rotations(uow: UnitOfWork, rules: RosterRules, department: str, rotations: tuple[Rotation, ...],
                      time_zone: Optional[str] = None) -> Edited:
    """The department's rotations (and time zone) replaced; refused if an officer would be on two
    overlapping shifts of one layer in the next `check_weeks` weeks; the coverage gaps come back."""
    stored = _schedule_for_edit(uow, rules, department)
    schedule = stored.schedule
    if time_zone is not None:
        try:
            schedule = DepartmentSchedule.model_validate({**schedule.model_dump(), "time_zone": time_zone})
        except ValidationError as exc:
            raise InvalidRoster(field_errors(exc)) from None
    edited = duty.replace_rotations(schedule, rotations, repo.officers(uow.conn), rules.codes, uow.now,
                                    uow.now + timedelta(weeks=rules.check_weeks))
    if not repo.save_rotations(uow.conn, stored, edited.schedule, uow.now):
        raise Conflict.one("rotations", f"{department}'s schedule changed meanwhile; read it again and retry")
    return edited


def add_override(uow: UnitOfWork, rules: RosterRules, department: str, override: Override, by: str) -> Edited:
    stored = _schedule_for_edit(uow, rules, department)
    edited = duty.add_override(stored.schedule, override, repo.officers(uow.conn), uow.now)
    repo.add_change(uow.conn, department, override, by, uow.now)
    return edited


def add_swap(uow: UnitOfWork, rules: RosterRules, department: str, swap: Swap, by: str) -> Edited:
    stored = _schedule_for_edit(uow, rules, department)
    edited = duty.add_swap(stored.schedule, swap, repo.officers(uow.conn), uow.now)
    repo.add_change(uow.conn, department, swap, by, uow.now)
    return edited


def add_leave(uow: UnitOfWork, rules: RosterRules, department: str, leave: Leave) -> Edited:
    stored = _schedule_for_edit(uow, rules, department)
    edited = duty.add_leave(stored.schedule, leave, repo.officers(uow.conn), uow.now)
    repo.add_leave(uow.conn, department, leave, uow.now)
    return edited


def gaps_view(gaps) -> list[dict]:
    return [{"department_code": g.department, "start": g.start.isoformat(), "end": g.end.isoformat()} for g in gaps]


def schedule_of(conn: Connection, rules: RosterRules, department: str, now: datetime) -> dict:
    """The department's rotations, and the overrides, swaps and leave not yet over."""
    known_department(rules, department)
    found = repo.schedules(conn, now, [department]).get(department) or DepartmentSchedule(department=department)
    return found.model_dump(mode="json")


# ---------------------------------------------------------------- who is on duty, and when

def _roster(conn: Connection, rules: RosterRules, since: datetime, departments=None) -> duty.DutyRoster:
    return duty.DutyRoster(repo.schedules(conn, since, departments), rules.codes)


def _person(officer: Officer | None, code: str) -> dict:
    return {"officer_code": code, "name": officer.name if officer else code,
            "badge": officer.badge if officer else "-", "contact": officer.contact if officer else None}


def on_duty(conn: Connection, rules: RosterRules, department: str, at: datetime) -> dict:
    known_department(rules, department)
    found = _roster(conn, rules, at, [department]).on_duty(department, at)
    officers = repo.officers(conn, department)
    return {"department_code": department, "at": at.isoformat(),
            "officers": [_person(officers.get(code), code) for code in sorted(found)]}


def preview(conn: Connection, rules: RosterRules, department: str, start: datetime, end: datetime) -> dict:
    """Every shift in [start, end) (clipped to it) and the stretches nobody is on duty."""
    known_department(rules, department)
    roster = _roster(conn, rules, start, [department])
    officers = repo.officers(conn, department)
    return {"department_code": department, "start": start.isoformat(), "end": end.isoformat(),
            "shifts": [{**_person(officers.get(s.officer), s.officer), "start": s.start.isoformat(),
                        "end": s.end.isoformat(), "origin": s.origin, "layer": s.layer}
                       for s in roster.preview(department, start, end)],
            "gaps": gaps_view(roster.gaps(department, start, end))}


def department_feed(conn: Connection, rules: RosterRules, department: str, start: datetime, end: datetime,
                    now: datetime, lang: ical.Language) -> bytes:
    known_department(rules, department)
    roster = _roster(conn, rules, start, [department])
    schedule = roster.schedules.get(department) or DepartmentSchedule(department=department)
    return ical.department_feed(department, roster.preview(department, start, end, whole=True),
                                repo.officers(conn, department), rules.department_names, schedule.zone, now, lang)


def officer_of(conn: Connection, officer_code: str) -> Officer:
    found = repo.officers(conn).get(officer_code)
    if found is None:
        raise NotFound.one("officer_code", f"no officer {officer_code!r}")
    return found


def officer_feed(conn: Connection, rules: RosterRules, officer: Officer, start: datetime, end: datetime,
                 now: datetime, lang: ical.Language) -> bytes:
    roster = _roster(conn, rules, start, [officer.department])
    schedule = roster.schedules.get(officer.department) or DepartmentSchedule(department=officer.department)
    return ical.officer_feed(officer, roster.preview(officer.department, start, end, whole=True),
                             rules.department_names, schedule.zone, now, lang)


# ---------------------------------------------------------------- history and pairs

def month_span(year: int, month: int) -> tuple[datetime, datetime]:
    """The calendar month in China's zone, as UTC instants [start, end)."""
    start = datetime(year, month, 1, tzinfo=CHINA)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=CHINA)
    return start, end


def history(conn: Connection, year: int, month: int, now: datetime, officer: str | None = None,
            department: str | None = None) -> dict:
    """Who served on which team in the month, for how long, on time or not; and a line per officer."""
    start, end = month_span(year, month)
    records = repo.service_records(conn, start, end, officer, department)
    names = repo.officers(conn)

    def stamp(at):
        return at.isoformat() if at else None

    return {
        "month": f"{year:04d}-{month:02d}", "officer_code": officer, "department_code": department,
        "records": [{"officer_code": r.officer, "name": names[r.officer].name if r.officer in names else r.officer,
                     "department_code": r.department, "team_id": r.team_id, "kind": r.kind, "ref": r.ref,
                     "category": r.category, "role": r.role, "round": r.round, "assigned_at": stamp(r.assigned_at),
                     "check_in_by": stamp(r.check_in_by), "checked_in_at": stamp(r.checked_in_at),
                     "ended_at": stamp(r.ended_at), "outcome": r.outcome, "on_time": r.on_time,
                     "served_seconds": round(r.served(now).total_seconds())} for r in records],
        "summary": [{"officer_code": s.officer, "department_code": s.department, "assignments": s.assignments,
                     "checked_in": s.checked_in, "on_time": s.on_time, "late": s.late, "no_shows": s.no_shows,
                     "declined": s.declined, "served_seconds": round(s.served.total_seconds())}
                    for s in service_history.summarise(records, now)],
    }


def chiefs(conn: Connection, rules: RosterRules, street: str) -> dict:
    """The street's 双街长 and its roads' 双路长, with the cadre's name."""
    if street not in rules.codes.streets:
        raise InvalidRoster.one("street_code", f"unknown street {street!r}")
    found = repo.pairs(conn)
    officers = repo.officers(conn)
    roads = sorted({p.road for p in found if p.street == street and p.road is not None})
    pairs = [*chiefs_of(found, street), *(p for road in roads for p in chiefs_of(found, street, road))]
    return {"street_code": street, "pairs": [
        {**p.model_dump(mode="json"), "cadre_name": officers[p.cadre].name if p.cadre in officers else p.cadre}
        for p in pairs]}


# ---------------------------------------------------------------- the reference roster file

def load_roster_file(conn: Connection, roster, now: datetime) -> dict[str, int]:
    """Makes the tables hold the roster file (importing.RosterFile, checked): its officers, pairs and
    operations are inserted or rewritten by code; a department's rotations are replaced when they
    differ, and the file's overrides, swaps and leave are taken when the department has no schedule
    yet. What the tables hold beyond the file (officers registered over HTTP, later edits) stays."""
    existing = repo.officers(conn)
    new = [o for o in roster.officers if o.code not in existing]
    changed = [o for o in roster.officers if o.code in existing and existing[o.code] != o]
    repo.save_officers(conn, new, changed, now)
    repo.upsert_pairs(conn, roster.chief_pairs)
    schedules_changed = 0
    for schedule in roster.schedules:
        stored = repo.lock_schedule(conn, schedule.department, now)
        if stored.version and stored.schedule.rotations == schedule.rotations \
                and stored.schedule.time_zone == schedule.time_zone:
            continue
        repo.save_rotations(conn, stored, schedule, now)
        if not stored.version:
            for change in schedule.changes:
                repo.add_change(conn, schedule.department, change, "reference roster file", now)
            for leave in schedule.leave:
                repo.add_leave(conn, schedule.department, leave, now)
        schedules_changed += 1
    repo.upsert_operations(conn, roster.operations, now)
    return {"officers_new": len(new), "officers_changed": len(changed), "schedules_changed": schedules_changed,
            "operations": len(roster.operations)}

"""Roster use cases for joint teams ("城管+N"): a team formed when a whistle needs joint enforcement,
the team following its case (departments added and released, new rounds, closure), members checking
in or declining, the deadline sweep that replaces no-shows and retries gaps, and planned operations.

Each takes the unit of work it runs in and the process's RosterRules; the rules themselves are in
teams.py, what the changes say on the bus in announce.py, the tables in repository.py."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Optional

from services.common.errors import NotFound
from services.common.events import (CalloutReturned, CalloutsIssued, CheckInAsMember, DeclineAssignment, Event,
                                    MemberCommand, MemberOutcome, Place, WhistleClosed)
from services.common.uow import UnitOfWork
from services.roster import operations as planning
from services.roster import repository as repo
from services.roster.announce import Context, announce
from services.roster.officers import Officer
from services.roster.rules import RosterRules
from services.roster.schedule import DutyRoster
from services.roster.teams import (Case, Change, Outcome, Team, Workload, add_department, availability, check_in,
                                   decline, due, form, new_round, participants, release, release_department, sweep)

SWEEP_LIMIT = 50


@dataclass
class Roster:
    """Who could serve, read once per unit of work; the workload follows every change made in it."""

    officers: dict[str, Officer]
    duty: DutyRoster
    workload: Workload
    rostered: frozenset[str]            # departments that keep a duty roster, and so send members


class Scene:
    """One unit of work's roster, read when first needed."""

    def __init__(self, uow: UnitOfWork, rules: RosterRules):
        self.uow, self.rules = uow, rules
        self._roster: Roster | None = None

    @property
    def roster(self) -> Roster:
        if self._roster is None:
            conn, now = self.uow.conn, self.uow.now
            self._roster = Roster(repo.officers(conn), DutyRoster(repo.schedules(conn, now), self.rules.codes),
                                  repo.workload(conn), repo.rostered(conn))
        return self._roster

    def available(self, team_or_case: Team | Case, departments: Iterable[str]):
        """Who could be picked for these departments: at the case's start if it lies ahead, else now."""
        case = team_or_case.case if isinstance(team_or_case, Team) else team_or_case
        at = max(self.uow.now, case.starts_at or self.uow.now)
        return availability(self.roster.duty, self.roster.officers, departments, at)


def next_sweep_at(team: Team, rules: RosterRules, now: datetime) -> Optional[datetime]:
    """When the team must be looked at again: its earliest check-in deadline, or soon if it has a gap."""
    if team.released_at is not None:
        return None
    times = [t for t in (due(team),) if t is not None]
    if team.gaps:
        times.append(now + rules.settings.gap_retry)
    return min(times, default=None)


def _commit(scene: Scene, stored: repo.StoredTeam | None, steps: list[Outcome], place: Place | None = None,
            description: str | None = None) -> Team | None:
    """Stores the team after `steps` (each an Outcome of the one before) and announces their changes."""
    uow, rules = scene.uow, scene.rules
    if not steps:
        return None
    team = steps[-1].team
    if scene._roster is not None:
        scene._roster.workload = steps[-1].workload
    if not any(step.changes for step in steps) and stored is not None:
        return team
    when = next_sweep_at(team, rules, uow.now)
    if stored is None:
        repo.insert_team(uow.conn, team, when, place, description)
    else:
        repo.save_team(uow.conn, stored, team, when)
        place, description = stored.place, stored.description
    context = Context(scene.roster.officers, rules.department_names, place, description)
    for step in steps:
        uow.emit(*announce(step.team, step.changes, context, uow.now))
    return team


# ---------------------------------------------------------------- the case: dispatch and the street

def on_case_events(uow: UnitOfWork, rules: RosterRules, events: list[Event]) -> None:
    """Call-outs issued, returned, and the whistle closed: the whistle's team formed and kept in step."""
    scene = Scene(uow, rules)
    for event in events:
        if isinstance(event, CalloutsIssued):
            _on_issued(scene, event)
        elif isinstance(event, CalloutReturned):
            _on_returned(scene, event)
        elif isinstance(event, WhistleClosed):
            _on_closed(scene, event)


def _whistle_case(event: CalloutsIssued) -> Case:
    return Case(kind="whistle", ref=event.whistle_id, category=event.category, urgency=event.urgency,
                street=event.street_code, community=event.community_code, grid=event.grid_code)


def _on_issued(scene: Scene, event: CalloutsIssued) -> None:
    if not event.joint_enforcement:
        return                      # the category needs no team: none was formed, none will be
    uow, rules = scene.uow, scene.rules
    stored = repo.load_team(uow.conn, whistle_id=event.whistle_id, lock=True)
    lead = next((c for c in event.callouts if c.role == "lead"), None)
    if stored is None:
        if lead is None:
            return                  # a supporting department called later: the whistle has no team
        case = _whistle_case(event)
        supporting = participants(lead.department_code, event.departments, scene.roster.rostered)
        formed = form(str(uuid.uuid4()), case, lead.department_code, supporting,
                      scene.available(case, (lead.department_code, *supporting)), scene.roster.workload,
                      rules.team_rules(case.urgency), rules.codes, uow.now)
        _commit(scene, None, [formed], event.place, event.description)
        return
    team = stored.team
    if team.released_at is not None:
        return
    team_rules = rules.team_rules(team.case.urgency)
    steps: list[Outcome] = []

    def current() -> tuple[Team, Workload]:
        return (steps[-1].team, steps[-1].workload) if steps else (team, scene.roster.workload)

    if event.reason in ("sent_back", "reopened"):
        # the departments called again make the next round; the lead stays unless another leads now
        new_lead = lead.department_code if lead else team.lead_department
        supporting = participants(new_lead, [c.department_code for c in event.callouts], scene.roster.rostered)
        steps.append(new_round(team, new_lead, supporting, scene.available(team, (new_lead, *supporting)),
                               scene.roster.workload, team_rules, rules.codes, uow.now))
    else:
        for callout in event.callouts:
            now_team, workload = current()
            department = callout.department_code
            if callout.role == "lead" and department != now_team.lead_department:
                # a returned lead re-routed, or named by arbitration: a new round with the new lead
                supporting = [d for d in now_team.departments if d not in (now_team.lead_department, department)]
                steps.append(new_round(now_team, department, supporting,
                                       scene.available(now_team, (department, *supporting)), workload, team_rules,
                                       rules.codes, uow.now))
            elif department in scene.roster.rostered:
                steps.append(add_department(now_team, department, scene.available(now_team, (department,)),
                                            workload, team_rules, rules.codes, uow.now))
    _commit(scene, stored, steps)


def _on_returned(scene: Scene, event: CalloutReturned) -> None:
    """退单: the department leaves the team; a returned lead stays until the case has a new lead."""
    stored = repo.load_team(scene.uow.conn, whistle_id=event.whistle_id, lock=True)
    if stored is None or stored.team.released_at is not None:
        return
    team = stored.team
    if event.department_code == team.lead_department or event.department_code not in team.departments:
        return
    _commit(scene, stored, [release_department(team, event.department_code, scene.roster.workload,
                                               scene.rules.team_rules(team.case.urgency), scene.uow.now)])


def _on_closed(scene: Scene, event: WhistleClosed) -> None:
    stored = repo.load_team(scene.uow.conn, whistle_id=event.whistle_id, lock=True)
    if stored is None:
        return
    team = stored.team
    _commit(scene, stored, [release(team, scene.roster.workload, scene.rules.team_rules(team.case.urgency),
                                    scene.uow.now)])


# ---------------------------------------------------------------- members

def _declined_already(team: Team, officer: str, department: str) -> bool:
    """The officer's last assignment to this department ended by declining it (a resent decline)."""
    mine = [m for m in team.members if m.officer == officer and m.department == department]
    return bool(mine) and mine[-1].status == "declined"


def member_command(uow: UnitOfWork, rules: RosterRules, command: MemberCommand) -> MemberOutcome:
    """A member checks in (报到) or declines; NotFound / NotAllowed when the team or the rules refuse.

    Both are idempotent: a second check-in, or a second decline of the same assignment, is answered
    `accepted` with `repeated` and changes nothing."""
    stored = repo.load_team(uow.conn, team_id=command.team_id, lock=True)
    if stored is None:
        raise NotFound.one("team_id", f"no team {command.team_id}")
    team, scene = stored.team, Scene(uow, rules)
    team_rules = rules.team_rules(team.case.urgency)
    officer, department = command.officer_code, command.department_code
    steps: list[Outcome] = []
    if isinstance(command, CheckInAsMember):
        steps.append(check_in(team, officer, department, scene.roster.workload, team_rules, uow.now))
    elif isinstance(command, DeclineAssignment) and not _declined_already(team, officer, department):
        steps.append(decline(team, officer, department, scene.available(team, (department,)),
                             scene.roster.workload, team_rules, rules.codes, uow.now))
    changes: tuple[Change, ...] = tuple(c for step in steps for c in step.changes)
    answer = MemberOutcome(action=type(command).action, request_id=command.request_id, team_id=team.team_id,
                           department_code=department, officer_code=officer, outcome="accepted",
                           repeated=not changes, occurred_at=uow.now)
    uow.emit(answer)
    if changes:
        _commit(scene, stored, steps)
    return answer


def rejected_member_outcome(action: str, payload: dict, department: str, errors) -> MemberOutcome:
    """The answer to a member command the rules (or the contract) refused."""
    def text(key: str, size: int) -> str:
        value = payload.get(key)
        return value[:size] if isinstance(value, str) and value else "-"

    request_id = payload.get("request_id")
    return MemberOutcome(action=action, request_id=request_id[:128] if isinstance(request_id, str) else None,
                         team_id=text("team_id", 64), department_code=department,
                         officer_code=text("officer_code", 64), outcome="rejected", errors=errors)


# ---------------------------------------------------------------- the sweep

def sweep_teams(uow: UnitOfWork, rules: RosterRules, limit: int = SWEEP_LIMIT) -> int:
    """Replaces members who missed their check-in deadline or went off shift before checking in, and
    tries every gap again; returns how many teams it looked at. Deadlines live in the table
    (joint_teams.next_sweep_at), so a restart loses none; rows are claimed with SKIP LOCKED."""
    ids = repo.due_teams(uow.conn, uow.now, limit)
    scene = Scene(uow, rules)
    for team_id in ids:
        stored = repo.load_team(uow.conn, team_id=team_id)
        team = stored.team
        outcome = sweep(team, scene.available(team, team.departments), scene.roster.workload,
                        rules.team_rules(team.case.urgency), rules.codes, uow.now)
        if not outcome.changes:       # nothing due after all (a deadline met at the instant): look later
            repo.save_team(uow.conn, stored, team, next_sweep_at(team, rules, uow.now))
            continue
        _commit(scene, stored, [outcome])
    return len(ids)


# ---------------------------------------------------------------- planned operations

def plan_operations(uow: UnitOfWork, rules: RosterRules) -> int:
    """Forms the team of every planned operation's occurrence starting within `form_ahead`, once, and
    releases the teams of occurrences that are over; returns how many teams it formed."""
    conn, now = uow.conn, uow.now
    scene = Scene(uow, rules)
    formed = 0
    for operation in repo.lock_operations(conn):
        upcoming = planning.due(operation, now, rules.settings.form_ahead)
        done = repo.planned(conn, (o.occurrence_id for o in upcoming))
        for occurrence in upcoming:
            if occurrence.occurrence_id in done:
                continue
            case = planning.operation_case(operation, occurrence)
            supporting = participants(operation.lead, operation.support, scene.roster.rostered)
            outcome = form(str(uuid.uuid4()), case, operation.lead, supporting,
                           scene.available(case, (operation.lead, *supporting)), scene.roster.workload,
                           rules.team_rules(case.urgency), rules.codes, now)
            _commit(scene, None, [outcome], None, operation.name_zh)
            repo.add_occurrence(conn, operation.code, occurrence.occurrence_id, occurrence.start, occurrence.end,
                                outcome.team.team_id)
            formed += 1
    for team_id in repo.ended_operation_teams(conn, now, SWEEP_LIMIT):
        stored = repo.load_team(conn, team_id=team_id)
        _commit(scene, stored, [release(stored.team, scene.roster.workload,
                                        rules.team_rules(stored.team.case.urgency), now)])
    return formed


# ---------------------------------------------------------------- reads

def team_view(stored: repo.StoredTeam, officers: dict[str, Officer], rules: RosterRules) -> dict:
    """A team as people and department systems read it: who is on it, who is present, what is missing."""
    team = stored.team
    case = team.case

    def who(code: str) -> dict:
        found = officers.get(code)
        return {"officer_code": code, "name": found.name if found else code, "badge": found.badge if found else "-"}

    def stamp(at: datetime | None) -> str | None:
        return at.isoformat() if at else None

    lead = team.lead
    return {
        "team_id": team.team_id, "kind": case.kind, "whistle_id": case.ref if case.kind == "whistle" else None,
        "operation_code": case.operation, "occurrence_id": case.ref if case.kind == "operation" else None,
        "category": case.category, "urgency": case.urgency, "street_code": case.street,
        "community_code": case.community, "grid_code": case.grid, "starts_at": stamp(case.starts_at),
        "round": team.round, "formed_at": stamp(team.formed_at), "assembled_at": stamp(team.assembled_at),
        "assembled": team.assembled_round == team.round, "released_at": stamp(team.released_at),
        "lead_department": team.lead_department,
        "lead": {**who(lead.officer), "department_code": lead.department} if lead else None,
        "departments": list(team.departments), "department_names": {
            d: rules.department_names.get(d, d) for d in team.departments},
        "present": list(team.present), "gaps": list(team.gaps),
        "members": [{**who(m.officer), "department_code": m.department, "role": m.role, "round": m.round,
                     "status": m.status, "assigned_at": stamp(m.assigned_at), "check_in_by": stamp(m.check_in_by),
                     "checked_in_at": stamp(m.checked_in_at), "ended_at": stamp(m.ended_at)}
                    for m in team.members],
    }

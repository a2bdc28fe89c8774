"""Dispatch use cases: fan out, department reports, arbitration, rounds, the escalation sweep.

Each takes the unit of work it runs in (services/common/uow.py) and the process's Rules; the rules
themselves are in domain.py, the tables in repository.py."""
from __future__ import annotations

import uuid
from dataclasses import replace

from sqlalchemy.engine import Connection

from services.common.events import (Actor, AddDepartment, ArbitrationDecided, ArbitrationOpened, ArbitrationOverdue,
                                    CalloutEscalated, DecideArbitration, DepartmentReport, ReportOutcome,
                                    WhistleClosed, WhistleRaised, WhistleReopened,
                                    WhistleSentBack)
from services.common.uow import UnitOfWork
from services.dispatch import repository as repo
from services.dispatch.deadlines import due
from services.dispatch.domain import (OPEN, STEP_OF, Arbitrate, Callout, Case, IllegalStep, Reroute, act, announce,
                                      departments_to_recall, issue, may_complete, open_case, progress,
                                      reopen_round)
from services.dispatch.rules import Rules


# ---------------------------------------------------------------- steps shared by the use cases
def _issue(uow: UnitOfWork, rules: Rules, case: Case, departments: tuple[str, ...], reason,
           everyone: tuple[str, ...] | None = None, role: str | None = None,
           position: int | None = None, located_by: str | None = None, by: Actor | None = None) -> list[Callout]:
    """Issues call-outs to departments and starts their clocks: one CalloutIssued per department on
    `callouts`, and one CalloutsIssued for ourselves. `position` is how many the whistle already has
    (counted when not given); `located_by` says the whistle was just located, and how; `by` is the
    principal who called them (the district adding a department or deciding an arbitration)."""
    conn = uow.conn
    if position is None:
        position = repo.count_callouts(conn, case.whistle_id)
    made = issue(case, repo.matrix_of(conn, rules, case.matrix_version), rules.reference.urgencies[case.urgency],
                 rules.is_workday, uow.now, departments, reason, rules.names, everyone, role, position)
    repo.add_callouts(conn, [callout for callout, _ in made], rules.ladder)
    announced = announce(case, made, located_by, uow.now)
    uow.emit(*(event for _, event in made), announced if by is None else announced.model_copy(update={"by": by}))
    return [callout for callout, _ in made]


def _open_arbitration(uow: UnitOfWork, rules: Rules, case: Case, reason: str,
                      candidates: tuple[str, ...]) -> str:
    arbitration_id = str(uuid.uuid4())
    decide_by = due(uow.now, rules.reference.arbitration.decide_within, rules.is_workday)
    repo.add_arbitration(uow.conn, arbitration_id, case.whistle_id, reason, candidates, uow.now, decide_by)
    uow.emit(ArbitrationOpened(arbitration_id=arbitration_id, whistle_id=case.whistle_id,
                               street_code=case.street_code, category=case.category, reason=reason,
                               candidates=candidates, decide_by=decide_by, occurred_at=uow.now))
    return arbitration_id


def _progress(uow: UnitOfWork, case: Case, callouts: list[Callout]) -> Case:
    """The case after a change to its call-outs (all of them, as they now are), announced."""
    waiting = repo.open_returns_waiting(uow.conn, case.whistle_id) if may_complete(case, callouts) else 0
    updated, events = progress(case, callouts, uow.now, waiting)
    uow.emit(*events)
    return updated


def _current(conn: Connection, case: Case) -> list[Callout]:
    return [c for c in repo.callouts_of(conn, case.whistle_id) if c.round == case.round]


# ---------------------------------------------------------------- use cases
def store_matrix(uow: UnitOfWork, rules: Rules) -> str:
    """Records the matrix version this process dispatches with (cases keep theirs)."""
    repo.store_matrix(uow.conn, rules.matrix, uow.now)
    return rules.matrix.version


def on_whistle_raised(uow: UnitOfWork, rules: Rules, event: WhistleRaised) -> int:
    """Locates the whistle and issues its call-outs (or opens an arbitration); once per whistle."""
    if repo.has_case(uow.conn, event.whistle_id):
        return 0
    opened = open_case(event, rules.matrix, rules.reference, rules.areas)
    repo.add_case(uow.conn, opened.case)
    if opened.arbitration is not None:
        _open_arbitration(uow, rules, opened.case, *opened.arbitration)
        return 0
    departments = rules.matrix.assignment(opened.case.street_code, opened.case.category)
    return len(_issue(uow, rules, opened.case, departments, "matrix", position=0, located_by=opened.located_by))


def report(uow: UnitOfWork, rules: Rules, report: DepartmentReport, by: Actor | None = None) -> ReportOutcome:
    """A department's check-in, arrival, completion or return; IllegalStep if it may not happen.
    `by`, the principal that reported it, goes on the step's event (the whistle's timeline shows it)."""
    conn, now = uow.conn, uow.now
    whistle_id = repo.whistle_of_callout(conn, report.callout_id)
    if whistle_id is None:
        raise IllegalStep("callout_id", f"no call-out {report.callout_id}")
    case = repo.lock_case(conn, whistle_id)
    siblings = repo.callouts_of(conn, whistle_id)
    callout = next(c for c in siblings if c.callout_id == report.callout_id)
    tried = tuple(c.department_code for c in siblings if c.round == case.round)
    changed, event, following = act(callout, case, report, now,
                                    repo.matrix_of(conn, rules, case.matrix_version), tried)
    outcome = ReportOutcome(action=type(report).action, request_id=report.request_id,
                            callout_id=report.callout_id, department_code=report.department_code,
                            outcome="accepted", repeated=event is None, occurred_at=now)
    uow.emit(outcome)
    if event is None:
        return outcome
    repo.save_callout(conn, callout, changed)
    repo.stop_clocks(conn, [changed.callout_id], STEP_OF[type(report).action])
    if isinstance(following, Arbitrate):
        arbitration_id = _open_arbitration(uow, rules, case, "returned_without_alternative", following.tried)
        event = event.model_copy(update={"arbitration_id": arbitration_id})
    if by is not None:
        event = event.model_copy(update={"by": by})
    uow.emit(event)
    siblings = [changed if c.callout_id == changed.callout_id else c for c in siblings]
    if isinstance(following, Reroute):
        everyone = tuple(dict.fromkeys((*tried, following.department_code)))
        siblings += _issue(uow, rules, case, (following.department_code,), "rerouted", everyone,
                           role=changed.role, position=len(siblings))
    repo.save_case(conn, case, _progress(uow, case, siblings))
    return outcome


def add_department(uow: UnitOfWork, rules: Rules, command: AddDepartment, by: Actor | None = None) -> str:
    """The district calls one more department onto a running whistle (`by`: the principal who did)."""
    case = repo.lock_case(uow.conn, command.whistle_id)
    if case.status in ("closed", "locating"):
        raise IllegalStep("whistle_id", f"whistle {case.whistle_id} is {case.status}")
    if command.department_code not in rules.names:
        raise IllegalStep("department_code", f"unknown department {command.department_code!r}")
    current = _current(uow.conn, case)
    if any(c.department_code == command.department_code and c.status != "returned" for c in current):
        raise IllegalStep("department_code", f"{command.department_code} is already called on this whistle")
    everyone = tuple(dict.fromkeys((*(c.department_code for c in current), command.department_code)))
    [callout] = _issue(uow, rules, case, (command.department_code,), "added", everyone, by=by)
    repo.save_case(uow.conn, case, reopen_round(case))
    return callout.callout_id


def decide_arbitration(uow: UnitOfWork, rules: Rules, command: DecideArbitration, by: Actor | None = None) -> dict:
    """The district names the grid that owns a disputed place, or the department that takes a return
    (`by`: the principal who decided; `decided_by` stays the free-text name)."""
    conn, now = uow.conn, uow.now
    row = repo.lock_arbitration(conn, command.arbitration_id)
    if row is None:
        raise IllegalStep("arbitration_id", f"no arbitration {command.arbitration_id}")
    if row.status != "open":
        raise IllegalStep("arbitration_id", f"arbitration {command.arbitration_id} is already decided")
    before = repo.lock_case(conn, row.whistle_id)
    if before.status == "closed":
        raise IllegalStep("arbitration_id", f"whistle {before.whistle_id} is closed")
    if row.reason in ("unowned_place", "disputed_place"):
        case = _decide_place(uow, rules, before, command, by)
    else:
        case = _decide_department(uow, rules, before, command, by)
    repo.decide(conn, row.arbitration_id, command.decided_by, now, command.grid_code, command.department_code)
    uow.emit(ArbitrationDecided(
        arbitration_id=row.arbitration_id, whistle_id=case.whistle_id, street_code=case.street_code,
        decided_by=command.decided_by, grid_code=command.grid_code, department_code=command.department_code,
        decided_at=now, occurred_at=now, by=by))
    repo.save_case(conn, before, case)
    return {"arbitration_id": row.arbitration_id, "whistle_id": case.whistle_id}


def _decide_place(uow: UnitOfWork, rules: Rules, case: Case, command: DecideArbitration, by: Actor | None) -> Case:
    if not command.grid_code:
        raise IllegalStep("grid_code", "a place arbitration is decided by naming the grid that owns it")
    owner = rules.reference.street_of_grid(command.grid_code)
    if owner is None:
        raise IllegalStep("grid_code", f"unknown grid {command.grid_code!r}")
    case = replace(case, street_code=owner[0], grid_code=command.grid_code, community_code=owner[1],
                   status="active")
    matrix = repo.matrix_of(uow.conn, rules, case.matrix_version)
    _issue(uow, rules, case, matrix.assignment(case.street_code, case.category), "arbitrated",
           located_by="given", by=by)
    return case


def _decide_department(uow: UnitOfWork, rules: Rules, case: Case, command: DecideArbitration,
                       by: Actor | None) -> Case:
    if not command.department_code or command.department_code not in rules.names:
        raise IllegalStep("department_code", "a returned call-out is decided by naming a known department")
    current = _current(uow.conn, case)
    if any(c.department_code == command.department_code and c.status != "returned" for c in current):
        raise IllegalStep("department_code", f"{command.department_code} is already called on this whistle; "
                          "name the department that should take the returned work")
    everyone = tuple(dict.fromkeys((*(c.department_code for c in current), command.department_code)))
    leads = [c for c in current if c.role == "lead" and c.status != "returned"]
    _issue(uow, rules, case, (command.department_code,), "arbitrated", everyone,
           role="support" if leads else "lead", by=by)
    return reopen_round(case)


def new_round(uow: UnitOfWork, rules: Rules, event: WhistleSentBack | WhistleReopened) -> int:
    """A send-back or a reopening: the named (or all) departments are called again, fresh deadlines."""
    before = case = repo.lock_case(uow.conn, event.whistle_id)
    callouts = repo.callouts_of(uow.conn, case.whistle_id)
    still_open = [c.department_code for c in callouts if c.round == case.round and c.status in OPEN]
    if still_open:
        raise IllegalStep("whistle_id", f"whistle {case.whistle_id} still has open call-outs "
                          f"({', '.join(still_open)}); a new round would orphan them")
    recall = departments_to_recall(callouts, case, getattr(event, "departments", ()))
    if not recall:
        raise IllegalStep("whistle_id", f"whistle {case.whistle_id} has no completed work to redo")
    reason = "sent_back" if isinstance(event, WhistleSentBack) else "reopened"
    case = replace(case, round=case.round + 1, status="active")
    _issue(uow, rules, case, recall, reason)
    repo.save_case(uow.conn, before, case)
    return len(recall)


def on_whistle_closed(uow: UnitOfWork, event: WhistleClosed) -> None:
    """The street closed the whistle: every clock stops, open arbitrations are withdrawn."""
    case = repo.lock_case(uow.conn, event.whistle_id)
    repo.stop_clocks(uow.conn, [c.callout_id for c in repo.callouts_of(uow.conn, case.whistle_id)])
    repo.withdraw_open(uow.conn, case.whistle_id, uow.now)
    repo.save_case(uow.conn, case, replace(case, status="closed"))


def sweep(uow: UnitOfWork, rules: Rules, limit: int = 500) -> int:
    """Escalates every overdue step whose next rung is due; each rung fires exactly once.

    Safe with several replicas: rows are claimed with SKIP LOCKED on PostgreSQL, and each
    escalation is a compare-and-set on the step's level, so a rung another sweep already
    took changes no row and emits nothing."""
    conn, now = uow.conn, uow.now
    fired = _sweep_arbitrations(uow, rules, limit)
    for row in repo.due_steps(conn, now, limit):
        rungs = rules.ladder.due(row.due_at, row.level, row.street_code, now)
        top = rungs[-1].level if rungs else row.level
        if not repo.climb(conn, row.id, row.level, top, rules.ladder.next_at(row.due_at, top)):
            continue
        for rung in rungs:
            uow.emit(CalloutEscalated(
                callout_id=row.callout_id, whistle_id=row.whistle_id, department_code=row.department_code,
                street_code=row.street_code, category=row.category, urgency=row.urgency, issued_at=row.issued_at,
                step=row.step, due_at=row.due_at, level=rung.level, tier=rung.tier, chased_by=rung.chased_by,
                chased_by_name_zh=rung.chased_by_name_zh, escalated_at=now, occurred_at=now))
            fired += 1
    return fired


def _sweep_arbitrations(uow: UnitOfWork, rules: Rules, limit: int) -> int:
    """An arbitration the district did not decide by its deadline goes to the city, once."""
    city = next((t for t in rules.ladder.tiers if t.tier == "city"), rules.ladder.tiers[-1])
    fired = 0
    for row in repo.late_arbitrations(uow.conn, uow.now, limit):
        if repo.mark_overdue(uow.conn, row.arbitration_id):
            uow.emit(ArbitrationOverdue(
                arbitration_id=row.arbitration_id, whistle_id=row.whistle_id, street_code=row.street_code,
                reason=row.reason, decide_by=row.decide_by, chased_by=rules.ladder.owner(city, row.street_code),
                chased_by_name_zh=city.owner_zh, escalated_at=uow.now, occurred_at=uow.now))
            fired += 1
    return fired


# ---------------------------------------------------------------- reads
def callouts_of(conn: Connection, whistle_id: str) -> list[dict]:
    return [repo.jsonable(repo.callout_row(c)) for c in repo.callouts_of(conn, whistle_id)]

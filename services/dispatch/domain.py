"""Dispatch rules, pure: each department's call-out lifecycle, re-routing of returns, and when a case is done.

issued → checked_in → arrived → completed, or issued/checked_in → returned (退单, re-routed or
arbitrated). Every function takes the state and `now` and returns the new state and its events;
an illegal step raises IllegalStep and changes nothing."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from services.common.errors import Conflict
from services.common.events import (AllCheckedIn, AllCompleted, Arrive, CalloutArrived, CalloutCheckedIn,
                                    CalloutCompleted, CalloutIssued, CalloutReturned, CheckIn, Complete,
                                    CalloutsIssued, DepartmentReport, Deadlines, FieldError, IssueReason,
                                    IssuedCallout, Place, Return, WhistleRaised)
from services.common.field_errors import (ALREADY_DONE, DID_NOT_COMPLETE_ROUND, ISSUED_TO_ANOTHER, OLDER_ROUND,
                                          OUT_OF_ORDER, WHISTLE_CLOSED)
from services.common.reference import ReferenceData, UrgencyLevel
from services.common.areas import AreaMap, Located
from services.dispatch.deadlines import IsWorkday, deadlines_for
from services.dispatch.matrix import Matrix

OPEN = ("issued", "checked_in", "arrived")          # a department still owes work
NEXT = {"checkin": ("issued",), "arrival": ("checked_in",), "completion": ("arrived",),
        "return": ("issued", "checked_in")}
DONE_AS = {"checkin": "checked_in", "arrival": "arrived", "completion": "completed", "return": "returned"}
STEP_OF = {"checkin": ("check_in",), "arrival": ("arrival",), "completion": ("completion",),
           "return": ("check_in", "arrival", "completion")}


class IllegalStep(Conflict):
    """A step the call-out's state, its ownership or the case does not allow; changes nothing."""

    def __init__(self, field: str, message: str):
        super().__init__((FieldError(field=field, message=message),))
        self.args = (message,)

    def __str__(self) -> str:
        return self.errors[0].message


@dataclass(frozen=True)
class Case:
    """Dispatch's view of one whistle."""

    whistle_id: str
    street_code: str
    community_code: str | None
    grid_code: str | None
    category: str
    urgency: str
    place: Place
    description: str
    raised_at: datetime
    matrix_version: str
    round: int = 1
    status: str = "active"        # locating | active | all_completed | closed
    all_checked_in_round: int = 0
    all_completed_round: int = 0


@dataclass(frozen=True)
class Callout:
    callout_id: str
    whistle_id: str
    department_code: str
    role: str
    round: int
    status: str                   # issued | checked_in | arrived | completed | returned
    issued_at: datetime
    check_in_by: datetime
    arrival_by: datetime
    completion_by: datetime
    checked_in_at: datetime | None = None
    officer: str | None = None
    arrived_at: datetime | None = None
    completed_at: datetime | None = None
    returned_at: datetime | None = None
    requests: tuple[str, ...] = ()     # "<action>:<request_id>" already applied, for safe retries
    position: int = 0                  # order of issue within the whistle (lead first)


@dataclass(frozen=True)
class Opened:
    """A whistle's case as dispatch opens it: located (and how), or waiting for arbitration."""

    case: Case
    located_by: str | None = None                              # "map" or "given"
    arbitration: tuple[str, tuple[str, ...]] | None = None    # (reason, the grids claiming the place)


def open_case(event: WhistleRaised, matrix: Matrix, reference: ReferenceData, areas: AreaMap | None) -> Opened:
    """Where the whistle is and whose patch that makes it.

    With coordinates and a map, the responsibility map decides the grid, community and street (and
    so who chases it); a place no grid owns, or several claim, waits for arbitration. Without
    coordinates, the grid the street gave (if any) stands."""
    if not matrix.knows(event.category):
        raise IllegalStep("category", f"no responsibility matrix row for {event.category!r}")
    community = grid = None
    street, method, where = event.street_code, "given", None
    if areas is not None and event.place.lon is not None and event.place.lat is not None:
        where, method = areas.locate(event.place.lon, event.place.lat), "map"
        if isinstance(where, Located):
            grid, community, street = where.grid_code, where.community_code, where.street_code
    elif event.grid_code:
        grid = event.grid_code
        community = (reference.street_of_grid(grid) or (None, None))[1]
    locating = where is not None and not isinstance(where, Located)
    case = Case(whistle_id=event.whistle_id, street_code=street, community_code=community, grid_code=grid,
                category=event.category, urgency=event.urgency, place=event.place,
                description=event.description, raised_at=event.raised_at, matrix_version=matrix.version,
                round=1, status="locating" if locating else "active")
    if locating:
        reason = "unowned_place" if where.reason == "unowned" else "disputed_place"
        return Opened(case, arbitration=(reason, where.candidates))
    return Opened(case, located_by=method)


def issue(case: Case, matrix: Matrix, level: UrgencyLevel, is_workday: IsWorkday, now: datetime,
          departments: tuple[str, ...], reason: IssueReason, department_names: dict[str, str],
          all_departments: tuple[str, ...] | None = None, role: str | None = None,
          position: int = 0) -> list[tuple[Callout, CalloutIssued]]:
    """Call-outs for `departments` with deadlines from now: the first of everyone leads, unless a
    `role` is given (a department taking over a returned call-out takes over its role)."""
    deadlines: Deadlines = deadlines_for(level, now, is_workday)
    everyone = all_departments or departments
    lead = everyone[0]
    out = []
    for index, code in enumerate(departments):
        callout = Callout(callout_id=str(uuid.uuid4()), whistle_id=case.whistle_id, department_code=code,
                          role=role or ("lead" if code == lead else "support"), round=case.round,
                          status="issued", issued_at=now, check_in_by=deadlines.check_in_by,
                          arrival_by=deadlines.arrival_by, completion_by=deadlines.completion_by,
                          position=position + index)
        event = CalloutIssued(
            callout_id=callout.callout_id, whistle_id=case.whistle_id, department_code=code,
            department_name_zh=department_names[code], role=callout.role, category=case.category,
            category_name_zh=matrix.category_name(case.category), urgency=case.urgency,
            street_code=case.street_code, grid_code=case.grid_code, place=case.place,
            description=case.description, joint_enforcement=matrix.joint_enforcement(case.category),
            departments=everyone, deadlines=deadlines, issued_at=now, matrix_version=case.matrix_version,
            round=case.round, reason=reason, occurred_at=now)
        out.append((callout, event))
    return out


def announce(case: Case, made: list[tuple[Callout, CalloutIssued]], located_by: str | None,
             now: datetime) -> CalloutsIssued:
    """Dispatch's own announcement of call-outs just issued together (see CalloutsIssued)."""
    first = made[0][1]
    return CalloutsIssued(
        whistle_id=case.whistle_id, street_code=case.street_code, community_code=case.community_code,
        grid_code=case.grid_code, category=case.category, urgency=case.urgency,
        joint_enforcement=first.joint_enforcement, departments=first.departments, round=case.round,
        reason=first.reason, located_by=located_by, place=case.place, description=case.description,
        callouts=tuple(IssuedCallout(callout_id=c.callout_id, department_code=c.department_code,
                                     department_name_zh=e.department_name_zh, role=c.role, deadlines=e.deadlines,
                                     issued_at=c.issued_at) for c, e in made),
        occurred_at=now)


def reopen_round(case: Case) -> Case:
    """A department joins a round already checked in or completed: those must be announced again."""
    return replace(case, status="active" if case.status == "all_completed" else case.status,
                   all_checked_in_round=min(case.all_checked_in_round, case.round - 1),
                   all_completed_round=min(case.all_completed_round, case.round - 1))


def _common(callout: Callout, case: Case) -> dict:
    return dict(callout_id=callout.callout_id, whistle_id=callout.whistle_id, round=callout.round,
                department_code=callout.department_code, street_code=case.street_code,
                category=case.category, urgency=case.urgency, issued_at=callout.issued_at)


def _check(callout: Callout, case: Case, report: DepartmentReport) -> bool:
    """Raises IllegalStep if this report may not act; True if it is one already applied (a retry)."""
    action = type(report).action
    if report.department_code != callout.department_code:
        raise IllegalStep("department_code", ISSUED_TO_ANOTHER.english(
            callout=callout.callout_id, issued_to=callout.department_code, department=report.department_code))
    if report.request_id and f"{action}:{report.request_id}" in callout.requests:
        return True
    if case.status == "closed":
        raise IllegalStep("callout_id", WHISTLE_CLOSED.english(whistle=case.whistle_id))
    if callout.round != case.round and callout.status in OPEN:
        raise IllegalStep("callout_id", OLDER_ROUND.english(callout=callout.callout_id, round=callout.round,
                                                            current=case.round))
    if callout.status not in NEXT[action]:
        if callout.status == DONE_AS[action]:
            raise IllegalStep("callout_id", ALREADY_DONE.english(callout=callout.callout_id, status=callout.status))
        raise IllegalStep("callout_id", OUT_OF_ORDER.english(callout=callout.callout_id, status=callout.status,
                                                             action=action, needed=" or ".join(NEXT[action])))
    return False


def _applied(callout: Callout, report: DepartmentReport, **changes) -> Callout:
    key = f"{type(report).action}:{report.request_id}" if report.request_id else None
    return replace(callout, requests=callout.requests + ((key,) if key else ()), **changes)


@dataclass(frozen=True)
class Reroute:
    department_code: str


@dataclass(frozen=True)
class Arbitrate:
    tried: tuple[str, ...]


def act(callout: Callout, case: Case, report: DepartmentReport, now: datetime, matrix: Matrix,
        tried: tuple[str, ...] = ()):
    """Applies one department report. Returns (callout, event or None if a retry, next step or None).

    `tried` are the departments already called on this case: a return is re-routed to the matrix's
    alternative only if it has not been tried, else it goes to arbitration."""
    if _check(callout, case, report):
        return callout, None, None
    common = _common(callout, case)
    if isinstance(report, CheckIn):
        done = _applied(callout, report, status="checked_in", checked_in_at=now, officer=report.officer)
        return done, CalloutCheckedIn(**common, officer=report.officer, checked_in_at=now,
                                      check_in_by=callout.check_in_by, on_time=now <= callout.check_in_by,
                                      occurred_at=now), None
    if isinstance(report, Arrive):
        done = _applied(callout, report, status="arrived", arrived_at=now)
        return done, CalloutArrived(**common, officer=report.officer, location=report.location,
                                    evidence_ref=report.evidence_ref, arrived_at=now,
                                    arrival_by=callout.arrival_by, on_time=now <= callout.arrival_by,
                                    occurred_at=now), None
    if isinstance(report, Complete):
        done = _applied(callout, report, status="completed", completed_at=now)
        return done, CalloutCompleted(**common, summary=report.summary, evidence_refs=report.evidence_refs,
                                      completed_at=now, completion_by=callout.completion_by,
                                      on_time=now <= callout.completion_by, occurred_at=now), None
    if isinstance(report, Return):
        done = _applied(callout, report, status="returned", returned_at=now)
        alternative = matrix.alternative(case.category, callout.department_code)
        following = Reroute(alternative) if alternative and alternative not in tried \
            else Arbitrate(tuple(sorted(set(tried) | {callout.department_code})))
        event = CalloutReturned(**common, reason=report.reason, returned_at=now,
                                rerouted_to=following.department_code if isinstance(following, Reroute)
                                else None, occurred_at=now)
        return done, event, following
    raise TypeError(f"no rule for {type(report).__name__}")


def may_complete(case: Case, callouts: list[Callout]) -> bool:
    """Whether this round could be all completed now (only then do open arbitrations matter)."""
    current = [c for c in callouts if c.round == case.round and c.status != "returned"]
    return bool(current) and case.all_completed_round < case.round and all(c.status == "completed" for c in current)


def progress(case: Case, callouts: list[Callout], now: datetime, open_arbitrations: int = 0):
    """The case after a change to its call-outs, and the whistle-level events that change causes.

    A return still waiting for the district's arbitration holds back completion: the work it
    stands for has nobody yet."""
    current = [c for c in callouts if c.round == case.round and c.status != "returned"]
    events = []
    if not current:
        return case, events
    if case.all_checked_in_round < case.round and all(c.status not in ("issued",) for c in current):
        case = replace(case, all_checked_in_round=case.round)
        events.append(AllCheckedIn(whistle_id=case.whistle_id, street_code=case.street_code, round=case.round,
                                   departments=tuple(sorted(c.department_code for c in current)),
                                   first_issued_at=min(c.issued_at for c in current),
                                   last_checked_in_at=max(c.checked_in_at or now for c in current),
                                   occurred_at=now))
    if case.all_completed_round < case.round and not open_arbitrations \
            and all(c.status == "completed" for c in current):
        case = replace(case, all_completed_round=case.round, status="all_completed")
        events.append(AllCompleted(whistle_id=case.whistle_id, street_code=case.street_code,
                                   departments=tuple(sorted(c.department_code for c in current)),
                                   round=case.round, completed_at=now, occurred_at=now))
    return case, events


def departments_to_recall(callouts: list[Callout], case: Case, named: tuple[str, ...]) -> tuple[str, ...]:
    """Who is called again after a send-back or a reopening: those named, else all who completed."""
    last = [c for c in callouts if c.round == case.round and c.status == "completed"]
    pool = tuple(dict.fromkeys(c.department_code for c in sorted(last, key=lambda c: c.role != "lead")))
    if not named:
        return pool
    unknown = [d for d in named if d not in pool]
    if unknown:
        raise IllegalStep("departments", DID_NOT_COMPLETE_ROUND.english(departments=", ".join(unknown),
                                                                        round=case.round))
    return tuple(d for d in pool if d in named)


def department_in_routing_key(routing_key: str) -> str | None:
    parts = routing_key.split(".")
    return parts[1] or None if len(parts) == 2 and parts[0] in NEXT else None

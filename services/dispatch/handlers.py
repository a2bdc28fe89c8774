"""Dispatch use cases over the database: fan out, department reports, arbitration, rounds, the escalation sweep."""
from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from services.common.db import unit_of_work
from services.common.events import (AddDepartment, ArbitrationDecided, ArbitrationOpened, ArbitrationOverdue,
                                    CalloutEscalated, DecideArbitration, DepartmentReport, Place, ReportOutcome,
                                    WhistleClosed, WhistleLocated, WhistleRaised, WhistleReopened,
                                    WhistleSentBack)
from services.common.reference import ReferenceData
from services.dispatch.areas import AreaMap, Located
from services.dispatch.deadlines import IsWorkday, due
from services.dispatch.domain import (OPEN, STEP_OF, Arbitrate, Callout, Case, IllegalStep, Reroute, act,
                                      departments_to_recall, issue, progress, reopen_round)
from services.dispatch.escalation import STEPS, Ladder
from services.dispatch.matrix import Matrix
from services.dispatch.orm import arbitrations, callouts, cases, matrix_versions, platform, step_deadlines

CALLOUT_FIELDS = [c.name for c in callouts.columns]
CASE_FIELDS = [c.name for c in cases.columns]


def _case(row) -> Case:
    data = dict(row._mapping)
    data["place"] = Place.model_validate(data["place"])
    return Case(**data)


def _case_row(case: Case) -> dict:
    data = asdict(case)
    data["place"] = case.place.model_dump(mode="json")
    return data


def _callout(row) -> Callout:
    data = dict(row._mapping)
    data["requests"] = tuple(data["requests"] or ())
    return Callout(**data)


def _jsonable(mapping) -> dict:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in mapping.items()}


def _callout_row(callout: Callout) -> dict:
    data = asdict(callout)
    data["requests"] = list(callout.requests)
    return data


@dataclass
class Dispatcher:
    """Everything dispatch's use cases need, passed in: the database, the rules, and the clock's output."""

    factory: sessionmaker
    reference: ReferenceData
    is_workday: IsWorkday
    areas: AreaMap | None = None
    matrix: Matrix = field(init=False)
    ladder: Ladder = field(init=False)
    _matrices: dict = field(default_factory=dict, init=False)

    def __post_init__(self):
        self.matrix = Matrix.from_reference(self.reference)
        self.ladder = Ladder.from_reference(self.reference)
        self.names = {d.code: d.name_zh for d in self.reference.departments}
        self._matrices[self.matrix.version] = self.matrix

    # ------------------------------------------------------------------ matrix versions
    def store_matrix(self, now: datetime) -> str:
        with unit_of_work(self.factory) as session:
            if not session.execute(select(matrix_versions.c.version).where(
                        matrix_versions.c.version == self.matrix.version)).first():
                session.execute(insert(matrix_versions).values(
                    version=self.matrix.version, content=self.matrix.content, loaded_at=now))
        return self.matrix.version

    def matrix_of(self, session: Session, version: str) -> Matrix:
        if version not in self._matrices:
            content = session.execute(select(matrix_versions.c.content).where(
                matrix_versions.c.version == version)).scalar_one()
            self._matrices[version] = Matrix(content)
        return self._matrices[version]

    # ------------------------------------------------------------------ persistence helpers
    def _lock_case(self, session: Session, whistle_id: str) -> Case:
        row = session.execute(select(cases).where(cases.c.whistle_id == whistle_id).with_for_update()).first()
        if row is None:
            raise IllegalStep("whistle_id", f"no whistle {whistle_id} in dispatch")
        return _case(row)

    def _callouts(self, session: Session, whistle_id: str) -> list[Callout]:
        rows = session.execute(select(callouts).where(callouts.c.whistle_id == whistle_id)
                               .order_by(callouts.c.round, callouts.c.position)).all()
        return [_callout(r) for r in rows]

    def _save_case(self, session: Session, case: Case) -> None:
        values = _case_row(case)
        values.pop("whistle_id")
        session.execute(update(cases).where(cases.c.whistle_id == case.whistle_id).values(**values))

    def _save_callout(self, session: Session, callout: Callout) -> None:
        values = _callout_row(callout)
        values.pop("callout_id")
        session.execute(update(callouts).where(callouts.c.callout_id == callout.callout_id).values(**values))

    def _issue(self, session: Session, case: Case, departments: tuple[str, ...], reason, now: datetime,
               everyone: tuple[str, ...] | None = None, role: str | None = None) -> list[Callout]:
        matrix = self.matrix_of(session, case.matrix_version)
        level = self.reference.urgencies[case.urgency]
        position = session.execute(select(func.count()).select_from(callouts).where(
            callouts.c.whistle_id == case.whistle_id)).scalar_one()
        made = issue(case, matrix, level, self.is_workday, now, departments, reason, self.names, everyone,
                     role, position)
        for callout, event in made:
            session.execute(insert(callouts).values(**_callout_row(callout)))
            for step, due_at in zip(STEPS, (callout.check_in_by, callout.arrival_by, callout.completion_by)):
                session.execute(insert(step_deadlines).values(
                    callout_id=callout.callout_id, step=step, due_at=due_at, done=False, level=0,
                    next_at=self.ladder.next_at(due_at, 0)))
            platform.stage(session, event)
        return [c for c, _ in made]

    def _open_arbitration(self, session: Session, case: Case, reason: str, candidates: tuple[str, ...],
                          now: datetime) -> str:
        arbitration_id = str(uuid.uuid4())
        decide_by = due(now, self.reference.arbitration.decide_within, self.is_workday)
        session.execute(insert(arbitrations).values(
            arbitration_id=arbitration_id, whistle_id=case.whistle_id, reason=reason,
            candidates=list(candidates), opened_at=now, decide_by=decide_by, status="open"))
        platform.stage(session, ArbitrationOpened(
            arbitration_id=arbitration_id, whistle_id=case.whistle_id, street_code=case.street_code,
            category=case.category, reason=reason, candidates=candidates, decide_by=decide_by,
            occurred_at=now))
        return arbitration_id

    def _stop_clocks(self, session: Session, callout_id: str, steps: tuple[str, ...]) -> None:
        session.execute(update(step_deadlines).where(
            step_deadlines.c.callout_id == callout_id, step_deadlines.c.step.in_(steps))
            .values(done=True, next_at=None))

    def _progress(self, session: Session, case: Case, now: datetime) -> Case:
        waiting = session.execute(select(arbitrations.c.arbitration_id).where(
            arbitrations.c.whistle_id == case.whistle_id, arbitrations.c.status == "open",
            arbitrations.c.reason == "returned_without_alternative")).all()
        updated, events = progress(case, self._callouts(session, case.whistle_id), now, len(waiting))
        for event in events:
            platform.stage(session, event)
        return updated

    # ------------------------------------------------------------------ use cases
    def on_whistle_raised(self, event: WhistleRaised, now: datetime, consumer: str) -> int:
        """Locates the whistle and issues its call-outs (or opens an arbitration); once per whistle."""
        with unit_of_work(self.factory) as session:
            if not platform.first_time(session, consumer, event.event_id, now):
                return 0
            if session.execute(select(cases.c.whistle_id).where(
                    cases.c.whistle_id == event.whistle_id)).first():
                return 0
            if not self.matrix.knows(event.category):
                raise IllegalStep("category", f"no responsibility matrix row for {event.category!r}")
            community = grid = None
            street = event.street_code
            located = "given"
            where = None
            if self.areas is not None and event.place.lon is not None and event.place.lat is not None:
                where = self.areas.locate(event.place.lon, event.place.lat)
                located = "map"
                if isinstance(where, Located):
                    # the responsibility map decides whose patch it is, and so who chases it
                    grid, community, street = where.grid_code, where.community_code, where.street_code
            elif event.grid_code:
                grid = event.grid_code
                community = (self.reference.street_of_grid(grid) or (None, None))[1]
            case = Case(whistle_id=event.whistle_id, street_code=street, community_code=community,
                        grid_code=grid, category=event.category, urgency=event.urgency, place=event.place,
                        description=event.description, raised_at=event.raised_at,
                        matrix_version=self.matrix.version, round=1,
                        status="active" if where is None or isinstance(where, Located) else "locating")
            session.execute(insert(cases).values(**_case_row(case)))
            if case.status == "locating":
                reason = "unowned_place" if where.reason == "unowned" else "disputed_place"
                self._open_arbitration(session, case, reason, where.candidates, now)
                return 0
            platform.stage(session, WhistleLocated(
                whistle_id=case.whistle_id, street_code=case.street_code, community_code=community,
                grid_code=grid, method=located, occurred_at=now))
            departments = self.matrix.assignment(case.street_code, case.category)
            return len(self._issue(session, case, departments, "matrix", now))

    def report(self, report: DepartmentReport, now: datetime) -> ReportOutcome:
        """A department's check-in, arrival, completion or return; IllegalStep if it may not happen."""
        action = type(report).action
        with unit_of_work(self.factory) as session:
            whistle_id = session.execute(select(callouts.c.whistle_id).where(
                callouts.c.callout_id == report.callout_id)).scalar()
            if whistle_id is None:
                raise IllegalStep("callout_id", f"no call-out {report.callout_id}")
            case = self._lock_case(session, whistle_id)
            siblings = self._callouts(session, whistle_id)
            callout = next(c for c in siblings if c.callout_id == report.callout_id)
            matrix = self.matrix_of(session, case.matrix_version)
            tried = tuple(c.department_code for c in siblings if c.round == case.round)
            changed, event, following = act(callout, case, report, now, matrix, tried)
            outcome = ReportOutcome(action=action, request_id=report.request_id, callout_id=report.callout_id,
                                    department_code=report.department_code, outcome="accepted",
                                    repeated=event is None, occurred_at=now)
            platform.stage(session, outcome)
            if event is None:
                return outcome
            self._save_callout(session, changed)
            self._stop_clocks(session, changed.callout_id, STEP_OF[action])
            if isinstance(following, Arbitrate):
                arbitration_id = self._open_arbitration(session, case, "returned_without_alternative",
                                                        following.tried, now)
                event = event.model_copy(update={"arbitration_id": arbitration_id})
            platform.stage(session, event)
            if isinstance(following, Reroute):
                everyone = tuple(dict.fromkeys((*tried, following.department_code)))
                self._issue(session, case, (following.department_code,), "rerouted", now, everyone,
                            role=changed.role)
            case = self._progress(session, case, now)
            self._save_case(session, case)
            return outcome

    def add_department(self, command: AddDepartment, now: datetime) -> str:
        with unit_of_work(self.factory) as session:
            case = self._lock_case(session, command.whistle_id)
            if case.status in ("closed", "locating"):
                raise IllegalStep("whistle_id", f"whistle {case.whistle_id} is {case.status}")
            if command.department_code not in self.names:
                raise IllegalStep("department_code", f"unknown department {command.department_code!r}")
            current = [c for c in self._callouts(session, case.whistle_id) if c.round == case.round]
            if any(c.department_code == command.department_code and c.status != "returned" for c in current):
                raise IllegalStep("department_code",
                                  f"{command.department_code} is already called on this whistle")
            everyone = tuple(dict.fromkeys((*(c.department_code for c in current), command.department_code)))
            [callout] = self._issue(session, case, (command.department_code,), "added", now, everyone)
            self._save_case(session, reopen_round(case))
            return callout.callout_id

    def decide_arbitration(self, command: DecideArbitration, now: datetime) -> dict:
        with unit_of_work(self.factory) as session:
            row = session.execute(select(arbitrations).where(
                arbitrations.c.arbitration_id == command.arbitration_id).with_for_update()).first()
            if row is None:
                raise IllegalStep("arbitration_id", f"no arbitration {command.arbitration_id}")
            if row.status != "open":
                raise IllegalStep("arbitration_id", f"arbitration {command.arbitration_id} is already decided")
            case = self._lock_case(session, row.whistle_id)
            if case.status == "closed":
                raise IllegalStep("arbitration_id", f"whistle {case.whistle_id} is closed")
            place_dispute = row.reason in ("unowned_place", "disputed_place")
            if place_dispute:
                if not command.grid_code:
                    raise IllegalStep("grid_code", "a place arbitration is decided by naming the grid that owns it")
                owner = self.reference.street_of_grid(command.grid_code)
                if owner is None:
                    raise IllegalStep("grid_code", f"unknown grid {command.grid_code!r}")
                case = replace(case, street_code=owner[0], grid_code=command.grid_code, community_code=owner[1],
                               status="active")
                platform.stage(session, WhistleLocated(
                    whistle_id=case.whistle_id, street_code=case.street_code, community_code=owner[1],
                    grid_code=command.grid_code, method="given", occurred_at=now))
                matrix = self.matrix_of(session, case.matrix_version)
                self._issue(session, case, matrix.assignment(case.street_code, case.category), "arbitrated", now)
            else:
                if not command.department_code or command.department_code not in self.names:
                    raise IllegalStep("department_code",
                                      "a returned call-out is decided by naming a known department")
                current = [c for c in self._callouts(session, case.whistle_id) if c.round == case.round]
                everyone = tuple(dict.fromkeys((*(c.department_code for c in current), command.department_code)))
                leads = [c for c in current if c.role == "lead" and c.status != "returned"]
                self._issue(session, case, (command.department_code,), "arbitrated", now, everyone,
                            role="support" if leads else "lead")
                case = reopen_round(case)
            session.execute(update(arbitrations).where(arbitrations.c.arbitration_id == row.arbitration_id)
                            .values(status="decided", decided_by=command.decided_by, decided_at=now,
                                    grid_code=command.grid_code, department_code=command.department_code))
            platform.stage(session, ArbitrationDecided(
                arbitration_id=row.arbitration_id, whistle_id=case.whistle_id, street_code=case.street_code,
                decided_by=command.decided_by, grid_code=command.grid_code,
                department_code=command.department_code, decided_at=now, occurred_at=now))
            self._save_case(session, case)
            return {"arbitration_id": row.arbitration_id, "whistle_id": case.whistle_id}

    def new_round(self, event: WhistleSentBack | WhistleReopened, now: datetime, consumer: str) -> int:
        """A send-back or a reopening: the named (or all) departments are called again, fresh deadlines."""
        with unit_of_work(self.factory) as session:
            if not platform.first_time(session, consumer, event.event_id, now):
                return 0
            case = self._lock_case(session, event.whistle_id)
            still_open = [c.department_code for c in self._callouts(session, case.whistle_id)
                          if c.round == case.round and c.status in OPEN]
            if still_open:
                raise IllegalStep("whistle_id", f"whistle {case.whistle_id} still has open call-outs "
                                  f"({', '.join(still_open)}); a new round would orphan them")
            named = getattr(event, "departments", ())
            recall = departments_to_recall(self._callouts(session, case.whistle_id), case, named)
            if not recall:
                raise IllegalStep("whistle_id", f"whistle {case.whistle_id} has no completed work to redo")
            reason = "sent_back" if isinstance(event, WhistleSentBack) else "reopened"
            case = replace(case, round=case.round + 1, status="active")
            self._issue(session, case, recall, reason, now)
            self._save_case(session, case)
            return len(recall)

    def on_whistle_closed(self, event: WhistleClosed, now: datetime, consumer: str) -> None:
        with unit_of_work(self.factory) as session:
            if not platform.first_time(session, consumer, event.event_id, now):
                return
            case = self._lock_case(session, event.whistle_id)
            ids = [c.callout_id for c in self._callouts(session, case.whistle_id)]
            if ids:
                session.execute(update(step_deadlines).where(step_deadlines.c.callout_id.in_(ids))
                                .values(done=True, next_at=None))
            session.execute(update(arbitrations).where(arbitrations.c.whistle_id == case.whistle_id,
                                                       arbitrations.c.status == "open").values(
                status="withdrawn", decided_at=now, decided_by="(whistle closed)"))
            self._save_case(session, replace(case, status="closed"))

    def sweep(self, now: datetime, limit: int = 500) -> int:
        """Escalates every overdue step whose next rung is due; each rung fires exactly once.

        Safe with several replicas: rows are claimed with SKIP LOCKED on PostgreSQL, and each
        escalation is a compare-and-set on the step's level, so a rung another sweep already
        took changes no row and emits nothing."""
        fired = 0
        with unit_of_work(self.factory) as session:
            fired += self._sweep_arbitrations(session, now, limit)
            rows = session.execute(
                select(step_deadlines, callouts.c.whistle_id, callouts.c.department_code, callouts.c.issued_at,
                       callouts.c.status.label("callout_status"), cases.c.street_code, cases.c.category,
                       cases.c.urgency)
                .join(callouts, callouts.c.callout_id == step_deadlines.c.callout_id)
                .join(cases, cases.c.whistle_id == callouts.c.whistle_id)
                .where(step_deadlines.c.done.is_(False), step_deadlines.c.next_at < now)
                .order_by(step_deadlines.c.next_at).limit(limit)
                .with_for_update(skip_locked=True, of=step_deadlines)).all()
            for row in rows:
                rungs = self.ladder.due(row.due_at, row.level, row.street_code, now)
                top = rungs[-1].level if rungs else row.level
                claimed = session.execute(
                    update(step_deadlines)
                    .where(and_(step_deadlines.c.id == row.id, step_deadlines.c.level == row.level,
                                step_deadlines.c.done.is_(False)))
                    .values(level=top, next_at=self.ladder.next_at(row.due_at, top))).rowcount
                if claimed != 1:
                    continue
                for rung in rungs:
                    platform.stage(session, CalloutEscalated(
                        callout_id=row.callout_id, whistle_id=row.whistle_id,
                        department_code=row.department_code, street_code=row.street_code,
                        category=row.category, urgency=row.urgency, issued_at=row.issued_at, step=row.step,
                        due_at=row.due_at, level=rung.level, tier=rung.tier, chased_by=rung.chased_by,
                        chased_by_name_zh=rung.chased_by_name_zh, escalated_at=now, occurred_at=now))
                    fired += 1
        return fired

    def _sweep_arbitrations(self, session: Session, now: datetime, limit: int) -> int:
        """An arbitration the district did not decide by its deadline goes to the city, once."""
        late = session.execute(
            select(arbitrations.c.arbitration_id, arbitrations.c.whistle_id, arbitrations.c.reason,
                   arbitrations.c.decide_by, cases.c.street_code)
            .join(cases, cases.c.whistle_id == arbitrations.c.whistle_id)
            .where(arbitrations.c.status == "open", arbitrations.c.overdue.is_(False),
                   arbitrations.c.decide_by < now)
            .limit(limit).with_for_update(skip_locked=True, of=arbitrations)).all()
        city = next((t for t in self.ladder.tiers if t.tier == "city"), self.ladder.tiers[-1])
        fired = 0
        for row in late:
            claimed = session.execute(update(arbitrations).where(
                arbitrations.c.arbitration_id == row.arbitration_id, arbitrations.c.overdue.is_(False))
                .values(overdue=True)).rowcount
            if claimed == 1:
                platform.stage(session, ArbitrationOverdue(
                    arbitration_id=row.arbitration_id, whistle_id=row.whistle_id, street_code=row.street_code,
                    reason=row.reason, decide_by=row.decide_by, chased_by=self.ladder.owner(city, row.street_code),
                    chased_by_name_zh=city.owner_zh, escalated_at=now, occurred_at=now))
                fired += 1
        return fired

    # ------------------------------------------------------------------ queries
    def callouts_of(self, whistle_id: str) -> list[dict]:
        with unit_of_work(self.factory) as session:
            return [_jsonable(_callout_row(c)) for c in self._callouts(session, whistle_id)]

    def case_of(self, whistle_id: str) -> dict | None:
        with unit_of_work(self.factory) as session:
            row = session.execute(select(cases).where(cases.c.whistle_id == whistle_id)).first()
            if row is None:
                return None
            return _jsonable(row._mapping)

    def open_arbitrations(self) -> list[dict]:
        with unit_of_work(self.factory) as session:
            rows = session.execute(select(arbitrations).where(arbitrations.c.status == "open")
                                   .order_by(arbitrations.c.decide_by)).all()
            return [_jsonable(r._mapping) for r in rows]

    def overdue(self, now: datetime) -> list[dict]:
        """Steps past their deadline and not done: the district leader's 督办 list."""
        with unit_of_work(self.factory) as session:
            rows = session.execute(
                select(step_deadlines.c.callout_id, step_deadlines.c.step, step_deadlines.c.due_at,
                       step_deadlines.c.level, callouts.c.whistle_id, callouts.c.department_code,
                       cases.c.street_code)
                .join(callouts, callouts.c.callout_id == step_deadlines.c.callout_id)
                .join(cases, cases.c.whistle_id == callouts.c.whistle_id)
                .where(step_deadlines.c.done.is_(False), step_deadlines.c.due_at <= now,
                       callouts.c.status.in_(OPEN))
                .order_by(step_deadlines.c.due_at)).all()
            return [_jsonable(r._mapping) for r in rows]

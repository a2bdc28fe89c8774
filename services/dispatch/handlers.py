"""Dispatch use cases: fan a raised whistle out to call-outs; take a department's check-in."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import sessionmaker

from services.common.db import unit_of_work
from services.common.events import AllCheckedIn, CheckIn, CheckInOutcome, WhistleRaised
from services.common.reference import ReferenceData
from services.dispatch.deadlines import IsWorkday
from services.dispatch.domain import Callout, IllegalStep, check_in, plan_callouts
from services.dispatch.orm import callouts, platform

RAISED_CONSUMER = "dispatch.whistles"
CALLOUT_FIELDS = ("callout_id", "whistle_id", "department_code", "street_code", "category", "urgency",
                  "status", "issued_at", "check_in_by", "checked_in_at", "officer", "checkin_request_id")


def dispatch_whistle(factory: sessionmaker, reference: ReferenceData, is_workday: IsWorkday,
                     event: WhistleRaised, now: datetime) -> int:
    """Issues the whistle's call-outs once; returns how many were issued (0 on a redelivery)."""
    with unit_of_work(factory) as session:
        if not platform.first_time(session, RAISED_CONSUMER, event.event_id, now):
            return 0
        if session.execute(select(callouts.c.callout_id).where(
                callouts.c.whistle_id == event.whistle_id).limit(1)).first():
            return 0    # the same whistle announced twice under two event ids
        planned = plan_callouts(event, reference, is_workday, now)
        for issued in planned:
            session.execute(insert(callouts).values(
                callout_id=issued.callout_id, whistle_id=issued.whistle_id,
                department_code=issued.department_code, role=issued.role,
                street_code=issued.street_code, category=issued.category, urgency=issued.urgency,
                status="issued", matrix_version=issued.matrix_version, issued_at=issued.issued_at,
                check_in_by=issued.deadlines.check_in_by, arrival_by=issued.deadlines.arrival_by,
                completion_by=issued.deadlines.completion_by))
            platform.stage(session, issued)
        return len(planned)


def take_check_in(factory: sessionmaker, command: CheckIn, now: datetime) -> CheckInOutcome:
    """Records a check-in (or recognises the same one again); IllegalStep if it may not happen."""
    with unit_of_work(factory) as session:
        whistle_id = session.execute(select(callouts.c.whistle_id).where(
            callouts.c.callout_id == command.callout_id)).scalar()
        if whistle_id is None:
            raise IllegalStep("callout_id", f"no call-out {command.callout_id}")
        # Lock every call-out of the whistle, so two last check-ins cannot both miss "all checked in".
        rows = session.execute(select(*[callouts.c[f] for f in CALLOUT_FIELDS])
                               .where(callouts.c.whistle_id == whistle_id)
                               .order_by(callouts.c.callout_id).with_for_update()).all()
        siblings = {r.callout_id: Callout(**r._mapping) for r in rows}
        callout, event = check_in(siblings[command.callout_id], command, now)
        outcome = CheckInOutcome(request_id=command.request_id, callout_id=command.callout_id,
                                 department_code=command.department_code, outcome="accepted",
                                 repeated=event is None, occurred_at=now)
        platform.stage(session, outcome)
        if event is None:
            return outcome
        session.execute(update(callouts).where(callouts.c.callout_id == callout.callout_id).values(
            status=callout.status, checked_in_at=now, officer=callout.officer,
            checkin_request_id=callout.checkin_request_id))
        platform.stage(session, event)
        siblings[callout.callout_id] = callout
        if all(c.status != "issued" for c in siblings.values()):
            first = min(siblings.values(), key=lambda c: c.issued_at)
            platform.stage(session, AllCheckedIn(
                whistle_id=whistle_id, street_code=callout.street_code,
                departments=tuple(sorted(c.department_code for c in siblings.values())),
                first_issued_at=first.issued_at, last_checked_in_at=now, occurred_at=now))
        return outcome


def callouts_of(factory: sessionmaker, whistle_id: str) -> list[dict]:
    with unit_of_work(factory) as session:
        rows = session.execute(select(callouts).where(callouts.c.whistle_id == whistle_id)
                               .order_by(callouts.c.role, callouts.c.department_code)).all()
        return [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r._mapping.items()}
                for r in rows]

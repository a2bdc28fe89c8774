"""Dispatch rules, pure: who is called for a whistle, with which deadlines, and what a check-in may do."""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from services.common.events import (CalloutCheckedIn, CalloutIssued, CheckIn, FieldError, WhistleRaised)
from services.common.reference import ReferenceData
from services.dispatch.deadlines import IsWorkday, deadlines_for


class IllegalStep(ValueError):
    """A department action the call-out's state or ownership does not allow; changes nothing."""

    def __init__(self, field: str, message: str):
        self.errors = (FieldError(field=field, message=message),)
        super().__init__(message)


def matrix_version(reference: ReferenceData) -> str:
    """A stable fingerprint of the responsibility matrix a case was dispatched under."""
    rows = sorted((c.code, c.lead, tuple(c.support), c.joint_enforcement) for c in reference.categories)
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:12]


def plan_callouts(whistle: WhistleRaised, reference: ReferenceData, is_workday: IsWorkday,
                  now: datetime) -> list[CalloutIssued]:
    """One call-out per responsible department, lead first, each with its deadlines."""
    category = reference.category(whistle.category)
    if category is None:
        raise IllegalStep("category", f"no responsibility matrix row for {whistle.category!r}")
    departments = (category.lead, *category.support)
    deadlines = deadlines_for(reference.urgencies[whistle.urgency], whistle.raised_at, is_workday)
    version = matrix_version(reference)
    return [
        CalloutIssued(
            callout_id=str(uuid.uuid4()), whistle_id=whistle.whistle_id, department_code=code,
            department_name_zh=reference.department(code).name_zh,
            role="lead" if code == category.lead else "support",
            category=category.code, category_name_zh=category.name_zh, urgency=whistle.urgency,
            street_code=whistle.street_code, grid_code=whistle.grid_code, place=whistle.place,
            description=whistle.description, joint_enforcement=category.joint_enforcement,
            departments=departments, deadlines=deadlines, issued_at=now, matrix_version=version,
            occurred_at=now)
        for code in departments
    ]


@dataclass(frozen=True)
class Callout:
    callout_id: str
    whistle_id: str
    department_code: str
    street_code: str
    category: str
    urgency: str
    status: str                 # issued | checked_in
    issued_at: datetime
    check_in_by: datetime
    checked_in_at: datetime | None = None
    officer: str | None = None
    checkin_request_id: str | None = None


def check_in(callout: Callout, command: CheckIn, now: datetime) -> tuple[Callout, CalloutCheckedIn | None]:
    """The call-out after a check-in and the event it causes; None when it is the same check-in again."""
    if command.department_code != callout.department_code:
        raise IllegalStep("department_code", f"call-out {callout.callout_id} was issued to "
                          f"{callout.department_code}, not {command.department_code}")
    if callout.status != "issued":
        if command.request_id and command.request_id == callout.checkin_request_id:
            return callout, None
        raise IllegalStep("callout_id", f"call-out {callout.callout_id} is already {callout.status}")
    done = replace(callout, status="checked_in", checked_in_at=now, officer=command.officer,
                   checkin_request_id=command.request_id)
    return done, CalloutCheckedIn(
        callout_id=callout.callout_id, whistle_id=callout.whistle_id,
        department_code=callout.department_code, street_code=callout.street_code,
        category=callout.category, urgency=callout.urgency, officer=command.officer,
        issued_at=callout.issued_at, checked_in_at=now, check_in_by=callout.check_in_by,
        on_time=now <= callout.check_in_by, occurred_at=now)


def department_in_routing_key(routing_key: str) -> str | None:
    parts = routing_key.split(".")
    return parts[1] if len(parts) == 2 and parts[0] == "checkin" else None

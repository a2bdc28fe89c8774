"""Builders of assessment facts for the unit tests: a call-out, a case, a follow-up in one line."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Optional
from zoneinfo import ZoneInfo

from services.common.reference import load_reference
from services.common.workdays import chinese_workdays
from services.metrics.assessment import (AssessmentRules, CalloutFact, Context, EscalationFact, FollowUpFact,
                                         ReturnFact, WhistleFact)

SHANGHAI = ZoneInfo("Asia/Shanghai")
_ids = itertools.count(1)


def at(*args) -> datetime:
    """A Shanghai wall-clock instant: at(2025, 10, 9, 10, 0)."""
    return datetime(*args, tzinfo=SHANGHAI)


def context(rules: AssessmentRules | None = None, **rule_overrides) -> Context:
    rules = rules or AssessmentRules(**rule_overrides)
    return Context.from_reference(load_reference(), rules, chinese_workdays())


def callout(department: str = "chengguan", issued: datetime = None, *, street: str = "daxigou",
            whistle: Optional[str] = None, checked_in: Optional[timedelta] = None,
            arrived: Optional[timedelta] = None, completed: Optional[timedelta] = None,
            check_in: timedelta = timedelta(minutes=30), arrival: timedelta = timedelta(minutes=30),
            completion: timedelta = timedelta(hours=24), category: str = "illegal_construction",
            urgency: str = "urgent", ident: Optional[str] = None) -> CalloutFact:
    """A call-out issued at `issued`; step times are offsets from it (None: not done)."""
    issued = issued or at(2025, 10, 9, 10, 0)
    n = next(_ids)

    def step(offset, span):
        if offset is None:
            return None, None
        return issued + offset, offset <= span
    ci, ci_ok = step(checked_in, check_in)
    ar, ar_ok = step(arrived, arrival)
    co, co_ok = step(completed, completion)
    return CalloutFact(
        callout_id=ident or f"c{n}", whistle_id=whistle or f"w{n}", department=department, street=street,
        category=category, urgency=urgency, issued_at=issued, check_in_by=issued + check_in,
        arrival_by=issued + arrival, completion_by=issued + completion,
        checked_in_at=ci, check_in_on_time=ci_ok, arrived_at=ar, arrival_on_time=ar_ok,
        completed_at=co, completion_on_time=co_ok)


def prompt(department: str = "chengguan", issued: datetime = None, **kw) -> CalloutFact:
    """A call-out done by the book: checked in at 10 min, on site at 25 min, completed at 5 h."""
    return callout(department, issued, checked_in=timedelta(minutes=10), arrived=timedelta(minutes=25),
                   completed=timedelta(hours=5), **kw)


def whistle(ident: str, raised: datetime, *, street: str = "daxigou", urgency: str = "urgent",
            category: str = "illegal_construction", place: str = "daxigou-c1-g1",
            closures: tuple = (), reopenings: tuple = ()) -> WhistleFact:
    return WhistleFact(whistle_id=ident, street=street, category=category, urgency=urgency,
                       source="grid_patrol", raised_at=raised, place=place, closures=tuple(closures),
                       reopenings=tuple(reopenings))


def follow_up(whistle_id: str, rating: str, recorded: datetime, *, street: str = "daxigou",
              reopened: bool = False) -> FollowUpFact:
    return FollowUpFact(follow_up_id=f"f{next(_ids)}", whistle_id=whistle_id, street=street, rating=rating,
                        recorded_at=recorded, reopened=reopened)


def returned(c: CalloutFact, after: timedelta, verdict: str) -> ReturnFact:
    return ReturnFact(callout_id=c.callout_id, whistle_id=c.whistle_id, department=c.department,
                      street=c.street, returned_at=c.issued_at + after, verdict=verdict, reason="不属本部门职责")


def escalation(c: CalloutFact, tier: str, after: timedelta, step: str = "check_in") -> EscalationFact:
    return EscalationFact(escalation_id=f"e{next(_ids)}", callout_id=c.callout_id, whistle_id=c.whistle_id,
                          department=c.department, street=c.street, step=step, tier=tier,
                          escalated_at=c.issued_at + after)

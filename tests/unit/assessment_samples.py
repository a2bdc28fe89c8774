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


def demo_month(seed: int = 2025):
    """A plausible October 2025 in the demo district: 120 cases, departments of varying diligence."""
    import random

    from services.metrics.assessment import Decision, FactRef, PeriodFacts

    rnd = random.Random(seed)
    reference = load_reference()
    diligence = {d.code: 0.55 + 0.45 * rnd.random() for d in reference.departments}
    diligence["shuiwu"] = 0.3                       # one department that rarely answers in time
    callouts, returns, escalations, whistles, follow_ups = [], [], [], [], []
    for n in range(120):
        street = rnd.choice(reference.streets)
        category = rnd.choice(reference.categories)
        grid = rnd.choice([g.code for c in street.communities for g in c.grids][:3])
        urgency = rnd.choices(("emergency", "urgent", "normal", "complex"), (1, 3, 6, 1))[0]
        raised = at(2025, 10, 1) + timedelta(minutes=rnd.randrange(0, 30 * 24 * 60))
        wid = f"w{n:03d}"
        lead, support = reference.assignment(street.code, category.code)
        level = reference.urgencies[urgency]
        done = True
        for department in (lead, *support):
            d = diligence[department]
            check = timedelta(minutes=rnd.randint(3, 25)) if rnd.random() < d else (
                timedelta(minutes=rnd.randint(31, 300)) if rnd.random() < 0.7 else None)
            arrive = check + timedelta(minutes=rnd.randint(5, 40)) if check else None
            complete = arrive + timedelta(hours=rnd.randint(1, 30)) if arrive and rnd.random() < 0.9 else None
            done = done and complete is not None
            completion = level.completion.as_timedelta() or timedelta(days=9)
            c = callout(department, raised + timedelta(minutes=1), street=street.code, whistle=wid,
                        ident=f"{wid}-{department}", checked_in=check, arrived=arrive, completed=complete,
                        category=category.code, urgency=urgency, check_in=timedelta(minutes=30),
                        arrival=level.arrival.as_timedelta(), completion=completion)
            callouts.append(c)
            if check is None:
                escalations.append(escalation(c, "street", timedelta(minutes=30)))
                escalations.append(escalation(c, "district", timedelta(minutes=60)))
                if rnd.random() < 0.5:
                    escalations.append(escalation(c, "city", timedelta(minutes=150)))
            elif rnd.random() < 0.04:
                returns.append(returned(c, check, rnd.choice(("rerouted", "justified", "unjustified"))))
        closures = (raised + timedelta(hours=rnd.randint(4, 60)),) if done else ()
        reopen = bool(closures) and rnd.random() < 0.08
        whistles.append(whistle(wid, raised, street=street.code, urgency=urgency, category=category.code,
                                place=grid, closures=closures,
                                reopenings=(closures[0] + timedelta(hours=30),) if reopen else ()))
        if closures:
            rating = "unsatisfied" if reopen else rnd.choices(("satisfied", "basically_satisfied"), (8, 2))[0]
            follow_ups.append(follow_up(wid, rating, closures[0] + timedelta(hours=24), street=street.code,
                                        reopened=reopen))
    first_city = next(e for e in escalations if e.tier == "city")
    decisions = (Decision("exemption", FactRef("callout", first_city.callout_id), "暴雨红色预警，道路中断",
                          "区考核办 李明", at(2025, 11, 3, 10)),
                 Decision("appeal", FactRef("whistle", "w007"), "申诉：非本辖区事项", "区考核办 李明",
                          at(2025, 11, 3, 11), upheld=False, requested_by="daxigou"))
    return PeriodFacts(tuple(callouts), tuple(returns), tuple(escalations), tuple(whistles), tuple(follow_ups),
                       decisions)

"""Roster gaps escalated like a missed deadline (督办): a department with nobody for a joint team.

The roster announces a gap once (roster.gap) and keeps trying to fill it; dispatch gives the gap a
clock from when it was found and climbs the same escalation ladder as a missed step, one
RosterGapEscalated per rung, until the roster assigns someone from that department
(team.officer_assigned) or releases it from the team (team.released). A gap announced again after
it had been filled starts a new clock. Safe with several replicas: rows are claimed with SKIP
LOCKED and every climb is a compare-and-set on the level."""
from __future__ import annotations

from sqlalchemy import and_, bindparam, insert, select, update

from services.common.events import Event, OfficerAssigned, RosterGap, RosterGapEscalated, TeamReleased
from services.common.uow import UnitOfWork
from services.dispatch.orm import roster_gaps
from services.dispatch.rules import Rules

_KEY = and_(roster_gaps.c.team_id == bindparam("b_team_id"),
            roster_gaps.c.department_code == bindparam("b_department_code"))
_FIND = select(roster_gaps).where(_KEY)
_INSERT = insert(roster_gaps)
# a clock ends when someone is assigned after the gap was found, or the department leaves the team
_END = update(roster_gaps).where(_KEY, roster_gaps.c.ended_at.is_(None),
                                 roster_gaps.c.detected_at <= bindparam("b_at")).values(
    ended_at=bindparam("b_at"), next_at=None)
_RESTART = update(roster_gaps).where(_KEY).values(
    detected_at=bindparam("v_detected_at"), ended_at=None, level=0, next_at=bindparam("v_next_at"),
    reason=bindparam("v_reason"), round=bindparam("v_round"))
_CLIMB = update(roster_gaps).where(_KEY, roster_gaps.c.level == bindparam("b_level"),
                                   roster_gaps.c.ended_at.is_(None)).values(
    level=bindparam("v_level"), next_at=bindparam("v_next_at"))


def _key(event) -> dict:
    return {"b_team_id": event.team_id, "b_department_code": event.department_code}


def on_team_events(uow: UnitOfWork, rules: Rules, events: list[Event]) -> None:
    """Starts a clock per roster gap; ends it when the department gets a member or is released."""
    conn = uow.conn
    for event in events:
        if isinstance(event, RosterGap):
            _gap(uow, rules, event)
        elif isinstance(event, OfficerAssigned):
            conn.execute(_END, {**_key(event), "b_at": event.assigned_at})
        elif isinstance(event, TeamReleased):
            conn.execute(_END, {**_key(event), "b_at": event.released_at})


def _gap(uow: UnitOfWork, rules: Rules, gap: RosterGap) -> None:
    conn = uow.conn
    first = rules.ladder.next_at(gap.detected_at, 0)
    row = conn.execute(_FIND, _key(gap)).first()
    if row is None:
        conn.execute(_INSERT, {
            "team_id": gap.team_id, "department_code": gap.department_code, "kind": gap.kind,
            "whistle_id": gap.whistle_id, "operation_code": gap.operation_code, "occurrence_id": gap.occurrence_id,
            "street_code": gap.street_code, "category": gap.category, "urgency": gap.urgency, "round": gap.round,
            "reason": gap.reason, "detected_at": gap.detected_at, "ended_at": None, "level": 0, "next_at": first})
    elif row.ended_at is not None and gap.detected_at > row.ended_at:
        # filled (or released) since the last gap, and empty again: a new gap, a new clock
        conn.execute(_RESTART, {**_key(gap), "v_detected_at": gap.detected_at, "v_next_at": first,
                                "v_reason": gap.reason, "v_round": gap.round})


def _due(limit: int):
    return (select(roster_gaps).where(roster_gaps.c.ended_at.is_(None), roster_gaps.c.next_at.is_not(None),
                                      roster_gaps.c.next_at < bindparam("now"))
            .order_by(roster_gaps.c.next_at).limit(limit)
            .with_for_update(skip_locked=True))


def sweep(uow: UnitOfWork, rules: Rules, limit: int = 200) -> int:
    """Escalates every open roster gap whose next rung is due; each rung fires exactly once."""
    conn, now, ladder = uow.conn, uow.now, rules.ladder
    fired = 0
    for row in conn.execute(_due(limit), {"now": now}).all():
        chaser_street = row.street_code or ladder.district_code      # a district-wide operation: the district
        rungs = ladder.due(row.detected_at, row.level, chaser_street, now)
        top = rungs[-1].level if rungs else row.level
        climbed = conn.execute(_CLIMB, {"b_team_id": row.team_id, "b_department_code": row.department_code,
                                        "b_level": row.level, "v_level": top,
                                        "v_next_at": ladder.next_at(row.detected_at, top)}).rowcount == 1
        if not climbed:
            continue
        for rung in rungs:
            uow.emit(RosterGapEscalated(
                team_id=row.team_id, kind=row.kind, whistle_id=row.whistle_id, operation_code=row.operation_code,
                occurrence_id=row.occurrence_id, street_code=row.street_code, category=row.category,
                round=row.round, department_code=row.department_code, urgency=row.urgency, reason=row.reason,
                detected_at=row.detected_at, level=rung.level, tier=rung.tier, chased_by=rung.chased_by,
                chased_by_name_zh=rung.chased_by_name_zh, escalated_at=now, occurred_at=now))
            fired += 1
    return fired

"""Reads and writes of the tables below the whistle, for the use cases in grid_handlers and grid_follow.

Every function takes the unit of work's connection; a state is stored whole (grid_orm.state_values) after
the pure rules decided it, with one timeline row per entry."""
from __future__ import annotations

import zlib
from datetime import datetime
from typing import Iterable, Sequence

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import Connection

from services.common.db import is_postgres
from services.common.events import PersonalContact, iso
from services.whistle.domain import TimelineEntry
from services.whistle.grid_event import Decision, GridEventState, NoSuchGridEvent
from services.whistle.grid_orm import (contact_values, line_values, state_of, state_values, ticket_of,
                                       ticket_values)
from services.whistle.hotline import TicketRecord
from services.whistle.orm import complainant_contacts, grid_event_timeline, grid_events, hotline_tickets, timeline


def by_request(conn: Connection, street_code: str, request_id: str) -> GridEventState | None:
    row = conn.execute(select(grid_events).where(grid_events.c.street_code == street_code,
                                                 grid_events.c.request_id == request_id)).first()
    return state_of(row._mapping) if row else None


def by_ticket(conn: Connection, ticket_id: str) -> GridEventState | None:
    row = conn.execute(select(grid_events).where(grid_events.c.ticket_id == ticket_id)).first()
    return state_of(row._mapping) if row else None


def get(conn: Connection, grid_event_id: str) -> tuple[GridEventState, datetime] | None:
    """The state and when it last changed, or None."""
    row = conn.execute(select(grid_events).where(grid_events.c.id == grid_event_id)).first()
    return (state_of(row._mapping), row.updated_at) if row else None


def locked(conn: Connection, grid_event_id: str) -> GridEventState:
    """The state, its row locked until the unit of work ends; NoSuchGridEvent (404) if there is none."""
    row = conn.execute(select(grid_events).where(grid_events.c.id == grid_event_id).with_for_update()).first()
    if row is None:
        raise NoSuchGridEvent.one("grid_event_id", f"no grid event {grid_event_id}")
    return state_of(row._mapping)


def reports_today(conn: Connection, grid_code: str, sources: Sequence[str], start: datetime, end: datetime) -> int:
    """The grid's reports from `sources` in [start, end), the daily cap's count. On PostgreSQL the grid's
    reports take turns until the transaction ends, so two at once do not both count themselves third."""
    if is_postgres(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(f"grid:{grid_code}".encode())})
    return conn.execute(select(func.count()).select_from(grid_events).where(
        grid_events.c.grid_code == grid_code, grid_events.c.source.in_(tuple(sources)),
        grid_events.c.opened_at >= start, grid_events.c.opened_at < end)).scalar_one()


def insert_new(conn: Connection, decision: Decision, now: datetime) -> None:
    state = decision.state
    conn.execute(insert(grid_events).values(request_id=state.requests[0], **state_values(state, now)))
    add_lines(conn, state.event_id, decision)


def save(conn: Connection, decision: Decision, now: datetime) -> None:
    values = state_values(decision.state, now)
    del values["id"]
    conn.execute(update(grid_events).where(grid_events.c.id == decision.state.event_id).values(**values))
    add_lines(conn, decision.state.event_id, decision)


def add_lines(conn: Connection, grid_event_id: str, decision: Decision) -> None:
    """The decision's timeline entries; the first carries the id of the decision's first event."""
    first = decision.events[0].event_id if decision.events else None
    rows = [line_values(grid_event_id, entry, first if n == 0 else None) for n, entry in enumerate(decision.entries)]
    if rows:
        conn.execute(insert(grid_event_timeline), rows)


def add_entry(conn: Connection, grid_event_id: str, entry: TimelineEntry, event_id: str | None = None) -> None:
    conn.execute(insert(grid_event_timeline), [line_values(grid_event_id, entry, event_id)])


def lines_of(conn: Connection, grid_event_id: str) -> list:
    return conn.execute(select(grid_event_timeline).where(grid_event_timeline.c.grid_event_id == grid_event_id)
                        .order_by(grid_event_timeline.c.at, grid_event_timeline.c.id)).all()


def entries_of(conn: Connection, grid_event_id: str) -> list[TimelineEntry]:
    return [TimelineEntry(r.at, r.kind, r.actor, r.summary, r.detail) for r in lines_of(conn, grid_event_id)]


def add_to_whistle_timeline(conn: Connection, whistle_id: str, entry: TimelineEntry) -> None:
    """A line of the whistle's own timeline (grid_event.history_on_whistle)."""
    conn.execute(insert(timeline), [{
        "whistle_id": whistle_id, "at": entry.at, "kind": entry.kind, "actor": entry.actor, "summary": entry.summary,
        "detail": entry.detail, "event_id": None, "message": entry.message, "params": entry.params}])


def by_whistle(conn: Connection, whistle_ids: Iterable[str]) -> list[GridEventState]:
    """The grid events following these whistles, their rows locked, in id order."""
    ids = sorted(set(whistle_ids))
    if not ids:
        return []
    rows = conn.execute(select(grid_events).where(grid_events.c.whistle_id.in_(ids)).order_by(grid_events.c.id)
                        .with_for_update()).all()
    return [state_of(r._mapping) for r in rows]


# ---------------------------------------------------------------- the sweep

def overdue_candidates(conn: Connection, now: datetime, limit: int, after: str = "") -> list[GridEventState]:
    """Events past their tier's accept or handle deadline, by id from after `after` (unlocked: the sweep
    decides, then locks). A street already chased for its deadline stays among them; the rules skip it."""
    c = grid_events.c
    rows = conn.execute(select(grid_events).where(
        ((c.status == "reported") & (c.accept_by < now)) | ((c.status == "accepted") & (c.handle_by < now)),
        c.id > after).order_by(c.id).limit(limit)).all()
    return [state_of(r._mapping) for r in rows]


def lock_skipping(conn: Connection, ids: Sequence[str]) -> list[GridEventState]:
    """These events' rows, locked; rows another replica holds are skipped (PostgreSQL SKIP LOCKED)."""
    if not ids:
        return []
    rows = conn.execute(select(grid_events).where(grid_events.c.id.in_(list(ids))).order_by(grid_events.c.id)
                        .with_for_update(skip_locked=True)).all()
    return [state_of(r._mapping) for r in rows]


# ---------------------------------------------------------------- 12345 tickets, contacts

def insert_ticket(conn: Connection, record: TicketRecord, contact: PersonalContact | None, now: datetime) -> None:
    conn.execute(insert(hotline_tickets).values(**ticket_values(record)))
    if contact is not None:
        insert_contact(conn, contact, now)


def insert_contact(conn: Connection, contact: PersonalContact, now: datetime) -> None:
    conn.execute(insert(complainant_contacts).values(**contact_values(contact, now)))


def locked_ticket(conn: Connection, ticket_id: str) -> TicketRecord | None:
    row = conn.execute(select(hotline_tickets).where(hotline_tickets.c.ticket_id == ticket_id)
                       .with_for_update()).first()
    return ticket_of(row._mapping) if row else None


def ticket(conn: Connection, ticket_id: str) -> TicketRecord | None:
    row = conn.execute(select(hotline_tickets).where(hotline_tickets.c.ticket_id == ticket_id)).first()
    return ticket_of(row._mapping) if row else None


def save_ticket(conn: Connection, record: TicketRecord) -> None:
    conn.execute(update(hotline_tickets).where(hotline_tickets.c.ticket_id == record.ticket_id)
                 .values(answers=record.answers))


def contacts_of(conn: Connection, grid_event_id: str) -> list[dict]:
    rows = conn.execute(select(complainant_contacts).where(complainant_contacts.c.grid_event_id == grid_event_id)
                        .order_by(complainant_contacts.c.id)).all()
    return [{"channel": r.channel, "name": r.name, "phone": r.phone, "email": r.email, "device_id": r.device_id,
             "account_id": r.account_id, "created_at": iso(r.created_at)} for r in rows]


# ---------------------------------------------------------------- Open311's list

def service_requests(conn: Connection, ids: Sequence[str] | None, codes: Sequence[str] | None, start: datetime,
                     end: datetime, statuses: Sequence[str], street_code: str | None,
                     limit: int) -> list[tuple[GridEventState, datetime]]:
    """Grid events for GET requests.json: by id (nothing else applies), or opened in [start, end] with the
    statuses, codes and street asked for; newest first."""
    c = grid_events.c
    query = select(grid_events)
    if ids:
        query = query.where(c.id.in_(list(ids)))
    else:
        query = query.where(c.opened_at >= start, c.opened_at <= end, c.status.in_(list(statuses)))
        if codes:
            query = query.where(c.category.in_(list(codes)))
        if street_code is not None:
            query = query.where(c.street_code == street_code)
    rows = conn.execute(query.order_by(c.opened_at.desc(), c.id).limit(limit)).all()
    return [(state_of(r._mapping), r.updated_at) for r in rows]

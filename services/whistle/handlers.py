"""Whistle use cases: raise (idempotent, or linked to an open duplicate), progress, closure, send-back, reads.

Each takes the unit of work it runs in (services/common/uow.py): reads and writes go through
`uow.conn`, events through `uow.emit`, and the clock's reading is `uow.now`."""
from __future__ import annotations

import uuid
import zlib
from dataclasses import replace
from datetime import datetime

from sqlalchemy import and_, insert, or_, select, text, update
from sqlalchemy.engine import Connection

from services.common.db import is_postgres
from services.common.events import (CloseWhistle, Event, FollowUp, RaiseWhistle, SendBack, WhistleLinked,
                                    WhistleOutcome, WhistleRaised, iso)
from services.common.geo import bounding_box
from services.common.i18n import DEFAULT_LANGUAGE
from services.common.reference import ReferenceData
from services.common.sql import update_by_key
from services.common.uow import UnitOfWork
from services.whistle import domain, grid_follow
from services.whistle.domain import (NOT_OPEN, Candidate, InvalidWhistle, NoSuchWhistle, TimelineEntry,
                                     WhistleState, check_against_reference, duplicate_of)
from services.whistle.orm import timeline, whistles
from services.whistle.timeline import render_timeline


_INSERT_LINE = insert(timeline)


def _line(whistle_id: str, entry: TimelineEntry, event_id: str | None = None) -> dict:
    return {"whistle_id": whistle_id, "at": entry.at, "kind": entry.kind, "actor": entry.actor,
            "summary": entry.summary, "detail": entry.detail, "event_id": event_id, "message": entry.message,
            "params": entry.params}


def _add_line(conn: Connection, whistle_id: str, entry: TimelineEntry, event_id: str | None = None) -> None:
    conn.execute(_INSERT_LINE, _line(whistle_id, entry, event_id))


def attributed(entry: TimelineEntry, by: dict | None) -> TimelineEntry:
    """The line with who took its action: `detail["principal"]` = {kind, code, token_id} of the
    authenticated principal (absent when nobody vouched for the sender: an unchecked bus message)."""
    return entry if by is None else replace(entry, detail={**entry.detail, "principal": by})


def _open_duplicate(conn: Connection, command: RaiseWhistle, radius_m: float) -> tuple[str, float] | None:
    lon, lat = command.place.lon, command.place.lat
    if lon is None or lat is None or radius_m <= 0:
        return None
    if is_postgres(conn):
        # two reports of one problem at the same moment would each see no open whistle and both call
        # the departments: reports of one category take turns until their transaction ends
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(command.category.encode())})
    min_lon, min_lat, max_lon, max_lat = bounding_box(lon, lat, radius_m)
    rows = conn.execute(
        select(whistles.c.id, whistles.c.category, whistles.c.status, whistles.c.lon, whistles.c.lat)
        .where(whistles.c.category == command.category, whistles.c.status.not_in(NOT_OPEN),
               whistles.c.lat.between(min_lat, max_lat), whistles.c.lon.between(min_lon, max_lon))
        .order_by(whistles.c.raised_at, whistles.c.id)).all()
    return duplicate_of(command.category, lon, lat, (Candidate(*row) for row in rows), radius_m)


def raise_whistle(uow: UnitOfWork, reference: ReferenceData, command: RaiseWhistle,
                  by: dict | None = None) -> WhistleOutcome:
    """Stores a new whistle and announces it; links it to an open one close by instead; answers retries.
    `by` is who raised it (attributed()).

    Two requests with one request_id at the same moment: one wins the unique key, the other's unit
    of work fails with IntegrityError, and run again (a retry, or the bus's redelivery) it answers
    `repeated`."""
    errors = check_against_reference(command, reference)
    if errors:
        raise InvalidWhistle(errors)
    conn, now = uow.conn, uow.now
    existing = conn.execute(select(whistles.c.id, whistles.c.linked_to).where(
        whistles.c.street_code == command.street_code, whistles.c.request_id == command.request_id)).first()
    if existing:
        outcome = WhistleOutcome(request_id=command.request_id, street_code=command.street_code,
                                 outcome="raised", whistle_id=existing.id, linked_to=existing.linked_to,
                                 repeated=True, occurred_at=now)
        uow.emit(outcome)
        return outcome
    return _store_new(uow, reference, command, by)


def _store_new(uow: UnitOfWork, reference: ReferenceData, command: RaiseWhistle,
               by: dict | None) -> WhistleOutcome:
    conn, now = uow.conn, uow.now
    whistle_id = str(uuid.uuid4())
    duplicate = _open_duplicate(conn, command, reference.duplicate_radius_m)
    linked_to, metres = duplicate if duplicate else (None, None)
    conn.execute(insert(whistles).values(
        id=whistle_id, request_id=command.request_id, street_code=command.street_code,
        grid_code=command.grid_code, category=command.category, urgency=command.urgency,
        source=command.source, description=command.description, address=command.place.address,
        lon=command.place.lon, lat=command.place.lat, reported_by=command.reported_by,
        status="linked" if linked_to else "raised", round=1, round_started_at=now, completed=[],
        linked_to=linked_to, raised_at=now, updated_at=now))
    if linked_to is None:
        raised = WhistleRaised(whistle_id=whistle_id, raised_at=now, occurred_at=now,
                               **command.model_dump(exclude={"schema_version"}))
        _add_line(conn, whistle_id, attributed(domain.raised_line(raised, reference), by), raised.event_id)
        uow.emit(raised)
    else:
        # no WhistleRaised: dispatch must not call the departments a second time
        linked = WhistleLinked(whistle_id=whistle_id, linked_to=linked_to, street_code=command.street_code,
                               category=command.category, distance_m=round(metres, 1), occurred_at=now)
        own, joined = domain.linked_lines(command, linked, now, reference)
        _add_line(conn, whistle_id, attributed(own, by), linked.event_id)
        _add_line(conn, linked_to, attributed(joined, by))
        uow.emit(linked)
    outcome = WhistleOutcome(request_id=command.request_id, street_code=command.street_code, outcome="raised",
                             whistle_id=whistle_id, linked_to=linked_to, occurred_at=now)
    uow.emit(outcome)
    return outcome


# ---------------------------------------------------------------- the status machine's inputs

def _lock(conn: Connection, whistle_id: str):
    return conn.execute(select(whistles).where(whistles.c.id == whistle_id).with_for_update()).first()


def _state(row) -> WhistleState:
    return WhistleState(whistle_id=row.id, street_code=row.street_code, status=row.status, round=row.round,
                        round_started_at=row.round_started_at, completed=tuple(row.completed or ()),
                        followed_up=row.follow_up is not None, linked_to=row.linked_to)


def _state_changes(before: WhistleState, after: WhistleState) -> dict:
    changes = {"status": after.status, "round": after.round, "round_started_at": after.round_started_at,
               "completed": list(after.completed)}
    old = {"status": before.status, "round": before.round, "round_started_at": before.round_started_at,
           "completed": list(before.completed)}
    return {k: v for k, v in changes.items() if old[k] != v}


def _save(conn: Connection, state: WhistleState, now: datetime, **more) -> None:
    conn.execute(update(whistles).where(whistles.c.id == state.whistle_id).values(
        status=state.status, round=state.round, round_started_at=state.round_started_at,
        completed=list(state.completed), updated_at=now, **more))


def record_progress(uow: UnitOfWork, reference: ReferenceData, events: list[Event]) -> None:
    """Moves each whistle's status for dispatch and roster events, a timeline line per event.

    One read and one write per whistle, however many of its events the batch holds; rows are
    locked in id order, so two batches never wait on each other crosswise. A planned operation's team
    events name no whistle: they are not a whistle's."""
    events = [e for e in events if e.whistle_id is not None]
    if not events:
        return
    ids = sorted({e.whistle_id for e in events})
    rows = uow.conn.execute(select(whistles).where(whistles.c.id.in_(ids)).order_by(whistles.c.id)
                            .with_for_update()).all()
    before = {row.id: _state(row) for row in rows}
    states = dict(before)
    lines = []
    for event in events:
        if event.whistle_id not in states:
            raise NoSuchWhistle.one("whistle_id", f"no whistle {event.whistle_id} for {event.event_type}")
        states[event.whistle_id], entries = domain.apply_progress(states[event.whistle_id], event, reference)
        # the event's id marks its first line (a second write of it would break the unique key)
        lines += [_line(event.whistle_id, entry, event.event_id if n == 0 else f"{event.event_id}:{n}")
                  for n, entry in enumerate(entries)]
    uow.conn.execute(_INSERT_LINE, lines)
    update_by_key(uow.conn, whistles, "id", [
        (whistle_id, {**_state_changes(before[whistle_id], state), "updated_at": uow.now})
        for whistle_id, state in states.items()])


def _locked_state(conn: Connection, whistle_id: str) -> WhistleState:
    row = _lock(conn, whistle_id)
    if row is None:
        raise NoSuchWhistle.one("whistle_id", f"no whistle {whistle_id}")
    return _state(row)


def close_whistle(uow: UnitOfWork, reference: ReferenceData, command: CloseWhistle,
                  by: dict | None = None) -> WhistleState:
    """销号, storing its evidence; the last follow-up belongs to the last closure, so it is cleared."""
    conn, now = uow.conn, uow.now
    state = _locked_state(conn, command.whistle_id)
    state, closed, entry = domain.close(state, command, now, reference)
    _add_line(conn, state.whistle_id, attributed(entry, by), closed.event_id)
    uow.emit(closed)
    grid_follow.follow_whistle(uow, [closed])            # grid events whistled onto it close with it
    _save(conn, state, now, follow_up=None,
          closure={"round": state.round, "confirmed_by": command.confirmed_by, "closed_at": iso(now),
                   "evidence": command.evidence.model_dump(mode="json")})
    return state


def send_back(uow: UnitOfWork, reference: ReferenceData, command: SendBack, by: dict | None = None) -> WhistleState:
    conn, now = uow.conn, uow.now
    state = _locked_state(conn, command.whistle_id)
    state, sent, entry = domain.send_back(state, command, reference.department_codes, now, reference)
    _add_line(conn, state.whistle_id, attributed(entry, by), sent.event_id)
    uow.emit(sent)
    _save(conn, state, now)
    return state


def record_follow_up(uow: UnitOfWork, reference: ReferenceData, command: FollowUp,
                     by: dict | None = None) -> WhistleState:
    conn, now = uow.conn, uow.now
    state = _locked_state(conn, command.whistle_id)
    state, events, entries = domain.follow_up(state, command, now, reference)
    for event, entry in zip(events, entries):
        _add_line(conn, state.whistle_id, attributed(entry, by), event.event_id)
        uow.emit(event)
    grid_follow.follow_whistle(uow, events)              # reopened: so are the grid events whistled onto it
    _save(conn, state, now, follow_up={"rating": command.rating, "comment": command.comment,
                                          "recorded_by": command.recorded_by, "reopen": command.reopen,
                                          "recorded_at": iso(now)})
    return state


# ---------------------------------------------------------------- reads

def _whistle_dict(conn: Connection, row) -> dict:
    data = dict(row._mapping)
    for key in ("raised_at", "updated_at", "round_started_at"):
        data[key] = iso(data[key])
    data["place"] = {"address": data.pop("address"), "lon": data.pop("lon"), "lat": data.pop("lat")}
    data["completed"] = list(data["completed"] or ())
    data["linked"] = list(conn.execute(select(whistles.c.id).where(whistles.c.linked_to == row.id)
                                          .order_by(whistles.c.raised_at, whistles.c.id)).scalars())
    return data


def street_of(conn: Connection, whistle_id: str) -> str | None:
    """The street a whistle belongs to (for the object-level access check), None if there is no such whistle."""
    return conn.execute(select(whistles.c.street_code).where(whistles.c.id == whistle_id)).scalar()


def get_whistle(conn: Connection, whistle_id: str) -> dict | None:
    row = conn.execute(select(whistles).where(whistles.c.id == whistle_id)).first()
    return _whistle_dict(conn, row) if row else None


def list_whistles(conn: Connection, street_code: str | None, status: str | None, limit: int,
                  after: tuple[datetime, str] | None = None) -> list[dict]:
    """A street's (or every street's) whistles, newest first (then by id, descending), at most `limit`;
    `after` is the (raised_at, id) of the last whistle of the previous page (keyset paging)."""
    query = select(whistles)
    if street_code is not None:
        query = query.where(whistles.c.street_code == street_code)
    if status is not None:
        query = query.where(whistles.c.status == status)
    if after is not None:
        raised_at, whistle_id = after
        query = query.where(or_(whistles.c.raised_at < raised_at,
                                and_(whistles.c.raised_at == raised_at, whistles.c.id < whistle_id)))
    rows = conn.execute(query.order_by(whistles.c.raised_at.desc(), whistles.c.id.desc()).limit(limit)).all()
    return [_whistle_dict(conn, row) for row in rows]


def get_timeline(conn: Connection, whistle_id: str, reference: ReferenceData | None = None,
                 lang: str = DEFAULT_LANGUAGE) -> list[dict] | None:
    """Every line of a whistle's timeline, by time and then by the order they were written, its summary
    in `lang` (rendered from the line's message key and parameters; as stored for older lines)."""
    if conn.execute(select(whistles.c.id).where(whistles.c.id == whistle_id)).first() is None:
        return None
    rows = conn.execute(select(timeline).where(timeline.c.whistle_id == whistle_id)
                        .order_by(timeline.c.at, timeline.c.id)).all()
    summaries = render_timeline([r._mapping for r in rows], lang, reference)
    return [{"at": iso(r.at), "kind": r.kind, "actor": r.actor, "summary": summary, "detail": r.detail}
            for r, summary in zip(rows, summaries)]

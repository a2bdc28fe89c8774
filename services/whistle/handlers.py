"""Whistle use cases: raise (idempotent per street and request id), record progress, read."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.common.consumer import Rejected
from services.common.db import unit_of_work
from services.common.events import Event, RaiseWhistle, WhistleOutcome, WhistleRaised
from services.common.reference import ReferenceData
from services.whistle.domain import InvalidWhistle, apply_progress, check_against_reference
from services.whistle.orm import platform, timeline, whistles

PROGRESS_CONSUMER = "whistle.progress"


def _existing(session: Session, command: RaiseWhistle):
    return session.execute(select(whistles.c.id).where(
        whistles.c.street_code == command.street_code,
        whistles.c.request_id == command.request_id)).scalar()


def raise_whistle(factory: sessionmaker, reference: ReferenceData, command: RaiseWhistle,
                  now: datetime) -> WhistleOutcome:
    """Stores a new whistle with its first timeline line and events, or answers a retried request."""
    errors = check_against_reference(command, reference)
    if errors:
        raise InvalidWhistle(errors)
    for _ in range(2):  # a concurrent twin of this request may win the unique key: then read its result
        try:
            with unit_of_work(factory) as session:
                existing = _existing(session, command)
                if existing:
                    outcome = WhistleOutcome(request_id=command.request_id, street_code=command.street_code,
                                             outcome="raised", whistle_id=existing, repeated=True)
                    platform.stage(session, outcome)
                    return outcome
                whistle_id = str(uuid.uuid4())
                session.execute(insert(whistles).values(
                    id=whistle_id, request_id=command.request_id, street_code=command.street_code,
                    grid_code=command.grid_code, category=command.category, urgency=command.urgency,
                    source=command.source, description=command.description,
                    address=command.place.address, lon=command.place.lon, lat=command.place.lat,
                    reported_by=command.reported_by, status="raised", raised_at=now, updated_at=now))
                raised = WhistleRaised(whistle_id=whistle_id, raised_at=now, occurred_at=now,
                                       **command.model_dump(exclude={"schema_version"}))
                session.execute(insert(timeline).values(
                    whistle_id=whistle_id, at=now, kind=raised.event_type, actor=command.reported_by,
                    summary=f"{command.street_code} raised a {command.urgency} whistle: {command.category}",
                    detail={"source": command.source, "request_id": command.request_id},
                    event_id=raised.event_id))
                outcome = WhistleOutcome(request_id=command.request_id, street_code=command.street_code,
                                         outcome="raised", whistle_id=whistle_id, occurred_at=now)
                platform.stage(session, raised)
                platform.stage(session, outcome)
                return outcome
        except IntegrityError:
            continue
    raise RuntimeError(f"request {command.request_id} neither stored nor found")


def record_progress(factory: sessionmaker, event: Event, now: datetime) -> bool:
    """Adds a dispatch or roster event to its whistle's timeline; False if seen before."""
    with unit_of_work(factory) as session:
        if not platform.first_time(session, PROGRESS_CONSUMER, event.event_id, now):
            return False
        row = session.execute(select(whistles.c.status).where(whistles.c.id == event.whistle_id)
                              .with_for_update()).first()
        if row is None:
            raise Rejected(f"no whistle {event.whistle_id} for {event.event_type}")
        status, entry = apply_progress(row.status, event)
        session.execute(insert(timeline).values(
            whistle_id=event.whistle_id, at=entry.at, kind=entry.kind, actor=entry.actor,
            summary=entry.summary, detail=entry.detail, event_id=event.event_id))
        session.execute(update(whistles).where(whistles.c.id == event.whistle_id)
                        .values(status=status, updated_at=now))
        return True


def _whistle_dict(row) -> dict:
    data = dict(row._mapping)
    for key in ("raised_at", "updated_at"):
        data[key] = data[key].isoformat()
    data["place"] = {"address": data.pop("address"), "lon": data.pop("lon"), "lat": data.pop("lat")}
    return data


def get_whistle(factory: sessionmaker, whistle_id: str) -> dict | None:
    with unit_of_work(factory) as session:
        row = session.execute(select(whistles).where(whistles.c.id == whistle_id)).first()
        return _whistle_dict(row) if row else None


def find_by_request(factory: sessionmaker, street_code: str, request_id: str) -> dict | None:
    with unit_of_work(factory) as session:
        row = session.execute(select(whistles).where(whistles.c.street_code == street_code,
                                                     whistles.c.request_id == request_id)).first()
        return _whistle_dict(row) if row else None


def get_timeline(factory: sessionmaker, whistle_id: str) -> list[dict] | None:
    with unit_of_work(factory) as session:
        if session.execute(select(whistles.c.id).where(whistles.c.id == whistle_id)).first() is None:
            return None
        rows = session.execute(select(timeline).where(timeline.c.whistle_id == whistle_id)
                               .order_by(timeline.c.at, timeline.c.id)).all()
        return [{"at": r.at.isoformat(), "kind": r.kind, "actor": r.actor, "summary": r.summary,
                 "detail": r.detail} for r in rows]

"""The tables below the whistle on a real SQLite database: a state, a ticket, a contact and a line survive the
round trip; a street's request id, and a ticket id, are each one event."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, insert, select
from sqlalchemy.exc import IntegrityError

from services.whistle.grid_event import accept, open_event
from services.whistle.grid_orm import (contact_values, line_values, state_of, state_values, ticket_of,
                                       ticket_values)
from services.whistle.hotline import receive_ticket
from services.whistle.orm import complainant_contacts, grid_event_timeline, grid_events, hotline_tickets, metadata
from tests.support.grid_samples import T0, accepting, minutes, opening, rules, ticket

RULES = rules()


@pytest.fixture()
def engine(tmp_path):
    created = create_engine(f"sqlite:///{tmp_path / 'whistle.db'}")
    metadata.create_all(created)
    yield created
    created.dispose()


def test_a_state_survives_the_round_trip(engine):
    state = accept(open_event(opening(), "e-1", RULES, T0).state, accepting("grid"), RULES, minutes(5)).state
    with engine.begin() as db:
        db.execute(insert(grid_events).values(request_id="open-1", **state_values(state, minutes(5))))
        row = db.execute(select(grid_events)).one()
    assert state_of(row._mapping) == state
    assert row.updated_at == minutes(5)


def test_a_ticket_its_contact_and_its_lines_are_stored_apart(engine):
    intake = receive_ticket(ticket(), "e-1", RULES, T0)
    with engine.begin() as db:
        db.execute(insert(grid_events).values(request_id="ticket-x", **state_values(intake.decision.state, T0)))
        db.execute(insert(hotline_tickets).values(**ticket_values(intake.ticket)))
        db.execute(insert(complainant_contacts).values(**contact_values(intake.contact, T0)))
        for entry in intake.decision.entries:
            db.execute(insert(grid_event_timeline).values(**line_values("e-1", entry)))
        assert ticket_of(db.execute(select(hotline_tickets)).one()._mapping) == intake.ticket
        assert db.execute(select(complainant_contacts.c.phone)).scalar_one() == intake.contact.phone
        event_row = db.execute(select(grid_events)).one()._mapping
        lines = db.execute(select(grid_event_timeline.c.summary, grid_event_timeline.c.detail)).all()
    assert intake.contact.phone not in repr(dict(event_row)) and intake.contact.phone not in repr(lines)
    assert [d["text"]["key"] for _, d in lines] == ["opened", "verification_needed", "ticket_received"]


def _clashes(engine, first: dict, second: dict) -> None:
    with engine.begin() as db:
        db.execute(insert(grid_events).values(**first))
    with pytest.raises(IntegrityError):
        with engine.begin() as db:
            db.execute(insert(grid_events).values(**second))
    with engine.connect() as db:
        assert db.execute(select(grid_events.c.id)).scalars().all() == [first["id"]]


def test_a_streets_request_id_is_one_event(engine):
    values = state_values(open_event(opening(), "e-1", RULES, T0).state, T0)
    _clashes(engine, {**values, "request_id": "open-1"}, {**values, "id": "e-2", "request_id": "open-1"})


def test_a_ticket_id_is_one_event(engine):
    values = state_values(open_event(opening(), "e-1", RULES, T0).state, T0)
    _clashes(engine, {**values, "request_id": "ticket-a", "ticket_id": "T-1"},
             {**values, "id": "e-2", "request_id": "ticket-b", "ticket_id": "T-1"})

"""A whistled grid event follows its whistle, and a 12345 ticket is answered when its event is closed.

Called inside the unit of work of the step that caused it (a whistle's closure or follow-up, a tier's
closure, a false report), so the event, its ticket's answer and the whistle commit together."""
from __future__ import annotations

from typing import Iterable

from services.common.events import Event, GridEventClosed, WhistleClosed, WhistleReopened
from services.common.uow import UnitOfWork
from services.whistle import grid_store, hotline
from services.whistle.grid_event import Decision, GridEventState, Rules, whistle_closed, whistle_reopened
from services.whistle.grid_rules import process_rules


def record(uow: UnitOfWork, rules: Rules, decision: Decision) -> None:
    """Stores a decision on an existing event, announces its events, and answers its ticket if it closed it."""
    grid_store.save(uow.conn, decision, uow.now)
    uow.emit(*decision.events)
    if any(isinstance(e, GridEventClosed) for e in decision.events):
        answer_ticket(uow, rules, decision.state)


def answer_ticket(uow: UnitOfWork, rules: Rules, state: GridEventState) -> None:
    """接诉即办: the closed event's answer, with its 签收 and 办结 times, to the hotline (if it is a ticket)."""
    if state.ticket_id is None:
        return
    ticket = grid_store.locked_ticket(uow.conn, state.ticket_id)
    if ticket is None:
        return
    answered, ticket, entry = hotline.answer(ticket, state, rules, uow.now)
    grid_store.save_ticket(uow.conn, ticket)
    grid_store.add_entry(uow.conn, state.event_id, entry, answered.event_id)
    uow.emit(answered)


def follow_whistle(uow: UnitOfWork, events: Iterable[Event], rules: Rules | None = None) -> None:
    """The grid events whistled onto a whistle just closed (销号) are closed with it; those of a whistle just
    reopened (an unsatisfied follow-up) are open on it again. Other events change nothing."""
    followed = [e for e in events if isinstance(e, (WhistleClosed, WhistleReopened))]
    if not followed:
        return
    rules = rules or process_rules()
    for state in grid_store.by_whistle(uow.conn, (e.whistle_id for e in followed)):
        for event in followed:
            if event.whistle_id != state.whistle_id:
                continue
            decision = whistle_closed(state, event) if isinstance(event, WhistleClosed) \
                else whistle_reopened(state, event)
            if not decision.repeated:
                record(uow, rules, decision)
                state = decision.state

"""接诉即办 (12345 tickets), pure: intake, deadlines by the hotline's classes, and the answer sent back.

A ticket opens a grid event (source hotline_12345) in the street it names, at its grid when it names one or
the responsibility map places it there, else at the street. The same ticket id twice is the same event.
The complainant's contact leaves as a PersonalContact for its own table and appears nowhere else.
Deadlines count from the hotline's receipt of the call: the class's 办结 deadline (emergency 2 h,
water/power/gas/heating 24 h, ordinary 7, complex 15 working days by default), and the two indicators'
windows (24小时签收率, 7日办结率). When the event is closed the answer goes back with its 签收 and 办结
times."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.common.events import (FieldError, HotlineTicket, OpenGridEvent, PersonalContact, TicketAnswered,
                                    TicketReceipt)
from services.common.tiers import HotlineLevel
from services.common.workdays import due
from services.whistle import grid_texts
from services.whistle.domain import IllegalAction, TimelineEntry
from services.whistle.grid_event import (Decision, GridEventState, InvalidGridEvent, Locate, Rules, line,
                                         open_event)

CLOCK_SKEW = timedelta(minutes=5)    # a ticket received later than now + this is a clock gone wrong


@dataclass(frozen=True)
class TicketRecord:
    """The hotline_tickets row: the ticket's own clock, beside its grid event."""

    ticket_id: str
    grid_event_id: str
    street_code: str
    hotline_class: str
    received_at: datetime
    due_at: datetime
    answers: int = 0


@dataclass(frozen=True)
class Intake:
    decision: Decision
    receipt: TicketReceipt
    ticket: TicketRecord | None = None        # None when the ticket was known already
    contact: PersonalContact | None = None    # None when known already, or nobody left a contact


def street_in_routing_key(routing_key: str) -> str | None:
    match = re.fullmatch(r"ticket\.([a-z][a-z0-9_-]{0,62})", routing_key)
    return match.group(1) if match else None


def verify_sender(ticket: HotlineTicket, routing_key: str) -> tuple[FieldError, ...]:
    """A ticket travels on its street's routing key (`ticket.<street_code>`) only."""
    if street_in_routing_key(routing_key) != ticket.street_code:
        return (FieldError(field="street_code",
                           message=f"{ticket.street_code!r} does not match routing key {routing_key!r}"),)
    return ()


def rejected_receipt(payload: dict, routing_key: str, errors: tuple[FieldError, ...], now: datetime) -> TicketReceipt:
    """What the hotline hears back about a ticket that could not be taken."""
    ticket_id = payload.get("ticket_id") if isinstance(payload, dict) else None
    ticket_id = ticket_id.strip()[:64] if isinstance(ticket_id, str) and ticket_id.strip() else "(missing)"
    return TicketReceipt(ticket_id=ticket_id, street_code=street_in_routing_key(routing_key) or "unknown",
                         outcome="rejected", errors=errors, occurred_at=now)


def level_of(ticket: HotlineTicket, rules: Rules) -> tuple[str, HotlineLevel]:
    hotline = rules.tiers.hotline
    name = ticket.hotline_class or hotline.class_of(ticket.category)
    return name, hotline.classes[name]


def _grid(ticket: HotlineTicket, rules: Rules, locate: Locate | None) -> str | None:
    """The ticket's grid, or the map's for its coordinates if that grid is in the ticket's street."""
    if ticket.grid_code is not None or locate is None or ticket.place.lon is None or ticket.place.lat is None:
        return ticket.grid_code
    found = locate(ticket.place.lon, ticket.place.lat)
    placed = rules.reference.street_of_grid(found) if found else None
    return found if placed and placed[0] == ticket.street_code else None


def receive_ticket(ticket: HotlineTicket, event_id: str, rules: Rules, now: datetime,
                   existing: GridEventState | None = None, locate: Locate | None = None) -> Intake:
    """The ticket as a grid event, its record and its complainant's contact; `existing`: the event this
    ticket id opened before, if any (then nothing changes)."""
    if existing is not None:
        receipt = TicketReceipt(ticket_id=ticket.ticket_id, street_code=existing.street_code, outcome="accepted",
                                grid_event_id=existing.event_id, repeated=True, occurred_at=now)
        return Intake(Decision(existing, repeated=True), receipt)
    if ticket.received_at > now + CLOCK_SKEW:
        raise InvalidGridEvent.one("received_at", "the hotline cannot have received the call in the future")
    name, level = level_of(ticket, rules)
    command = OpenGridEvent(
        request_id=f"ticket-{ticket.ticket_id}", street_code=ticket.street_code,
        grid_code=_grid(ticket, rules, locate), category=ticket.category, source="hotline_12345",
        description=ticket.description, place=ticket.place, photos=ticket.photos,
        reported_by=grid_texts.render("reporter.hotline", {}), urgency=level.urgency)
    opened = open_event(command, event_id, rules, now, ticket_id=ticket.ticket_id)
    record = TicketRecord(ticket_id=ticket.ticket_id, grid_event_id=event_id, street_code=ticket.street_code,
                          hotline_class=name, received_at=ticket.received_at,
                          due_at=due(ticket.received_at, level.complete_within, rules.is_workday))
    entry = line(now, "ticket.received", command.reported_by, "ticket_received",
                 {"hotline_class": name, "received_at": ticket.received_at.isoformat()},
                 ticket_id=ticket.ticket_id, hotline_class_zh=level.name_zh, hotline_class_en=level.name_en,
                 due_at=record.due_at)
    contact = None
    who = ticket.complainant
    if who.name or who.phone or who.email:
        contact = PersonalContact(grid_event_id=event_id, channel="hotline_12345", name=who.name, phone=who.phone,
                                  email=who.email)
    receipt = TicketReceipt(ticket_id=ticket.ticket_id, street_code=ticket.street_code, outcome="accepted",
                            grid_event_id=event_id, occurred_at=now)
    decision = replace(opened, entries=opened.entries + (entry,))
    return Intake(decision, receipt, record, contact)


def answer(ticket: TicketRecord, state: GridEventState, rules: Rules,
           now: datetime) -> tuple[TicketAnswered, TicketRecord, TimelineEntry]:
    """The answer to the hotline for a ticket whose event has just been closed (办结)."""
    if state.status != "closed" or state.closed_at is None or state.event_id != ticket.grid_event_id:
        raise IllegalAction.one("status", f"grid event {state.event_id} of ticket {ticket.ticket_id} is not closed")
    hotline = rules.tiers.hotline
    sign_by = due(ticket.received_at, hotline.sign_for_within, rules.is_workday)
    indicator_by = due(ticket.received_at, hotline.complete_indicator_within, rules.is_workday)
    completed = state.closed_at
    outcome = "false_report" if state.outcome == "false_report" else "resolved"
    number = ticket.answers + 1
    answered = TicketAnswered(
        ticket_id=ticket.ticket_id, grid_event_id=state.event_id, street_code=ticket.street_code, answer_no=number,
        outcome=outcome, resolved_by=state.resolved_by, summary=state.summary or "", whistle_id=state.whistle_id,
        hotline_class=ticket.hotline_class, received_at=ticket.received_at, signed_for_at=state.signed_for_at,
        completed_at=completed, due_at=ticket.due_at, on_time=completed <= ticket.due_at,
        signed_within_24h=state.signed_for_at is not None and state.signed_for_at <= sign_by,
        completed_within_7d=completed <= indicator_by, occurred_at=now)
    entry = line(now, answered.event_type, "hotline", "ticket_answered",
                 {"answer_event_id": answered.event_id}, ticket_id=ticket.ticket_id, answer_no=number,
                 outcome=outcome)
    return answered, replace(ticket, answers=number), entry

"""Use cases below the whistle: open a grid event, take a 12345 ticket or an Open311 request, the tiers' steps,
the on-site check, the whistle, the deadline sweep, and the reads.

Each takes the unit of work it runs in: the row is locked, its state handed to the pure rules
(grid_event, verification, hotline), the new state stored whole with a timeline row per entry, and the
events emitted, in one transaction. A request id seen before changes nothing."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Mapping

from services.common.errors import Conflict
from services.common.events import (AcceptGridEvent, CloseGridEvent, HandleGridEvent, HotlineTicket, OpenGridEvent,
                                    PassUpGridEvent, TicketReceipt, VerifyGridEvent, WhistleGridEvent, iso, new_id)
from services.common.reference import ReferenceData
from services.common.uow import UnitOfWork
from services.whistle import grid_event, grid_store, grid_texts, handlers, hotline, open311, verification
from services.whistle.daily_cap import day_window
from services.whistle.grid_event import Decision, GridEventState, Locate, Rules
from services.whistle.grid_follow import record

SWEEP_PAGE = 500


class TicketElsewhere(Conflict):
    what = "ticket already taken"


# ---------------------------------------------------------------- opening

def placed(command: OpenGridEvent, rules: Rules, locate: Locate) -> OpenGridEvent:
    """A report without a grid but with coordinates goes to the grid the map gives, if it is the street's."""
    if command.grid_code is not None or command.place.lon is None or command.place.lat is None:
        return command
    found = locate(command.place.lon, command.place.lat)
    owner = rules.reference.street_of_grid(found) if found else None
    return command.model_copy(update={"grid_code": found}) if owner and owner[0] == command.street_code else command


def _reports_today(uow: UnitOfWork, rules: Rules, command: OpenGridEvent) -> int:
    cap = rules.tiers.daily_cap
    if command.grid_code is None or not cap.applies(command.street_code, command.source):
        return 0
    start, end = day_window(uow.now)
    return grid_store.reports_today(uow.conn, command.grid_code, cap.sources, start, end)


def _open(uow: UnitOfWork, rules: Rules, command: OpenGridEvent) -> Decision:
    existing = grid_store.by_request(uow.conn, command.street_code, command.request_id)
    if existing is not None:
        return Decision(existing, repeated=True)
    decision = grid_event.open_event(command, new_id(), rules, uow.now, _reports_today(uow, rules, command))
    grid_store.insert_new(uow.conn, decision, uow.now)
    uow.emit(*decision.events)
    return decision


def open_grid_event(uow: UnitOfWork, rules: Rules, locate: Locate, command: OpenGridEvent) -> Decision:
    """A grid worker's, a street walk's or a resident's report (HTTP); `repeated` for a request id seen before."""
    return _open(uow, rules, placed(command, rules, locate))


def open311_request(uow: UnitOfWork, rules: Rules, locate: Locate, form: Mapping[str, Any]) -> Decision:
    """POST requests.json: a resident's report, the same POST twice being one event; the personal fields go
    to complainant_contacts only. Open311Error for what the spec's arguments do not allow."""
    intake = open311.parse_post(form, rules.reference, locate)
    decision = _open(uow, rules, intake.command)
    contact = None if decision.repeated else open311.contact_for(intake, decision.state.event_id)
    if contact is not None:
        grid_store.insert_contact(uow.conn, contact, uow.now)
    return decision


def receive_ticket(uow: UnitOfWork, rules: Rules, locate: Locate, ticket: HotlineTicket) -> TicketReceipt:
    """接诉即办: a 12345 ticket as a grid event of its street; the same ticket id again is the same event
    (answered `repeated`), and refused when it names another street. The receipt goes to the hotline."""
    existing = grid_store.by_ticket(uow.conn, ticket.ticket_id)
    if existing is not None and existing.street_code != ticket.street_code:
        raise TicketElsewhere.one("ticket_id", f"ticket {ticket.ticket_id} is grid event {existing.event_id} of "
                                               f"street {existing.street_code}, not {ticket.street_code}")
    intake = hotline.receive_ticket(ticket, new_id(), rules, uow.now, existing, locate)
    if intake.ticket is not None:
        grid_store.insert_new(uow.conn, intake.decision, uow.now)
        grid_store.insert_ticket(uow.conn, intake.ticket, intake.contact, uow.now)
        uow.emit(*intake.decision.events)
    uow.emit(intake.receipt)
    return intake.receipt


# ---------------------------------------------------------------- the tiers' steps, the check

Step = Callable[[GridEventState, Any, Rules, Any], Decision]
STEPS: dict[type, Step] = {
    AcceptGridEvent: grid_event.accept,
    HandleGridEvent: lambda state, command, rules, now: grid_event.handle(state, command, now),
    CloseGridEvent: lambda state, command, rules, now: grid_event.close(state, command, now),
    PassUpGridEvent: grid_event.pass_up,
    VerifyGridEvent: verification.verify,
}


def act(uow: UnitOfWork, rules: Rules, command) -> Decision:
    """受理, 处置, 办结, 上报 or 核查 (the command's type says which); a closure answers its 12345 ticket."""
    state = grid_store.locked(uow.conn, command.grid_event_id)
    decision = STEPS[type(command)](state, command, rules, uow.now)
    if not decision.repeated:
        record(uow, rules, decision)
    return decision


def whistle(uow: UnitOfWork, reference: ReferenceData, rules: Rules, command: WhistleGridEvent) -> Decision:
    """吹哨: the whistle is raised from the event in the same transaction (request id `grid-event-<id>`); the
    event follows it (or the open whistle of the same problem it joined), which carries the event's history."""
    state = grid_store.locked(uow.conn, command.grid_event_id)
    asked = grid_event.whistle(state, command, rules, uow.now)
    if asked.repeated:
        return asked
    outcome = handlers.raise_whistle(uow, reference, asked.whistle)
    followed = outcome.linked_to or outcome.whistle_id
    raised = grid_event.whistle_raised(asked.state, followed, outcome.linked_to is not None, command.by, uow.now)
    decision = replace(raised, events=asked.events + raised.events, entries=asked.entries + raised.entries)
    record(uow, rules, decision)
    history = grid_event.carried_history(decision.state, grid_store.entries_of(uow.conn, state.event_id), uow.now)
    grid_store.add_to_whistle_timeline(uow.conn, followed, grid_event.history_on_whistle(history))
    return decision


# ---------------------------------------------------------------- the sweep

def sweep(uow: UnitOfWork, rules: Rules, limit: int = SWEEP_PAGE) -> int:
    """Every event past its tier's deadline, up to `limit`: a grid or community passes it up, the street is
    chased once per deadline. Safe with several replicas: rows another holds are skipped, and each row is
    decided again once locked. Returns how many changed."""
    due: list[str] = []
    after = ""
    while len(due) < limit:
        page = grid_store.overdue_candidates(uow.conn, uow.now, SWEEP_PAGE, after)
        due += [s.event_id for s in page if grid_event.overdue(s, rules, uow.now) is not None]
        if len(page) < SWEEP_PAGE:
            break
        after = page[-1].event_id
    changed = 0
    for state in grid_store.lock_skipping(uow.conn, due[:limit]):
        decision = grid_event.overdue(state, rules, uow.now)
        if decision is not None:
            record(uow, rules, decision)
            changed += 1
    return changed


# ---------------------------------------------------------------- reads

def render_lines(rows, lang: str) -> list[dict]:
    out = []
    for r in rows:
        said = r.detail.get("text") if isinstance(r.detail, dict) else None
        summary = grid_texts.render(said["key"], said["params"], lang) if said else r.summary
        detail = {k: v for k, v in r.detail.items() if k != "text"} if isinstance(r.detail, dict) else r.detail
        out.append({"at": iso(r.at), "kind": r.kind, "actor": r.actor, "summary": summary, "detail": detail})
    return out


def _instant(value):
    return iso(value) if value is not None else None


def event_body(state: GridEventState, updated_at) -> dict:
    """What a reader sees of a grid event (never its complainant's contact)."""
    return {
        "grid_event_id": state.event_id, "street_code": state.street_code, "community_code": state.community_code,
        "grid_code": state.grid_code, "category": state.category, "source": state.source,
        "description": state.description, "place": state.place.model_dump(), "photos": list(state.photos),
        "reported_by": state.reported_by, "status": state.status, "tier": state.tier,
        "tier_since": iso(state.tier_since), "accept_by": _instant(state.accept_by),
        "handle_by": _instant(state.handle_by), "verification": state.verification, "urgency": state.urgency,
        "signed_for_at": _instant(state.signed_for_at), "handled_at": _instant(state.handled_at),
        "closed_at": _instant(state.closed_at), "outcome": state.outcome, "resolved_by": state.resolved_by,
        "summary": state.summary, "whistle_id": state.whistle_id, "passed_up": state.passed_up,
        "over_daily_cap": state.over_daily_cap, "chased": list(state.flagged), "ticket_id": state.ticket_id,
        "opened_at": iso(state.opened_at), "updated_at": iso(updated_at)}


def get_event(uow: UnitOfWork, grid_event_id: str, lang: str) -> dict | None:
    found = grid_store.get(uow.conn, grid_event_id)
    if found is None:
        return None
    body = event_body(*found)
    body["timeline"] = render_lines(grid_store.lines_of(uow.conn, grid_event_id), lang)
    return body


def get_ticket(uow: UnitOfWork, ticket_id: str) -> dict | None:
    """A ticket's clock, answers and where its event is (no personal data)."""
    ticket = grid_store.ticket(uow.conn, ticket_id)
    if ticket is None:
        return None
    state, updated_at = grid_store.get(uow.conn, ticket.grid_event_id)
    return {"ticket_id": ticket.ticket_id, "grid_event_id": ticket.grid_event_id,
            "street_code": ticket.street_code, "hotline_class": ticket.hotline_class,
            "received_at": iso(ticket.received_at), "due_at": iso(ticket.due_at), "answers": ticket.answers,
            "status": state.status, "tier": state.tier, "whistle_id": state.whistle_id,
            "signed_for_at": _instant(state.signed_for_at), "closed_at": _instant(state.closed_at),
            "outcome": state.outcome, "resolved_by": state.resolved_by, "updated_at": iso(updated_at)}

"""Grid events (网格事件), pure: the tier state machine below the whistle.

小事不出网格、大事不出社区、难事不出街道. An event opens at a grid (or, placed nowhere on the map, at the
street) and is reported → accepted → handled → closed with evidence by the tier it is at, or passed up
one tier with a reason (grid → community → street), or whistled by the street: the whistle is raised from
it and the event follows the whistle (closed when it closes, reopened when it reopens). A tier that misses
its deadline passes the event up automatically (sweep); the street, the top tier, is chased (督办).
On-site verification (核查) and its false-report closure are in services.whistle.verification.

Every function takes the state, a command and `now`, and returns a Decision: the new state, the events to
publish, the timeline lines; a request id seen before changes nothing (Decision.repeated); a refusal
raises a Refused subclass naming the field."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Callable, Iterable, Sequence

from services.common.events import (MAX_TEXT, AcceptGridEvent, CloseGridEvent, Event, FieldError, GridEventAccepted,
                                    GridEventClosed, GridEventHandled, GridEventOpened, GridEventOverdue,
                                    GridEventPassedUp, GridEventReopened, GridEventWhistled, HandleGridEvent,
                                    OpenGridEvent, PassUpGridEvent, Place, RaiseWhistle, TierCommand, WhistleClosed,
                                    WhistleGridEvent, WhistleReopened, iso)
from services.common.reference import ReferenceData
from services.common.tiers import TIERS, TierRules
from services.common.workdays import IsWorkday, due
from services.whistle import grid_texts, timeline
from services.whistle.daily_cap import over_cap
from services.common.errors import Invalid, NotFound
from services.whistle.domain import IllegalAction, InvalidRequest, TimelineEntry

# reported → accepted → handled → closed; whistled → closed (with its whistle) → whistled (reopened)
STATUSES = ("reported", "accepted", "handled", "whistled", "closed")
OPEN = ("reported", "accepted")          # a tier still owes acceptance or handling
VERIFICATIONS = ("not_required", "pending", "confirmed", "false_report")
# a whistle's source; a resident's report whistled is the street office's own whistle
WHISTLE_SOURCE = {"grid_patrol": "grid_patrol", "hotline_12345": "hotline_12345", "road_office": "road_office",
                  "resident_report": "street_office"}


HISTORY_MESSAGE = "grid_event.history"     # the whistle timeline's message for a grid event's carried history
# the responsibility map: the grid owning a WGS-84 point, or None (unowned or disputed)
Locate = Callable[[float, float], "str | None"]


class InvalidGridEvent(Invalid):
    what = "invalid grid event"


class NoSuchGridEvent(NotFound):
    what = "no such grid event"


@dataclass(frozen=True)
class Rules:
    """What the rules read besides the event: the district, tiers.yaml, and the working-day calendar."""

    reference: ReferenceData
    tiers: TierRules
    is_workday: IsWorkday


@dataclass(frozen=True)
class GridEventState:
    event_id: str
    street_code: str
    community_code: str | None
    grid_code: str | None
    category: str
    source: str
    description: str
    place: Place
    photos: tuple[str, ...]
    reported_by: str
    opened_at: datetime
    status: str
    tier: str
    tier_since: datetime                     # arrival at the current tier
    accept_by: datetime | None = None        # while reported
    handle_by: datetime | None = None        # while accepted
    verification: str = "not_required"
    urgency: str | None = None               # the whistle's, if whistled without naming one
    signed_for_at: datetime | None = None    # first acceptance, check or pass-up by a person (a ticket's 签收)
    handled_at: datetime | None = None
    closed_at: datetime | None = None
    outcome: str | None = None               # handled | false_report | whistled, once closed
    resolved_by: str | None = None           # grid | community | street | whistle, once closed
    summary: str | None = None               # the handling summary, false-report reason or whistle's closure
    whistle_id: str | None = None
    passed_up: int = 0
    over_daily_cap: bool = False
    flagged: tuple[str, ...] = ()            # street deadlines already chased ("accept@<iso>")
    ticket_id: str | None = None
    requests: tuple[str, ...] = ()           # request ids already applied


@dataclass(frozen=True)
class Decision:
    state: GridEventState
    events: tuple[Event, ...] = ()
    entries: tuple[TimelineEntry, ...] = ()
    repeated: bool = False                   # the request had been applied: nothing changed
    whistle: RaiseWhistle | None = None      # to raise, then report with whistle_raised()


def line(at: datetime, kind: str, actor: str, key: str, detail: dict | None = None, **params) -> TimelineEntry:
    """A timeline line: the zh-CN summary, and the text key and parameters to render it in another language."""
    return TimelineEntry(at, kind, actor, grid_texts.render(key, params),
                         {**(detail or {}), "text": {"key": key, "params": grid_texts.json_params(params)}})


def fact(state: GridEventState) -> dict:
    """The fields every grid event's event carries."""
    return dict(grid_event_id=state.event_id, street_code=state.street_code, community_code=state.community_code,
                grid_code=state.grid_code, category=state.category, source=state.source, tier=state.tier,
                ticket_id=state.ticket_id)


def seen(state: GridEventState, request_id: str) -> Decision | None:
    return Decision(state, repeated=True) if request_id in state.requests else None


def _applied(state: GridEventState, request_id: str, **changes) -> GridEventState:
    return replace(state, requests=state.requests + (request_id,), **changes)


# ---------------------------------------------------------------- opening

def check_against_reference(command: OpenGridEvent, reference: ReferenceData) -> tuple[FieldError, ...]:
    errors = []
    street = reference.street(command.street_code)
    if street is None:
        errors.append(FieldError(field="street_code", message=f"unknown street {command.street_code!r}"))
    elif command.grid_code is not None and command.grid_code not in street.grid_codes:
        errors.append(FieldError(field="grid_code",
                                 message=f"grid {command.grid_code!r} is not in street {command.street_code!r}"))
    if command.grid_code is None and command.source == "grid_patrol":
        errors.append(FieldError(field="grid_code", message="a grid worker's patrol report names its grid"))
    if reference.category(command.category) is None:
        errors.append(FieldError(field="category", message=f"unknown category {command.category!r}"))
    return tuple(errors)


def unit_names(reference: ReferenceData, state: GridEventState) -> dict[str, str]:
    """unit_zh / unit_en: the grid, community or street the event is at."""
    street = reference.street(state.street_code)
    if state.tier == "street" or street is None:
        return {"unit_zh": street.name_zh if street else state.street_code,
                "unit_en": street.name_en if street else state.street_code}
    for community in street.communities:
        if state.tier == "community" and community.code == state.community_code:
            return {"unit_zh": community.name_zh, "unit_en": community.name_en}
        for grid in community.grids:
            if grid.code == state.grid_code:
                return {"unit_zh": grid.name_zh, "unit_en": grid.name_en}
    return {"unit_zh": state.street_code, "unit_en": state.street_code}


def category_names(reference: ReferenceData, code: str) -> dict[str, str]:
    found = reference.category(code)
    return {"category_zh": found.name_zh if found else code, "category_en": found.name_en if found else code}


def open_event(command: OpenGridEvent, event_id: str, rules: Rules, now: datetime, reports_today: int = 0,
               existing: GridEventState | None = None, ticket_id: str | None = None) -> Decision:
    """A new event at its grid (or street); `existing` is the event this request id already opened, if any.

    reports_today: the grid's reports earlier today that the daily cap counts (the handler's count)."""
    if existing is not None:
        return Decision(existing, repeated=True)
    errors = check_against_reference(command, rules.reference)
    if errors:
        raise InvalidGridEvent(errors)
    placed = rules.reference.street_of_grid(command.grid_code) if command.grid_code else None
    tier = "grid" if placed else "street"
    rule = rules.tiers.verification.rule_for(command.category, command.source)
    pending = rule is not None and rule.required
    cap = rules.tiers.daily_cap
    flagged, count = over_cap(cap, command.street_code, command.grid_code, command.source, reports_today)
    state = GridEventState(
        event_id=event_id, street_code=command.street_code, community_code=placed[1] if placed else None,
        grid_code=command.grid_code, category=command.category, source=command.source,
        description=command.description, place=command.place, photos=tuple(command.photos),
        reported_by=command.reported_by, opened_at=now, status="reported", tier=tier, tier_since=now,
        accept_by=due(now, rules.tiers.tiers[tier].accept, rules.is_workday),
        verification="pending" if pending else "not_required", urgency=command.urgency,
        over_daily_cap=flagged, ticket_id=ticket_id, requests=(command.request_id,))
    opened = GridEventOpened(**fact(state), request_id=command.request_id, place=command.place,
                             reported_by=command.reported_by, opened_at=now, accept_by=state.accept_by,
                             verification=state.verification, over_daily_cap=flagged, reports_today=count,
                             occurred_at=now)
    entries = [line(now, opened.event_type, command.reported_by, "opened",
                    {"request_id": command.request_id, "photos": list(command.photos)},
                    reported_by=command.reported_by, source=command.source, tier=tier, accept_by=state.accept_by,
                    **category_names(rules.reference, command.category), **unit_names(rules.reference, state))]
    if flagged:
        entries.append(line(now, "grid_event.daily_cap", command.reported_by, "over_daily_cap",
                            count=count, cap=cap.per_grid_per_day))
    if pending:
        entries.append(line(now, "grid_event.verification_needed", command.reported_by, "verification_needed",
                            verifiers=rule.by))
    return Decision(state, (opened,), tuple(entries))


# ---------------------------------------------------------------- the tier's own steps

def _at_tier(state: GridEventState, command: TierCommand, statuses: tuple[str, ...], action: str) -> None:
    errors = []
    if command.tier != state.tier:
        errors.append(FieldError(field="tier", message=f"grid event {state.event_id} is at the {state.tier} "
                                                       f"tier, not the {command.tier}"))
    if state.status not in statuses:
        errors.append(FieldError(field="status", message=f"grid event {state.event_id} is {state.status}; it can "
                                                         f"be {action} only when {' or '.join(statuses)}"))
    if errors:
        raise IllegalAction(errors)


def accept(state: GridEventState, command: AcceptGridEvent, rules: Rules, now: datetime) -> Decision:
    """受理: the tier takes it on, and must handle it by its handle deadline."""
    if (repeat := seen(state, command.request_id)) is not None:
        return repeat
    _at_tier(state, command, ("reported",), "accepted")
    handle_by = due(now, rules.tiers.tiers[state.tier].handle, rules.is_workday)
    first = state.signed_for_at is None
    new = _applied(state, command.request_id, status="accepted", accept_by=None, handle_by=handle_by,
                   signed_for_at=state.signed_for_at or now)
    event = GridEventAccepted(**fact(new), by=command.by, accepted_at=now, handle_by=handle_by, signed_for=first,
                              occurred_at=now)
    entry = line(now, event.event_type, command.by, "accepted", {"note": command.note}, by=command.by,
                 tier=state.tier, handle_by=handle_by)
    return Decision(new, (event,), (entry,))


def handle(state: GridEventState, command: HandleGridEvent, now: datetime) -> Decision:
    """处置: the tier reports the problem dealt with; closing it with evidence comes next."""
    if (repeat := seen(state, command.request_id)) is not None:
        return repeat
    _at_tier(state, command, ("accepted",), "handled")
    on_time = state.handle_by is None or now <= state.handle_by
    new = _applied(state, command.request_id, status="handled", handle_by=None, handled_at=now,
                   summary=command.summary)
    event = GridEventHandled(**fact(new), by=command.by, summary=command.summary,
                             evidence_refs=tuple(command.evidence_refs), handled_at=now,
                             handle_by=state.handle_by or now, on_time=on_time, occurred_at=now)
    entry = line(now, event.event_type, command.by, "handled" if on_time else "handled_late",
                 {"evidence_refs": list(command.evidence_refs), "on_time": on_time},
                 by=command.by, tier=state.tier, summary=command.summary)
    return Decision(new, (event,), (entry,))


def closed_event(state: GridEventState, by: str, now: datetime) -> GridEventClosed:
    """The tier figure of a state just closed."""
    return GridEventClosed(**fact(state), outcome=state.outcome, resolved_by=state.resolved_by, by=by,
                           summary=state.summary or "", opened_at=state.opened_at,
                           signed_for_at=state.signed_for_at, handled_at=state.handled_at, closed_at=now,
                           passed_up=state.passed_up, whistle_id=state.whistle_id,
                           seconds_to_close=(now - state.opened_at).total_seconds(), occurred_at=now)


def close(state: GridEventState, command: CloseGridEvent, now: datetime) -> Decision:
    """办结/销号 with 两图一表, by the tier that handled it: solved below the whistle."""
    if (repeat := seen(state, command.request_id)) is not None:
        return repeat
    _at_tier(state, command, ("handled",), "closed")
    new = _applied(state, command.request_id, status="closed", outcome="handled", resolved_by=state.tier,
                   closed_at=now)
    entry = line(now, "grid_event.closed", command.by, "closed",
                 {"evidence": command.evidence.model_dump(mode="json")},
                 by=command.by, tier=state.tier, items=len(command.evidence.checklist))
    return Decision(new, (closed_event(new, command.by, now),), (entry,))


# ---------------------------------------------------------------- up the tiers

def next_tier(tier: str) -> str | None:
    index = TIERS.index(tier)
    return TIERS[index + 1] if index + 1 < len(TIERS) else None


def _moved_up(state: GridEventState, rules: Rules, now: datetime) -> GridEventState:
    tier = next_tier(state.tier)
    return replace(state, status="reported", tier=tier, tier_since=now, handle_by=None, passed_up=state.passed_up + 1,
                   accept_by=due(now, rules.tiers.tiers[tier].accept, rules.is_workday))


def pass_up(state: GridEventState, command: PassUpGridEvent, rules: Rules, now: datetime) -> Decision:
    """The tier cannot solve it: one tier up, with its reason. The street cannot pass up; it whistles."""
    if (repeat := seen(state, command.request_id)) is not None:
        return repeat
    _at_tier(state, command, OPEN, "passed up")
    if next_tier(state.tier) is None:
        raise IllegalAction.one("tier", "the street is the top tier: it handles the event or whistles it")
    new = _applied(_moved_up(state, rules, now), command.request_id, signed_for_at=state.signed_for_at or now)
    event = GridEventPassedUp(**fact(new), from_tier=state.tier, reason=command.reason, by=command.by,
                              automatic=False, passed_up_at=now, accept_by=new.accept_by, occurred_at=now)
    entry = line(now, event.event_type, command.by, "passed_up", {"reason": command.reason},
                 by=command.by, to_tier=new.tier, reason=command.reason)
    return Decision(new, (event,), (entry,))


def overdue(state: GridEventState, rules: Rules, now: datetime) -> Decision | None:
    """A missed accept or handle deadline: a grid or community passes the event up automatically; the
    street is chased once per deadline. None when nothing is due."""
    if state.status == "reported" and state.accept_by is not None and now > state.accept_by:
        missed, due_at = "accept", state.accept_by
    elif state.status == "accepted" and state.handle_by is not None and now > state.handle_by:
        missed, due_at = "handle", state.handle_by
    else:
        return None
    if next_tier(state.tier) is None:
        flag = f"{missed}@{iso(due_at)}"
        if flag in state.flagged:
            return None
        new = replace(state, flagged=state.flagged + (flag,))
        event = GridEventOverdue(**fact(new), missed=missed, due_at=due_at, flagged_at=now, occurred_at=now)
        return Decision(new, (event,), (line(now, event.event_type, "sweep", "overdue", missed=missed,
                                             due_at=due_at),))
    new = _moved_up(state, rules, now)
    reason = grid_texts.render("escalated_reason", {"from_tier": state.tier, "missed": missed})
    event = GridEventPassedUp(**fact(new), from_tier=state.tier, reason=reason, by="sweep", automatic=True,
                              missed=missed, due_at=due_at, passed_up_at=now, accept_by=new.accept_by,
                              occurred_at=now)
    entry = line(now, event.event_type, "sweep", "escalated", {"automatic": True}, from_tier=state.tier,
                 to_tier=new.tier, missed=missed, due_at=due_at)
    return Decision(new, (event,), (entry,))


def sweep(states: Iterable[GridEventState], rules: Rules, now: datetime) -> list[Decision]:
    """The decisions for every event among `states` with a missed deadline (lock and re-read each row first)."""
    return [d for d in (overdue(s, rules, now) for s in states) if d is not None]


# ---------------------------------------------------------------- the whistle

def whistle(state: GridEventState, command: WhistleGridEvent, rules: Rules, now: datetime) -> Decision:
    """吹哨: the street calls the departments; Decision.whistle is the RaiseWhistle to raise, after which
    whistle_raised() records the whistle. Needs a required on-site check done first."""
    if (repeat := seen(state, command.request_id)) is not None:
        return repeat
    errors = []
    if command.street_code != state.street_code:
        errors.append(FieldError(field="street_code", message=f"grid event {state.event_id} belongs to street "
                                                              f"{state.street_code}, not {command.street_code}"))
    if state.tier != "street":
        errors.append(FieldError(field="tier", message=f"only the street whistles; grid event {state.event_id} "
                                                       f"is at the {state.tier} tier"))
    if state.status not in OPEN:
        errors.append(FieldError(field="status", message=f"grid event {state.event_id} is {state.status}; it can "
                                                         f"be whistled only when reported or accepted"))
    if state.verification == "pending":
        rule = rules.tiers.verification.rule_for(state.category, state.source)
        who = " or ".join(rule.by) if rule else "a verifier"
        errors.append(FieldError(field="verification", message=f"grid event {state.event_id} must be checked on "
                                                               f"site (核查) by {who} before it is whistled"))
    if errors:
        raise IllegalAction(errors)
    urgency = command.urgency or state.urgency
    if urgency is None:
        raise InvalidRequest.one("urgency", "name the whistle's urgency: the event has none of its own")
    raise_whistle = RaiseWhistle(
        request_id=f"grid-event-{state.event_id}", street_code=state.street_code, grid_code=state.grid_code,
        category=state.category, urgency=urgency, source=WHISTLE_SOURCE[state.source],
        description=whistle_description(state), place=state.place, reported_by=command.by)
    new = _applied(state, command.request_id, status="whistled", accept_by=None, handle_by=None,
                   signed_for_at=state.signed_for_at or now)
    entry = line(now, "grid_event.whistle_requested", command.by, "whistled", {"note": command.note,
                                                                                 "urgency": urgency},
                 by=command.by)
    return Decision(new, (), (entry,), whistle=raise_whistle)


def whistle_description(state: GridEventState) -> str:
    """The event's description, cut to what a whistle carries (the full text stays on the event)."""
    if len(state.description) <= MAX_TEXT:
        return state.description
    note = grid_texts.render("description_cut", {"grid_event_id": state.event_id})
    return state.description[:MAX_TEXT - len(note) - 1] + "…" + note


def whistle_raised(state: GridEventState, whistle_id: str, linked: bool, by: str, now: datetime) -> Decision:
    """The whistle raised for this event (`linked`: the one an open whistle of the same problem it joined)."""
    if state.whistle_id == whistle_id:
        return Decision(state, repeated=True)
    if state.status != "whistled":
        raise IllegalAction.one("status", f"grid event {state.event_id} is {state.status}, not whistled")
    new = replace(state, whistle_id=whistle_id)
    event = GridEventWhistled(**fact(new), whistle_id=whistle_id, linked=linked, by=by, whistled_at=now,
                              occurred_at=now)
    entry = line(now, event.event_type, by, "whistle_joined" if linked else "whistle_raised",
                 {"whistle_id": whistle_id, "linked": linked}, whistle_id=whistle_id)
    return Decision(new, (event,), (entry,))


def carried_history(state: GridEventState, lines: Sequence[TimelineEntry], now: datetime) -> TimelineEntry:
    """The whistle's first timeline line: the event's history, carried with it (no personal data is in it)."""
    history = [{"at": iso(e.at), "kind": e.kind, "actor": e.actor, "summary": e.summary} for e in lines]
    return line(now, "grid_event.history", state.street_code, "carried_history",
                {"grid_event_id": state.event_id, "lines": history}, grid_event_id=state.event_id,
                steps=len(lines))


def history_on_whistle(history: TimelineEntry) -> TimelineEntry:
    """carried_history's line as a line of the whistle's own timeline: its message (grid_event.history) read in
    the reader's language like every whistle line, the event's lines in its detail."""
    params = history.detail["text"]["params"]
    detail = {k: v for k, v in history.detail.items() if k != "text"}
    return timeline.line(history.at, history.kind, history.actor, HISTORY_MESSAGE,
                         {"grid_event_id": params["grid_event_id"], "steps": params["steps"]}, detail, None)


def whistle_closed(state: GridEventState, closed: WhistleClosed) -> Decision:
    """Its whistle was closed (销号): so is the event, resolved by the whistle. Anything else: no change."""
    if state.status != "whistled" or state.whistle_id != closed.whistle_id:
        return Decision(state, repeated=True)
    at = closed.closed_at
    summary = grid_texts.render("whistle_summary", {"whistle_id": closed.whistle_id})
    new = replace(state, status="closed", outcome="whistled", resolved_by="whistle", handled_at=at, closed_at=at,
                  summary=summary)
    entry = line(at, "grid_event.closed", closed.confirmed_by, "whistle_closed", {"whistle_id": closed.whistle_id},
                 whistle_id=closed.whistle_id)
    return Decision(new, (closed_event(new, closed.confirmed_by, at),), (entry,))


def whistle_reopened(state: GridEventState, reopened: WhistleReopened) -> Decision:
    """Its whistle was reopened (an unsatisfied follow-up): the event is open on the whistle again."""
    if state.status != "closed" or state.outcome != "whistled" or state.whistle_id != reopened.whistle_id:
        return Decision(state, repeated=True)
    at = reopened.reopened_at
    new = replace(state, status="whistled", outcome=None, resolved_by=None, handled_at=None, closed_at=None,
                  summary=None)
    event = GridEventReopened(**fact(new), whistle_id=reopened.whistle_id, reason=reopened.reason, reopened_at=at,
                              occurred_at=at)
    entry = line(at, event.event_type, "whistle", "whistle_reopened", {"whistle_id": reopened.whistle_id},
                 whistle_id=reopened.whistle_id, reason=reopened.reason)
    return Decision(new, (event,), (entry,))

"""Draft wire contract below the whistle: grid-event commands, 12345 tickets, and the events they cause.

The lead moves these into services/common/events.py: the commands beside RaiseWhistle, the events into
EVENT_TYPES (DRAFT_EVENT_TYPES below), and draft_route_of's two cases into route_of."""
from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import Field, StringConstraints

from services.common.events import (EVENTS, MAX_SHORT, MAX_TEXT, Event, Evidence, FieldError, Instant, Message,
                                    Place, Route)
from services.common.reference import CODE, Urgency
from services.common.tiers import EventSource, GridTier, HotlineClass, Verifier

# Public exchange for the 12345 hotline system (durable topic):
#   ticket.<street_code>                    hotline -> whistle: a HotlineTicket for that street
#   receipt.<street_code>.<accepted|rejected>   whistle -> hotline: the TicketReceipt
#   answer.<street_code>                    whistle -> hotline: the TicketAnswered when the ticket is closed
HOTLINE = "hotline"
MAX_EVENT_TEXT = 4000    # Open311's limit on a description; a whistle carries the first MAX_TEXT of it
TICKET_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
Ref = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_SHORT)]
Outcome = Literal["handled", "false_report", "whistled"]
ResolvedBy = Literal["grid", "community", "street", "whistle"]
Missed = Literal["accept", "handle"]


# ---------------------------------------------------------------- commands

class OpenGridEvent(Message):
    """A problem reported at a grid: by its grid worker's patrol, a 12345 ticket, a leader's street walk
    (马路办公) or a resident. Without a grid (a ticket or resident report not placed on the map) it opens
    at the street."""

    schema_version: Literal[1] = 1
    request_id: str = Field(min_length=1, max_length=128)
    street_code: str = Field(pattern=CODE)
    grid_code: Optional[str] = Field(default=None, pattern=CODE)
    category: str = Field(pattern=CODE)
    source: EventSource
    description: str = Field(min_length=1, max_length=MAX_EVENT_TEXT)
    place: Place
    photos: tuple[Ref, ...] = Field(default=(), max_length=20)
    reported_by: str = Field(min_length=1, max_length=MAX_SHORT)   # a role or a staff name, never a resident's
    urgency: Optional[Urgency] = None                               # the whistle's, if it comes to that


class GridEventCommand(Message):
    schema_version: Literal[1] = 1
    request_id: str = Field(min_length=1, max_length=128)
    grid_event_id: str = Field(min_length=1, max_length=64)
    by: str = Field(min_length=1, max_length=MAX_SHORT)


class TierCommand(GridEventCommand):
    """A step taken by the tier the event is at; `tier` says which one the sender believes that is."""

    tier: GridTier


class AcceptGridEvent(TierCommand):
    """受理: the tier takes the event on (for a 12345 ticket, the first acceptance is its 签收)."""

    note: Optional[str] = Field(default=None, max_length=MAX_TEXT)


class HandleGridEvent(TierCommand):
    """处置: the tier reports the problem dealt with."""

    summary: str = Field(min_length=1, max_length=MAX_TEXT)
    evidence_refs: tuple[Ref, ...] = Field(min_length=1, max_length=20)


class CloseGridEvent(TierCommand):
    """办结/销号 of a handled event, with 两图一表."""

    evidence: Evidence


class PassUpGridEvent(TierCommand):
    """The tier cannot solve it: up one tier (grid -> community -> street), with a mandatory reason."""

    reason: str = Field(min_length=4, max_length=MAX_TEXT)


class VerifyGridEvent(GridEventCommand):
    """核查: an on-site check with a photo; `false_report` (with its reason) closes the event as such."""

    role: Verifier
    outcome: Literal["confirmed", "false_report"]
    photo_ref: Ref
    reason: Optional[str] = Field(default=None, max_length=MAX_TEXT)   # required for a false report


class WhistleGridEvent(GridEventCommand):
    """The street whistles the event up to the district departments (吹哨)."""

    street_code: str = Field(pattern=CODE)
    urgency: Optional[Urgency] = None      # default: the event's (a ticket's comes from its class)
    note: Optional[str] = Field(default=None, max_length=MAX_TEXT)


class Complainant(Message):
    """Personal data: leaves the intake as a PersonalContact for its own table (complainant_contacts), to be
    readable only by the street owning the ticket and the follow-up desk; never copied onto a grid event, a
    whistle or a call-out."""

    name: Optional[str] = Field(default=None, min_length=1, max_length=MAX_SHORT)
    phone: Optional[str] = Field(default=None, pattern=r"^\+?[0-9][0-9 -]{3,30}$")
    email: Optional[str] = Field(default=None, min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")


class HotlineTicket(Message):
    """接诉即办: a 12345 ticket sent to the responsible street (`hotline` exchange, `ticket.<street>`, or
    HTTP). The ticket id is mandatory; the same id twice is the same event."""

    schema_version: Literal[1] = 1
    ticket_id: str = Field(pattern=TICKET_ID)
    street_code: str = Field(pattern=CODE)
    grid_code: Optional[str] = Field(default=None, pattern=CODE)
    category: str = Field(pattern=CODE)
    hotline_class: Optional[HotlineClass] = None      # default: the category's (tiers.yaml)
    description: str = Field(min_length=1, max_length=MAX_EVENT_TEXT)
    place: Place
    photos: tuple[Ref, ...] = Field(default=(), max_length=20)
    received_at: Instant                               # when the hotline took the call: deadlines count from it
    complainant: Complainant = Complainant()


class PersonalContact(Message):
    """The row for complainant_contacts: who reported, kept apart from the event it belongs to."""

    grid_event_id: str
    channel: Literal["hotline_12345", "open311"]
    name: Optional[str] = None
    phone: Optional[str] = None
    email: Optional[str] = None
    device_id: Optional[str] = None
    account_id: Optional[str] = None


# ---------------------------------------------------------------- events

class GridEventFact(Event):
    """What every grid event's event carries, so metrics never calls back to ask."""

    grid_event_id: str
    street_code: str
    community_code: Optional[str]
    grid_code: Optional[str]
    category: str
    source: EventSource
    tier: GridTier                      # the tier the event is at after this step
    ticket_id: Optional[str] = None


class GridEventOpened(GridEventFact):
    event_type = "grid_event.opened"
    request_id: str
    place: Place
    reported_by: str
    opened_at: Instant
    accept_by: Instant
    verification: Literal["not_required", "pending"]
    over_daily_cap: bool = False        # 南夏墅's rule, when switched on: flagged for the assessment
    reports_today: Optional[int] = None  # the grid's counted reports today, this one included (cap on)


class GridEventVerified(GridEventFact):
    event_type = "grid_event.verified"
    by: str
    role: Verifier
    outcome: Literal["confirmed", "false_report"]
    photo_ref: str
    verified_at: Instant


class GridEventAccepted(GridEventFact):
    event_type = "grid_event.accepted"
    by: str
    accepted_at: Instant
    handle_by: Instant
    signed_for: bool                    # the event's first acceptance: a ticket's 签收


class GridEventPassedUp(GridEventFact):
    event_type = "grid_event.passed_up"
    from_tier: GridTier
    reason: str
    by: str
    automatic: bool                     # escalated by the sweep: the lower tier missed a deadline
    missed: Optional[Missed] = None
    due_at: Optional[Instant] = None    # the missed deadline
    passed_up_at: Instant
    accept_by: Instant                  # the new tier's


class GridEventOverdue(GridEventFact):
    """督办 at the street, the top tier: it missed a deadline and is chased; it decides whether to whistle."""

    event_type = "grid_event.overdue"
    missed: Missed
    due_at: Instant
    flagged_at: Instant


class GridEventHandled(GridEventFact):
    event_type = "grid_event.handled"
    by: str
    summary: str
    evidence_refs: tuple[str, ...]
    handled_at: Instant
    handle_by: Instant
    on_time: bool


class GridEventWhistled(GridEventFact):
    event_type = "grid_event.whistled"
    whistle_id: str
    linked: bool                        # the whistle raised joined an open whistle of the same problem
    by: str
    whistled_at: Instant


class GridEventClosed(GridEventFact):
    """The tier figure for the assessment: where it was resolved, how, and how long it took."""

    event_type = "grid_event.closed"
    outcome: Outcome
    resolved_by: ResolvedBy
    by: str
    summary: str
    opened_at: Instant
    signed_for_at: Optional[Instant]
    handled_at: Optional[Instant]
    closed_at: Instant
    passed_up: int                      # how many tiers it climbed
    whistle_id: Optional[str] = None
    seconds_to_close: float


class GridEventReopened(GridEventFact):
    """The whistle it was resolved by was reopened (an unsatisfied follow-up): so is the event."""

    event_type = "grid_event.reopened"
    whistle_id: str
    reason: str
    reopened_at: Instant


class TicketReceipt(Event):
    """Told back to the hotline: the ticket opened (or is) a grid event, or was rejected."""

    event_type = "ticket.receipt"
    ticket_id: str
    street_code: str
    outcome: Literal["accepted", "rejected"]
    grid_event_id: Optional[str] = None
    repeated: bool = False
    errors: tuple[FieldError, ...] = ()


class TicketAnswered(Event):
    """The answer sent back to the hotline when the ticket's event is closed (again, after a reopening)."""

    event_type = "ticket.answered"
    ticket_id: str
    grid_event_id: str
    street_code: str
    answer_no: int                      # 1, then 2... if a reopened case is closed again
    outcome: Literal["resolved", "false_report"]
    resolved_by: ResolvedBy
    summary: str
    whistle_id: Optional[str] = None
    hotline_class: HotlineClass
    received_at: Instant
    signed_for_at: Optional[Instant]    # 签收
    completed_at: Instant               # 办结
    due_at: Instant
    on_time: bool                       # completed by the class's deadline
    signed_within_24h: bool             # counts for 24小时签收率
    completed_within_7d: bool           # counts for 7日办结率


DRAFT_EVENT_TYPES: dict[str, type[Event]] = {
    cls.event_type: cls for cls in
    (GridEventOpened, GridEventVerified, GridEventAccepted, GridEventPassedUp, GridEventOverdue, GridEventHandled,
     GridEventWhistled, GridEventClosed, GridEventReopened, TicketReceipt, TicketAnswered)
}


def draft_route_of(event: Event) -> Route:
    """The two hotline routes; every grid event travels on `events` under its type."""
    if isinstance(event, TicketReceipt):
        return Route(HOTLINE, f"receipt.{event.street_code}.{event.outcome}")
    if isinstance(event, TicketAnswered):
        return Route(HOTLINE, f"answer.{event.street_code}")
    return Route(EVENTS, event.event_type)

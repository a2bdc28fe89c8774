"""The event contract: every message on the bus, its payload schema, its exchange and routing key."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, ClassVar, Literal, Optional

from pydantic import (AwareDatetime, BaseModel, ConfigDict, Field, ValidationError,
                      field_serializer, field_validator)

from services.common.reference import CODE, Urgency

SCHEMA_VERSION = 1
MAX_TEXT = 2000          # a description longer than this is someone pasting a document
MAX_SHORT = 200
MAX_BODY_BYTES = 64 * 1024

# Public exchanges (durable topic); internal events travel on `events`.
WHISTLES = "whistles"      # raise.<street_code>; outcome.<street_code>.<raised|rejected>
CALLOUTS = "callouts"      # callout.<department_code>.<urgency>
CHECKINS = "checkins"      # checkin.<department_code>; outcome.<department_code>.<accepted|rejected>
EVENTS = "events"          # <event_type>, e.g. whistle.raised, callout.checked_in
DEADLETTERS = "deadletters"
EXCHANGES = (WHISTLES, CALLOUTS, CHECKINS, EVENTS)

Source = Literal["hotline_12345", "grid_patrol", "road_office", "street_office"]
Role = Literal["lead", "support"]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_id() -> str:
    return str(uuid.uuid4())


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Place(Message):
    """Where the problem is: a free-text address, optionally with WGS-84 coordinates."""

    address: str = Field(min_length=1, max_length=MAX_SHORT)
    lon: Optional[float] = Field(default=None, ge=-180, le=180)
    lat: Optional[float] = Field(default=None, ge=-90, le=90)


# ---------------------------------------------------------------- commands from outside systems

class RaiseWhistle(Message):
    """A street's request to raise a whistle (RPC, HTTP or `whistles` exchange, `raise.<street>`)."""

    schema_version: Literal[1] = 1
    request_id: str = Field(min_length=1, max_length=128)
    street_code: str = Field(pattern=CODE)
    grid_code: Optional[str] = Field(default=None, pattern=CODE)
    category: str = Field(pattern=CODE)
    urgency: Urgency
    source: Source
    description: str = Field(min_length=1, max_length=MAX_TEXT)
    place: Place
    reported_by: str = Field(min_length=1, max_length=MAX_SHORT)


class CheckIn(Message):
    """A department takes a call-out and names who comes (RPC or `checkins`, `checkin.<department>`)."""

    schema_version: Literal[1] = 1
    request_id: Optional[str] = Field(default=None, max_length=128)
    callout_id: str = Field(min_length=1, max_length=64)
    department_code: str = Field(pattern=CODE)
    officer: str = Field(min_length=1, max_length=MAX_SHORT)
    note: Optional[str] = Field(default=None, max_length=MAX_TEXT)


# ---------------------------------------------------------------- events

class Event(Message):
    """Every event carries its type, a unique id, when it happened (UTC) and the schema version."""

    event_type: ClassVar[str]
    type: str = ""
    event_id: str = Field(default_factory=new_id, min_length=1, max_length=64)
    occurred_at: AwareDatetime = Field(default_factory=utcnow)
    schema_version: Literal[1] = SCHEMA_VERSION

    def model_post_init(self, __context: Any) -> None:
        if not self.type:
            object.__setattr__(self, "type", self.event_type)

    @field_validator("type")
    @classmethod
    def _matching_type(cls, value: str) -> str:
        if value and value != cls.event_type:
            raise ValueError(f"type {value!r} is not {cls.event_type!r}")
        return value

    @field_serializer("occurred_at")
    def _iso(self, value: datetime) -> str:
        return iso(value)


def iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class FieldError(Message):
    field: str
    message: str


class WhistleOutcome(Event):
    """Told back to the street: its request raised a whistle (or joined one), or was rejected."""

    event_type = "whistle.outcome"
    request_id: str
    street_code: str
    outcome: Literal["raised", "rejected"]
    whistle_id: Optional[str] = None
    repeated: bool = False              # the request_id had been seen: this is the first answer again
    errors: tuple[FieldError, ...] = ()


class WhistleRaised(Event):
    event_type = "whistle.raised"
    whistle_id: str
    request_id: str
    street_code: str
    grid_code: Optional[str]
    category: str
    urgency: Urgency
    source: Source
    description: str
    place: Place
    reported_by: str
    raised_at: AwareDatetime

    _ser = field_serializer("raised_at")(lambda self, v: iso(v))


class Deadlines(Message):
    check_in_by: AwareDatetime
    arrival_by: AwareDatetime
    completion_by: AwareDatetime

    _ser = field_serializer("check_in_by", "arrival_by", "completion_by")(lambda self, v: iso(v))


class CalloutIssued(Event):
    """The order to one department for one whistle: everything it needs to act."""

    event_type = "callout.issued"
    callout_id: str
    whistle_id: str
    department_code: str
    department_name_zh: str
    role: Role
    category: str
    category_name_zh: str
    urgency: Urgency
    street_code: str
    grid_code: Optional[str]
    place: Place
    description: str
    joint_enforcement: bool
    departments: tuple[str, ...]        # every department called on this whistle, lead first
    deadlines: Deadlines
    issued_at: AwareDatetime
    matrix_version: str

    _ser = field_serializer("issued_at")(lambda self, v: iso(v))


class CalloutCheckedIn(Event):
    event_type = "callout.checked_in"
    callout_id: str
    whistle_id: str
    department_code: str
    street_code: str
    category: str
    urgency: Urgency
    officer: str
    issued_at: AwareDatetime
    checked_in_at: AwareDatetime
    check_in_by: AwareDatetime
    on_time: bool

    _ser = field_serializer("issued_at", "checked_in_at", "check_in_by")(lambda self, v: iso(v))


class CheckInOutcome(Event):
    """Told back to the department on `checkins`, `outcome.<department>.<accepted|rejected>`."""

    event_type = "checkin.outcome"
    request_id: Optional[str]
    callout_id: Optional[str]
    department_code: str
    outcome: Literal["accepted", "rejected"]
    repeated: bool = False
    errors: tuple[FieldError, ...] = ()


class AllCheckedIn(Event):
    event_type = "whistle.all_checked_in"
    whistle_id: str
    street_code: str
    departments: tuple[str, ...]
    first_issued_at: AwareDatetime
    last_checked_in_at: AwareDatetime

    _ser = field_serializer("first_issued_at", "last_checked_in_at")(lambda self, v: iso(v))


class TeamMember(Message):
    officer_code: str
    name: str
    department_code: str


class TeamAssembled(Event):
    """A joint enforcement team ("城管+N") for one whistle, with its lead."""

    event_type = "team.assembled"
    team_id: str
    whistle_id: str
    street_code: str
    category: str
    lead: TeamMember
    members: tuple[TeamMember, ...]
    gaps: tuple[str, ...]               # departments with nobody on duty: a roster gap


EVENT_TYPES: dict[str, type[Event]] = {
    cls.event_type: cls for cls in
    (WhistleOutcome, WhistleRaised, CalloutIssued, CalloutCheckedIn, CheckInOutcome, AllCheckedIn, TeamAssembled)
}


@dataclass(frozen=True)
class Route:
    exchange: str
    routing_key: str


def route_of(event: Event) -> Route:
    """Where an event is published: the one place this is decided."""
    if isinstance(event, WhistleOutcome):
        return Route(WHISTLES, f"outcome.{event.street_code}.{event.outcome}")
    if isinstance(event, CalloutIssued):
        return Route(CALLOUTS, f"callout.{event.department_code}.{event.urgency}")
    if isinstance(event, CheckInOutcome):
        return Route(CHECKINS, f"outcome.{event.department_code}.{event.outcome}")
    return Route(EVENTS, event.event_type)


def encode(message: Message) -> bytes:
    return message.model_dump_json().encode("utf-8")


def decode_event(payload: dict) -> Event:
    """Validates an event payload by its `type`; raises ContractError naming every bad field."""
    kind = payload.get("type") if isinstance(payload, dict) else None
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ContractError((FieldError(field="type", message=f"unknown event type {kind!r}"),))
    return parse(cls, payload)


class ContractError(ValueError):
    """A message that does not meet the contract; carries one FieldError per bad field."""

    def __init__(self, errors: tuple[FieldError, ...]):
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))


def field_errors(exc: ValidationError) -> tuple[FieldError, ...]:
    out = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(message)"
        text = err["msg"]
        if err["type"] == "extra_forbidden":
            text = "unexpected field"
        out.append(FieldError(field=where, message=text))
    return tuple(out)


def parse(cls: Callable[..., Message], payload: Any):
    if not isinstance(payload, dict):
        raise ContractError((FieldError(field="(message)", message="must be a JSON object"),))
    try:
        return cls.model_validate(payload)  # type: ignore[attr-defined]
    except ValidationError as exc:
        raise ContractError(field_errors(exc)) from None

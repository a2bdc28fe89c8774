"""The event contract: every message on the bus, its payload schema, its exchange and routing key.

How it evolves (README, "Production"):
- Events between our services are read tolerantly within a major schema version (`decode_event`): a
  field this release does not know is ignored, not refused, so a newer producer may add an optional
  field while older consumers still run. A new field must therefore be optional (have a default):
  an older producer does not send it.
- Anything else (a field removed, renamed, retyped or made required; a new meaning) is a new major
  version: the event's `schema_version` goes up, and every consumer reads the versions it does not
  write through an upcaster registered here (`@upcaster(type, version)`). A version with no upcaster
  is refused, naming `schema_version`, and dead-lettered for replay once the consumer is upgraded.
- Commands from outside systems (RaiseWhistle, the department reports) are validated strictly: a field
  the contract does not name is refused, naming it, never silently dropped. What outside systems read
  from us (the call-out, the outcomes) is as strict: they validate against the published schema, and
  the department client does, so within a version those messages never change.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any, Callable, ClassVar, Final, Literal, Optional

from pydantic import (AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer, PrivateAttr, StringConstraints,
                      ValidationError, ValidationInfo, field_validator, model_validator)

from services.common.reference import CODE, Urgency
from services.common.tiers import EventSource, GridTier, HotlineClass, Verifier

SCHEMA_VERSION: Final = 1
MAX_TEXT = 2000          # a description longer than this is someone pasting a document
MAX_SHORT = 200
MAX_BODY_BYTES = 64 * 1024

# Public exchanges (durable topic); internal events travel on `events`.
WHISTLES = "whistles"      # raise.<street_code>; outcome.<street_code>.<raised|rejected>
CALLOUTS = "callouts"      # callout.<department_code>.<urgency>
CHECKINS = "checkins"      # checkin.<department_code>; outcome.<department_code>.<accepted|rejected>
# a joint team's members, to their own department: assignment.<department_code>.<urgency>,
# replaced.<department_code>, released.<department_code>
ASSIGNMENTS = "assignments"
EVENTS = "events"          # <event_type>, e.g. whistle.raised, callout.checked_in
HOTLINE = "hotline"        # ticket.<street_code>; receipt.<street_code>.<accepted|rejected>; answer.<street_code>
DEADLETTERS = "deadletters"
EXCHANGES = (WHISTLES, CALLOUTS, CHECKINS, ASSIGNMENTS, EVENTS, HOTLINE)

Source = Literal["hotline_12345", "grid_patrol", "road_office", "street_office"]
Role = Literal["lead", "support"]


def iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


# An aware instant, written on the wire as UTC ISO-8601 with a Z.
Instant = Annotated[AwareDatetime, PlainSerializer(iso, return_type=str, when_used="json")]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_id() -> str:
    return str(uuid.uuid4())


TOLERANT = "tolerant"       # validation context key: ignore fields the model does not name


class Message(BaseModel):
    """Strict by default: a field the model does not name is an error. Read with the TOLERANT context
    (decode_event does), such fields are dropped instead, in nested models too."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_unknown_when_tolerant(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and info.context and info.context.get(TOLERANT):
            fields = cls.model_fields
            if any(key not in fields for key in data):
                return {key: value for key, value in data.items() if key in fields}
        return data


class Place(Message):
    """Where the problem is: a free-text address, optionally with WGS-84 coordinates."""

    address: str = Field(min_length=1, max_length=MAX_SHORT)
    lon: Optional[float] = Field(default=None, ge=-180, le=180)
    lat: Optional[float] = Field(default=None, ge=-90, le=90)


# ---------------------------------------------------------------- commands from outside systems
# Strict: parsed with `parse`, which refuses any field the command does not name (naming it), so a
# sender's misspelt optional field is an error it hears about, not a value silently lost.

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
    # the broker user the bus verified as its sender (services.common.attribution.stamp_sender);
    # never read from or written to the wire
    _sent_by: Optional[str] = PrivateAttr(default=None)


class DepartmentReport(Message):
    """What every report from a department names: its call-out, itself, and an optional retry key."""

    schema_version: Literal[1] = 1
    request_id: Optional[str] = Field(default=None, max_length=128)
    callout_id: str = Field(min_length=1, max_length=64)
    department_code: str = Field(pattern=CODE)
    _sent_by: Optional[str] = PrivateAttr(default=None)     # as RaiseWhistle's


class CheckIn(DepartmentReport):
    """报到: a department takes a call-out and names who comes (`checkins`, `checkin.<department>`)."""

    action: ClassVar[str] = "checkin"
    officer: str = Field(min_length=1, max_length=MAX_SHORT)
    note: Optional[str] = Field(default=None, max_length=MAX_TEXT)


class Arrive(DepartmentReport):
    """到场: the department's people are on site (`checkins`, `arrival.<department>`)."""

    action: ClassVar[str] = "arrival"
    officer: str = Field(min_length=1, max_length=MAX_SHORT)
    location: Place
    evidence_ref: str = Field(min_length=1, max_length=MAX_SHORT)    # photo id or URL


class Complete(DepartmentReport):
    """处置完成: the department's part is done (`checkins`, `completion.<department>`)."""

    action: ClassVar[str] = "completion"
    summary: str = Field(min_length=1, max_length=MAX_TEXT)
    evidence_refs: tuple[str, ...] = Field(min_length=1, max_length=20)


class Return(DepartmentReport):
    """退单: "not ours", with a mandatory reason (`checkins`, `return.<department>`)."""

    action: ClassVar[str] = "return"
    reason: str = Field(min_length=4, max_length=MAX_TEXT)


REPORTS: dict[str, type[DepartmentReport]] = {cls.action: cls for cls in (CheckIn, Arrive, Complete, Return)}
Action = Literal["checkin", "arrival", "completion", "return"]


class Evidence(Message):
    """两图一表: the before photo, the after photo, and the checklist, by reference."""

    before_photo: str = Field(min_length=1, max_length=MAX_SHORT)
    after_photo: str = Field(min_length=1, max_length=MAX_SHORT)
    checklist: tuple[str, ...] = Field(min_length=1, max_length=50)


class CloseWhistle(Message):
    """销号: the street confirms the problem is solved."""

    whistle_id: str = Field(min_length=1, max_length=64)
    street_code: str = Field(pattern=CODE)
    confirmed_by: str = Field(min_length=1, max_length=MAX_SHORT)
    evidence: Evidence


class SendBack(Message):
    """The street does not accept the work: named departments (or all) must do it again."""

    whistle_id: str = Field(min_length=1, max_length=64)
    street_code: str = Field(pattern=CODE)
    by: str = Field(min_length=1, max_length=MAX_SHORT)
    reason: str = Field(min_length=4, max_length=MAX_TEXT)
    departments: tuple[str, ...] = ()


Rating = Literal["satisfied", "basically_satisfied", "unsatisfied"]


class FollowUp(Message):
    """回访: the complainant's satisfaction; unsatisfied may reopen the case."""

    whistle_id: str = Field(min_length=1, max_length=64)
    rating: Rating
    comment: Optional[str] = Field(default=None, max_length=MAX_TEXT)
    reopen: bool = False
    recorded_by: str = Field(min_length=1, max_length=MAX_SHORT)


class AddDepartment(Message):
    """An operator calls one more department to a running whistle."""

    whistle_id: str = Field(min_length=1, max_length=64)
    department_code: str = Field(pattern=CODE)
    by: str = Field(min_length=1, max_length=MAX_SHORT)
    reason: str = Field(min_length=4, max_length=MAX_TEXT)


class DecideArbitration(Message):
    """The district decides an arbitration: which grid owns the place, or which department acts."""

    arbitration_id: str = Field(min_length=1, max_length=64)
    decided_by: str = Field(min_length=1, max_length=MAX_SHORT)
    grid_code: Optional[str] = Field(default=None, pattern=CODE)
    department_code: Optional[str] = Field(default=None, pattern=CODE)
    note: Optional[str] = Field(default=None, max_length=MAX_TEXT)


FactKind = Literal["whistle", "callout", "return", "escalation", "follow_up"]


class RecordDecision(Message):
    """免责 / 申诉: an exemption or an appeal about one assessed fact (the metrics service's
    `POST /api/v1/assessment/decisions`). An exemption, or an upheld appeal, takes the fact out of
    every figure; an upheld appeal against a return's verdict makes the return justified; a rejected
    (or undecided) appeal changes nothing and is kept in the audit."""

    kind: Literal["exemption", "appeal"]
    fact_kind: FactKind
    fact_id: str = Field(min_length=1, max_length=64)     # the whistle, call-out, escalation or follow-up id
    reason: str = Field(min_length=4, max_length=MAX_TEXT)
    decided_by: str = Field(min_length=1, max_length=MAX_SHORT)
    upheld: bool = True
    requested_by: Optional[str] = Field(default=None, max_length=MAX_SHORT)   # who appealed


# ---------------------------------------------------------------- events

ActorKind = Literal["street", "department", "district", "assessment", "operator", "service", "hotline",
                    "follow_up", "open311"]


class Actor(Message):
    """Who took an action: the authenticated principal (services/common/auth), never its credential.

    `token_id` is the id of the bearer token it showed, or `amqp:<broker user>` for a sender the
    broker vouched for (SENDER_CHECK=user_id)."""

    kind: ActorKind
    code: str = Field(pattern=CODE)
    token_id: str = Field(min_length=1, max_length=MAX_SHORT)


class Event(Message):
    """Every event carries its type, a unique id, when it happened (UTC) and the schema version.

    `schema_version` is the major version this release writes (and reads without an upcaster); an
    event type whose shape breaks overrides it, e.g. `schema_version: Literal[2] = 2`."""

    event_type: ClassVar[str]
    type: str = ""
    event_id: str = Field(default_factory=new_id, min_length=1, max_length=64)
    occurred_at: Instant = Field(default_factory=utcnow)
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
    linked_to: Optional[str] = None     # an open whistle this report joined instead of calling anew
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
    raised_at: Instant


class WhistleLinked(Event):
    """A report of a problem already being handled joined the open whistle (no second call-out)."""

    event_type = "whistle.linked"
    whistle_id: str                     # the new report
    linked_to: str                      # the open whistle it joined
    street_code: str
    category: str
    distance_m: float


class Deadlines(Message):
    check_in_by: Instant
    arrival_by: Instant
    completion_by: Instant


IssueReason = Literal["matrix", "rerouted", "added", "arbitrated", "sent_back", "reopened"]


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
    issued_at: Instant
    matrix_version: str
    round: int = 1                      # 2, 3... after a send-back or a reopening
    reason: IssueReason = "matrix"


class IssuedCallout(Message):
    """One call-out of a CalloutsIssued: the department's part."""

    callout_id: str
    department_code: str
    department_name_zh: str
    role: Role
    deadlines: Deadlines
    issued_at: Instant


class CalloutsIssued(Event):
    """Dispatch's own announcement of the call-outs it just issued for one whistle, one event however
    many departments: what the whistle's timeline, the roster and the metrics need. Departments get
    one CalloutIssued each on `callouts`; nothing of ours reads those."""

    event_type = "callouts.issued"
    whistle_id: str
    street_code: str
    community_code: Optional[str]
    grid_code: Optional[str]
    category: str
    urgency: Urgency
    joint_enforcement: bool
    departments: tuple[str, ...]        # every department called on this whistle, lead first
    round: int = 1
    reason: IssueReason = "matrix"
    # set when these are the call-outs of a whistle just located: by the responsibility map, or as given
    located_by: Optional[Literal["map", "given"]] = None
    callouts: tuple[IssuedCallout, ...] = Field(min_length=1)
    by: Optional[Actor] = None          # who called these departments (added or arbitrated), if anyone did
    place: Optional[Place] = None       # where and what, for the members of a joint team
    description: Optional[str] = None


class CalloutStep(Event):
    """What every department step on a call-out carries, so consumers never call back to ask."""

    callout_id: str
    whistle_id: str
    department_code: str
    street_code: str
    category: str
    urgency: Urgency
    issued_at: Instant
    round: int = 1
    by: Optional[Actor] = None          # the principal that reported the step; none for the deadline sweep's


class CalloutCheckedIn(CalloutStep):
    event_type = "callout.checked_in"
    officer: str
    checked_in_at: Instant
    check_in_by: Instant
    on_time: bool


class CalloutArrived(CalloutStep):
    event_type = "callout.arrived"
    officer: str
    location: Place
    evidence_ref: str
    arrived_at: Instant
    arrival_by: Instant
    on_time: bool


class CalloutCompleted(CalloutStep):
    event_type = "callout.completed"
    summary: str
    evidence_refs: tuple[str, ...]
    completed_at: Instant
    completion_by: Instant
    on_time: bool


class CalloutReturned(CalloutStep):
    """退单: never a dead end; names where the work went (another department or arbitration)."""

    event_type = "callout.returned"
    reason: str
    returned_at: Instant
    rerouted_to: Optional[str] = None
    arbitration_id: Optional[str] = None


Step = Literal["check_in", "arrival", "completion"]
Tier = Literal["street", "district", "city"]


class CalloutEscalated(CalloutStep):
    """督办: a step missed its deadline; `chased_by` is who is now responsible for chasing it."""

    event_type = "callout.escalated"
    step: Step
    due_at: Instant
    level: int                          # 1 = first tier; climbs while the step stays undone
    tier: Tier
    chased_by: str
    chased_by_name_zh: str
    escalated_at: Instant


class ArbitrationOpened(Event):
    """责任区域确权 / 退单 with no alternative: the district must decide, by `decide_by`."""

    event_type = "arbitration.opened"
    arbitration_id: str
    whistle_id: str
    street_code: str
    category: str
    reason: Literal["unowned_place", "disputed_place", "returned_without_alternative"]
    candidates: tuple[str, ...]         # grids claiming the place, or departments already tried
    decide_by: Instant


class ArbitrationOverdue(Event):
    """The district did not decide in time: the arbitration is escalated to the city (督办)."""

    event_type = "arbitration.overdue"
    arbitration_id: str
    whistle_id: str
    street_code: str
    reason: str
    decide_by: Instant
    chased_by: str
    chased_by_name_zh: str
    escalated_at: Instant


class ArbitrationDecided(Event):
    event_type = "arbitration.decided"
    arbitration_id: str
    whistle_id: str
    street_code: str
    decided_by: str
    grid_code: Optional[str]
    department_code: Optional[str]
    decided_at: Instant
    by: Optional[Actor] = None          # the principal that decided (decided_by is the free-text name)


class ReportOutcome(Event):
    """Told back to the department on `checkins`, `outcome.<department>.<accepted|rejected>`."""

    event_type = "report.outcome"
    action: Action
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
    round: int = 1
    departments: tuple[str, ...]
    first_issued_at: Instant
    last_checked_in_at: Instant


class AllCompleted(Event):
    """事不完，人不走: every called department has completed; the street may now close or send back."""

    event_type = "whistle.all_completed"
    whistle_id: str
    street_code: str
    departments: tuple[str, ...]
    round: int
    completed_at: Instant


class WhistleClosed(Event):
    event_type = "whistle.closed"
    whistle_id: str
    street_code: str
    confirmed_by: str
    evidence: Evidence
    closed_at: Instant


class WhistleSentBack(Event):
    event_type = "whistle.sent_back"
    whistle_id: str
    street_code: str
    by: str
    reason: str
    departments: tuple[str, ...]        # empty: every department of the last round
    sent_back_at: Instant


class FollowUpRecorded(Event):
    event_type = "whistle.follow_up"
    whistle_id: str
    street_code: str
    rating: Rating
    comment: Optional[str]
    recorded_by: str
    reopened: bool


class WhistleReopened(Event):
    """An unsatisfied follow-up reopened a closed case: fresh call-outs follow."""

    event_type = "whistle.reopened"
    whistle_id: str
    street_code: str
    reason: str
    reopened_at: Instant


# ---------------------------------------------------------------- joint enforcement teams ("城管+N")

TeamKind = Literal["whistle", "operation"]
AssignmentUrgency = Literal["emergency", "urgent", "normal", "complex", "planned"]   # planned: an operation
ReplacedBecause = Literal["declined", "no_show", "off_shift"]
GapReason = Literal["nobody_on_duty", "nobody_qualified", "all_at_limit", "all_tried"]
MemberAction = Literal["member_checkin", "member_decline"]


class TeamOfficer(Message):
    """Who a team event is about, as people need to see them."""

    officer_code: str
    name: str
    department_code: str
    badge: str


class TeamEvent(Event):
    """What every team event names, so consumers never call back to ask."""

    team_id: str
    kind: TeamKind
    whistle_id: Optional[str] = None           # kind whistle
    operation_code: Optional[str] = None       # kind operation
    occurrence_id: Optional[str] = None        # kind operation: which occurrence
    street_code: Optional[str] = None          # None: a district-wide operation
    category: str
    round: int = 1


class OfficerAssigned(TeamEvent):
    """To the member's own department (`assignments`, `assignment.<department>.<urgency>`): its officer
    is on the team, must check in by `check_in_by`, and who leads."""

    event_type = "team.officer_assigned"
    department_code: str
    department_name_zh: str
    officer: TeamOfficer
    role: Role
    lead: Optional[TeamOfficer]                # None while the lead department has a gap
    urgency: AssignmentUrgency
    community_code: Optional[str] = None
    grid_code: Optional[str] = None
    place: Optional[Place] = None
    description: Optional[str] = None
    starts_at: Optional[Instant] = None        # a planned operation's start
    assigned_at: Instant
    check_in_by: Instant
    replaces: Optional[str] = None             # the officer code this member replaces


class MemberCheckedIn(TeamEvent):
    """A member checked in personally (报到) as a member of the team."""

    event_type = "team.member_checked_in"
    department_code: str
    officer: TeamOfficer
    checked_in_at: Instant
    check_in_by: Instant
    on_time: bool


class MemberReplaced(TeamEvent):
    """To the department (`assignments`, `replaced.<department>`): its officer is stood down; an
    OfficerAssigned for `replaced_by` follows, or a RosterGap when nobody is left."""

    event_type = "team.member_replaced"
    department_code: str
    officer: TeamOfficer
    reason: ReplacedBecause
    replaced_by: Optional[str]
    replaced_at: Instant


class RosterGap(TeamEvent):
    """A department has nobody eligible for the team: dispatch escalates it like a missed deadline."""

    event_type = "roster.gap"
    department_code: str
    role: Role
    reason: GapReason
    urgency: AssignmentUrgency
    detected_at: Instant


class TeamAssembled(TeamEvent):
    """The quorum is present (by default: someone from every department): the team is on site."""

    event_type = "team.assembled"
    lead: Optional[TeamOfficer]                # None only when the quorum does not require the lead
    members: tuple[TeamOfficer, ...]           # present at assembly
    gaps: tuple[str, ...]                      # departments without anyone present (only if the quorum allows)
    formed_at: Instant
    assembled_at: Instant


class TeamReleased(TeamEvent):
    """One per released department (`assignments`, `released.<department>`); `whole` when the whole
    team is released (case closed, operation over)."""

    event_type = "team.released"
    department_code: str
    officer: Optional[TeamOfficer]             # the member released, if the department had one
    whole: bool
    released_at: Instant


class RosterGapEscalated(TeamEvent):
    """督办 of a roster gap: a department still has nobody for the team, escalated like a missed
    deadline (the same ladder, from when the gap was found); stops once someone is assigned."""

    event_type = "roster.gap_escalated"
    department_code: str
    urgency: AssignmentUrgency
    reason: GapReason
    detected_at: Instant
    level: int
    tier: Tier
    chased_by: str
    chased_by_name_zh: str
    escalated_at: Instant


class MemberCommand(Message):
    schema_version: Literal[1] = 1
    request_id: Optional[str] = Field(default=None, max_length=128)
    team_id: str = Field(min_length=1, max_length=64)
    department_code: str = Field(pattern=CODE)
    officer_code: str = Field(pattern=CODE)


class CheckInAsMember(MemberCommand):
    """报到 as a team member, personally (`checkins`, `member_checkin.<department>`; RPC; HTTP)."""

    action: ClassVar[str] = "member_checkin"
    location: Optional[Place] = None
    note: Optional[str] = Field(default=None, max_length=MAX_TEXT)


class DeclineAssignment(MemberCommand):
    """The member cannot come (`checkins`, `member_decline.<department>`): the next officer is assigned."""

    action: ClassVar[str] = "member_decline"
    reason: str = Field(min_length=2, max_length=MAX_SHORT)


MEMBER_COMMANDS: dict[str, type[MemberCommand]] = {c.action: c for c in (CheckInAsMember, DeclineAssignment)}


class MemberOutcome(Event):
    """The answer to a member command (`checkins`, `outcome.<department>.<accepted|rejected>`)."""

    event_type = "member.outcome"
    action: MemberAction
    request_id: Optional[str]
    team_id: str
    department_code: str
    officer_code: str
    outcome: Literal["accepted", "rejected"]
    repeated: bool = False
    errors: tuple[FieldError, ...] = ()


# ---------------------------------------------------------------- below the whistle: grid events, 12345 tickets
# The hotline exchange (see HOTLINE): ticket.<street_code> in, receipt.<street_code>.<accepted|rejected> and
# answer.<street_code> out; every grid event travels on `events` under its type.

MAX_EVENT_TEXT = 4000    # Open311's limit on a description; a whistle carries the first MAX_TEXT of it
TICKET_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
Ref = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_SHORT)]
GridOutcome = Literal["handled", "false_report", "whistled"]
ResolvedBy = Literal["grid", "community", "street", "whistle"]
Missed = Literal["accept", "handle"]


# commands

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


# events

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
    outcome: GridOutcome
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


EVENT_TYPES: dict[str, type[Event]] = {
    cls.event_type: cls for cls in
    (WhistleOutcome, WhistleRaised, WhistleLinked, CalloutIssued, CalloutsIssued, CalloutCheckedIn,
     CalloutArrived, CalloutCompleted, CalloutReturned, CalloutEscalated, ArbitrationOpened,
     ArbitrationOverdue, ArbitrationDecided, ReportOutcome, AllCheckedIn, AllCompleted, WhistleClosed,
     WhistleSentBack, FollowUpRecorded, WhistleReopened, OfficerAssigned, MemberCheckedIn, MemberReplaced,
     RosterGap, TeamAssembled, TeamReleased, RosterGapEscalated, MemberOutcome,
     GridEventOpened, GridEventVerified, GridEventAccepted, GridEventPassedUp, GridEventOverdue, GridEventHandled,
     GridEventWhistled, GridEventClosed, GridEventReopened, TicketReceipt, TicketAnswered)
}
DISPATCH_PROGRESS = (CalloutsIssued, CalloutCheckedIn, CalloutArrived, CalloutCompleted,
                     CalloutReturned, CalloutEscalated, ArbitrationOpened, ArbitrationOverdue, ArbitrationDecided,
                     AllCheckedIn, AllCompleted, RosterGapEscalated)


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
    if isinstance(event, (ReportOutcome, MemberOutcome)):
        return Route(CHECKINS, f"outcome.{event.department_code}.{event.outcome}")
    if isinstance(event, TicketReceipt):
        return Route(HOTLINE, f"receipt.{event.street_code}.{event.outcome}")
    if isinstance(event, TicketAnswered):
        return Route(HOTLINE, f"answer.{event.street_code}")
    if isinstance(event, OfficerAssigned):
        return Route(ASSIGNMENTS, f"assignment.{event.department_code}.{event.urgency}")
    if isinstance(event, MemberReplaced):
        return Route(ASSIGNMENTS, f"replaced.{event.department_code}")
    if isinstance(event, TeamReleased):
        return Route(ASSIGNMENTS, f"released.{event.department_code}")
    return Route(EVENTS, event.event_type)


def encode(message: Message) -> bytes:
    return message.model_dump_json().encode("utf-8")


def decode_event(payload: dict) -> Event:
    """Validates an event payload by its `type`, tolerantly; raises ContractError naming every bad field.

    A payload at the type's current schema version is validated with fields this release does not know
    ignored. One at another version goes through the upcaster registered for (type, version) first. Any
    other version is refused, naming `schema_version`, before its fields are looked at."""
    kind = payload.get("type") if isinstance(payload, dict) else None
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None or not isinstance(kind, str):
        raise ContractError((FieldError(field="type", message=f"unknown event type {kind!r}"),))
    current = current_version(cls)
    version = payload.get("schema_version", current)
    if version != current:
        payload = upcast(kind, version, current, payload)
    return parse(cls, payload, tolerant=True)


# ---------------------------------------------------------------- upcasters

Upcaster = Callable[[dict], dict]
# (event type, schema version) -> a function taking a payload of that version and returning the fields
# of the type's current model. Empty while every event is at its first version.
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def current_version(cls: type[Event]) -> int:
    """The major schema version this release writes for an event type."""
    return cls.model_fields["schema_version"].default


def upcaster(event_type: str, version: int) -> Callable[[Upcaster], Upcaster]:
    """Registers `fn(payload) -> payload` reading `event_type` at `version` as this release's model.

    `version` may be older than the current one (events still in queues, outboxes and dead letters
    from before the change) or newer (the step before a producer starts writing it: consumers that
    read it must run everywhere first). The function returns the current model's fields;
    `schema_version` is set for it."""
    cls = EVENT_TYPES.get(event_type)
    if cls is None:
        raise ValueError(f"no event type {event_type!r}")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"schema version {version!r} is not a positive integer")
    if version == current_version(cls):
        raise ValueError(f"{event_type} is read at version {version} without an upcaster")
    if (event_type, version) in UPCASTERS:
        raise ValueError(f"an upcaster for {event_type} version {version} is already registered")

    def register(fn: Upcaster) -> Upcaster:
        UPCASTERS[(event_type, version)] = fn
        return fn
    return register


def upcast(event_type: str, version: Any, current: int, payload: dict) -> dict:
    fn = UPCASTERS.get((event_type, version)) if isinstance(version, int) and not isinstance(version, bool) \
        else None
    if fn is None:
        known = sorted(v for (t, v) in UPCASTERS if t == event_type)
        also = f", and through upcasters {', '.join(map(str, known))}" if known else ""
        raise ContractError((FieldError(field="schema_version", message=(
            f"version {version!r} of {event_type} is not read by this release (it reads {current}{also}): "
            f"replay it once this consumer is upgraded")),))
    try:
        upcasted = fn(dict(payload))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ContractError((FieldError(field="schema_version", message=(
            f"version {version} of {event_type} could not be upcast: {type(exc).__name__}: {exc}")),)) from None
    return {**upcasted, "schema_version": current}


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


def parse(cls: Callable[..., Message], payload: Any, tolerant: bool = False):
    """Validates payload as cls: strictly (an unknown field is an error), or with `tolerant` ignoring it."""
    if not isinstance(payload, dict):
        raise ContractError((FieldError(field="(message)", message="must be a JSON object"),))
    try:
        if tolerant:
            return cls.model_validate(payload, context={TOLERANT: True})  # type: ignore[attr-defined]
        return cls.model_validate(payload)  # type: ignore[attr-defined]
    except ValidationError as exc:
        raise ContractError(field_errors(exc)) from None

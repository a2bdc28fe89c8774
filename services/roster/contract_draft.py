"""DRAFT of the roster's wire contract, for the lead to move into services/common/events.py (and its
route_of, EVENT_TYPES and AsyncAPI document): the events the roster emits about joint enforcement
teams, and the commands a team member sends. Same conventions as events.py: every event has type,
event_id, occurred_at (UTC) and schema_version; every command is strict.

Routing:
- `assignments` (new public durable topic exchange): each department binds only its own keys
  `assignment.<department>.<urgency>` (OfficerAssigned), `replaced.<department>` (MemberReplaced)
  and `released.<department>` (TeamReleased), e.g. one binding `*.<department>.#`.
- `checkins` (existing): members send `member_checkin.<department>` and `member_decline.<department>`;
  the answer is a MemberOutcome on `outcome.<department>.<accepted|rejected>` (the key departments
  already read ReportOutcome on).
- `events` (existing): team.assembled, team.member_checked_in and roster.gap by their type.

TeamAssembled replaces today's events.TeamAssembled, which is sent when the team is picked: now the
picking is told by one OfficerAssigned per member (and a RosterGap per empty department), and
TeamAssembled is sent once per round when the quorum has checked in. Its `whistle_id` becomes
optional (a planned operation's team has none); whistle's consumer must skip those.
"""
from __future__ import annotations

from typing import ClassVar, Literal, Optional

from pydantic import Field

from services.common.events import (CHECKINS, EVENTS, MAX_SHORT, MAX_TEXT, Event, FieldError, Instant, Message,
                                    Place, Route)
from services.common.reference import CODE

ASSIGNMENTS = "assignments"
TeamKind = Literal["whistle", "operation"]
AssignmentUrgency = Literal["emergency", "urgent", "normal", "complex", "planned"]   # planned: an operation
ReplacedBecause = Literal["declined", "no_show", "off_shift"]
GapReason = Literal["nobody_on_duty", "nobody_qualified", "all_at_limit", "all_tried"]
MemberAction = Literal["member_checkin", "member_decline"]


class Officer(Message):
    """Who an event is about, as people need to see them."""

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
    officer: Officer
    role: Literal["lead", "support"]
    lead: Optional[Officer]                    # None while the lead department has a gap
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
    event_type = "team.member_checked_in"
    department_code: str
    officer: Officer
    checked_in_at: Instant
    check_in_by: Instant
    on_time: bool


class MemberReplaced(TeamEvent):
    """To the department (`assignments`, `replaced.<department>`): its officer is stood down; a
    OfficerAssigned for `replaced_by` follows, or a RosterGap when nobody is left."""

    event_type = "team.member_replaced"
    department_code: str
    officer: Officer
    reason: ReplacedBecause
    replaced_by: Optional[str]
    replaced_at: Instant


class RosterGap(TeamEvent):
    """A department has nobody eligible for the team: dispatch escalates it like a missed deadline."""

    event_type = "roster.gap"
    department_code: str
    role: Literal["lead", "support"]
    reason: GapReason
    urgency: AssignmentUrgency
    detected_at: Instant


class TeamAssembled(TeamEvent):
    """The quorum is present (by default: someone from every department): the team is on site."""

    event_type = "team.assembled"
    lead: Optional[Officer]                    # None only when the quorum does not require the lead
    members: tuple[Officer, ...]               # present at assembly
    gaps: tuple[str, ...]                      # departments without anyone present (only if the quorum allows)
    formed_at: Instant
    assembled_at: Instant


class TeamReleased(TeamEvent):
    """One per released department (`assignments`, `released.<department>`); `whole` when the whole
    team is released (case closed or cancelled, operation over)."""

    event_type = "team.released"
    department_code: str
    officer: Optional[Officer]                 # the member released, if the department had one
    whole: bool
    released_at: Instant


# ---------------------------------------------------------------- commands from members

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


ROSTER_EVENTS: dict[str, type[Event]] = {cls.event_type: cls for cls in (
    OfficerAssigned, MemberCheckedIn, MemberReplaced, RosterGap, TeamAssembled, TeamReleased, MemberOutcome)}
MEMBER_COMMANDS: dict[str, type[MemberCommand]] = {c.action: c for c in (CheckInAsMember, DeclineAssignment)}


def roster_route(event: Event) -> Route | None:
    """Where a roster event goes (merge into events.route_of); None: not a roster event."""
    if isinstance(event, OfficerAssigned):
        return Route(ASSIGNMENTS, f"assignment.{event.department_code}.{event.urgency}")
    if isinstance(event, MemberReplaced):
        return Route(ASSIGNMENTS, f"replaced.{event.department_code}")
    if isinstance(event, TeamReleased):
        return Route(ASSIGNMENTS, f"released.{event.department_code}")
    if isinstance(event, MemberOutcome):
        return Route(CHECKINS, f"outcome.{event.department_code}.{event.outcome}")
    if isinstance(event, (MemberCheckedIn, RosterGap, TeamAssembled)):
        return Route(EVENTS, event.event_type)
    return None

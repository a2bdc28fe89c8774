"""Joint enforcement teams ("城管+N"), pure: one officer per participating department, the lead from
the lead department; each member checks in personally; who declines, goes off shift before checking
in, or misses the check-in deadline is replaced by the next eligible officer; a department with nobody
eligible is a roster gap, reported once, and tried again on every sweep. The team follows its case:
departments are added, released, or changed on a new round.

Every function takes the team and `now` and returns an Outcome: the new team, what changed (for the
handler to announce), and the officers' workload after it. Nothing here reads the clock.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone, tzinfo
from types import MappingProxyType
from typing import Iterable, Literal, Mapping, Optional

from services.roster.codes import Codes, Place
from services.roster.errors import InvalidRoster, NotAllowed, error
from services.roster.officers import CHINA, Officer, posting_rank

Role = Literal["lead", "support"]
MemberStatus = Literal["assigned", "present", "declined", "no_show", "off_shift", "released"]
ACTIVE = ("assigned", "present")
# why a department has nobody: the first filter that left no one
GapReason = Literal["nobody_on_duty", "nobody_qualified", "all_at_limit", "all_tried"]
NEVER = datetime.min.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Case:
    """What a team is for: a whistle, or one occurrence of a planned joint operation."""

    kind: Literal["whistle", "operation"]
    ref: str                         # whistle id, or operation occurrence id
    category: str
    urgency: str                     # the whistle's urgency; "planned" for an operation
    street: Optional[str] = None     # None: district-wide
    community: Optional[str] = None
    grid: Optional[str] = None
    starts_at: Optional[datetime] = None   # a planned operation's start: check-ins are due from then
    operation: Optional[str] = None        # the planned operation's code

    def place(self, codes: Codes) -> Place | None:
        for level, code in (("grid", self.grid), ("community", self.community), ("street", self.street)):
            if code is not None and (found := codes.place(level, code)) is not None:
                return found
        return None


@dataclass(frozen=True)
class Member:
    """One assignment of one officer to the team; kept after it ends, for the history."""

    department: str
    officer: str
    role: Role
    round: int
    assigned_at: datetime
    check_in_by: datetime
    status: MemberStatus = "assigned"
    checked_in_at: Optional[datetime] = None
    ended_at: Optional[datetime] = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


@dataclass(frozen=True)
class Slot:
    """A department's place on the team."""

    department: str
    role: Role
    open: bool = True
    tried: tuple[str, ...] = ()            # officers assigned to this slot since it opened
    gap_since: Optional[datetime] = None   # nobody eligible since then (reported once)


@dataclass(frozen=True)
class Team:
    team_id: str
    case: Case
    slots: tuple[Slot, ...]                # the lead department first
    members: tuple[Member, ...]            # every assignment, in order
    formed_at: datetime
    round: int = 1
    assembled_at: Optional[datetime] = None
    assembled_round: int = 0
    released_at: Optional[datetime] = None

    def current(self, department: str) -> Member | None:
        return next((m for m in reversed(self.members) if m.department == department and m.active), None)

    @property
    def lead_department(self) -> str:
        return self.slots[0].department

    @property
    def lead(self) -> Member | None:
        return self.current(self.lead_department)

    @property
    def departments(self) -> tuple[str, ...]:
        return tuple(s.department for s in self.slots if s.open)

    @property
    def gaps(self) -> tuple[str, ...]:
        return tuple(d for d in self.departments if self.current(d) is None)

    @property
    def present(self) -> tuple[str, ...]:
        return tuple(d for d in self.departments if (m := self.current(d)) is not None and m.status == "present")


@dataclass(frozen=True)
class Quorum:
    """When a team counts as assembled: the lead department present (unless not required) and at least
    `share` of its departments (rounded up) present. The default is every department."""

    lead_required: bool = True
    share: float = 1.0

    def __post_init__(self):
        if not 0 < self.share <= 1:
            raise InvalidRoster.one("quorum.share", f"must be above 0 and at most 1, not {self.share}")

    def met(self, team: Team) -> bool:
        present = set(team.present)
        if self.lead_required and team.lead_department not in present:
            return False
        return len(present) >= math.ceil(self.share * len(team.departments) - 1e-9)


@dataclass(frozen=True)
class TeamRules:
    check_in_within: timedelta = timedelta(minutes=30)
    open_case_limit: int = 3          # teams an officer may be an active member of at once
    quorum: Quorum = Quorum()
    zone: tzinfo = CHINA              # the day a certificate is judged on


@dataclass(frozen=True)
class Availability:
    """Who could be picked: the officers, and who is on duty in each department at `at`."""

    at: datetime
    officers: Mapping[str, Officer]
    on_duty: Mapping[str, frozenset[str]]


@dataclass(frozen=True)
class Workload:
    """How many open cases each officer has, and when each was last assigned (the fairness rule)."""

    open_cases: Mapping[str, int] = field(default_factory=dict)
    last_assigned: Mapping[str, datetime] = field(default_factory=dict)

    def open(self, officer: str) -> int:
        return self.open_cases.get(officer, 0)

    def assign(self, officer: str, at: datetime) -> "Workload":
        return Workload(MappingProxyType({**self.open_cases, officer: self.open(officer) + 1}),
                        MappingProxyType({**self.last_assigned, officer: at}))

    def free(self, officer: str) -> "Workload":
        return Workload(MappingProxyType({**self.open_cases, officer: max(0, self.open(officer) - 1)}),
                        self.last_assigned)


# ---------------------------------------------------------------- what changed

@dataclass(frozen=True)
class Assigned:
    member: Member
    replaces: Optional[Member] = None


@dataclass(frozen=True)
class RosterGap:
    department: str
    role: Role
    reason: GapReason
    at: datetime


@dataclass(frozen=True)
class CheckedIn:
    member: Member
    on_time: bool


@dataclass(frozen=True)
class Replaced:
    """`old` left (declined, no_show or off_shift, its status); `new` took over, or None: a gap follows."""

    old: Member
    new: Optional[Member]


@dataclass(frozen=True)
class Assembled:
    team: Team


@dataclass(frozen=True)
class Released:
    """Members released: one department's (`department`), or the whole team's (department None)."""

    department: Optional[str]
    members: tuple[Member, ...]


Change = Assigned | RosterGap | CheckedIn | Replaced | Assembled | Released


@dataclass(frozen=True)
class Outcome:
    team: Team
    changes: tuple[Change, ...]
    workload: Workload


# ---------------------------------------------------------------- picking

def candidates(department: str, case: Case, availability: Availability, workload: Workload, rules: TeamRules,
               codes: Codes, exclude: Iterable[str] = ()) -> tuple[tuple[Officer, ...], GapReason | None]:
    """The department's eligible officers, best first (posted closest to the case, then least recently
    assigned, then by code), or no one and the reason why."""
    on_duty = [o for code in sorted(availability.on_duty.get(department, ()))
               if (o := availability.officers.get(code)) is not None and o.department == department]
    if not on_duty:
        return (), "nobody_on_duty"
    able = [o for o in on_duty if o.active and o.certified_at(availability.at, rules.zone)
            and o.may_enforce(case.category)]
    if not able:
        return (), "nobody_qualified"
    free = [o for o in able if workload.open(o.code) < rules.open_case_limit]
    if not free:
        return (), "all_at_limit"
    excluded = set(exclude)
    left = [o for o in free if o.code not in excluded]
    if not left:
        return (), "all_tried"
    place = case.place(codes)
    left.sort(key=lambda o: (posting_rank(o, place, codes), workload.last_assigned.get(o.code, NEVER), o.code))
    return tuple(left), None


class _Edit:
    """A team being changed: the slots, members, changes and workload, rebuilt into an Outcome."""

    def __init__(self, team: Team, workload: Workload, now: datetime):
        self.team, self.now = team, now
        self.slots, self.members = list(team.slots), list(team.members)
        self.changes: list[Change] = []
        self.workload = workload

    def snapshot(self, **updates) -> Team:
        return replace(self.team, slots=tuple(self.slots), members=tuple(self.members), **updates)

    def slot_index(self, department: str) -> int | None:
        return next((i for i, s in enumerate(self.slots) if s.department == department), None)

    def member_index(self, department: str) -> int | None:
        return next((i for i in range(len(self.members) - 1, -1, -1)
                     if self.members[i].department == department and self.members[i].active), None)

    def end(self, index: int, status: MemberStatus) -> Member:
        ended = replace(self.members[index], status=status, ended_at=self.now)
        self.members[index] = ended
        self.workload = self.workload.free(ended.officer)
        return ended

    def staff(self, index: int, availability: Availability, rules: TeamRules, codes: Codes,
              replacing: Member | None = None) -> Member | None:
        slot = self.slots[index]
        team = self.snapshot()
        busy = {m.officer for m in team.members if m.active}
        found, reason = candidates(slot.department, team.case, availability, self.workload, rules, codes,
                                   exclude=(*slot.tried, *busy))
        if not found:
            if replacing is not None:
                self.changes.append(Replaced(replacing, None))
            if slot.gap_since is None:
                self.slots[index] = replace(slot, gap_since=self.now)
                self.changes.append(RosterGap(slot.department, slot.role, reason, self.now))
            return None
        chosen = found[0]
        starts = max(self.now, team.case.starts_at or self.now)
        member = Member(slot.department, chosen.code, slot.role, team.round, self.now, starts + rules.check_in_within)
        self.members.append(member)
        self.slots[index] = replace(slot, tried=(*slot.tried, chosen.code), gap_since=None)
        self.workload = self.workload.assign(chosen.code, self.now)
        if replacing is not None:
            self.changes.append(Replaced(replacing, member))
        self.changes.append(Assigned(member, replacing))
        return member

    def done(self, rules: TeamRules, **updates) -> Outcome:
        team = self.snapshot(**updates)
        if team.released_at is None and team.assembled_round < team.round and rules.quorum.met(team):
            team = replace(team, assembled_at=self.now, assembled_round=team.round)
            self.changes.append(Assembled(team))
        return Outcome(team, tuple(self.changes), self.workload)


def _departments(lead: str, supporting: Iterable[str], codes: Codes) -> tuple[str, ...]:
    departments = (lead, *dict.fromkeys(d for d in supporting if d != lead))
    unknown = [(i, d) for i, d in enumerate(departments) if d not in codes.departments]
    if unknown:
        raise InvalidRoster(tuple(error("lead" if i == 0 else f"supporting.{i - 1}", f"unknown department {d!r}")
                                  for i, d in unknown))
    return departments


def form(team_id: str, case: Case, lead: str, supporting: Iterable[str], availability: Availability,
         workload: Workload, rules: TeamRules, codes: Codes, now: datetime) -> Outcome:
    """A new team: one eligible officer per department, or a roster gap for it."""
    if case.category not in codes.categories:
        raise InvalidRoster.one("category", f"unknown category {case.category!r}")
    departments = _departments(lead, supporting, codes)
    slots = tuple(Slot(d, "lead" if i == 0 else "support") for i, d in enumerate(departments))
    edit = _Edit(Team(team_id, case, slots, (), now), workload, now)
    for index in range(len(slots)):
        edit.staff(index, availability, rules, codes)
    return edit.done(rules)


def _live(team: Team) -> None:
    if team.released_at is not None:
        raise NotAllowed.one("team_id", f"team {team.team_id} was released")


def _member_of(team: Team, officer: str, department: str) -> int:
    for i in range(len(team.members) - 1, -1, -1):
        m = team.members[i]
        if m.officer == officer and m.department == department:
            if m.active:
                return i
            raise NotAllowed.one("officer_code", f"officer {officer} is no longer on team {team.team_id} "
                                                 f"({m.status} at {m.ended_at.isoformat()})")
    raise NotAllowed.one("officer_code", f"officer {officer} of {department} is not on team {team.team_id}")


def check_in(team: Team, officer: str, department: str, workload: Workload, rules: TeamRules,
             now: datetime) -> Outcome:
    """The member is present. A second check-in changes nothing; a replaced member is refused."""
    _live(team)
    index = _member_of(team, officer, department)
    edit = _Edit(team, workload, now)
    member = team.members[index]
    if member.status == "present":
        return Outcome(team, (), workload)
    member = replace(member, status="present", checked_in_at=now)
    edit.members[index] = member
    edit.changes.append(CheckedIn(member, on_time=now <= member.check_in_by))
    return edit.done(rules)


def decline(team: Team, officer: str, department: str, availability: Availability, workload: Workload,
            rules: TeamRules, codes: Codes, now: datetime) -> Outcome:
    """The member says they cannot come; the next eligible officer of the department is assigned."""
    _live(team)
    index = _member_of(team, officer, department)
    if team.members[index].status == "present":
        raise NotAllowed.one("officer_code", f"officer {officer} has checked in already; the department "
                                             "can be released from the team instead")
    edit = _Edit(team, workload, now)
    old = edit.end(index, "declined")
    edit.staff(edit.slot_index(department), availability, rules, codes, replacing=old)
    return edit.done(rules)


def sweep(team: Team, availability: Availability, workload: Workload, rules: TeamRules, codes: Codes,
          now: datetime) -> Outcome:
    """Replaces who missed the check-in deadline or went off shift before checking in, and tries the
    gaps again. A present member stays whatever the shift says ("事不完，人不走")."""
    if team.released_at is not None:
        return Outcome(team, (), workload)
    edit = _Edit(team, workload, now)
    for index, slot in enumerate(team.slots):
        if not slot.open:
            continue
        current = edit.member_index(slot.department)
        if current is None:
            edit.staff(index, availability, rules, codes)
            continue
        member = edit.members[current]
        if member.status != "assigned":
            continue
        if now > member.check_in_by:
            status: MemberStatus = "no_show"
        elif member.officer not in availability.on_duty.get(slot.department, ()):
            status = "off_shift"
        else:
            continue
        old = edit.end(current, status)
        edit.staff(index, availability, rules, codes, replacing=old)
    return edit.done(rules)


def due(team: Team) -> Optional[datetime]:
    """The earliest check-in deadline of a member still expected (for the deadline table)."""
    waiting = [m.check_in_by for m in team.members if m.status == "assigned"]
    return min(waiting) if waiting and team.released_at is None else None


def add_department(team: Team, department: str, availability: Availability, workload: Workload,
                   rules: TeamRules, codes: Codes, now: datetime) -> Outcome:
    """A department called to the case joins the team (again, if it had been released)."""
    _live(team)
    if department not in codes.departments:
        raise InvalidRoster.one("department_code", f"unknown department {department!r}")
    edit = _Edit(team, workload, now)
    index = edit.slot_index(department)
    if index is not None and team.slots[index].open:
        return Outcome(team, (), workload)
    if index is None:
        edit.slots.append(Slot(department, "support"))
        index = len(edit.slots) - 1
    else:
        edit.slots[index] = Slot(department, team.slots[index].role)
    edit.staff(index, availability, rules, codes)
    return edit.done(rules)


def release_department(team: Team, department: str, workload: Workload, rules: TeamRules,
                       now: datetime) -> Outcome:
    """A department leaves the case (its call-out returned and re-routed, say); its member is released."""
    _live(team)
    edit = _Edit(team, workload, now)
    index = edit.slot_index(department)
    if index is None or not team.slots[index].open:
        return Outcome(team, (), workload)
    if index == 0:
        raise NotAllowed.one("department_code", f"{department} leads team {team.team_id}; release the "
                                                "team, or start a new round with another lead")
    edit.slots[index] = replace(team.slots[index], open=False)
    current = edit.member_index(department)
    released = (edit.end(current, "released"),) if current is not None else ()
    edit.changes.append(Released(department, released))
    return edit.done(rules)


def new_round(team: Team, lead: str, supporting: Iterable[str], availability: Availability, workload: Workload,
              rules: TeamRules, codes: Codes, now: datetime) -> Outcome:
    """The case's next round (a send-back, a reopening, a re-routed lead): departments no longer called
    are released, new ones staffed; members who stay keep their place, with the lead's role following
    the lead department. The team is assembled again once the new round's quorum is present."""
    _live(team)
    departments = _departments(lead, supporting, codes)
    edit = _Edit(team, workload, now)
    released: list[Change] = []
    for slot_index, slot in enumerate(team.slots):
        if slot.open and slot.department not in departments:
            edit.slots[slot_index] = replace(slot, open=False)
            current = edit.member_index(slot.department)
            released.append(Released(slot.department, (edit.end(current, "released"),) if current is not None else ()))
    edit.changes += released
    by_department = {s.department: s for s in edit.slots}
    ordered = []
    for i, department in enumerate(departments):
        role: Role = "lead" if i == 0 else "support"
        old = by_department.pop(department, None)
        ordered.append(replace(old, role=role) if old is not None and old.open else Slot(department, role))
    edit.slots = ordered + list(by_department.values())
    edit.team = replace(team, round=team.round + 1)
    for i, member in enumerate(edit.members):
        if member.active:
            role = next(s.role for s in edit.slots if s.department == member.department)
            edit.members[i] = replace(member, role=role)
    for index, slot in enumerate(edit.slots[:len(departments)]):
        if edit.member_index(slot.department) is None:
            edit.staff(index, availability, rules, codes)
    return edit.done(rules)


def release(team: Team, workload: Workload, rules: TeamRules, now: datetime) -> Outcome:
    """The case is over (closed, cancelled, or the operation ended): every member is released."""
    if team.released_at is not None:
        return Outcome(team, (), workload)
    edit = _Edit(team, workload, now)
    released = tuple(edit.end(i, "released") for i, m in enumerate(team.members) if m.active)
    edit.changes.append(Released(None, released))
    return edit.done(rules, released_at=now)


def participants(lead: str, supporting: Iterable[str], rostered: frozenset[str]) -> tuple[str, ...]:
    """The supporting departments that send an officer: those that keep a roster. A department without
    one (the street office, the community committee) takes part in the case but not in the team; the
    lead department is always on the team, so that a lead without a roster is a gap, not a silence."""
    return tuple(d for d in supporting if d in rostered and d != lead)


def availability(duty, officers: Mapping[str, Officer], departments: Iterable[str], at: datetime) -> Availability:
    """An Availability from a DutyRoster (anything with on_duty(department, at)) for these departments."""
    return Availability(at, officers, {d: duty.on_duty(d, at) for d in departments})

"""Duty schedules (值班表) per department: recurring rotations in the department's time zone, layers
(a higher layer wins where it has anyone on duty), overrides, swaps and leave; who is on duty at any
instant, a preview of the shifts in a window, and the coverage gaps in it.

Hand-over times and shift lengths are wall-clock times in the department's zone: a 20:00-08:00
night shift runs from 20:00 to 08:00 local even across a DST change (then it is an hour shorter or
longer), so consecutive shifts always meet. A wall time that does not exist (spring forward) is read
with the offset before the change (zoneinfo's fold=0), as the shift before it ends there too. The
recurrence itself is python-dateutil's rrule over local wall times.
"""
from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from typing import Annotated, Iterator, Literal, Mapping, Optional, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import DAILY, FR, HOURLY, MO, SA, SU, TH, TU, WE, WEEKLY, rrule
from pydantic import (AwareDatetime, BeforeValidator, Field, NaiveDatetime, ValidationError, ValidationInfo,
                      field_validator)

from services.common.events import FieldError, field_errors
from services.common.reference import CODE, Strict
from services.roster.codes import Codes
from services.roster.errors import InvalidRoster, error, require
from services.roster.officers import Officer

UTC = timezone.utc
DEFAULT_ZONE = "Asia/Shanghai"
Weekday = Literal["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
WEEKDAYS = {"MO": MO, "TU": TU, "WE": WE, "TH": TH, "FR": FR, "SA": SA, "SU": SU}
FREQUENCIES = {"hourly": HOURLY, "daily": DAILY, "weekly": WEEKLY}
_LENGTH = re.compile(r"(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?")


def parse_length(value):
    """'12h', '90m', '7d', '1d12h' as a timedelta; anything else is left to pydantic (e.g. 'PT12H')."""
    if isinstance(value, str):
        match = _LENGTH.fullmatch(value.strip())
        if match and any(match.groups()):
            days, hours, minutes = (int(g or 0) for g in match.groups())
            return timedelta(days=days, hours=hours, minutes=minutes)
    return value


Length = Annotated[timedelta, BeforeValidator(parse_length)]


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    return wall.replace(tzinfo=zone).astimezone(UTC)


def local_text(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _span_text(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    return f"{local_text(start, zone)}-{local_text(end, zone)}"


def _after(start_field: str):
    """A field validator: this instant must come after `start_field` (validated before it)."""
    def check(cls, value, info: ValidationInfo):
        start = info.data.get(start_field)
        if start is not None and value is not None and value <= start:
            raise ValueError(f"must be after {start_field}")
        return value
    return check


class Rotation(Strict):
    """A recurring shift: every `interval` hours/days/weeks from `starts` (filtered to `weekdays`), a
    shift of `length`; the groups in `members` take turns, each for `turn` consecutive shifts."""

    code: str = Field(pattern=CODE)
    name_zh: str = Field(min_length=1, max_length=100)
    name_en: str = Field(min_length=1, max_length=100)
    layer: int = Field(default=0, ge=0, le=9)
    frequency: Literal["hourly", "daily", "weekly"] = "daily"
    interval: int = Field(default=1, ge=1, le=1000)
    weekdays: tuple[Weekday, ...] = ()
    starts: NaiveDatetime                  # the first hand-over, wall clock in the department's zone
    until: Optional[NaiveDatetime] = None  # no hand-over after this
    length: Length
    members: tuple[tuple[str, ...], ...] = Field(min_length=1)
    turn: int = Field(default=1, ge=1, le=1000)

    @field_validator("length")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("a shift must last longer than zero")
        if value > timedelta(days=31):
            raise ValueError("a shift longer than 31 days is not a shift")
        return value

    @field_validator("members")
    @classmethod
    def _groups(cls, value: tuple[tuple[str, ...], ...]) -> tuple[tuple[str, ...], ...]:
        for group in value:
            if not group:
                raise ValueError("every group names at least one officer")
            if len(set(group)) != len(group):
                raise ValueError(f"a group lists an officer twice: {', '.join(group)}")
        return value

    _until = field_validator("until")(_after("starts"))

    def rule(self) -> rrule:
        return rrule(FREQUENCIES[self.frequency], dtstart=self.starts, interval=self.interval,
                     byweekday=tuple(WEEKDAYS[d] for d in self.weekdays) or None, until=self.until)

    def group(self, index: int) -> tuple[str, ...]:
        return self.members[(index // self.turn) % len(self.members)]


class Override(Strict):
    """`officer` is on duty from start to end: in place of `covers` wherever `covers` would be on duty
    then, or, without `covers`, in addition to whoever is."""

    kind: Literal["override"] = "override"
    officer: str = Field(pattern=CODE)
    start: AwareDatetime
    end: AwareDatetime
    covers: Optional[str] = Field(default=None, pattern=CODE)
    note: Optional[str] = Field(default=None, max_length=200)

    _end = field_validator("end")(_after("start"))


class Swap(Strict):
    """`first` hands their duty in [first_start, first_end) to `second`, who hands theirs in
    [second_start, second_end) to `first`."""

    kind: Literal["swap"] = "swap"
    first: str = Field(pattern=CODE)
    first_start: AwareDatetime
    first_end: AwareDatetime
    second: str = Field(pattern=CODE)
    second_start: AwareDatetime
    second_end: AwareDatetime

    _first_end = field_validator("first_end")(_after("first_start"))
    _second_end = field_validator("second_end")(_after("second_start"))


class Leave(Strict):
    officer: str = Field(pattern=CODE)
    start: AwareDatetime
    end: AwareDatetime
    reason: Literal["annual", "sick", "training", "other"] = "annual"
    note: Optional[str] = Field(default=None, max_length=200)

    _end = field_validator("end")(_after("start"))


class DepartmentSchedule(Strict):
    department: str = Field(pattern=CODE)
    time_zone: str = DEFAULT_ZONE
    rotations: tuple[Rotation, ...] = ()
    changes: tuple[Annotated[Union[Override, Swap], Field(discriminator="kind")], ...] = ()  # in the order made
    leave: tuple[Leave, ...] = ()

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone_of(value)
        return value

    @field_validator("rotations")
    @classmethod
    def _unique_codes(cls, value: tuple[Rotation, ...]) -> tuple[Rotation, ...]:
        codes = [r.code for r in value]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"rotation codes used twice: {', '.join(dupes)}")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return zone_of(self.time_zone)


class RotationSet(Strict):
    """A department's whole set of rotations, replacing the ones it has, and optionally its time zone."""

    rotations: tuple[Rotation, ...]
    time_zone: Optional[str] = None


# ---------------------------------------------------------------- expansion and resolution

@dataclass(frozen=True)
class Occurrence:
    """One hand-over of one rotation, in UTC."""

    rotation: str
    layer: int
    index: int
    officers: tuple[str, ...]
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Shift:
    """An officer on duty without a break of origin, in UTC; origin is a rotation code, 'override' or 'swap'."""

    department: str
    officer: str
    start: datetime
    end: datetime
    origin: str
    layer: Optional[int] = None


@dataclass(frozen=True)
class Gap:
    """Nobody on duty in the department from start to end (UTC)."""

    department: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Piece:
    """A stretch in which the same officers are on duty; `duty` maps each one to where their duty comes from."""

    start: datetime
    end: datetime
    duty: Mapping[str, str]


@dataclass
class _Walls:
    """A rule's shift starts (wall clock) from its dtstart up to `horizon`, in order: the n-th is shift n."""

    starts: list[datetime]
    horizon: datetime
    exhausted: bool                   # the rule ends (until) before the horizon


_WALLS: dict[tuple, _Walls] = {}
_WALLS_KEPT = 512
WALLS_AHEAD = timedelta(days=62)      # generated past the end asked for, so the next question is answered


def _walls(rotation: Rotation, wall_end: datetime) -> _Walls:
    """The rule's shift starts up to at least wall_end, generated once per rule and kept: who is on
    duty is asked for every team formed, and walking the rule from its start each time cost most of
    the roster service's CPU."""
    key = (rotation.frequency, rotation.starts, rotation.interval, rotation.weekdays, rotation.until)
    known = _WALLS.get(key)
    if known is None or (known.horizon < wall_end and not known.exhausted):
        horizon = wall_end + WALLS_AHEAD
        starts = list(rotation.rule().between(rotation.starts, horizon, inc=True))
        exhausted = rotation.until is not None and rotation.until <= horizon
        if len(_WALLS) >= _WALLS_KEPT:
            _WALLS.pop(next(iter(_WALLS)))
        known = _WALLS[key] = _Walls(starts, horizon, exhausted)
    return known


def occurrences(rotation: Rotation, zone: ZoneInfo, start: datetime, end: datetime) -> Iterator[Occurrence]:
    """The rotation's shifts that overlap [start, end); shift n is the rule's n-th occurrence from its
    `starts` (which group is on duty follows from n)."""
    margin = timedelta(days=1)         # wall clock and UTC differ by less than a day
    wall_end = end.astimezone(zone).replace(tzinfo=None) + margin
    wall_begin = start.astimezone(zone).replace(tzinfo=None) - rotation.length - margin
    walls = _walls(rotation, wall_end).starts
    for index in range(bisect_left(walls, wall_begin), bisect_right(walls, wall_end)):
        wall = walls[index]
        begins, ends = to_utc(wall, zone), to_utc(wall + rotation.length, zone)
        if begins < end and ends > start and begins < ends:
            yield Occurrence(rotation.code, rotation.layer, index, rotation.group(index), begins, ends)


def _within(span_start: datetime, span_end: datetime, a: datetime, b: datetime) -> bool:
    return span_start <= a and b <= span_end


def _spans_of(change: Override | Swap) -> tuple[tuple[datetime, datetime], ...]:
    if isinstance(change, Override):
        return ((change.start, change.end),)
    return ((change.first_start, change.first_end), (change.second_start, change.second_end))


def resolve(schedule: DepartmentSchedule, start: datetime, end: datetime, apply_leave: bool = True) -> list[Piece]:
    """[start, end) cut where anyone's duty changes: the top layer on duty, then overrides and swaps in
    the order they were made, then leave (someone on leave is never on duty)."""
    if end <= start:
        return []
    start, end = start.astimezone(UTC), end.astimezone(UTC)      # every piece in UTC, so spans subtract right
    zone = schedule.zone
    found = [o for r in schedule.rotations for o in occurrences(r, zone, start, end)]
    bounds = [(o.start, o.end) for o in found] + [(v.start, v.end) for v in schedule.leave]
    bounds += [span for change in schedule.changes for span in _spans_of(change)]
    cuts = {start, end}
    for a, b in bounds:
        cuts.update(t.astimezone(UTC) for t in (a, b) if start < t < end)
    pieces = []
    for a, b in pairwise(sorted(cuts)):
        duty: dict[str, str] = {}
        covering = [o for o in found if o.start <= a and b <= o.end]
        if covering:
            top = max(o.layer for o in covering)
            for o in covering:
                if o.layer == top:
                    for officer in o.officers:
                        duty.setdefault(officer, f"{o.rotation}#{o.index}")
        for i, change in enumerate(schedule.changes):
            if isinstance(change, Override):
                if _within(change.start, change.end, a, b):
                    if change.covers is None:
                        duty.setdefault(change.officer, f"override#{i}")
                    elif duty.pop(change.covers, None) is not None:
                        duty[change.officer] = f"override#{i}"
                continue
            for giver, taker, (s0, s1) in ((change.first, change.second, (change.first_start, change.first_end)),
                                          (change.second, change.first, (change.second_start, change.second_end))):
                if _within(s0, s1, a, b) and duty.pop(giver, None) is not None:
                    duty[taker] = f"swap#{i}"
        if apply_leave:
            for leave in schedule.leave:
                if _within(leave.start, leave.end, a, b):
                    duty.pop(leave.officer, None)
        pieces.append(Piece(a, b, duty))
    return pieces


def on_duty(schedule: DepartmentSchedule, at: datetime) -> frozenset[str]:
    """The officers on duty in the department at the instant `at`."""
    pieces = resolve(schedule, at, at + timedelta(microseconds=1))
    return frozenset(pieces[0].duty) if pieces else frozenset()


def _longest(schedule: DepartmentSchedule) -> timedelta:
    spans = [r.length for r in schedule.rotations]
    spans += [b - a for change in schedule.changes for a, b in _spans_of(change)]
    return max(spans, default=timedelta(0)) + timedelta(days=1)


def preview(schedule: DepartmentSchedule, start: datetime, end: datetime, whole: bool = False) -> tuple[Shift, ...]:
    """Every shift overlapping [start, end), by start then officer: clipped to the window, or with
    `whole`, as long as it really is (for calendars)."""
    if whole:
        margin = _longest(schedule)
        return tuple(s for s in preview(schedule, start - margin, end + margin) if s.start < end and start < s.end)
    layers = {r.code: r.layer for r in schedule.rotations}
    shifts: list[Shift] = []
    open_: dict[tuple[str, str], list] = {}       # (officer, origin key) -> [start, end]
    for piece in resolve(schedule, start, end):
        for key in list(open_):
            officer, origin = key
            if piece.duty.get(officer) != origin:
                shifts.append(_shift(schedule.department, key, *open_.pop(key), layers))
        for officer, origin in piece.duty.items():
            span = open_.setdefault((officer, origin), [piece.start, piece.end])
            span[1] = piece.end
    shifts += [_shift(schedule.department, key, *span, layers) for key, span in open_.items()]
    return tuple(sorted(shifts, key=lambda s: (s.start, s.officer, s.end)))


def _shift(department: str, key: tuple[str, str], start: datetime, end: datetime, layers: dict) -> Shift:
    officer, origin = key
    source = origin.split("#", 1)[0]
    return Shift(department, officer, start, end, source, layers.get(source) if source in layers else None)


def coverage_gaps(schedule: DepartmentSchedule, start: datetime, end: datetime) -> tuple[Gap, ...]:
    """The stretches of [start, end) with nobody on duty, merged."""
    gaps: list[Gap] = []
    for piece in resolve(schedule, start, end):
        if piece.duty:
            continue
        if gaps and gaps[-1].end == piece.start:
            gaps[-1] = Gap(schedule.department, gaps[-1].start, piece.end)
        else:
            gaps.append(Gap(schedule.department, piece.start, piece.end))
    return tuple(gaps)


def duty_spans(schedule: DepartmentSchedule, officer: str, start: datetime, end: datetime,
               apply_leave: bool = True) -> list[tuple[datetime, datetime]]:
    """When `officer` is on duty within [start, end), whatever the origin, merged; with apply_leave
    False, as if they had no leave (to find the duty someone on leave needs covered)."""
    spans: list[tuple[datetime, datetime]] = []
    for piece in resolve(schedule, start, end, apply_leave):
        if officer in piece.duty:
            if spans and spans[-1][1] == piece.start:
                spans[-1] = (spans[-1][0], piece.end)
            else:
                spans.append((piece.start, piece.end))
    return spans


class DutyRoster:
    """Every department's schedule; a department without one has nobody on duty."""

    def __init__(self, schedules: Mapping[str, DepartmentSchedule], codes: Codes):
        self.schedules = dict(schedules)
        self.codes = codes

    def _schedule(self, department: str) -> DepartmentSchedule:
        if department not in self.codes.departments:
            raise InvalidRoster.one("department", f"unknown department {department!r}")
        return self.schedules.get(department) or DepartmentSchedule(department=department)

    def on_duty(self, department: str, at: datetime) -> frozenset[str]:
        return on_duty(self._schedule(department), at)

    def preview(self, department: str, start: datetime, end: datetime, whole: bool = False) -> tuple[Shift, ...]:
        return preview(self._schedule(department), start, end, whole)

    def gaps(self, department: str, start: datetime, end: datetime) -> tuple[Gap, ...]:
        return coverage_gaps(self._schedule(department), start, end)


# ---------------------------------------------------------------- validation and edits

@dataclass(frozen=True)
class Edited:
    """A schedule after an accepted change, and the coverage gaps left in the span it touched."""

    schedule: DepartmentSchedule
    gaps: tuple[Gap, ...]


def _member_errors(field_name: str, code: str, department: str, officers: Mapping[str, Officer],
                   active: bool = True) -> list[FieldError]:
    officer = officers.get(code)
    if officer is None:
        return [error(field_name, f"unknown officer {code!r}")]
    if officer.department != department:
        return [error(field_name, f"officer {code} belongs to {officer.department}, not {department}")]
    if active and not officer.active:
        return [error(field_name, f"officer {code} is inactive")]
    return []


def check_rotations(schedule: DepartmentSchedule, officers: Mapping[str, Officer], codes: Codes,
                    start: datetime, end: datetime) -> list[FieldError]:
    """Unknown department or officers, and any officer on two overlapping shifts of one layer within
    [start, end) (an infinite rotation can only be checked over a window)."""
    errors: list[FieldError] = []
    if schedule.department not in codes.departments:
        errors.append(error("department", f"unknown department {schedule.department!r}"))
    for i, rotation in enumerate(schedule.rotations):
        for g, group in enumerate(rotation.members):
            for k, code in enumerate(group):
                errors += _member_errors(f"rotations.{i}.members.{g}.{k}", code, schedule.department, officers)
    zone = schedule.zone
    index = {r.code: i for i, r in enumerate(schedule.rotations)}
    by_officer: dict[tuple[int, str], list[Occurrence]] = {}
    for rotation in schedule.rotations:
        for o in occurrences(rotation, zone, start, end):
            for officer in o.officers:
                by_officer.setdefault((o.layer, officer), []).append(o)
    reported: set[tuple[str, str, str]] = set()
    for (layer, officer), found in sorted(by_officer.items()):
        found.sort(key=lambda o: (o.start, o.end))
        for before, after in pairwise(found):
            key = (officer, before.rotation, after.rotation)
            if after.start < before.end and key not in reported:
                reported.add(key)
                errors.append(error(f"rotations.{index[after.rotation]}.members",
                                    f"officer {officer} would be on two overlapping shifts in layer {layer}: "
                                    f"{before.rotation} {_span_text(before.start, before.end, zone)} "
                                    f"and {after.rotation} {_span_text(after.start, after.end, zone)}"))
    return errors


def replace_rotations(schedule: DepartmentSchedule, rotations: tuple[Rotation, ...],
                      officers: Mapping[str, Officer], codes: Codes, start: datetime, end: datetime) -> Edited:
    """The schedule with new rotations (checked over [start, end)), and the coverage gaps they leave there."""
    try:
        changed = DepartmentSchedule.model_validate({**schedule.model_dump(), "rotations": [
            r.model_dump() for r in rotations]})
    except ValidationError as exc:
        raise InvalidRoster(field_errors(exc)) from None
    require(check_rotations(changed, officers, codes, start, end))
    return Edited(changed, coverage_gaps(changed, start, end))


def _busy(schedule: DepartmentSchedule, officer: str, start: datetime,
          end: datetime) -> Optional[tuple[datetime, datetime]]:
    spans = duty_spans(schedule, officer, start, end)
    return spans[0] if spans else None


def _on_leave(schedule: DepartmentSchedule, officer: str, start: datetime, end: datetime) -> Optional[Leave]:
    return next((v for v in schedule.leave if v.officer == officer and v.start < end and start < v.end), None)


def add_override(schedule: DepartmentSchedule, override: Override, officers: Mapping[str, Officer],
                 now: datetime) -> Edited:
    zone, department = schedule.zone, schedule.department
    errors = _member_errors("officer", override.officer, department, officers)
    if override.end <= now:
        errors.append(error("end", f"the span ended at {local_text(override.end, zone)}, before now"))
    if override.covers is not None:
        if override.covers == override.officer:
            errors.append(error("covers", "an officer cannot cover for themselves"))
        elif override.covers not in officers or officers[override.covers].department != department:
            errors.append(error("covers", f"{override.covers!r} is not an officer of {department}"))
        elif not duty_spans(schedule, override.covers, override.start, override.end, apply_leave=False):
            errors.append(error("covers", f"officer {override.covers} is not on duty between "
                                          f"{local_text(override.start, zone)} and {local_text(override.end, zone)}"))
    if not errors:
        if override.covers is None:
            clash = _busy(schedule, override.officer, override.start, override.end)
        else:
            clash = next((span for a, b in duty_spans(schedule, override.covers, override.start, override.end,
                                                      apply_leave=False)
                          if (span := _busy(schedule, override.officer, a, b))), None)
        if clash:
            errors.append(error("officer", f"officer {override.officer} is already on duty "
                                           f"{_span_text(*clash, zone)} (overlapping shifts)"))
        leave = _on_leave(schedule, override.officer, override.start, override.end)
        if leave:
            errors.append(error("officer", f"officer {override.officer} is on leave "
                                           f"{local_text(leave.start, zone)}-{local_text(leave.end, zone)}"))
    require(errors)
    changed = schedule.model_copy(update={"changes": schedule.changes + (override,)})
    return Edited(changed, coverage_gaps(changed, override.start, override.end))


def add_swap(schedule: DepartmentSchedule, swap: Swap, officers: Mapping[str, Officer], now: datetime) -> Edited:
    zone, department = schedule.zone, schedule.department
    errors = (_member_errors("first", swap.first, department, officers)
              + _member_errors("second", swap.second, department, officers))
    if swap.first == swap.second:
        errors.append(error("second", "an officer cannot swap with themselves"))
    if swap.first_start < swap.second_end and swap.second_start < swap.first_end:
        errors.append(error("second_start", "the two swapped spans overlap"))
    for name, span_end in (("first_end", swap.first_end), ("second_end", swap.second_end)):
        if span_end <= now:
            errors.append(error(name, f"the span ended at {local_text(span_end, zone)}, before now"))
    if not errors:
        for giver, taker, start, end, giver_field, taker_field in (
                (swap.first, swap.second, swap.first_start, swap.first_end, "first", "second"),
                (swap.second, swap.first, swap.second_start, swap.second_end, "second", "first")):
            span = _span_text(start, end, zone)
            if duty_spans(schedule, giver, start, end) != [(start, end)]:
                errors.append(error(giver_field, f"officer {giver} is not on duty throughout {span}"))
            if _busy(schedule, taker, start, end):
                errors.append(error(taker_field, f"officer {taker} is already on duty during {span} "
                                                 "(overlapping shifts)"))
            if _on_leave(schedule, taker, start, end):
                errors.append(error(taker_field, f"officer {taker} is on leave during {span}"))
    require(errors)
    changed = schedule.model_copy(update={"changes": schedule.changes + (swap,)})
    return Edited(changed, ())


def add_leave(schedule: DepartmentSchedule, leave: Leave, officers: Mapping[str, Officer], now: datetime) -> Edited:
    """Leave is never refused for the hole it leaves: the gaps come back to be reported."""
    zone = schedule.zone
    errors = _member_errors("officer", leave.officer, schedule.department, officers, active=False)
    if leave.end <= now:
        errors.append(error("end", f"the leave ended at {local_text(leave.end, zone)}, before now"))
    if _on_leave(schedule, leave.officer, leave.start, leave.end):
        errors.append(error("start", f"officer {leave.officer} already has leave overlapping this span"))
    require(errors)
    changed = schedule.model_copy(update={"leave": schedule.leave + (leave,)})
    return Edited(changed, coverage_gaps(changed, leave.start, leave.end))

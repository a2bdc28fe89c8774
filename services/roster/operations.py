"""Planned joint operations (常态化联合执法): a street or the district schedules a recurring "城管+N"
operation (an RFC 5545 RRULE over local wall time); each occurrence gets a team by the same rules."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from dateutil.rrule import rrule, rrulestr
from pydantic import Field, NaiveDatetime, ValidationInfo, field_validator

from services.common.events import FieldError
from services.common.reference import CODE, Strict
from services.roster.codes import Codes
from services.roster.errors import error
from services.roster.schedule import DEFAULT_ZONE, Length, to_utc, zone_of
from services.roster.teams import Case

DISTRICT = "district"


class JointOperation(Strict):
    code: str = Field(pattern=CODE)
    name_zh: str = Field(min_length=1, max_length=100)
    name_en: str = Field(min_length=1, max_length=100)
    organiser: str = Field(pattern=CODE)        # "district", or the organising street's code
    category: str = Field(pattern=CODE)         # the qualification every member needs
    lead: str = Field(pattern=CODE)
    support: tuple[str, ...] = Field(min_length=1)
    time_zone: str = DEFAULT_ZONE
    starts: NaiveDatetime                       # the first occurrence, wall clock
    recurrence: str = Field(min_length=6, max_length=500)   # e.g. FREQ=WEEKLY;BYDAY=WE
    duration: Length
    street: Optional[str] = Field(default=None, pattern=CODE)
    community: Optional[str] = Field(default=None, pattern=CODE)
    grid: Optional[str] = Field(default=None, pattern=CODE)
    active: bool = True

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone_of(value)
        return value

    @field_validator("duration")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if not timedelta(0) < value <= timedelta(days=1):
            raise ValueError("an operation lasts more than zero and at most a day")
        return value

    @field_validator("recurrence")
    @classmethod
    def _recurrence_parses(cls, value: str, info: ValidationInfo) -> str:
        if "DTSTART" in value.upper():
            raise ValueError("give the first occurrence in `starts`, not as DTSTART")
        try:
            _rule(value, info.data.get("starts") or datetime(2000, 1, 1))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not an RRULE dateutil can read ({exc})") from None
        return value

    def rule(self) -> rrule:
        return _rule(self.recurrence, self.starts)


def _rule(text: str, starts: datetime) -> rrule:
    text = text.strip()
    return rrulestr(text if text.upper().startswith("RRULE:") else f"RRULE:{text}", dtstart=starts)


@dataclass(frozen=True)
class OperationOccurrence:
    operation: str
    occurrence_id: str          # <operation>-<local start, YYYYMMDDTHHMM>: stable across restarts
    start: datetime             # UTC
    end: datetime


def check_operation(operation: JointOperation, codes: Codes) -> list[FieldError]:
    errors: list[FieldError] = []
    if operation.organiser != DISTRICT and operation.organiser not in codes.streets:
        errors.append(error("organiser", f"{operation.organiser!r} is neither {DISTRICT!r} nor a known street"))
    if operation.category not in codes.categories:
        errors.append(error("category", f"unknown category {operation.category!r}"))
    for name, code in (("lead", operation.lead), *((f"support.{i}", d) for i, d in enumerate(operation.support))):
        if code not in codes.departments:
            errors.append(error(name, f"unknown department {code!r}"))
    if operation.lead in operation.support:
        errors.append(error("support", f"the lead {operation.lead} is listed as support too"))
    for level in ("street", "community", "grid"):
        code = getattr(operation, level)
        if code is not None and codes.place(level, code) is None:
            errors.append(error(level, f"unknown {level} {code!r}"))
    place = operation_case(operation, None).place(codes)
    for level in ("street", "community"):
        code = getattr(operation, level)
        if place is not None and code is not None and getattr(place, level) != code:
            errors.append(error(level, f"{place.level} {place.code} is not in {level} {code}"))
    if operation.organiser != DISTRICT and place is not None and place.street != operation.organiser:
        errors.append(error("street", f"street {operation.organiser} organises an operation in {place.street}"))
    return errors


def occurrences(operation: JointOperation, start: datetime, end: datetime) -> tuple[OperationOccurrence, ...]:
    """The occurrences overlapping [start, end)."""
    zone = zone_of(operation.time_zone)
    wall_start = start.astimezone(zone).replace(tzinfo=None) - operation.duration - timedelta(days=1)
    wall_end = end.astimezone(zone).replace(tzinfo=None) + timedelta(days=1)
    found = []
    for wall in operation.rule().between(wall_start, wall_end, inc=True):
        begins, ends = to_utc(wall, zone), to_utc(wall + operation.duration, zone)
        if begins < end and start < ends:
            found.append(OperationOccurrence(operation.code, f"{operation.code}-{wall:%Y%m%dT%H%M}", begins, ends))
    return tuple(found)


def due(operation: JointOperation, now: datetime, ahead: timedelta) -> tuple[OperationOccurrence, ...]:
    """Occurrences starting in [now, now + ahead): their teams should be formed now."""
    if not operation.active:
        return ()
    return tuple(o for o in occurrences(operation, now, now + ahead) if now <= o.start)


def operation_case(operation: JointOperation, occurrence: OperationOccurrence | None) -> Case:
    return Case(kind="operation", ref=occurrence.occurrence_id if occurrence else operation.code,
                category=operation.category, urgency="planned", operation=operation.code,
                street=operation.street or (operation.organiser if operation.organiser != DISTRICT else None),
                community=operation.community, grid=operation.grid,
                starts_at=occurrence.start if occurrence else None)

"""Officers (执法队员): badge, enforcement certificate (执法证), qualifications, postings (属地管理), and
the 双长制 pairs that make a city-management cadre and a street or community leader joint chiefs."""
from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Iterable, Literal, Mapping, Optional
from zoneinfo import ZoneInfo

from pydantic import Field, ValidationInfo, field_validator

from services.common.events import FieldError
from services.common.reference import CODE, Strict
from services.roster.codes import Codes, Place
from services.roster.errors import InvalidRoster, error, require

CHINA = ZoneInfo("Asia/Shanghai")
MAX_SHORT = 200
Level = Literal["street", "community", "grid"]
# how close an officer's posting is to a case: grid, then community, then street, then elsewhere
GRID, COMMUNITY, STREET, ELSEWHERE = 0, 1, 2, 3


class Certificate(Strict):
    """执法证: valid through `expires_on` (a date in the department's zone)."""

    number: str = Field(min_length=1, max_length=64)
    expires_on: date

    def valid_on(self, day: date) -> bool:
        return day <= self.expires_on


class Posting(Strict):
    """Where an officer is sent down to (人随事调): a street, a community or a grid."""

    level: Level
    code: str = Field(pattern=CODE)


class Officer(Strict):
    code: str = Field(pattern=CODE)
    name: str = Field(min_length=1, max_length=MAX_SHORT)
    department: str = Field(pattern=CODE)
    badge: str = Field(min_length=1, max_length=32)
    certificate: Certificate
    qualifications: tuple[str, ...] = Field(min_length=1)     # the categories this officer may enforce
    contact: str = Field(min_length=1, max_length=64)
    active: bool = True
    postings: tuple[Posting, ...] = ()

    def certified_at(self, at: datetime, tz: tzinfo = CHINA) -> bool:
        return self.certificate.valid_on(at.astimezone(tz).date())

    def may_enforce(self, category: str) -> bool:
        return category in self.qualifications


def check_officer(officer: Officer, codes: Codes, today: date, others: Iterable[Officer]) -> list[FieldError]:
    """Everything wrong with `officer` against the reference codes and the other officers (by code,
    badge and certificate number); `others` must not include the officer's own current record."""
    errors: list[FieldError] = []
    if officer.department not in codes.departments:
        errors.append(error("department", f"unknown department {officer.department!r}"))
    seen: set[str] = set()
    for i, category in enumerate(officer.qualifications):
        if category not in codes.categories:
            errors.append(error(f"qualifications.{i}", f"unknown category {category!r}"))
        elif category in seen:
            errors.append(error(f"qualifications.{i}", f"category {category!r} is listed twice"))
        seen.add(category)
    for i, posting in enumerate(officer.postings):
        if codes.place(posting.level, posting.code) is None:
            errors.append(error(f"postings.{i}.code", f"unknown {posting.level} {posting.code!r}"))
    if not officer.certificate.valid_on(today):
        errors.append(error("certificate.expires_on", f"enforcement certificate {officer.certificate.number} "
                                                      f"expired on {officer.certificate.expires_on.isoformat()}"))
    for other in others:
        if other.code == officer.code:
            errors.append(error("code", f"officer {officer.code!r} already exists"))
        if other.badge == officer.badge:
            errors.append(error("badge", f"badge {officer.badge!r} already belongs to officer {other.code}"))
        if other.certificate.number == officer.certificate.number:
            errors.append(error("certificate.number", f"certificate {officer.certificate.number!r} already "
                                                      f"belongs to officer {other.code}"))
    return errors


def register(officer: Officer, codes: Codes, today: date, existing: Mapping[str, Officer]) -> Officer:
    """A new officer, or InvalidRoster naming every bad field."""
    require(check_officer(officer, codes, today, existing.values()))
    return officer


def update(officer: Officer, codes: Codes, today: date, existing: Mapping[str, Officer]) -> Officer:
    """The officer's new record (same code and department), or InvalidRoster naming every bad field."""
    current = existing.get(officer.code)
    if current is None:
        raise InvalidRoster.one("code", f"unknown officer {officer.code!r}")
    if current.department != officer.department:
        raise InvalidRoster.one("department", f"officer {officer.code} belongs to {current.department}; "
                                              "a transfer is a new officer record in the other department")
    require(check_officer(officer, codes, today, (o for o in existing.values() if o.code != officer.code)))
    return officer


def posting_rank(officer: Officer, case: Place | None, codes: Codes) -> int:
    """GRID, COMMUNITY, STREET or ELSEWHERE: the closest any of the officer's postings comes to the case."""
    if case is None:
        return ELSEWHERE
    best = ELSEWHERE
    for posting in officer.postings:
        place = codes.place(posting.level, posting.code)
        if place is None:
            continue
        if case.level == "grid" and place.level == "grid" and place.code == case.code:
            best = min(best, GRID)
        elif case.community is not None and place.community == case.community:
            best = min(best, COMMUNITY)
        elif place.street == case.street:
            best = min(best, STREET)
    return best


# ---------------------------------------------------------------- 双长制

class ChiefPair(Strict):
    """双街长 (kind street) or 双路长 (kind road): a city-management cadre and a street or community leader."""

    kind: Literal["street", "road"]
    street: str = Field(pattern=CODE)
    road: Optional[str] = Field(default=None, min_length=1, max_length=MAX_SHORT, validate_default=True)
    cadre: str = Field(pattern=CODE)              # the officer code of the city-management cadre
    leader_name: str = Field(min_length=1, max_length=MAX_SHORT)
    leader_title: str = Field(min_length=1, max_length=MAX_SHORT)
    leader_contact: str = Field(min_length=1, max_length=64)

    @field_validator("road")
    @classmethod
    def _road_for_road_chiefs(cls, value: Optional[str], info: ValidationInfo) -> Optional[str]:
        if info.data.get("kind") == "road" and value is None:
            raise ValueError("a 双路长 pair names its road")
        if info.data.get("kind") == "street" and value is not None:
            raise ValueError("a 双街长 pair is for the whole street; leave road out")
        return value


def check_pairs(pairs: Iterable[ChiefPair], officers: Mapping[str, Officer], codes: Codes,
                cadre_departments: frozenset[str] = frozenset({"chengguan"})) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: dict[tuple[str, str, str | None], int] = {}
    for i, pair in enumerate(pairs):
        if pair.street not in codes.streets:
            errors.append(error(f"{i}.street", f"unknown street {pair.street!r}"))
        cadre = officers.get(pair.cadre)
        if cadre is None:
            errors.append(error(f"{i}.cadre", f"unknown officer {pair.cadre!r}"))
        elif cadre.department not in cadre_departments:
            errors.append(error(f"{i}.cadre", f"officer {pair.cadre} is in {cadre.department}, not a "
                                              f"city-management department ({', '.join(sorted(cadre_departments))})"))
        elif not cadre.active:
            errors.append(error(f"{i}.cadre", f"officer {pair.cadre} is inactive"))
        key = (pair.kind, pair.street, pair.road)
        if key in seen:
            errors.append(error(f"{i}", f"the same {pair.kind} already has a pair (entry {seen[key]})"))
        seen.setdefault(key, i)
    return errors


def chiefs_of(pairs: Iterable[ChiefPair], street: str, road: str | None = None) -> tuple[ChiefPair, ...]:
    """The street's 双街长, or with `road`, that road's 双路长."""
    kind = "road" if road is not None else "street"
    return tuple(p for p in pairs if p.kind == kind and p.street == street and p.road == road)


def pairs_of(pairs: Iterable[ChiefPair], officer: str) -> tuple[ChiefPair, ...]:
    return tuple(p for p in pairs if p.cadre == officer)

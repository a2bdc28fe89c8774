"""Shared builders for the roster unit tests: officers, codes from the shipped district, instants."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from services.common.reference import load_reference
from services.roster.codes import Codes
from services.roster.officers import Certificate, Officer, Posting

UTC = timezone.utc
SHANGHAI = ZoneInfo("Asia/Shanghai")
CODES = Codes.from_reference(load_reference())
ALL_CATEGORIES = tuple(sorted(CODES.categories))


def local(zone, *args) -> datetime:
    """A UTC instant from a wall-clock time in `zone`."""
    return datetime(*args, tzinfo=zone).astimezone(UTC)


def officer(code: str, department: str = "chengguan", *, qualifications=ALL_CATEGORIES, expires=date(2030, 1, 1),
            active=True, postings=(), badge=None, certificate=None) -> Officer:
    return Officer(code=code, name=f"队员{code}", department=department, badge=badge or f"B-{code}",
                   certificate=Certificate(number=certificate or f"C-{code}", expires_on=expires),
                   qualifications=tuple(qualifications), contact="13800000000", active=active,
                   postings=tuple(Posting(level=level, code=place) for level, place in postings))


def by_code(*officers: Officer) -> dict[str, Officer]:
    return {o.code: o for o in officers}

"""The roster's refusals: every problem named field by field; a refused request changes nothing.

They are the platform's refusals (services/common/errors.py), so every channel answers them the
same way: HTTP 422 / 409, the RPC caller gets them back, the bus rejects with an outcome."""
from __future__ import annotations

from typing import Iterable

from services.common.errors import Conflict, Invalid, Refused
from services.common.events import FieldError


class RosterError(Refused):
    """Bad roster input or a step the rules refuse."""

    what = "refused"


class InvalidRoster(RosterError, Invalid):
    """The input itself is wrong: unknown codes, overlapping shifts, an expired certificate (HTTP 422)."""

    what = "invalid"


class NotAllowed(RosterError, Conflict):
    """Valid input the current state refuses: a check-in from a replaced member, a swap off duty (HTTP 409)."""

    what = "not allowed"


def error(field_name: str, message: str) -> FieldError:
    return FieldError(field=field_name, message=message)


def require(errors: Iterable[FieldError]) -> None:
    """Raises InvalidRoster when there is any error; does nothing otherwise."""
    found = tuple(errors)
    if found:
        raise InvalidRoster(found)

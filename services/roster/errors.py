"""The roster's refusals: every problem named field by field; a refused request changes nothing."""
from __future__ import annotations

from typing import Iterable

from services.common.events import FieldError


class RosterError(ValueError):
    """Bad roster input or a step the rules refuse."""

    what = "refused"

    def __init__(self, errors: Iterable[FieldError]):
        self.errors = tuple(errors)
        super().__init__(f"{self.what}: " + "; ".join(f"{e.field}: {e.message}" for e in self.errors))

    @classmethod
    def one(cls, field_name: str, message: str) -> "RosterError":
        return cls((FieldError(field=field_name, message=message),))


class InvalidRoster(RosterError):
    """The input itself is wrong: unknown codes, overlapping shifts, an expired certificate (HTTP 422)."""

    what = "invalid"


class NotAllowed(RosterError):
    """Valid input the current state refuses: a check-in from a replaced member, a swap off duty (HTTP 409)."""

    what = "not allowed"


def error(field_name: str, message: str) -> FieldError:
    return FieldError(field=field_name, message=message)


def require(errors: Iterable[FieldError]) -> None:
    """Raises InvalidRoster when there is any error; does nothing otherwise."""
    found = tuple(errors)
    if found:
        raise InvalidRoster(found)

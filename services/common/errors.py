"""Domain refusals, and the one table of what each channel answers for them.

A rule that refuses a request raises a `Refused` subclass naming every bad field; it changes
nothing. The edges never catch refusals one by one: HTTP answers the status in `HTTP_STATUS`
(services/common/web.py), RPC re-raises it to the caller (nameko's expected exceptions), and the
bus entrypoint rejects the message at once (an outcome to its sender where it has one, then the
dead letters). Anything else is a fault: HTTP 500 without a traceback, an RPC error, and on the bus
a bounded number of retries before the dead letters."""
from __future__ import annotations

from typing import Iterable

from services.common.events import ContractError, FieldError


class Refused(ValueError):
    """A request the rules refuse; names every problem, field by field, and changes nothing."""

    what = "refused"

    def __init__(self, errors: Iterable[FieldError]):
        self.errors = tuple(errors)
        super().__init__(f"{self.what}: " + "; ".join(f"{e.field}: {e.message}" for e in self.errors))

    @classmethod
    def one(cls, field_name: str, message: str) -> "Refused":
        return cls((FieldError(field=field_name, message=message),))


class Invalid(Refused):
    """The request itself is malformed or names something unknown (HTTP 422)."""

    what = "invalid request"


class NotFound(Refused):
    """The object the request is about does not exist (HTTP 404)."""

    what = "not found"


class Conflict(Refused):
    """The object's state or owner does not allow this now (HTTP 409)."""

    what = "not allowed"


class AccessRefused(Refused):
    """An access-control refusal (401, 403, 429): its reason is its message, in English and Chinese.

    Raised by services.common.guard (the token, the rule table, the write rate, the object-level
    checks); `errors` names a body or object field when one decided it."""

    what = "access refused"

    def __init__(self, reason: str, reason_zh: str = "", errors: Iterable[FieldError] = ()):
        self.errors = tuple(errors)
        self.reason = reason
        self.reason_zh = reason_zh
        ValueError.__init__(self, reason)

    @classmethod
    def one(cls, field_name: str, message: str) -> "AccessRefused":
        return cls(message, errors=(FieldError(field=field_name, message=message),))


class Unauthenticated(AccessRefused):
    """No valid credentials (HTTP 401 with `WWW-Authenticate: Bearer`); `token_given` says whether one came."""

    what = "not authenticated"

    def __init__(self, reason: str, reason_zh: str = "", errors: Iterable[FieldError] = (),
                 token_given: bool = False):
        super().__init__(reason, reason_zh, errors)
        self.token_given = token_given


class Forbidden(AccessRefused):
    """Valid credentials without the right to this action or object (HTTP 403)."""

    what = "forbidden"


class TooManyRequests(AccessRefused):
    """The principal's write budget is spent for now (HTTP 429, with Retry-After in seconds)."""

    what = "too many requests"

    def __init__(self, reason: str, reason_zh: str = "", errors: Iterable[FieldError] = (),
                 retry_after: float = 1.0):
        super().__init__(reason, reason_zh, errors)
        self.retry_after = retry_after


HTTP_STATUS: dict[type[Exception], int] = {
    Invalid: 422, ContractError: 422, NotFound: 404, Conflict: 409, Unauthenticated: 401, Forbidden: 403,
    TooManyRequests: 429, Refused: 409,
}
REFUSALS = (Refused, ContractError)     # what RPC callers get back as themselves, and the bus rejects
AUTH_ERRORS = (Unauthenticated, Forbidden, TooManyRequests)    # all three are REFUSALS too


def http_status(exc: BaseException) -> int | None:
    """The HTTP status for a refusal (the nearest class in the table), None for a fault."""
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return None


def errors_of(exc: BaseException) -> tuple[FieldError, ...]:
    """The field errors a refusal carries (one naming the message for anything without them)."""
    errors = getattr(exc, "errors", None)
    if isinstance(errors, tuple) and all(isinstance(e, FieldError) for e in errors) and errors:
        return errors
    return (FieldError(field="(message)", message=str(exc)),)

"""What can go wrong on the command line, and the exit code each ends with.

    0  done
    1  refused: the service (or the bus) answered no, naming the fields; or no such thing
    2  usage: a bad option or argument, or input the contract refuses (nothing was sent)
    3  cannot reach the service or the broker, or it failed, takes no more now (HTTP 429), or does not
       offer this yet
    4  not authenticated, or not allowed (HTTP 401/403): check CHUISHAO_TOKEN
    5  no answer in time: a report sent over the bus got none (re-send it with the same --request-id),
       or `dept listen --count N` saw fewer call-outs before --idle ran out
  130  interrupted (Ctrl-C)
"""
from __future__ import annotations

from typing import Sequence

from services.common.events import FieldError

OK, REFUSED, USAGE, UNREACHABLE, FORBIDDEN, NO_ANSWER, INTERRUPTED = 0, 1, 2, 3, 4, 5, 130


class Failure(Exception):
    """A command that could not do its job; `body` is what --json prints on stdout."""

    exit_code = REFUSED

    def __init__(self, message: str, errors: Sequence[FieldError] = (), hint: str | None = None,
                 body: dict | None = None):
        super().__init__(message)
        self.message, self.errors, self.hint = message, tuple(errors), hint
        self.body = body if body is not None else {
            "error": message, "errors": [e.model_dump() for e in self.errors]}


class Refused(Failure):
    exit_code = REFUSED


class Invalid(Failure):
    exit_code = USAGE


class Unreachable(Failure):
    exit_code = UNREACHABLE


class Forbidden(Failure):
    exit_code = FORBIDDEN


class NoAnswer(Failure):
    exit_code = NO_ANSWER

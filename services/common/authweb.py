"""The HTTP side of access control: a werkzeug request -> the principal, or a JSON 401/403/429.

    missing, malformed, expired, wrongly signed, unknown-key or revoked token -> 401 + WWW-Authenticate: Bearer
    a valid token whose kind may not take the action                           -> 403
    a write over the principal's rate                                          -> 429 + Retry-After

No answer carries the token, and none is a 500. `Gate` holds what a process needs (the Verifier
reloading the key files, the write buckets, the clocks); services.common.guard plugs it into nameko."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Callable

from werkzeug.wrappers import Response

from services.common.auth.keystore import Verifier
from services.common.auth.pagination import PageError, PageRequest, page_request
from services.common.auth.principals import UNMETERED, Principal
from services.common.auth.ratelimit import Rate, TokenBuckets, retry_after_header
from services.common.auth.rules import Decision, may_attempt, rule_of
from services.common.auth.tokens import TokenError
from services.common.events import FieldError
from services.common.web import HttpError, json_response

log = logging.getLogger(__name__)
REALM = "chuishao"


class AuthError(HttpError):
    """An access-control refusal: status, English and Chinese reasons, and the headers it needs."""

    def __init__(self, status: int, message: str, message_zh: str, headers: dict | None = None,
                 errors: tuple[FieldError, ...] = ()):
        super().__init__(status, message, errors)
        self.message_zh = message_zh
        self.headers = headers or {}


class Unauthenticated(AuthError):
    def __init__(self, message: str, message_zh: str, token_given: bool):
        # RFC 6750: no error code when no credentials came at all, invalid_token otherwise
        challenge = f'Bearer realm="{REALM}"' + ('' if not token_given else ', error="invalid_token"')
        super().__init__(401, message, message_zh, {"WWW-Authenticate": challenge})


class Forbidden(AuthError):
    def __init__(self, decision: Decision):
        errors = (FieldError(field=decision.field, message=decision.reason),) if decision.field else ()
        super().__init__(403, decision.reason, decision.reason_zh, errors=errors)


class RateLimited(AuthError):
    def __init__(self, principal: Principal, wait: float):
        seconds = retry_after_header(wait)
        super().__init__(429, f"too many writes for {principal}: retry in {seconds} s",
                         f"{principal} 写入过于频繁，请 {seconds} 秒后重试", {"Retry-After": seconds})


AUTH_ERRORS = (Unauthenticated, Forbidden, RateLimited)   # for nameko's expected_exceptions


def error_response(exc: AuthError) -> Response:
    body = {"error": exc.message, "error_zh": exc.message_zh, "errors": [e.model_dump() for e in exc.errors]}
    response = json_response(exc.status, body)
    for name, value in exc.headers.items():
        response.headers[name] = value
    return response


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header; Unauthenticated otherwise."""
    if not authorization:
        raise Unauthenticated("missing bearer token: send Authorization: Bearer <token>",
                              "缺少令牌：请在 Authorization 头中提供 Bearer 令牌", token_given=False)
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or " " in token.strip():
        raise Unauthenticated("the Authorization header must be `Bearer <token>`",
                              "Authorization 头格式应为 `Bearer <令牌>`", token_given=True)
    return token.strip()


class Gate:
    """Authentication, the route-level rule and the write rate, for one process (HTTP and RPC)."""

    def __init__(self, verifier: Verifier, rate: Rate,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 monotonic: Callable[[], float] = time.monotonic):
        self.verifier = verifier
        self.buckets = TokenBuckets(rate)
        self.clock = clock
        self.monotonic = monotonic

    def authenticate(self, token: str | None) -> Principal:
        if not token:
            raise Unauthenticated("missing bearer token", "缺少令牌", token_given=False)
        try:
            return self.verifier.verify(token, self.clock())
        except TokenError as exc:
            raise Unauthenticated(exc.reason, exc.reason_zh, token_given=True) from None

    def admit(self, principal: Principal, action: str) -> None:
        """The route-level check (may this kind take the action at all) and, for a write, the rate."""
        decision = may_attempt(principal, action)
        if not decision:
            raise Forbidden(decision)
        if rule_of(action).write and principal.kind not in UNMETERED:
            wait = self.buckets.take(str(principal), self.monotonic())
            if wait:
                raise RateLimited(principal, wait)

    def enter(self, authorization: str | None, action: str) -> Principal:
        principal = self.authenticate(bearer_token(authorization))
        self.admit(principal, action)
        return principal


def request_principal(gate: Gate, request, action: str) -> Principal:
    """The principal of a werkzeug request allowed to attempt `action`; AuthError otherwise."""
    try:
        return gate.enter(request.headers.get("Authorization"), action)
    except AuthError as exc:
        log.info("refused %s %s (%s): %s", request.method, request.path, action, exc.message)
        raise


def request_page(request, default: int | None = None, maximum: int | None = None) -> PageRequest:
    """`?limit=&cursor=` of a list route; HttpError 400 naming the bad parameter."""
    bounds = {k: v for k, v in (("default", default), ("maximum", maximum)) if v is not None}
    try:
        return page_request(request.args, **bounds)
    except PageError as exc:
        raise HttpError(400, f"invalid {exc.field}", (FieldError(field=exc.field, message=exc.message),)) from None

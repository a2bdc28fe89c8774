"""The HTTP side of access control: a werkzeug request -> the principal, or a JSON 401/403/429.

    missing, malformed, expired, wrongly signed, unknown-key or revoked token -> 401 + WWW-Authenticate: Bearer
    a valid token whose kind may not take the action                           -> 403
    a write over the principal's rate                                          -> 429 + Retry-After

The refusals are services.common.errors' Unauthenticated, Forbidden and TooManyRequests, answered by
services.common.web like every other refusal. No answer carries the token, and none is a 500. `Gate`
holds what a process needs (the Verifier reloading the key files, the write buckets, the clocks);
services.common.guard plugs it into nameko."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Callable

from services.common.auth.keystore import Verifier
from services.common.auth.pagination import PageError, PageRequest, page_request
from services.common.auth.principals import UNMETERED, Principal
from services.common.auth.ratelimit import Rate, TokenBuckets, retry_after_header
from services.common.auth.rules import Decision, may_attempt, rule_of
from services.common.auth.tokens import TokenError
from services.common.errors import AccessRefused, Forbidden, TooManyRequests, Unauthenticated
from services.common.events import FieldError
from services.common.web import HttpError

log = logging.getLogger(__name__)


def forbidden(decision: Decision) -> Forbidden:
    """A refusal of the rule table as a 403, naming the field that decided it when one did."""
    errors = (FieldError(field=decision.field, message=decision.reason),) if decision.field else ()
    return Forbidden(decision.reason, decision.reason_zh, errors)


def rate_limited(principal: Principal, wait: float) -> TooManyRequests:
    seconds = retry_after_header(wait)
    return TooManyRequests(f"too many writes for {principal}: retry in {seconds} s",
                           f"{principal} 写入过于频繁，请 {seconds} 秒后重试", retry_after=wait)


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header; Unauthenticated otherwise."""
    if not authorization:
        raise Unauthenticated("missing bearer token: send Authorization: Bearer <token>",
                              "缺少令牌：请在 Authorization 头中提供 Bearer 令牌")
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
            raise Unauthenticated("missing bearer token", "缺少令牌")
        try:
            return self.verifier.verify(token, self.clock())
        except TokenError as exc:
            raise Unauthenticated(exc.reason, exc.reason_zh, token_given=True) from None

    def admit(self, principal: Principal, action: str) -> None:
        """The route-level check (may this kind take the action at all) and, for a write, the rate."""
        decision = may_attempt(principal, action)
        if not decision:
            raise forbidden(decision)
        if rule_of(action).write and principal.kind not in UNMETERED:
            wait = self.buckets.take(str(principal), self.monotonic())
            if wait:
                raise rate_limited(principal, wait)

    def enter(self, authorization: str | None, action: str) -> Principal:
        principal = self.authenticate(bearer_token(authorization))
        self.admit(principal, action)
        return principal


def request_principal(gate: Gate, request, action: str) -> Principal:
    """The principal of a werkzeug request allowed to attempt `action`; an AccessRefused otherwise."""
    try:
        return gate.enter(request.headers.get("Authorization"), action)
    except AccessRefused as exc:
        log.info("refused %s %s (%s): %s", request.method, request.path, action, exc.reason)
        raise


def request_page(request, default: int | None = None, maximum: int | None = None) -> PageRequest:
    """`?limit=&cursor=` of a list route; HttpError 400 naming the bad parameter."""
    bounds = {k: v for k, v in (("default", default), ("maximum", maximum)) if v is not None}
    try:
        return page_request(request.args, **bounds)
    except PageError as exc:
        raise HttpError(400, f"invalid {exc.field}", (FieldError(field=exc.field, message=exc.message),)) from None

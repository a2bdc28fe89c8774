"""Access control in nameko services: one dependency, one decorator per entrypoint kind.

    class WhistleService(OpsEndpoints):
        auth = Auth()

        @http("POST", "/api/v1/whistles/<string:whistle_id>/closure")
        @guarded("whistle.close", obj="whistle")        # 401 / 403 (kind) / 429 before the body runs
        @json_api
        def http_close(self, request, whistle_id):
            ...load the whistle...
            self.auth.require({"street_code": whistle["street_code"]})     # 403: another street's
            body = self.auth.claim(read_json(request, JsonObject))         # fills/validates street_code

        @rpc(expected_exceptions=REFUSALS)                    # the access refusals are REFUSALS too
        @guarded_rpc("whistle.close", obj="whistle")
        def close_whistle(self, request): ... the same self.auth calls ...

An RPC caller proves who it is with a token in nameko's context data, key `auth_token` (nameko
carries it as the AMQP header `nameko.auth_token`, and passes it on to the RPC calls the callee
makes while serving it):

    ClusterRpcProxy(config, context_data=rpc_context(token))

Bus consumers keep their broker-side proof (SENDER_CHECK=user_id, provisioned accounts);
principal_of_broker_user() turns the verified user_id into the principal for the timeline."""
from __future__ import annotations

import functools
import logging
import os
from typing import Any, Callable, Iterable, Mapping

from nameko.constants import AUTH_TOKEN_CONTEXT_KEY
from nameko.extensions import DependencyProvider

from services.common.auth.keystore import Verifier, auth_dir
from services.common.auth.principals import Principal
from services.common.auth.ratelimit import Rate
from services.common.auth.routes import declare
from services.common.auth.rules import Denied, authorize, claim, rule_of, visible
from services.common.authweb import Gate, forbidden, request_principal
from services.common.errors import AccessRefused, http_status
from services.common.web import json_response, refusal_response

log = logging.getLogger(__name__)


def build_gate(env=os.environ) -> Gate:
    """The process's gate: keys from $CHUISHAO_AUTH_DIR, write rate from WRITE_RATE_PER_MINUTE/WRITE_BURST."""
    return Gate(Verifier(auth_dir(env)), Rate.from_env(env))


def rpc_context(token: str) -> dict:
    """The context data an RPC caller sends its token in."""
    return {AUTH_TOKEN_CONTEXT_KEY: token}


class AuthContext:
    """One worker's view: who is calling, for which action, and the object-level checks on it."""

    def __init__(self, gate: Gate, context_data: Mapping[str, Any]):
        self.gate = gate
        self._context_data = context_data
        self.principal: Principal | None = None
        self.action: str | None = None

    def enter_http(self, request, action: str) -> Principal:
        self.principal, self.action = request_principal(self.gate, request, action), action
        return self.principal

    def enter_token(self, token: str | None, action: str) -> Principal:
        """For a protocol that carries the token elsewhere than the Authorization header (Open311's api_key)."""
        principal = self.gate.authenticate(token)
        self.gate.admit(principal, action)
        self.principal, self.action = principal, action
        return principal

    def enter_rpc(self, action: str) -> Principal:
        token = self._context_data.get(AUTH_TOKEN_CONTEXT_KEY)
        principal = self.gate.authenticate(token if isinstance(token, str) else None)
        self.gate.admit(principal, action)
        self.principal, self.action = principal, action
        return principal

    def _entered(self, action: str | None = None) -> tuple[Principal, str]:
        """The entrypoint's principal and the action to check (the entrypoint's unless one is named)."""
        action = action or self.action
        if self.principal is None or action is None:
            raise RuntimeError("no principal: the entrypoint is not @guarded / @guarded_rpc")
        return self.principal, action

    def require(self, obj: Mapping[str, Any] | None, action: str | None = None) -> Principal:
        """The object-level check of the entrypoint's action (or another one); Forbidden (403) if refused."""
        principal, action = self._entered(action)
        decision = authorize(principal, action, obj)
        if not decision:
            raise forbidden(decision)
        return principal

    def claim(self, body: dict) -> dict:
        """The body with the principal's own street_code/department_code filled in; Forbidden on a mismatch."""
        try:
            return claim(self._entered()[0], body)
        except Denied as exc:
            raise forbidden(exc.decision) from None

    def visible(self, rows: Iterable[Any], attrs: Callable[[Any], Mapping[str, Any]] = lambda row: row,
                action: str | None = None) -> list:
        """The rows of a list this principal may see (a department: only its own call-outs)."""
        principal, action = self._entered(action)
        return visible(principal, action, rows, attrs)

    def record(self) -> dict:
        """Who acted, for the timeline."""
        return self._entered()[0].record()


class Auth(DependencyProvider):
    """Gives each worker an AuthContext over the process's Gate."""

    def setup(self):
        self.gate = build_gate()
        self.gate.verifier.refresh()
        keys = self.gate.verifier.key_ids
        if keys:
            log.info("bearer tokens: %d key(s) accepted (%s) from %s", len(keys), ", ".join(keys),
                     self.gate.verifier.files.root)
        else:
            log.error("bearer tokens: no keys in %s: every request will be refused (401) until "
                      "`make token ARGS='keys rotate'` or a jwks.json arrives", self.gate.verifier.files.jwks)

    def get_dependency(self, worker_ctx):
        return AuthContext(self.gate, worker_ctx.data)


def guarded(action: str, obj: str | None = None, dependency: str = "auth"):
    """An HTTP entrypoint taking `action`: authenticates, checks the kind and the rate, then runs.

    Put it between nameko's @http and @json_api. It also declares the route's rule for the matrix."""
    rule_of(action)                                   # an action with no rule fails at import

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(self, request, *args, **kwargs):
            try:
                getattr(self, dependency).enter_http(request, action)
            except AccessRefused as exc:
                return refusal_response(exc, http_status(exc))
            except Exception:  # noqa: BLE001 - logged; the caller gets JSON, never a traceback
                log.exception("access check failed unexpectedly for %s %s", request.method, request.path)
                return json_response(500, {"error": "internal error; the operator has the details", "errors": []})
            return fn(self, request, *args, **kwargs)

        return declare(wrapper, action, obj)

    return decorate


def guarded_rpc(action: str, obj: str | None = None, dependency: str = "auth"):
    """An RPC method taking `action`: the caller's token comes from the context data (`auth_token`).

    Refusals raise services.common.errors' Unauthenticated / Forbidden / TooManyRequests, which are
    REFUSALS (`@rpc(expected_exceptions=REFUSALS)`): the caller gets a RemoteError naming them, with the reason."""
    rule_of(action)

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(self, *args, **kwargs):
            getattr(self, dependency).enter_rpc(action)
            return fn(self, *args, **kwargs)

        return declare(wrapper, action, obj)

    return decorate

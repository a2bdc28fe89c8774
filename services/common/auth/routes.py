"""Every HTTP route and RPC method declares its action; the authorization matrix is generated from that.

The declaration is made by the decorators that enforce it (services.common.guard.guarded for HTTP,
guarded_rpc for RPC), so a route cannot claim a rule it does not check. `unruled(ServiceClass)`
lists what has no declaration: a test over every service fails when a route is added without a rule.
`matrix(routes)` gives every route x principal kind x own/other object with the expected answer."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from services.common.auth.principals import Kind
from services.common.auth.rules import RULES, Scope, rule_of

ATTRIBUTE = "auth_rule"
# Open to anyone, by decision: the liveness probe and Prometheus' scrape (keep /metrics on a
# listener that is not published, or behind the network policy).
# The command-centre page's own files, texts, map and field-error wording carry no case data: the
# login screen needs them before any token (services/whistle/board.py).
BOARD_FILES = frozenset({("GET", "/board"), ("GET", "/board/assets/<string:name>"),
                         ("GET", "/board/texts/<string:lang>"), ("GET", "/board/areas"),
                         ("POST", "/board/explain")})
OPEN_ROUTES = frozenset({("GET", "/health"), ("GET", "/metrics")}) | BOARD_FILES
ALLOWED = "allowed"        # the check lets it through: any answer but 401 or 403


@dataclass(frozen=True)
class Declared:
    action: str
    obj: str | None         # what the path's id names ("whistle", "callout", "arbitration"), None for none


def declare(fn, action: str, obj: str | None = None):
    rule_of(action)                                       # an unknown action fails at import
    setattr(fn, ATTRIBUTE, Declared(action, obj))
    return fn


@dataclass(frozen=True)
class Route:
    method: str             # GET, POST... or RPC
    path: str               # the URL rule, or the RPC method's name
    action: str
    obj: str | None = None
    name: str = ""          # the service method


@dataclass(frozen=True)
class Entrypoint:
    method: str
    path: str
    name: str
    declared: Declared | None


def entrypoints_of(service_cls) -> list[Entrypoint]:
    """The HTTP routes and RPC methods of a nameko service class, with what each declares."""
    from nameko.rpc import Rpc
    from nameko.web.handlers import HttpRequestHandler
    found = []
    for name in sorted(dir(service_cls)):
        fn = getattr(service_cls, name, None)
        for entrypoint in getattr(fn, "nameko_entrypoints", ()):
            declared = getattr(fn, ATTRIBUTE, None)
            if isinstance(entrypoint, HttpRequestHandler):
                found.append(Entrypoint(entrypoint.method.upper(), entrypoint.url, name, declared))
            elif isinstance(entrypoint, Rpc):
                found.append(Entrypoint("RPC", name, name, declared))
    return found


def routes_of(service_cls) -> list[Route]:
    """The declared routes and RPC methods, for matrix()."""
    return [Route(e.method, e.path, e.declared.action, e.declared.obj, e.name)
            for e in entrypoints_of(service_cls) if e.declared is not None]


def unruled(service_cls) -> list[str]:
    """Every route or RPC method with no rule (open routes excepted), as `METHOD path (method)`."""
    return [f"{e.method} {e.path} ({e.name})" for e in entrypoints_of(service_cls)
            if e.declared is None and (e.method, e.path) not in OPEN_ROUTES]


@dataclass(frozen=True)
class Case:
    route: Route
    kind: Kind | None       # None: no token at all
    relation: str           # "own" / "other" object, "any" when the grant does not depend on it, "anonymous"
    expected: int | str     # 401, 403, or ALLOWED

    @property
    def id(self) -> str:
        who = "anonymous" if self.kind is None else f"{self.kind.value}-{self.relation}"
        return f"{self.route.method} {self.route.path} {who}"


def matrix(routes: Iterable[Route]) -> list[Case]:
    """Every route x every principal kind x own/other object, with the status the rule table expects.

    `own` is an object of the principal's street (OWN_STREET), of its department (OWN_DEPARTMENT)
    or on which its department is called (CALLED); `other` is one of somebody else."""
    cases = []
    for route in routes:
        rule = RULES[route.action]
        cases.append(Case(route, None, "anonymous", 401))
        for kind in Kind:
            scope = rule.grants.get(kind)
            if scope is None:
                cases.append(Case(route, kind, "any", 403))
            elif scope is Scope.ANY:
                cases.append(Case(route, kind, "any", ALLOWED))
            else:
                cases.append(Case(route, kind, "own", ALLOWED))
                cases.append(Case(route, kind, "other", 403))
    return cases


def breaches(cases: Iterable[Case], attempt) -> list[str]:
    """Runs every case through `attempt(case) -> HTTP status` (an RPC refusal mapped to its status);
    returns one line per case whose answer is not what the rule table expects (empty: zero breaches)."""
    found = []
    for case in cases:
        status = attempt(case)
        ok = status not in (401, 403) if case.expected == ALLOWED else status == case.expected
        if not ok:
            found.append(f"{case.id}: expected {case.expected}, got {status}")
    return found

"""Every HTTP route and RPC method of the four services takes an action of the rule table.

A route or RPC method added without `@guarded(...)` / `@guarded_rpc(...)` fails here by name (only
`GET /health` and `GET /metrics` are open, by decision). The matrix over the running services is
tests/integration/test_authorization_matrix.py."""
import importlib

import pytest

from services.common.auth.routes import OPEN_ROUTES, entrypoints_of, routes_of, unruled
from services.common.auth.rules import RULES

SERVICES = ("whistle", "dispatch", "roster", "metrics")


def service_class(name: str):
    return importlib.import_module(f"services.{name}.service").SERVICE


@pytest.mark.parametrize("name", SERVICES)
def test_no_route_or_rpc_method_is_without_a_rule(name):
    assert unruled(service_class(name)) == []


@pytest.mark.parametrize("name", SERVICES)
def test_only_health_metrics_and_the_pages_files_are_open(name):
    undeclared = {(e.method, e.path) for e in entrypoints_of(service_class(name)) if e.declared is None}
    assert {("GET", "/health"), ("GET", "/metrics")} <= undeclared <= set(OPEN_ROUTES)


def test_the_routes_declare_known_actions_and_the_objects_their_paths_name():
    routes = [route for name in SERVICES for route in routes_of(service_class(name))]
    assert {route.action for route in routes} <= set(RULES)
    for route in routes:
        if "<string:whistle_id>" in route.path:
            assert route.obj == "whistle", route
    # every rule with a route somewhere, except those of the tool that speaks to the broker directly
    # (dead letters)
    assert set(RULES) - {route.action for route in routes} == {"dlq.read", "dlq.replay", "dlq.drop"}

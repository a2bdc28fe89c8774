"""The HTTP APIs fuzzed from their OpenAPI document (schemathesis): no 5xx with a valid token, whatever comes
in; and every guarded route answers 401 without a token, or with a bad one (Open311's: the spec's 403)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from services.common.auth.principals import Kind
from services.common.auth.routes import routes_of
from services.dispatch.service import DispatchService
from services.metrics.service import MetricsService
from services.roster.service import RosterService
from services.whistle.service import WhistleService

pytestmark = pytest.mark.integration
OPENAPI = Path(__file__).resolve().parents[2] / "deploy" / "openapi.yaml"
SERVICES = {"whistle": WhistleService, "dispatch": DispatchService, "roster": RosterService,
            "metrics": MetricsService}
TAGS = {"whistle": "whistle", "dispatch": "dispatch", "roster": "roster", "metrics": "assessment"}
HTTP_ROUTES = [(service, route) for service, cls in SERVICES.items() for route in routes_of(cls)
               if route.method != "RPC"]


@pytest.fixture(scope="module", autouse=True)
def services(stack):
    stack.start("whistle", "dispatch", "roster", "metrics")


# The complainant's contact is personal data the rule table withholds from services (`grid_event.contact`:
# the owning street and the follow-up desk only): with a service's token that operation answers only 403,
# by design, so it is fuzzed on its own with the follow-up desk's token.
PERSONAL = {"whistle": ("getGridEventContact", Kind.FOLLOW_UP)}


def fuzz(url: str, selection: list[str], token: str, cwd: Path) -> None:
    """schemathesis over the operations `selection` picks: no 5xx with the token, and (ignored_auth) each
    operation refuses a request without it."""
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", str(OPENAPI), "--url", url, *selection,
         "--checks", "not_a_server_error,ignored_auth", "--max-examples", "30",
         "--seed", "1", "--workers", "1", "--phases", "examples,fuzzing",
         "--header", f"Authorization: Bearer {token}"],
        capture_output=True, text=True, timeout=600, cwd=cwd)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "passed" in run.stdout.lower() or "no issues found" in run.stdout.lower(), run.stdout[-2000:]


@pytest.mark.parametrize("service", list(TAGS))
def test_no_input_makes_a_service_fail_with_a_5xx(stack, service, tmp_path):
    # a service's token: the principal whose requests reach furthest into every route (the rule table
    # lets it take every action but the operators' and the complainants' contacts)
    selection = ["--include-tag", TAGS[service]]
    if service in PERSONAL:
        operation, kind = PERSONAL[service]
        fuzz(stack.url(service), ["--include-operation-id", operation], stack.token(kind), tmp_path)
        selection += ["--exclude-operation-id", operation]
    fuzz(stack.url(service), selection, stack.token(), tmp_path)


def concrete(path: str) -> str:
    """A URL the route matches: `checkin` for a report's action, the first choice of an `any(...)`, else some-<name>."""
    def value(m: re.Match) -> str:
        converter, choices, name = m.groups()
        if converter == "any":
            return choices.split(",")[0].strip()
        return "checkin" if name == "action" else f"some-{name}"
    return re.sub(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>", value, path)


@pytest.mark.parametrize("service, route", HTTP_ROUTES, ids=[f"{s}:{r.method}:{r.path}" for s, r in HTTP_ROUTES])
def test_every_route_answers_401_without_a_valid_token(stack, service, route):
    url = f"{stack.url(service)}{concrete(route.path)}"
    forged = stack.token()[:-4] + ("AAAA" if not stack.token().endswith("AAAA") else "BBBB")
    if route.path.startswith("/open311/"):
        return open311_refuses(url, route, forged)
    invalid = 'Bearer realm="chuishao", error="invalid_token"'
    for headers, challenge in (({}, 'Bearer realm="chuishao"'), ({"Authorization": f"Bearer {forged}"}, invalid),
                               ({"Authorization": "Basic Z3Vlc3Q6Z3Vlc3Q="}, invalid)):
        response = requests.request(route.method, url, json={}, headers=headers, timeout=5)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["WWW-Authenticate"] == challenge
        body = response.json()
        assert body["error"] and body["error_zh"] and body["errors"] == []
        assert forged not in response.text


def open311_refuses(url: str, route, forged: str) -> None:
    """Open311 routes take the spec's api_key and answer by its error statuses: a missing or bad key is 403,
    in its error shape ([{"code", "description"}]), with no bearer challenge (services/whistle/open311_web.py)."""
    for params, headers in (({}, {}), ({"api_key": forged}, {}), ({}, {"Authorization": f"Bearer {forged}"}),
                            ({}, {"Authorization": "Basic Z3Vlc3Q6Z3Vlc3Q="})):
        response = requests.request(route.method, url, params=params, json={}, headers=headers, timeout=5)
        assert response.status_code == 403, (params, headers, response.text)
        assert "WWW-Authenticate" not in response.headers
        body = response.json()
        assert isinstance(body, list) and len(body) == 1 and body[0]["code"] == 403, body
        assert body[0]["description"].startswith("api_key: ")
        assert forged not in response.text


@pytest.mark.parametrize("service", list(SERVICES))
def test_health_and_metrics_stay_open(stack, service):
    assert requests.get(f"{stack.url(service)}/health", timeout=5).status_code == 200
    assert requests.get(f"{stack.url(service)}/metrics", timeout=5).status_code == 200

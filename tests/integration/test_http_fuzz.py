"""The HTTP APIs fuzzed from their OpenAPI document (schemathesis): no 5xx with a valid token, whatever comes
in; and every route but /health and /metrics answers 401 without a token, or with a bad one."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

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


@pytest.mark.parametrize("service", list(TAGS))
def test_no_input_makes_a_service_fail_with_a_5xx(stack, service, tmp_path):
    # a service's token: the principal whose requests reach furthest into every route (the rule table
    # lets it take every action but the operators'); ignored_auth: each operation refuses a request
    # without it
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", str(OPENAPI), "--url", stack.url(service),
         "--include-tag", TAGS[service], "--checks", "not_a_server_error,ignored_auth", "--max-examples", "30",
         "--seed", "1", "--workers", "1", "--phases", "examples,fuzzing",
         "--header", f"Authorization: Bearer {stack.token()}"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "passed" in run.stdout.lower() or "no issues found" in run.stdout.lower(), run.stdout[-2000:]


def concrete(path: str) -> str:
    return re.sub(r"<(?:string:)?(\w+)>", lambda m: "checkin" if m.group(1) == "action" else f"some-{m.group(1)}",
                  path)


@pytest.mark.parametrize("service, route", HTTP_ROUTES, ids=[f"{s}:{r.method}:{r.path}" for s, r in HTTP_ROUTES])
def test_every_route_answers_401_without_a_valid_token(stack, service, route):
    url = f"{stack.url(service)}{concrete(route.path)}"
    forged = stack.token()[:-4] + ("AAAA" if not stack.token().endswith("AAAA") else "BBBB")
    for headers, challenge in (({}, 'Bearer realm="chuishao"'),
                               ({"Authorization": f"Bearer {forged}"}, 'Bearer realm="chuishao", error="invalid_token"'),
                               ({"Authorization": "Basic Z3Vlc3Q6Z3Vlc3Q="}, 'Bearer realm="chuishao", error="invalid_token"')):
        response = requests.request(route.method, url, json={}, headers=headers, timeout=5)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["WWW-Authenticate"] == challenge
        body = response.json()
        assert body["error"] and body["error_zh"] and body["errors"] == []
        assert forged not in response.text


@pytest.mark.parametrize("service", list(SERVICES))
def test_health_and_metrics_stay_open(stack, service):
    assert requests.get(f"{stack.url(service)}/health", timeout=5).status_code == 200
    assert requests.get(f"{stack.url(service)}/metrics", timeout=5).status_code == 200

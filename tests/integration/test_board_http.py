"""The command-centre page's HTTP side in a real whistle service process: its files with their security
headers, its texts, the map, field errors for people, who a token names (401/403/200), and the relays
to dispatch: the rule checked here first, and a service that is down named (dispatch is not started)."""
from __future__ import annotations

import pytest
import requests

from services.common.auth.principals import Kind
from tests.support.tokens import Tokens

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    return Tokens(tmp_path_factory.mktemp("auth"))


@pytest.fixture(scope="module")
def whistle(stack, tokens):
    stack.extra_env["CHUISHAO_AUTH_DIR"] = str(tokens.root)
    stack.start("whistle")
    return stack.url("whistle")


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_the_page_and_its_files_come_with_their_types_and_a_same_origin_policy(whistle):
    page = requests.get(f"{whistle}/board", timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert '<script type="module" src="/board/assets/app.js">' in page.text
    for name, kind in (("app.js", "text/javascript"), ("board.css", "text/css"), ("icon.svg", "image/svg+xml")):
        asset = requests.get(f"{whistle}/board/assets/{name}", timeout=5)
        assert asset.status_code == 200 and asset.headers["Content-Type"].startswith(kind), name
    for name in ("board.py", "index.html", "..%2Fboard.py", "nope.js"):
        assert requests.get(f"{whistle}/board/assets/{name}", timeout=5).status_code == 404, name


def test_texts_in_either_language_and_the_map(whistle):
    zh = requests.get(f"{whistle}/board/texts/zh_CN", timeout=5).json()
    en = requests.get(f"{whistle}/board/texts/en-GB", timeout=5).json()
    assert zh["lang"] == "zh_CN" and zh["ui"]["app.title"] == "街道指挥中心"
    assert en["lang"] == "en" and en["ui"]["app.title"] == "Street command centre"
    missing = requests.get(f"{whistle}/board/texts/fr", timeout=5)
    assert missing.status_code == 404 and "zh_CN" in missing.json()["error"]
    areas = requests.get(f"{whistle}/board/areas", timeout=5).json()
    assert len(areas["features"]) == 24


def test_field_errors_are_explained_and_a_bad_request_is_named(whistle):
    answer = requests.post(f"{whistle}/board/explain?lang=zh_CN", timeout=5,
                           json={"errors": [{"field": "reported_by", "message": "Field required"}]})
    assert answer.status_code == 200
    assert answer.json() == {"errors": [{"field": "reported_by", "label": "上报人", "message": "必填"}]}
    bad = requests.post(f"{whistle}/board/explain", json={"errors": "all of them"}, timeout=5)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "errors"


def test_the_session_says_who_the_token_names_or_why_not(whistle, tokens):
    anonymous = requests.get(f"{whistle}/board/api/session", timeout=5)
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    street = tokens.issue(Kind.STREET, "daxigou")
    me = requests.get(f"{whistle}/board/api/session", headers=bearer(street), timeout=5)
    assert me.status_code == 200 and me.json()["kind"] == "street" and me.json()["code"] == "daxigou"
    department = requests.get(f"{whistle}/board/api/session", timeout=5,
                              headers=bearer(tokens.issue(Kind.DEPARTMENT, "chengguan")))
    assert department.status_code == 403 and department.json()["error_zh"] == "部门无权打开指挥中心页面"
    tokens.revoke(street)
    revoked = requests.get(f"{whistle}/board/api/session", headers=bearer(street), timeout=5)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]


def test_a_relay_checks_the_rule_first_and_names_a_service_that_is_down(whistle, tokens):
    street = tokens.issue(Kind.STREET, "daxigou")
    refused = requests.get(f"{whistle}/board/api/dispatch/overdue", headers=bearer(street), timeout=5)
    assert refused.status_code == 403 and refused.json()["error"] == "a street token may not list overdue call-outs"
    district = tokens.issue(Kind.DISTRICT, "zhangwei")
    down = requests.get(f"{whistle}/board/api/dispatch/overdue", headers=bearer(district), timeout=10)
    assert down.status_code == 502 and down.json()["service"] == "dispatch"
    team = requests.get(f"{whistle}/board/api/roster/whistles/some-id/team", headers=bearer(street), timeout=10)
    assert team.status_code == 502 and team.json()["service"] == "roster"
    nobody = requests.get(f"{whistle}/board/api/dispatch/arbitrations", timeout=5)
    assert nobody.status_code == 401

"""Browser tests: the command-centre page in real headless Chromium (Debian's `chromium`, driven by
Playwright for Python with `executable_path`), against the services as separate processes.

Chromium comes from scripts/ensure-chromium.sh (`make chromium`; installed with apt-get when we are
root). Without it these tests are skipped with the reason, and fail under `make test`
(REQUIRE_CHROMIUM=1). Screenshots go to var/screenshots/ (each path is printed)."""
from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
import requests
import yaml

from services.common.reference import DEFAULT_PATH
from tests.support.tokens import Tokens

ROOT = Path(__file__).resolve().parents[2]
ENSURE = ROOT / "scripts" / "ensure-chromium.sh"
SCREENSHOTS = ROOT / "var" / "screenshots"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]
WALL = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}
# how long the page may take to show what the services know: it polls every 3 s
SHOWN_WITHIN = 30


def chromium_path() -> str:
    """The Chromium binary, installed when it can be; a skip (or, under make test, a failure) saying why not."""
    result = subprocess.run(["bash", str(ENSURE)], capture_output=True, text=True, timeout=900)
    if result.returncode == 0 and result.stdout.strip():
        return result.stdout.strip().splitlines()[-1]
    reason = f"Chromium is not available for the browser tests: {result.stderr.strip()}"
    if os.environ.get("REQUIRE_CHROMIUM") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium():
    return chromium_path()


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def board_reference(tmp_path_factory):
    """The shipped district with drill deadlines a person can watch: check-in within 20 s, arrival and
    completion within minutes (so only the check-in goes overdue in a test); escalation at once."""
    data = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    for level in data["urgencies"].values():
        level.update(check_in="20s", arrival="5m", completion="10m")
    data["escalation"] = [dict(tier, after=after) for tier, after in zip(data["escalation"], ("0s", "3m", "6m"))]
    data["areas"] = str(DEFAULT_PATH.parent / data["areas"])
    path = tmp_path_factory.mktemp("board-drill") / "district.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    return Tokens(tmp_path_factory.mktemp("auth"))


@pytest.fixture(scope="module")
def board(stack, board_reference, tokens):
    """whistle, dispatch and roster with the drill deadlines and this module's token keys; the page's address."""
    stack.extra_env.update({"REFERENCE_DATA": str(board_reference), "CHUISHAO_AUTH_DIR": str(tokens.root),
                            "ESCALATION_SWEEP_SECONDS": "1"})
    stack.start("whistle", "dispatch", "roster")
    return f"{stack.url('whistle')}/board"


@pytest.fixture
def wall(browser):
    context = browser.new_context(viewport=WALL, locale="zh-CN")
    yield context.new_page()
    context.close()


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True,
                                  device_scale_factor=2)
    yield context.new_page()
    context.close()


def screenshot(page, name: str, full_page: bool = False) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    print(f"screenshot: {path}")
    return path


def sign_in(page, url: str, token: str) -> None:
    page.goto(url)
    page.fill("#token", token)
    page.click("[data-login] button[type=submit]")


def raise_by_api(stack, token: str, **fields) -> str:
    """A whistle raised over the HTTP API, as a street's own system would."""
    body = {"request_id": f"api-{uuid.uuid4().hex[:12]}", "street_code": "daxigou", "source": "grid_patrol",
            "reported_by": "网格员 王芳", **fields}
    answer = requests.post(f"{stack.url('whistle')}/api/v1/whistles", json=body, timeout=10,
                           headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 201, answer.text
    return answer.json()["whistle_id"]


def callouts_of(stack, token: str, whistle_id: str) -> dict[str, dict]:
    """The whistle's call-outs by department, from dispatch's HTTP API."""
    answer = requests.get(f"{stack.url('dispatch')}/api/v1/whistles/{whistle_id}/callouts", timeout=10,
                          headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return {c["department_code"]: c for c in answer.json()["callouts"]}

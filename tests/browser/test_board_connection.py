"""The board when the whistle service goes away and comes back: it says so, keeps its token, and recovers
without a reload (a wall screen has nobody at its keyboard)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from services.common.auth.principals import Kind
from tests.browser.conftest import SHOWN_WITHIN, sign_in

pytestmark = pytest.mark.browser

WAIT = SHOWN_WITHIN * 1000


@pytest.fixture(scope="module")
def whistle_only(stack, tokens, board_reference):
    stack.extra_env.update({"REFERENCE_DATA": str(board_reference), "CHUISHAO_AUTH_DIR": str(tokens.root)})
    stack.start("whistle")
    return f"{stack.url('whistle')}/board"


def test_a_lost_connection_is_said_and_the_board_recovers_by_itself(whistle_only, stack, wall, tokens):
    page = wall
    sign_in(page, whistle_only, tokens.issue(Kind.STREET, "daxigou"))
    expect(page.locator("[data-connection]")).to_contain_text("已更新", timeout=WAIT)
    page.evaluate("window.__sameDocument = true")

    stack.processes["whistle"].stop()
    banner = page.locator("#banner")
    expect(banner).to_contain_text("无法连接吹哨服务，请确认服务已启动", timeout=WAIT)
    expect(page.locator("[data-connection]")).to_have_text("连接中断")
    stack.start("whistle")
    expect(banner).to_be_hidden(timeout=WAIT)
    expect(page.locator("[data-connection]")).to_contain_text("已更新")
    assert page.evaluate("window.__sameDocument") is True

    assert page.evaluate("sessionStorage.getItem('chuishao.token')") is not None

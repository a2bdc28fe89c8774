"""The command-centre page in headless Chromium against whistle, dispatch and roster as processes.

A street signs in with its token, raises a whistle from the form (the API's refusals shown next to each
field first), watches a department's check-in, sent over the bus by the department client, appear on the
board without a reload, sees the check-in deadline of the others pass (drill deadlines: 20 s) and their
card turn red with the escalation (督办) listed, and closes the case with 两图一表 and its follow-up. The
district decides a return (退单) waiting for arbitration. Tokens the server does not accept lead back to
the login; actions a token may not take say which. Screenshots: var/screenshots/.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from services.common.auth.principals import Kind
from services.department_client import DepartmentClient
from tests.browser.conftest import SHOWN_WITHIN, callouts_of, raise_by_api, screenshot, sign_in

pytestmark = pytest.mark.browser

WAIT = SHOWN_WITHIN * 1000
OVERDUE = re.compile(r"\boverdue\b")


@pytest.fixture(scope="module")
def street_token(tokens):
    return tokens.issue(Kind.STREET, "daxigou")


@pytest.fixture(scope="module")
def service_token(tokens):
    """What the test itself reads the APIs with (a service may read everything)."""
    return tokens.issue(Kind.SERVICE, "whistle")


def report(stack, department: str, callout_id: str, *steps: str) -> None:
    """A department's reports over the bus, through the department client; each must be accepted."""
    with DepartmentClient(stack.amqp_uri, department, namespace=stack.namespace) as client:
        for step in steps:
            if step == "checkin":
                outcome = client.check_in(callout_id, f"{department} 值班员")
            elif step == "arrival":
                outcome = client.arrive(callout_id, f"{department} 值班员", "大溪沟街道滨江路", "photo://arrival")
            else:
                outcome = client.complete(callout_id, "已处置完毕", ["photo://done"])
            assert outcome.outcome == "accepted", outcome


def test_a_street_raises_a_whistle_watches_it_go_red_and_closes_it(board, stack, wall, street_token,
                                                                    service_token):
    page = wall
    sign_in(page, board, street_token)
    expect(page.locator("[data-who]")).to_have_text("大溪沟街道")
    expect(page).to_have_url(re.compile(r"#street/daxigou$"))
    page.evaluate("window.__sameDocument = true")        # gone if the page ever reloads

    # the form sends what it has; the API's refusals come back next to each field, in Chinese
    page.click("[data-raise]")
    form = page.locator("#raise-form")
    form.locator("[data-field='place.lon']").fill("东经106度")
    form.locator("button[type=submit]").click()
    for field, message in (("category", "必填"), ("urgency", "必填"), ("source", "必填"),
                           ("description", "不能为空"), ("place.address", "不能为空"), ("reported_by", "不能为空"),
                           ("place.lon", "须为数字")):
        expect(form.locator(f"[data-error-for='{field}']")).to_have_text(message)
        expect(form.locator(f"[data-field='{field}']")).to_have_attribute("aria-invalid", "true")
    expect(form.locator("[data-error-for='grid_code']")).to_have_text("")
    expect(form.locator("[data-form-message]")).to_have_text("请按提示修改标红的栏目。")

    form.locator("[data-field=category]").select_option("illegal_construction")
    form.locator("[data-field=urgency]").select_option("urgent")
    form.locator("[data-field=source]").select_option("grid_patrol")
    form.locator("[data-field=description]").fill("楼顶正在加盖彩钢房")
    form.locator("[data-field='place.address']").fill("大溪沟街道滨江路12号")
    form.locator("[data-field=reported_by]").fill("网格员 王芳")
    page.locator(".pick-map [data-grid='daxigou-c1-g2']").click()          # the place, on the map
    expect(form.locator("[data-field=grid_code]")).to_have_value("daxigou-c1-g2")
    expect(form.locator("[data-field='place.lon']")).to_have_value(re.compile(r"^106\.54\d+$"))
    form.locator("button[type=submit]").click()
    toast = page.locator(".toast").filter(has_text="已吹哨")
    expect(toast).to_be_visible()
    whistle_id = toast.inner_text().split("：", 1)[1].strip()
    expect(page.locator("dialog[data-dialog=raise]")).to_have_count(0)

    card = page.locator(f"article.card[data-whistle-id='{whistle_id}']")
    expect(card.locator("[data-department]")).to_have_count(3, timeout=WAIT)     # 城管 leads, 规划 and 住建
    chengguan, guihua = card.locator("[data-department=chengguan]"), card.locator("[data-department=guihua]")
    expect(chengguan.locator(".dstatus")).to_have_text("已派单")
    expect(chengguan.locator(".role")).to_have_text("牵头")
    expect(guihua.locator(".countdown")).to_contain_text("报到剩余")
    expect(page.locator(f".map-box [data-marker='{whistle_id}']")).to_have_count(1)
    screenshot(page, "board-raised-1920x1080")

    # 城管 checks in over the bus: the board shows it without a reload
    callouts = callouts_of(stack, service_token, whistle_id)
    report(stack, "chengguan", callouts["chengguan"]["callout_id"], "checkin")
    expect(chengguan.locator(".dstatus")).to_have_text("已报到", timeout=WAIT)
    expect(chengguan.locator(".officer")).to_have_text("chengguan 值班员")
    expect(chengguan.locator(".countdown")).to_contain_text("到场剩余")
    assert page.evaluate("window.__sameDocument") is True

    # the others miss their 20 s check-in: their lines and the card turn red, the escalation is listed
    expect(card).to_have_class(OVERDUE, timeout=2 * WAIT)
    expect(guihua).to_have_class(OVERDUE)
    expect(guihua.locator(".countdown")).to_contain_text("报到超时")
    expect(chengguan).not_to_have_class(OVERDUE)
    assert card.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(59, 20, 23)"
    expect(page.locator("[data-count=overdue]")).to_have_text("超时：1")
    escalations = page.locator("[data-escalations] li[data-kind='callout.escalated']")
    chased = escalations.filter(has_text="区规划和自然资源分局")
    expect(chased).to_have_count(1, timeout=WAIT)
    expect(chased).to_contain_text("升级至街道级督办")
    expect(card.locator(".badge.chased")).to_be_visible()
    expect(page.locator(f".map-box [data-marker='{whistle_id}'] .marker")).to_have_class(OVERDUE)
    screenshot(page, "board-overdue-1920x1080")
    assert page.evaluate("window.__sameDocument") is True

    # every department finishes; the street closes the case from the whistle's page
    report(stack, "chengguan", callouts["chengguan"]["callout_id"], "arrival", "completion")
    for department in ("guihua", "zhujian"):
        report(stack, department, callouts[department]["callout_id"], "checkin", "arrival", "completion")
    expect(card.locator("[data-whistle-status]")).to_have_text("全部处置完成", timeout=WAIT)
    expect(card).not_to_have_class(OVERDUE)
    card.locator("a.more").click()
    expect(page).to_have_url(re.compile(f"#whistle/{whistle_id}$"))
    close = page.locator("#close-form")
    close.locator("button[type=submit]").click()
    for field, message in (("confirmed_by", "不能为空"), ("evidence.before_photo", "不能为空"),
                           ("evidence.after_photo", "不能为空"), ("evidence.checklist", "至少 1 项")):
        expect(close.locator(f"[data-error-for='{field}']")).to_have_text(message)
    close.locator("[data-field=confirmed_by]").fill("大溪沟街道 李主任")
    close.locator("[data-field='evidence.before_photo']").fill("photo://daxigou/before-0001")
    close.locator("[data-field='evidence.after_photo']").fill("photo://daxigou/after-0001")
    close.locator("[data-field='evidence.checklist']").fill("彩钢房已拆除\n建筑垃圾已清运\n")
    close.locator("button[type=submit]").click()
    expect(page.locator("[data-whistle-view] [data-whistle-status]")).to_have_text("已销号", timeout=WAIT)
    expect(page.locator("[data-timeline] li[data-kind='whistle.closed']")).to_have_count(1)

    follow_up = page.locator("#follow-up-form")
    follow_up.locator("[data-field=rating]").select_option("satisfied")
    follow_up.locator("[data-field=comment]").fill("拆得很及时")
    follow_up.locator("[data-field=recorded_by]").fill("12345 回访员")
    follow_up.locator("button[type=submit]").click()
    expect(page.locator("[data-actions]")).to_have_text("已销号并完成回访。", timeout=WAIT)
    screenshot(page, "whistle-closed-1920x1080", full_page=True)

    page.locator("a.back").click()
    expect(page.locator(f"article.card[data-whistle-id='{whistle_id}']")).to_have_count(0, timeout=WAIT)
    expect(page.locator(f"[data-closed] li[data-whistle-id='{whistle_id}']")).to_contain_text("满意")
    assert page.evaluate("window.__sameDocument") is True


def test_the_board_fits_a_phone(board, stack, phone, street_token):
    page = phone
    whistle_id = raise_by_api(stack, street_token, category="noise", urgency="normal", grid_code="daxigou-c3-g1",
                              description="工地夜间施工噪音扰民", place={"address": "大溪沟街道人和街工地"})
    sign_in(page, board, street_token)
    card = page.locator(f"article.card[data-whistle-id='{whistle_id}']")
    expect(card.locator("[data-department]")).to_have_count(2, timeout=WAIT)    # 生态环境 leads, 公安
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width       # nothing sticks out sideways
    box = card.bounding_box()
    assert box["width"] > width * 0.85                                            # one card per row
    expect(page.locator("[data-raise]")).to_be_visible()
    screenshot(page, "board-phone-390x844", full_page=True)

    page.click("[data-lang-switch]")                                               # English, on request
    expect(page.locator("[data-raise]")).to_have_text("Blow the whistle")
    expect(card.locator("[data-department=shengtai] .dstatus")).to_have_text("issued")
    page.click("[data-raise]")
    dialog = page.locator("dialog[data-dialog=raise]")
    expect(dialog.locator("label[for]").first).to_have_text("Category")
    assert dialog.bounding_box()["width"] <= width
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_a_token_not_accepted_leads_back_to_the_login(board, wall, tokens):
    page = wall
    sign_in(page, board, "not-a-token")
    message = page.locator("[data-login-message]")
    expect(message).to_have_text("令牌未通过验证（令牌格式错误），请使用有效令牌重新登录。")
    assert page.evaluate("sessionStorage.getItem('chuishao.token')") is None

    department = tokens.issue(Kind.DEPARTMENT, "chengguan")
    sign_in(page, board, department)
    expect(message).to_have_text("此令牌不能打开指挥中心：部门无权打开指挥中心页面")

    street = tokens.issue(Kind.STREET, "daxigou")
    sign_in(page, board, street)
    expect(page.locator("[data-street=daxigou]")).to_be_visible()
    tokens.revoke(street)                                  # while the board is up: its next poll is refused
    expect(message).to_contain_text("已被吊销", timeout=WAIT)
    expect(message).to_contain_text("请使用有效令牌重新登录")
    assert page.evaluate("sessionStorage.getItem('chuishao.token')") is None


def test_a_street_is_told_which_district_action_it_may_not_take(board, wall, street_token):
    page = wall
    sign_in(page, board, street_token)
    expect(page.locator("[data-street=daxigou]")).to_be_visible()
    page.goto(f"{board}#district")
    expect(page.locator("[data-overdue] [data-trouble]")).to_have_text("无权操作：街道无权查看超时派单（督办）",
                                                                       timeout=WAIT)
    expect(page.locator("[data-arbitrations] [data-trouble]")).to_have_text("无权操作：街道无权查看待裁决事项")


def test_the_district_decides_a_return_waiting_for_arbitration(board, stack, browser, wall, street_token,
                                                               service_token, tokens):
    whistle_id = raise_by_api(stack, street_token, category="food_safety", urgency="urgent",
                              grid_code="daxigou-c2-g1", description="农贸市场销售过期熟食",
                              place={"address": "大溪沟街道文化宫农贸市场"})
    street_page = wall
    sign_in(street_page, board, street_token)
    card = street_page.locator(f"article.card[data-whistle-id='{whistle_id}']")
    expect(card.locator("[data-department=shichang]")).to_have_count(1, timeout=WAIT)
    callout = callouts_of(stack, service_token, whistle_id)["shichang"]
    with DepartmentClient(stack.amqp_uri, "shichang", namespace=stack.namespace) as client:
        returned = client.return_callout(callout["callout_id"], "经营者持有合格证明，不属于本部门职责")
        assert returned.outcome == "accepted"
    waiting = street_page.locator(f"[data-returns] li[data-whistle-id='{whistle_id}']")
    expect(waiting).to_contain_text("退单", timeout=WAIT)
    expect(card.locator("[data-department=shichang] .dstatus")).to_have_text("已退单")
    expect(card.locator("[data-department=shichang] .badge.awaiting")).to_have_text("待裁决")

    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    district = context.new_page()
    try:
        sign_in(district, board, tokens.issue(Kind.DISTRICT, "zhangwei"))
        expect(district).to_have_url(re.compile(r"#district$"))
        row = district.locator("[data-streets] tr[data-street=daxigou]")
        expect(row.locator("[data-count=open]")).not_to_have_text("0", timeout=WAIT)
        decision = district.locator("[data-arbitrations] article").filter(
            has=district.locator(f"a[href='#whistle/{whistle_id}']"))
        expect(decision).to_contain_text("退单且无可改派部门", timeout=WAIT)
        screenshot(district, "district-1920x1080")
        form = decision.locator("form")
        form.locator("button[type=submit]").click()
        expect(form.locator("[data-error-for=decided_by]")).to_have_text("不能为空")
        form.locator("[data-field=department_code]").select_option("chengguan")
        form.locator("[data-field=decided_by]").fill("区城管委 张伟")
        form.locator("button[type=submit]").click()
        expect(decision).to_have_count(0, timeout=WAIT)

        district.click("[data-lang-switch]")
        expect(district.locator(".district-view h1")).to_have_text("Demo District supervision")
    finally:
        context.close()

    # the street sees the return settled and the department the district named called in
    expect(waiting).to_have_count(0, timeout=WAIT)
    expect(card.locator("[data-department=chengguan] .dstatus")).to_have_text("已派单", timeout=WAIT)

"""`chuishao`, the installed console script, against the whistle and dispatch services as processes.

Each test runs .venv/bin/chuishao as a person or a script would (tables in Chinese by default, --lang en,
--json) and checks its exit code, what it printed, and what it changed in the services. The district's
drill deadlines (seconds) make the overdue list fill up within the test.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from services.common.auth.principals import Kind
from tests.support.samples import whistle_request
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHUISHAO = Path(sys.executable).parent / "chuishao"


@pytest.fixture(scope="module", autouse=True)
def services(stack, drill_reference):
    stack.extra_env["REFERENCE_DATA"] = str(drill_reference)
    stack.start("whistle", "dispatch")


def token_for(stack, args) -> str:
    """The token the person running the command holds: 大溪沟's street office for `street`, the named
    department's desk for `dept`, district staff for `district`; the operator's dead letters need none."""
    group = args[0] if args else ""
    if group == "street":
        return stack.token(Kind.STREET, "daxigou")
    if group == "dept":
        return stack.token(Kind.DEPARTMENT, args[args.index("--department") + 1])
    if group == "district":
        return stack.token(Kind.DISTRICT)
    return ""


def cli(stack, *args: str, lang: str | None = None, timeout: float = 60, **env) -> subprocess.CompletedProcess:
    environment = {**os.environ, "WHISTLE_URL": stack.url("whistle"), "DISPATCH_URL": stack.url("dispatch"),
                   "AMQP_URI": stack.amqp_uri, "BUS_NAMESPACE": stack.namespace, "COLUMNS": "220",
                   "REFERENCE_DATA": stack.extra_env["REFERENCE_DATA"], "CHUISHAO_TOKEN": token_for(stack, args),
                   **env}
    environment.pop("CHUISHAO_LANG", None)
    if lang:
        environment["CHUISHAO_LANG"] = lang
    done = subprocess.run([str(CHUISHAO), *args], env=environment, cwd=ROOT, capture_output=True, text=True,
                          encoding="utf-8", timeout=timeout)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def raise_args(category="food_safety", **overrides) -> list[str]:
    body = whistle_request(category=category, urgency="urgent", place={"address": "大溪沟街道人和街12号 人和农贸市场"},
                           **overrides)
    args = ["street", "raise", "--street", body["street_code"], "--category", body["category"], "--urgency",
            body["urgency"], "--source", body["source"], "--description", body["description"], "--address",
            body["place"]["address"], "--reported-by", body["reported_by"], "--request-id", body["request_id"]]
    return args + (["--grid", body["grid_code"]] if body.get("grid_code") else [])


def raised(stack, *args: str) -> str:
    done = cli(stack, *raise_args(*args), "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["whistle_id"]


def whistle_of(stack, whistle_id: str) -> dict:
    return requests.get(f"{stack.url('whistle')}/api/v1/whistles/{whistle_id}", headers=stack.bearer(),
                        timeout=10).json()


def callouts(stack, whistle_id: str, round: int = 1) -> list[dict]:
    shown = cli(stack, "street", "show", whistle_id, "--json")
    assert shown.returncode == 0, shown.stderr
    return [c for c in json.loads(shown.stdout)["callouts"] if c["round"] == round]


def test_a_street_raises_a_whistle_and_a_retry_raises_nothing_new(stack):
    args = raise_args()
    first = cli(stack, *args)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("已吹哨：")
    whistle_id = first.stdout.strip().removeprefix("已吹哨：")
    again = cli(stack, *args, "--json")
    assert again.returncode == 0 and json.loads(again.stdout) == {"whistle_id": whistle_id, "repeated": True,
                                                                  "linked_to": None}
    said = cli(stack, *args, lang="en")
    assert said.stdout.startswith(f"already raised as {whistle_id}") and "nothing new" in said.stdout
    assert whistle_of(stack, whistle_id)["category"] == "food_safety"


def test_show_prints_the_whistle_its_callouts_and_timeline_in_chinese(stack):
    whistle_id = raised(stack)
    wait_for(lambda: callouts(stack, whistle_id), what="the call-out to 市场监管")
    shown = cli(stack, "street", "show", whistle_id)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert whistle_id in out and "大溪沟街道" in out and "食品安全" in out and "加急" in out and "网格员巡查" in out
    assert "派单" in out and "区市场监督管理局" in out and "牵头" in out and "已派单" in out
    assert "时间线" in out and "（牵头，第 1 轮，按权责清单）" in out        # the call-out's timeline line, in Chinese
    english = cli(stack, "street", "show", whistle_id, lang="en")
    assert "Call-outs" in english.stdout and "Timeline" in english.stdout
    assert "District Market Supervision Administration" in english.stdout and "Food safety" in english.stdout
    scripted = json.loads(cli(stack, "street", "show", whistle_id, "--json").stdout)
    assert scripted["whistle"]["id"] == whistle_id and scripted["callouts"][0]["department_code"] == "shichang"
    assert [e["kind"] for e in scripted["timeline"]][:1] == ["whistle.raised"]


def test_the_timeline_reads_in_english_when_asked(stack):
    whistle_id = raised(stack)
    wait_for(lambda: callouts(stack, whistle_id), what="the call-out")
    english = cli(stack, "street", "show", whistle_id, lang="en")
    assert "call-out to District Market Supervision Administration (lead, round 1" in english.stdout
    assert "raised a whistle: Food safety" in english.stdout


def test_a_street_lists_its_whistles(stack):
    whistle_id = raised(stack)
    listed = cli(stack, "street", "list", "--street", "daxigou")
    assert listed.returncode == 0, listed.stderr
    assert whistle_id in listed.stdout and "食品安全" in listed.stdout
    scripted = json.loads(cli(stack, "street", "list", "--street", "daxigou", "--json").stdout)
    assert whistle_id in [w["id"] for w in scripted["whistles"]]


def test_the_api_refusal_names_each_field_beside_its_option(stack, bus):
    raised_events = bus.listen("events", "whistle.raised")
    anywhere = {"CHUISHAO_TOKEN": stack.token()}       # a service's token: a street's may raise only for itself
    refused = cli(stack, *raise_args(street_code="atlantis", category="dragons"), **anywhere)
    assert refused.returncode == 1
    lines = refused.stderr.splitlines()
    assert lines[0] == "✗ 被拒绝：请求无效"
    assert any(line.split() == ["--street", "街道", "未知的街道", "'atlantis'"] for line in lines), lines
    assert any(line.split() == ["--category", "事项类别", "未知的事项类别", "'dragons'"] for line in lines), lines
    scripted = cli(stack, *raise_args(street_code="atlantis"), "--json", lang="en", **anywhere)
    body = json.loads(scripted.stdout)
    assert scripted.returncode == 1 and body["status"] == 422 and body["error"].startswith("invalid whistle")
    assert body["errors"] == [{"field": "street_code", "message": "unknown street 'atlantis'"}]
    assert "unknown street 'atlantis'" in scripted.stderr
    assert raised_events.nothing_more(settle=1.0)
    foreign = cli(stack, *raise_args(street_code="nanxiashu"), lang="en")      # 大溪沟's token
    assert foreign.returncode == 4 and "not allowed (HTTP 403)" in foreign.stderr
    anonymous = cli(stack, *raise_args(), lang="en", CHUISHAO_TOKEN="")
    assert anonymous.returncode == 4 and "CHUISHAO_TOKEN" in anonymous.stderr


def test_input_the_contract_refuses_is_never_sent(stack, bus):
    raised_events = bus.listen("events", "whistle.raised")
    refused = cli(stack, *raise_args(), "--lat", "north")
    assert refused.returncode == 2
    assert refused.stderr.splitlines()[0] == "✗ 未发送：输入无效"
    assert "须为数字" in refused.stderr and "--lat" in refused.stderr
    assert raised_events.nothing_more(settle=1.5)


def test_an_unknown_whistle_is_not_found(stack):
    missing = cli(stack, "street", "show", "no-such-whistle")
    assert missing.returncode == 1 and missing.stderr.strip() == "✗ 未找到：没有吹哨 no-such-whistle"


def test_a_department_listens_and_the_street_closes_sends_back_and_follows_up(stack):
    whistle_id = raised(stack)
    [callout] = wait_for(lambda: callouts(stack, whistle_id), what="the call-out")
    callout_id = callout["callout_id"]
    desk = ("dept", "--department", "shichang")

    early = cli(stack, "street", "close", whistle_id, "--street", "daxigou", "--by", "大溪沟街道 李主任",
                "--before", "photo://before", "--after", "photo://after", "--check", "过期熟食已下架")
    assert early.returncode == 1 and "全部部门处置完成后才能销号" in early.stderr and "状态" in early.stderr

    checked = cli(stack, *desk, "checkin", callout_id, "--officer", "市场监管 梁晨")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(f"已受理：派单 {callout_id} 的报到（请求 ")
    twice = cli(stack, *desk, "checkin", callout_id, "--officer", "市场监管 宋佳")
    assert twice.returncode == 1 and f"派单 {callout_id} 已经是“已报到”" in twice.stderr
    other = cli(stack, "dept", "--department", "gongan", "arrive", callout_id, "--via", "http", "--officer", "x",
                "--address", "市场", "--evidence", "photo://a")
    assert other.returncode == 4 and "HTTP 403" in other.stderr        # 公安's token, 市场监管's call-out
    impostor = cli(stack, "dept", "--department", "gongan", "arrive", callout_id, "--via", "http", "--officer",
                   "x", "--address", "市场", "--evidence", "photo://a", CHUISHAO_TOKEN=stack.token())
    assert impostor.returncode == 1 and "派给的是区市场监督管理局，不是区公安分局" in impostor.stderr
    arrived = cli(stack, *desk, "arrive", callout_id, "--via", "http", "--officer", "市场监管 梁晨",
                  "--address", "人和农贸市场 B区", "--lon", "106.5517", "--lat", "29.5631", "--evidence", "photo://a1",
                  "--json")
    assert arrived.returncode == 0 and json.loads(arrived.stdout)["outcome"] == "accepted"
    completed = cli(stack, *desk, "complete", callout_id, "--summary", "下架过期熟食12份",
                    "--evidence", "photo://after-1", "--evidence", "form://check-1")
    assert completed.returncode == 0, completed.stderr
    wait_for(lambda: whistle_of(stack, whistle_id)["status"] == "all_completed", what="all completed")

    closed = cli(stack, "street", "close", whistle_id, "--street", "daxigou", "--by", "大溪沟街道 李主任",
                 "--before", "photo://before", "--after", "photo://after", "--check", "过期熟食已下架",
                 "--check", "摊主已整改")
    assert closed.returncode == 0, closed.stderr
    assert closed.stdout.strip() == f"吹哨 {whistle_id} 现为“已销号”（第 1 轮）"
    wrong = cli(stack, "street", "follow-up", whistle_id, "--rating", "satisfied", "--reopen", "--by", "12345 回访员")
    assert wrong.returncode == 1 and "只有“不满意”的回访才能重新办理，“满意”不能" in wrong.stderr
    reopened = cli(stack, "street", "follow-up", whistle_id, "--rating", "unsatisfied", "--reopen",
                   "--comment", "又在卖了", "--by", "12345 回访员", "--json")
    assert reopened.returncode == 0 and json.loads(reopened.stdout) == {"whistle_id": whistle_id,
                                                                        "status": "reopened", "round": 2}

    [again] = wait_for(lambda: callouts(stack, whistle_id, round=2), what="the round 2 call-out")
    for step in (("checkin", "--officer", "市场监管 梁晨"),
                 ("arrive", "--officer", "市场监管 梁晨", "--address", "人和农贸市场", "--evidence", "photo://a2"),
                 ("complete", "--summary", "再次下架", "--evidence", "photo://after-2")):
        done = cli(stack, *desk, step[0], again["callout_id"], *step[1:])
        assert done.returncode == 0, done.stderr
    wait_for(lambda: whistle_of(stack, whistle_id)["status"] == "all_completed", what="round 2 completed")
    sent_back = cli(stack, "street", "send-back", whistle_id, "--street", "daxigou", "--by", "李主任",
                    "--reason", "仍有过期食品", "--department", "shichang", lang="en")
    assert sent_back.returncode == 0, sent_back.stderr
    assert sent_back.stdout.strip() == f"whistle {whistle_id} is now sent back (round 3)"


def test_a_department_listens_to_its_own_callouts(stack):
    whistle_id = raised(stack, "water_outage")
    listened = cli(stack, "dept", "--department", "shuiwu", "listen", "--count", "1", "--idle", "30")
    assert listened.returncode == 0, listened.stderr
    [line] = listened.stdout.strip().splitlines()
    assert line.startswith("[加急] 停水 @ 大溪沟街道人和街12号 人和农贸市场 | 报到时限 ")
    assert f"吹哨 {whistle_id}" in line and "（牵头，" in line
    nothing = cli(stack, "dept", "--department", "shuiwu", "listen", "--count", "1", "--idle", "1", "--json")
    assert nothing.returncode == 5 and nothing.stdout == ""        # no second call-out came in time


def test_the_district_sees_what_is_overdue(stack):
    whistle_id = raised(stack, "noise")             # 生态环境 leads, 公安 supports; drill check-in: 2 s

    def overdue():
        done = cli(stack, "district", "overdue", "--json")
        return [o for o in json.loads(done.stdout)["overdue"] if o["whistle_id"] == whistle_id]

    rows = wait_for(overdue, timeout=30, what="the missed check-ins")
    assert {(o["department_code"], o["step"]) for o in rows} >= {("shengtai", "check_in")}
    shown = cli(stack, "district", "overdue")
    assert shown.returncode == 0 and "超时未办" in shown.stdout
    mine = [line for line in shown.stdout.splitlines() if whistle_id in line]
    assert any("区生态环境局" in line and "报到" in line and "大溪沟街道" in line for line in mine), shown.stdout


def test_the_district_decides_an_arbitration(stack):
    # far outside every grid of the map: nobody owns the place
    body = raise_args("illegal_ads", grid_code=None)
    body[body.index("--address") + 1] = "无名空地"
    whistle_id = json.loads(cli(stack, *body, "--lon", "100.0", "--lat", "20.0", "--json").stdout)["whistle_id"]

    def open_one():
        found = json.loads(cli(stack, "district", "arbitrations", "--json").stdout)["arbitrations"]
        return [a for a in found if a["whistle_id"] == whistle_id]

    [arbitration] = wait_for(open_one, what="the arbitration of an unowned place")
    listed = cli(stack, "district", "arbitrations")
    assert arbitration["arbitration_id"] in listed.stdout and "无主区域" in listed.stdout
    decided = cli(stack, "district", "decide", arbitration["arbitration_id"], "--by", "区城管委 张科长",
                  "--grid", "daxigou-c2-g1")
    assert decided.returncode == 0, decided.stderr
    assert decided.stdout.strip() == f"已裁定 {arbitration['arbitration_id']}（吹哨 {whistle_id}）"
    assert wait_for(lambda: callouts(stack, whistle_id), what="call-outs after the decision")
    again = cli(stack, "district", "decide", arbitration["arbitration_id"], "--by", "区城管委 张科长",
                "--grid", "daxigou-c2-g1")
    assert again.returncode == 1


def test_dead_letters_are_listed_shown_replayed_and_dropped(stack, bus):
    letter_id = f"poison-{uuid.uuid4().hex[:8]}"
    bus.publish("events", "whistle.raised", b"{not json", message_id=letter_id)

    def listed():
        letters = json.loads(cli(stack, "dlq", "list", "--json").stdout)["deadletters"]
        return [d for d in letters if d["id"] == letter_id]

    wait_for(listed, what="the dead letter")
    table = cli(stack, "dlq", "list")
    assert table.returncode == 0 and letter_id in table.stdout and "封死信" in table.stdout
    shown = cli(stack, "dlq", "show", letter_id)
    assert shown.returncode == 0 and json.loads(shown.stdout)["body"] == "{not json"
    replayed = cli(stack, "dlq", "replay", "--all", "--json")
    assert replayed.returncode == 0 and letter_id in json.loads(replayed.stdout)["replayed"]
    wait_for(listed, what="the letter dead-lettered again (it is still not JSON)")
    dropped = cli(stack, "dlq", "drop", letter_id)
    assert dropped.returncode == 0 and dropped.stdout.strip() == "已删除 1 封死信"
    assert not listed()
    twice = cli(stack, "dlq", "drop", letter_id, lang="en")
    assert twice.returncode == 1 and f"not found: {letter_id}" in twice.stderr
    assert cli(stack, "dlq", "show", letter_id).returncode == 1


def test_a_report_nobody_answers_ends_with_no_answer_and_the_id_to_resend(stack):
    stack.processes["dispatch"].stop()              # its durable queue keeps the report; nobody answers
    try:
        silent = cli(stack, "dept", "--department", "shichang", "checkin", "c-nobody-answers", "--officer", "梁晨",
                     "--timeout", "1", "--request-id", "retry-me")
        assert silent.returncode == 5
        assert "1 秒内未收到答复" in silent.stderr and "--request-id retry-me" in silent.stderr
    finally:
        stack.start("dispatch")
    down = cli(stack, "district", "overdue", DISPATCH_URL="http://127.0.0.1:9")
    assert down.returncode == 3 and "DISPATCH_URL" in down.stderr

"""The command line's own parts, run in-process: the language, help, usage errors, what an HTTP answer means.

Nothing here reaches a service: a refusal found before sending is proven by pointing the services at a
closed port (sending anything would end with exit code 3, not 2). tests/integration/test_cli.py runs
the real console script against the running services."""
from __future__ import annotations

import pytest

from services.cli.api import headers, refusal, service_url
from services.cli.failures import FORBIDDEN, REFUSED, UNREACHABLE, USAGE, Forbidden, Refused, Unreachable
from services.cli.main import language, main
from services.common.i18n import Text

CLOSED = "http://127.0.0.1:9"          # nothing listens on the discard port
RAISE = ["street", "raise", "--street", "daxigou", "--category", "noise", "--urgency", "normal", "--source",
         "road_office", "--description", "工地夜间施工", "--address", "前街社区工地", "--reported-by", "李主任"]


@pytest.fixture(autouse=True)
def nowhere(monkeypatch):
    monkeypatch.delenv("CHUISHAO_LANG", raising=False)
    monkeypatch.setenv("WHISTLE_URL", CLOSED)
    monkeypatch.setenv("DISPATCH_URL", CLOSED)
    monkeypatch.setenv("AMQP_URI", "amqp://guest:secret@127.0.0.1:9/")
    monkeypatch.setenv("COLUMNS", "160")


def run(capsys, *args) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_language_comes_from_lang_anywhere_then_the_environment():
    assert language(["street", "list", "--lang", "en"], {}) == ("en", ["street", "list"], None)
    assert language(["--lang=zh-CN", "dlq", "list"], {"CHUISHAO_LANG": "en"})[:2] == ("zh_CN", ["dlq", "list"])
    assert language(["dlq"], {"CHUISHAO_LANG": "en_GB"})[0] == "en"
    assert language(["dlq"], {})[0] == "zh_CN"
    assert language(["--lang", "fr"], {})[0] is None and "'fr'" in language(["--lang", "fr"], {})[2]


def test_help_is_in_chinese_by_default_and_english_on_request(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "用法： chuishao" in out and "命令" in out and "显示本帮助并退出。" in out
    assert "街道：吹哨、跟进、销号。" in out and "退出码：0 完成" in out
    code, out, _ = run(capsys, "street", "raise", "--help", "--lang", "en")
    assert code == 0 and "Usage: chuishao street raise" in out and "--reported-by" in out and "[required]" in out


def test_an_unsupported_language_is_a_usage_error(capsys, monkeypatch):
    monkeypatch.setenv("CHUISHAO_LANG", "tlh")
    code, out, err = run(capsys, "dlq", "list")
    assert code == USAGE and "不支持的语言" in err and "'tlh'" in err and out == ""


def test_a_missing_option_is_a_usage_error_in_the_readers_language(capsys):
    code, _, err = run(capsys, "street", "raise", "--street", "daxigou")
    assert code == USAGE and "错误：缺少选项 '--category'" in err and "chuishao street raise --help" in err
    code, _, err = run(capsys, "--lang", "en", "dept", "checkin", "c-1", "--officer", "王建国")
    assert code == USAGE and "--department is required (or CHUISHAO_DEPARTMENT)" in err


def test_input_the_contract_refuses_is_shown_beside_its_options_and_not_sent(capsys):
    code, out, err = run(capsys, *RAISE[:-2], "--reported-by", "", "--urgency", "soon", "--lon", "east")
    assert code == USAGE and out == ""
    assert "未发送：输入无效" in err
    lines = {line.split()[0]: line for line in err.splitlines()[1:]}
    assert "紧急程度" in lines["--urgency"] and "一般 (normal)" in lines["--urgency"]
    assert "上报人" in lines["--reported-by"] and "不能为空" in lines["--reported-by"]
    assert "经度" in lines["--lon"] and "须为数字" in lines["--lon"]


def test_json_failures_are_json_on_stdout(capsys):
    import json
    code, out, _ = run(capsys, "--lang", "en", "district", "decide", "a-1", "--by", "x", "--grid", "Not A Code",
                       "--json")
    body = json.loads(out)
    assert code == USAGE and [e["field"] for e in body["errors"]] == ["grid_code"]


def test_a_service_that_does_not_answer_says_what_to_do(capsys):
    code, _, err = run(capsys, *RAISE)
    assert code == UNREACHABLE
    assert f"无法连接 whistle 服务（{CLOSED}）" in err and "WHISTLE_URL" in err and "Traceback" not in err
    code, _, err = run(capsys, "--lang", "en", "district", "overdue")
    assert code == UNREACHABLE and f"cannot reach the dispatch service at {CLOSED}" in err and "DISPATCH_URL" in err


def test_a_broker_that_does_not_answer_says_what_to_do_without_its_password(capsys):
    code, _, err = run(capsys, "dlq", "list")
    assert code == UNREACHABLE and "amqp://guest:***@127.0.0.1:9/" in err and "secret" not in err
    assert "AMQP_URI" in err and "Traceback" not in err
    code, _, err = run(capsys, "dept", "--department", "chengguan", "checkin", "c-1", "--officer", "王建国")
    assert code == UNREACHABLE and "无法连接消息队列" in err


def test_a_replay_that_names_nothing_is_a_usage_error_before_connecting(capsys):
    code, _, err = run(capsys, "dlq", "replay")
    assert code == USAGE and "请给出要重发的编号，或使用 --all" in err


def test_what_an_http_answer_means():
    t = Text("en")
    where = {"service": "whistle", "method": "GET", "path": "/api/v1/whistles"}
    assert refusal(200, {"whistle_id": "w"}, where, t) is None
    assert isinstance(refusal(401, None, where, t), Forbidden) and refusal(401, None, where, t).exit_code == FORBIDDEN
    assert "CHUISHAO_TOKEN" in refusal(401, None, where, t).hint
    assert isinstance(refusal(403, {"error": "no"}, where, t), Forbidden)
    busy = refusal(429, {"error": "too many requests", "errors": []}, {**where, "retry_after": "3"}, t)
    assert busy.exit_code == UNREACHABLE and busy.hint == "try again in 3 s"
    failed = refusal(500, {"error": "internal error"}, where, t)
    assert isinstance(failed, Unreachable) and failed.exit_code == UNREACHABLE and "HTTP 500" in failed.message
    missing = refusal(405, None, where, t)          # werkzeug's page for a route the service does not have
    assert missing.message == "the whistle service does not offer GET /api/v1/whistles (HTTP 405)"
    refused = refusal(422, {"error": "invalid whistle", "errors": [{"field": "category", "message": "x"}]}, where, t)
    assert isinstance(refused, Refused) and refused.exit_code == REFUSED
    assert [e.field for e in refused.errors] == ["category"] and refused.body["status"] == 422


def test_the_token_and_the_language_go_with_every_request():
    assert headers(Text("zh_CN"), "t0k3n") == {"Accept": "application/json", "Accept-Language": "zh-CN",
                                              "Authorization": "Bearer t0k3n"}
    assert "Authorization" not in headers(Text("en"), None)


def test_service_addresses_follow_the_services_settings():
    assert service_url("whistle", {"WHISTLE_URL": "https://w.example/", "WHISTLE_WEB_ADDRESS": "x:1"}) == \
        "https://w.example"
    assert service_url("dispatch", {"DISPATCH_WEB_ADDRESS": "10.0.0.5:8101"}) == "http://10.0.0.5:8101"
    assert service_url("dispatch", {}) == "http://127.0.0.1:8001"


def test_a_paged_list_is_read_whole_following_its_cursors(monkeypatch):
    from services.cli.api import Api
    pages = {None: {"overdue": [1, 2], "next_cursor": "c1"}, "c1": {"overdue": [3], "next_cursor": "c2"},
             "c2": {"overdue": [], "next_cursor": None}}
    asked = []

    def get(self, path, params=None):
        asked.append(dict(params))
        return pages[params.get("cursor")]

    monkeypatch.setattr(Api, "get", get)
    api = Api("dispatch", CLOSED, Text("en"))
    assert api.get_every("/api/v1/overdue", "overdue") == {"overdue": [1, 2, 3], "next_cursor": None}
    assert [a.get("cursor") for a in asked] == [None, "c1", "c2"] and all(a["limit"] == 200 for a in asked)
    assert api.get_every("/api/v1/overdue", "overdue", max_pages=1) == {"overdue": [1, 2], "next_cursor": "c1"}

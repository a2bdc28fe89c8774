"""Field errors said again in the reader's language: the rules' refusals and pydantic's messages."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from services.common.events import (Arrive, CheckIn, CloseWhistle, Complete, ContractError, DecideArbitration,
                                    FollowUp, RaiseWhistle, Return, SendBack, parse)
from services.common.field_errors import (OUT_OF_ORDER, REFUSALS, explain, field_label, pydantic_error)
from services.common.i18n import Text
from services.common.reference import load_reference
from services.common.vocabulary import Names
from services.dispatch.domain import Callout, Case, IllegalStep, act
from services.dispatch.matrix import Matrix
from services.whistle.domain import WhistleState, check_against_reference, close
from tests.support.samples import whistle_request

REFERENCE = load_reference()
ZH, EN = Text("zh_CN"), Text("en")
NAMES_ZH, NAMES_EN = Names(REFERENCE, "zh_CN"), Names(REFERENCE, "en")
NOW = datetime(2025, 3, 14, 1, 30, tzinfo=timezone.utc)


def errors_of(model, payload) -> tuple:
    with pytest.raises(ContractError) as caught:
        parse(model, payload)
    return caught.value.errors


def zh(error) -> str:
    return explain(error.field, error.message, ZH, NAMES_ZH)


def test_every_refusal_is_recognized_from_its_english_and_said_in_chinese():
    for refusal in REFUSALS:
        params = {name: f"p{i}x" for i, name in enumerate(re.findall(r"%\((\w+)\)s", refusal.msgid))}
        english = refusal.english(**params)
        assert explain("any", english, EN, NAMES_EN) == english          # English reads as the wire says it
        said = explain("any", english, ZH, NAMES_ZH)
        assert said != english and re.search(r"[\u4e00-\u9fff]", said), refusal.msgid
        assert all(v in said for k, v in params.items() if k not in refusal.kinds), (refusal.msgid, said)


def test_the_whistle_rules_refusals_name_streets_by_name():
    bad = parse(RaiseWhistle, whistle_request(grid_code="jinhaihu-c1-g1", category="dragons"))
    grid, category = check_against_reference(bad, REFERENCE)
    assert grid.message == "grid 'jinhaihu-c1-g1' is not in street 'daxigou'"        # the wire: unchanged English
    assert zh(grid) == "网格 'jinhaihu-c1-g1' 不在大溪沟街道"
    assert zh(category) == "未知的事项类别 'dragons'"
    state = WhistleState(whistle_id="w-1", street_code="daxigou", status="dispatched", round=1,
                         round_started_at=NOW)
    command = parse(CloseWhistle, {"whistle_id": "w-1", "street_code": "nanxiashu", "confirmed_by": "李主任",
                                   "evidence": {"before_photo": "a", "after_photo": "b", "checklist": ["x"]}})
    with pytest.raises(Exception) as caught:
        close(state, command, NOW)
    owner, status = caught.value.errors
    assert zh(owner) == "吹哨 w-1 属于大溪沟街道，不属于南夏墅街道"
    assert zh(status) == "吹哨 w-1 当前为“已派单”；全部部门处置完成后才能销号"


def test_a_department_step_out_of_order_is_said_with_the_statuses_named():
    case = Case(whistle_id="w-1", street_code="daxigou", community_code=None, grid_code=None,
                category="garbage_dumping", urgency="normal", place=parse(RaiseWhistle, whistle_request()).place,
                description="垃圾", raised_at=NOW, matrix_version="v1")
    callout = Callout(callout_id="c-1", whistle_id="w-1", department_code="chengguan", role="lead", round=1,
                      status="arrived", issued_at=NOW, check_in_by=NOW, arrival_by=NOW, completion_by=NOW)
    report = parse(Return, {"callout_id": "c-1", "department_code": "chengguan", "reason": "不归我们管"})
    with pytest.raises(IllegalStep) as caught:
        act(callout, case, report, NOW, Matrix.from_reference(REFERENCE))
    [error] = caught.value.errors
    assert error.message == "call-out c-1 is arrived: return needs it issued or checked_in"
    assert OUT_OF_ORDER.match(error.message) is not None
    assert zh(error) == "派单 c-1 当前为“已到场”：退单需要它处于“已派单或已报到”"
    assert explain(error.field, error.message, EN, NAMES_EN) == \
        "call-out c-1 is on site: return needs it issued or checked in"


# One payload per command with as many kinds of mistake as the contract can make.
BAD = [
    (RaiseWhistle, {**whistle_request(), "street_code": "Da Xi Gou", "urgency": "whenever", "request_id": "",
                    "description": "x" * 2001, "reported_by": 5, "unexpected": 1,
                    "place": {"address": "a", "lon": 200, "lat": "north"}}),
    (RaiseWhistle, {"place": "here"}),
    (CheckIn, {"callout_id": "c", "department_code": "chengguan", "officer": ""}),
    (Arrive, {"callout_id": "c", "department_code": "chengguan", "officer": "x", "location": {"address": "a",
              "lat": -91}, "evidence_ref": "p"}),
    (Complete, {"callout_id": "c", "department_code": "chengguan", "summary": "done", "evidence_refs": []}),
    (Complete, {"callout_id": "c", "department_code": "chengguan", "summary": "done", "evidence_refs": "p"}),
    (Complete, {"callout_id": "c", "department_code": "chengguan", "summary": "done",
                "evidence_refs": [f"p{i}" for i in range(21)]}),
    (Return, {"callout_id": "c", "department_code": "chengguan", "reason": "不"}),
    (SendBack, {"whistle_id": "w", "street_code": "daxigou", "by": "x", "reason": "还有", "departments": "all"}),
    (FollowUp, {"whistle_id": "w", "rating": "so-so", "recorded_by": "x", "reopen": "perhaps"}),
    (DecideArbitration, {"arbitration_id": "a", "decided_by": "x", "grid_code": 7}),
]


@pytest.mark.parametrize("model, payload", BAD, ids=[f"{m.__name__}-{i}" for i, (m, _) in enumerate(BAD)])
def test_every_pydantic_message_of_the_contract_is_recognized_and_said_in_chinese(model, payload):
    errors = errors_of(model, payload)
    assert errors
    for error in errors:
        assert pydantic_error(error.message) is not None, f"{error.field}: {error.message!r} not recognized"
        said = zh(error)
        assert said != error.message and re.search(r"[\u4e00-\u9fff]", said), (error.field, error.message, said)


def test_messages_are_said_by_error_type_and_field():
    errors = {e.field: e for e in errors_of(RaiseWhistle, BAD[0][1])}
    assert zh(errors["urgency"]) == "须为以下之一：紧急 (emergency)、加急 (urgent)、一般 (normal)或复杂 (complex)"
    assert zh(errors["street_code"]) == "须为代码：小写字母开头，只含小写字母、数字、- 或 _"
    assert zh(errors["request_id"]) == "不能为空"
    assert zh(errors["description"]) == "最多 2000 个字"
    assert zh(errors["unexpected"]) == "不是此请求的字段"
    assert zh(errors["place.lon"]) == "不能大于 180"
    assert zh(errors["place.lat"]) == "须为数字"
    assert explain("urgency", errors["urgency"].message, EN, NAMES_EN) == (
        "must be one of Emergency (emergency), Urgent (water, power, gas, heating) (urgent), Normal (normal), "
        "or Complex (complex)")
    [reason] = errors_of(Return, BAD[7][1])
    assert zh(reason) == "请写明理由，至少 4 个字"
    assert explain("reason", reason.message, EN, NAMES_EN) == "give a reason of at least 4 characters"


def test_a_message_it_does_not_know_is_shown_as_it_came():
    assert explain("x", "the moon is made of cheese", ZH, NAMES_ZH) == "the moon is made of cheese"


def test_fields_are_named_for_people():
    assert field_label("place.address", ZH) == "地址"
    assert field_label("evidence.checklist.1", ZH) == "问题清单 #2"
    assert field_label("evidence.before_photo", EN) == "before photo"
    assert field_label("location.lat", ZH) == "纬度"
    assert field_label("(message)", ZH) == "整个请求"
    assert field_label("mystery", ZH) == "mystery"

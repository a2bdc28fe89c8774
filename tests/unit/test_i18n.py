"""Choosing the reader's language, formatting for it, and naming codes in it."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from services.common.i18n import Text, accept_language, choose_language, normalize, translations
from services.common.reference import load_reference
from services.common.vocabulary import ENUMERATIONS, Names, _labels, display, label

REFERENCE = load_reference()


@pytest.mark.parametrize("tag, lang", [("zh", "zh_CN"), ("zh-CN", "zh_CN"), ("zh_cn", "zh_CN"),
                                       ("zh-Hans-CN", "zh_CN"), ("en", "en"), ("en-GB", "en"), ("EN_us", "en"),
                                       ("zh-TW", None), ("zh-Hant", None), ("fr", None), ("", None), (None, None)])
def test_language_tags(tag, lang):
    assert normalize(tag) == lang


@pytest.mark.parametrize("header, lang", [
    ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
    ("fr-FR,fr;q=0.9,zh-CN;q=0.8,en;q=0.5", "zh_CN"),       # the best supported one, by weight
    ("en;q=0.3, zh;q=0.7", "zh_CN"),
    ("zh-CN;q=0, en", "en"),                                # q=0: not acceptable
    ("de, fr", None), ("", None), (None, None), ("en;q=x", None)])
def test_accept_language(header, lang):
    assert accept_language(header) == lang


def test_an_explicit_choice_wins_then_the_header_then_chinese():
    assert choose_language("en", accept_language("zh-CN")) == "en"
    assert choose_language(None, accept_language("en-GB,en;q=0.8")) == "en"
    assert choose_language("klingon", None) == "zh_CN"
    assert choose_language() == "zh_CN"


def test_an_unsupported_catalog_is_refused():
    with pytest.raises(ValueError, match="unsupported language 'fr'"):
        translations("fr")


def test_times_are_read_on_chinas_clock_and_lists_in_the_readers_way():
    zh, en = Text("zh_CN"), Text("en")
    assert zh.time("2025-03-14T16:30:59Z") == "2025-03-15 00:30"
    assert en.time(datetime(2025, 3, 14, 1, 5, tzinfo=timezone.utc)) == "2025-03-14 09:05"
    assert zh.time(None) == ""
    assert zh.join(["城管", "公安", "住建"]) == "城管、公安和住建"
    assert en.join(["a", "b", "c"]) == "a, b, and c"
    assert zh.join(["已派单", "已报到"], style="or") == "已派单或已报到"


def test_codes_are_named_from_the_reference_data_in_each_language():
    zh, en = Names(REFERENCE, "zh_CN"), Names(REFERENCE, "en")
    assert (zh.street("daxigou"), en.street("daxigou")) == ("大溪沟街道", "Daxigou Subdistrict")
    assert zh.department("chengguan") == "区城管执法局"
    assert zh.category("illegal_construction") == "违法建设"
    assert (zh.urgency("urgent"), en.urgency("normal")) == ("加急", "Normal")
    assert (zh.grid("daxigou-c1-g1"), zh.grid("daxigou-c1")) == ("滨江社区第一网格", "滨江社区")
    assert zh.name("chaser", "city") == "市委市政府督查室(12345)" and en.name("chaser", "demo") == \
        "District supervision office"
    assert zh.department("retired-bureau") == "retired-bureau"     # unknown: the code itself
    assert Names(None, "zh_CN").street("daxigou") == "daxigou"       # no reference data: codes


def test_every_enumeration_value_has_a_name_in_both_languages():
    for lang in ("zh_CN", "en"):
        kinds = {kind for kind, _ in _labels(lang)}
        assert kinds == set(ENUMERATIONS)
    assert label("zh_CN", "role", "lead") == "牵头" and label("en", "role", "lead") == "lead"
    assert label("zh_CN", "status", "all_checked_in") == "全部已报到"
    assert label("zh_CN", "step", "check_in") == "报到" and label("zh_CN", "action", "checkin") == "报到"
    assert label("zh_CN", "status", "no-such-status") == "no-such-status"
    zh_labels = _labels("zh_CN")
    assert all(zh_labels[key] != _labels("en")[key] for key in zh_labels), "a label left in English"


def test_parameters_are_displayed_by_kind():
    t, n = Text("zh_CN"), Names(REFERENCE, "zh_CN")
    assert display("departments", ["chengguan", "guihua"], t, n) == "区城管执法局和区规划和自然资源分局"
    assert display("departments", "chengguan, zhujian", t, n) == "区城管执法局和区住房和城乡建设委员会"
    assert display("callout_statuses", "issued or checked_in", t, n) == "已派单或已报到"
    assert display("metres", 42.4, t, n) == "42"
    assert display("members", [{"name": "王建国", "department": "chengguan"}], t, n) == "王建国（区城管执法局）"
    assert display("chaser", {"code": "elsewhere", "name_zh": "外区督查室"}, t, n) == "外区督查室"
    assert display("text", "原样", t, n) == "原样" and display("street", None, t, n) == ""

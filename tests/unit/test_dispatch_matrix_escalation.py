"""The versioned responsibility matrix (with street overrides and alternatives) and the escalation
ladder (street → district → city, waits counted from the missed deadline), both pure."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from services.common.reference import DEFAULT_PATH, ReferenceData, parse_reference
from services.dispatch.escalation import STEPS, Ladder
from services.dispatch.matrix import Matrix

UTC = timezone.utc
SHIPPED_TEXT = Path(DEFAULT_PATH).read_text(encoding="utf-8")
SHIPPED_RAW = yaml.safe_load(SHIPPED_TEXT)
DUE = datetime(2024, 3, 4, 1, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)


@pytest.fixture()
def raw() -> dict:
    return copy.deepcopy(SHIPPED_RAW)


def category(raw: dict, code: str) -> dict:
    return next(c for c in raw["categories"] if c["code"] == code)


def version_of(raw: dict) -> str:
    return Matrix.from_reference(parse_reference(yaml.safe_dump(raw, allow_unicode=True))).version


@pytest.fixture(scope="module")
def matrix() -> Matrix:
    return Matrix.from_reference(parse_reference(SHIPPED_TEXT))


@pytest.fixture(scope="module")
def ladder() -> Ladder:
    return Ladder.from_reference(parse_reference(SHIPPED_TEXT))


# --- the matrix ----------------------------------------------------------------------------------

def test_the_version_is_stable(matrix):
    again = Matrix.from_reference(parse_reference(SHIPPED_TEXT))
    assert again.version == matrix.version
    assert len(matrix.version) == 12 and int(matrix.version, 16) >= 0
    # stored as JSON in the database and read back, it is still the same version
    assert Matrix(json.loads(json.dumps(matrix.content))).version == matrix.version


def test_the_version_ignores_what_is_not_the_matrix_and_the_order_of_rows(raw, matrix):
    raw["duplicate_radius_m"] = 250
    raw["district"]["name_en"] = "Another name"
    raw["urgencies"]["normal"]["completion"] = "5wd"
    raw["categories"].reverse()
    raw["matrix_overrides"].reverse()
    assert version_of(raw) == matrix.version


@pytest.mark.parametrize("edit", [
    lambda raw: category(raw, "garbage_dumping").update(lead="huanwei", support=["shengtai", "chengguan"]),
    lambda raw: category(raw, "garbage_dumping")["support"].reverse(),
    lambda raw: category(raw, "illegal_parking").update(alternatives={"chengguan": "shichang"}),
    lambda raw: category(raw, "food_safety").update(alternatives={"shichang": "gongan"}),
    lambda raw: category(raw, "noise").update(joint_enforcement=True),
    lambda raw: category(raw, "noise").update(name_zh="噪声扰民"),
    lambda raw: raw["matrix_overrides"].pop(),
    lambda raw: raw["matrix_overrides"].append(
        {"street": "daxigou", "category": "noise", "lead": "gongan", "support": ["shengtai"]}),
    lambda raw: raw["categories"].append(
        {"code": "road_damage", "name_zh": "道路破损", "name_en": "Road damage", "lead": "zhujian"}),
], ids=["lead", "support-order", "alternative", "new-alternative", "joint", "name", "override-removed",
        "override-added", "new-category"])
def test_the_version_changes_when_the_matrix_changes(raw, matrix, edit):
    edit(raw)
    assert version_of(raw) != matrix.version


def test_assignment_lead_first(matrix):
    assert matrix.assignment("daxigou", "garbage_dumping") == ("chengguan", "shengtai", "huanwei")
    assert matrix.assignment("daxigou", "illegal_construction") == ("chengguan", "guihua", "zhujian")
    assert matrix.assignment("nanxiashu", "food_safety") == ("shichang",)


def test_a_street_override_is_used_for_that_street_only(matrix):
    assert matrix.assignment("jinhaihu", "street_vending") == ("chengguan", "shichang", "jiedao")
    assert matrix.assignment("daxigou", "street_vending") == ("chengguan", "shichang")
    assert matrix.assignment("jinhaihu", "garbage_dumping") == ("huanwei", "chengguan", "shengtai")
    assert matrix.assignment("jinhaihu", "noise") == ("shengtai", "gongan")


def test_alternatives(matrix):
    assert matrix.alternative("garbage_dumping", "huanwei") == "chengguan"
    assert matrix.alternative("garbage_dumping", "shengtai") == "huanwei"
    assert matrix.alternative("garbage_dumping", "chengguan") is None
    assert matrix.alternative("illegal_construction", "guihua") == "zhujian"
    assert matrix.alternative("illegal_construction", "zhujian") is None
    assert matrix.alternative("illegal_parking", "chengguan") == "gongan"
    assert matrix.alternative("food_safety", "shichang") is None


def test_names_and_joint_enforcement(matrix):
    assert matrix.knows("garbage_dumping") and not matrix.knows("alien_landing")
    assert matrix.category_name("street_vending") == "占道经营"
    assert matrix.joint_enforcement("illegal_construction") is True
    assert matrix.joint_enforcement("food_safety") is False


def test_an_edited_matrix_answers_with_its_own_rows(raw, matrix):
    category(raw, "illegal_parking")["alternatives"] = {"chengguan": "shichang"}
    edited = Matrix.from_reference(ReferenceData.model_validate(raw))
    assert edited.alternative("illegal_parking", "chengguan") == "shichang"
    assert matrix.alternative("illegal_parking", "chengguan") == "gongan"   # the old version is untouched


# --- the ladder ----------------------------------------------------------------------------------

def test_the_shipped_ladder(ladder):
    assert [t.tier for t in ladder.tiers] == ["street", "district", "city"]
    assert [t.after.as_timedelta() for t in ladder.tiers] == [timedelta(0), timedelta(minutes=30),
                                                              timedelta(hours=2)]
    assert ladder.district_code == "demo"
    assert STEPS == ("check_in", "arrival", "completion")


def test_next_at_counts_from_the_missed_deadline(ladder):
    assert ladder.next_at(DUE, 0) == DUE
    assert ladder.next_at(DUE, 1) == DUE + 30 * MINUTE
    assert ladder.next_at(DUE, 2) == DUE + timedelta(hours=2)
    assert ladder.next_at(DUE, 3) is None            # the top has been reached
    assert ladder.next_at(DUE, 7) is None


@pytest.mark.parametrize("before", [SECOND, MINUTE, timedelta(hours=5)])
def test_nothing_before_the_deadline(ladder, before):
    assert ladder.due(DUE, 0, "daxigou", DUE - before) == []


def test_one_rung_at_a_time(ladder):
    [street] = ladder.due(DUE, 0, "daxigou", DUE + SECOND)
    assert (street.level, street.tier, street.fires_at, street.chased_by) == (1, "street", DUE, "daxigou")
    assert street.chased_by_name_zh == "街道吹哨报到工作专班"
    assert ladder.due(DUE, 1, "daxigou", DUE + 29 * MINUTE) == []
    [district] = ladder.due(DUE, 1, "daxigou", DUE + 31 * MINUTE)
    assert (district.level, district.tier, district.fires_at, district.chased_by) == (
        2, "district", DUE + 30 * MINUTE, "demo")
    assert district.chased_by_name_zh == "区委区政府督查室"
    assert ladder.due(DUE, 2, "daxigou", DUE + 119 * MINUTE) == []
    [city] = ladder.due(DUE, 2, "daxigou", DUE + 121 * MINUTE)
    assert (city.level, city.tier, city.fires_at, city.chased_by) == (3, "city", DUE + 2 * timedelta(hours=1),
                                                                      "city")
    assert city.chased_by_name_zh.startswith("市委市政府督查室")
    assert ladder.due(DUE, 3, "daxigou", DUE + timedelta(days=30)) == []


def test_catches_up_several_rungs_after_downtime_in_order(ladder):
    rungs = ladder.due(DUE, 0, "jinhaihu", DUE + timedelta(hours=3))
    assert [(r.level, r.tier, r.chased_by, r.fires_at) for r in rungs] == [
        (1, "street", "jinhaihu", DUE),
        (2, "district", "demo", DUE + 30 * MINUTE),
        (3, "city", "city", DUE + timedelta(hours=2))]
    # from a rung already taken, only the ones above it
    assert [r.level for r in ladder.due(DUE, 1, "jinhaihu", DUE + timedelta(hours=3))] == [2, 3]
    assert [r.level for r in ladder.due(DUE, 0, "jinhaihu", DUE + 45 * MINUTE)] == [1, 2]


def test_a_configured_ladder(raw):
    raw["escalation"] = [
        {"tier": "district", "after": "10m", "owner_zh": "区督查室", "owner_en": "District"},
        {"tier": "city", "after": "1h", "owner_zh": "市督查室", "owner_en": "City"}]
    raw["district"]["code"] = "beibei"
    ladder = Ladder.from_reference(ReferenceData.model_validate(raw))
    assert ladder.due(DUE, 0, "daxigou", DUE + 9 * MINUTE) == []
    rungs = ladder.due(DUE, 0, "daxigou", DUE + timedelta(hours=2))
    assert [(r.level, r.tier, r.chased_by, r.fires_at) for r in rungs] == [
        (1, "district", "beibei", DUE + 10 * MINUTE), (2, "city", "city", DUE + timedelta(hours=1))]
    assert ladder.next_at(DUE, 2) is None


def test_working_day_waits_are_refused(raw):
    raw["escalation"][1]["after"] = "1wd"
    with pytest.raises(ValueError, match="clock time"):
        ReferenceData.model_validate(raw)

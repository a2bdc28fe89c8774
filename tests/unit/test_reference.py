"""The shipped demo district's reference data, and the schema's rejection of inconsistent files."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from services.common.reference import CODE, DEFAULT_PATH, URGENCIES, load_reference, parse_reference

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "reference" / "district.yaml"
REQUIRED_DEPARTMENTS = {
    "chengguan", "gongan", "jiaoguan", "shengtai", "zhujian", "shichang", "xiaofang",
    "guihua", "shuiwu", "gongre", "huanwei", "jiedao", "shequ",
}
MATRIX = {  # category -> (lead, support), per DOMAIN.md "Categories worth shipping"
    "illegal_construction": ("chengguan", {"guihua", "zhujian"}),
    "blocked_fire_lane": ("xiaofang", {"jiaoguan", "chengguan"}),
    "street_vending": ("chengguan", {"shichang"}),
    "construction_dust": ("shengtai", {"zhujian", "chengguan"}),
    "garbage_dumping": ("chengguan", {"shengtai", "huanwei"}),
    "illegal_parking": ("jiaoguan", {"chengguan"}),
    "heating_failure": ("gongre", {"zhujian"}),
    "unmanaged_block": ("zhujian", {"jiedao"}),
    "illegal_ads": ("chengguan", {"gongan"}),
    "dog_keeping": ("gongan", {"shequ"}),
    "food_safety": ("shichang", set()),
    "noise": ("shengtai", {"gongan"}),
    "water_outage": ("shuiwu", {"zhujian"}),
}


@pytest.fixture(scope="module")
def ref():
    return parse_reference(SHIPPED.read_text(encoding="utf-8"))


@pytest.fixture()
def raw():
    """The shipped file as plain data, to be broken by a test."""
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


def reject(data) -> str:
    with pytest.raises(ValidationError) as info:
        parse_reference(yaml.safe_dump(data, allow_unicode=True))
    return str(info.value)


# --- the shipped file ------------------------------------------------------------------------

def test_the_default_path_is_the_shipped_file():
    assert DEFAULT_PATH == SHIPPED


def test_load_reference_reads_the_shipped_file():
    ref = load_reference(str(SHIPPED))
    assert ref.district.code == "demo"
    assert ref.district.name_zh == "示范区"


def test_streets_communities_grids(ref):
    assert {s.code for s in ref.streets} >= {"daxigou", "nanxiashu", "jinhaihu"}
    assert len(ref.streets) == 4
    for street in ref.streets:
        assert 2 <= len(street.communities) <= 3, street.code
        for community in street.communities:
            assert community.code.startswith(f"{street.code}-c"), community.code
            assert 2 <= len(community.grids) <= 3, community.code
            for grid in community.grids:
                assert grid.code.startswith(f"{community.code}-g"), grid.code


def test_all_codes_unique_and_well_formed(ref):
    codes = [ref.district.code]
    for street in ref.streets:
        codes.append(street.code)
        for community in street.communities:
            codes.append(community.code)
            codes.extend(g.code for g in community.grids)
    codes += [d.code for d in ref.departments]
    codes += [c.code for c in ref.categories]
    assert all(re.fullmatch(CODE, c) for c in codes)
    assert [c for c, n in Counter(codes).items() if n > 1] == []


def test_every_item_is_bilingual(ref):
    items = [ref.district, *ref.departments, *ref.categories, *ref.urgencies.values()]
    for street in ref.streets:
        items.append(street)
        for community in street.communities:
            items += [community, *community.grids]
    for item in items:
        assert item.name_zh.strip() and item.name_en.strip(), item
        assert re.search(r"[\u4e00-\u9fff]", item.name_zh), item.name_zh


def test_departments(ref):
    assert ref.department_codes >= REQUIRED_DEPARTMENTS


def test_matrix_matches_the_domain(ref):
    assert {c.code for c in ref.categories} >= set(MATRIX)
    for code, (lead, support) in MATRIX.items():
        category = ref.category(code)
        assert category.lead == lead, code
        assert set(category.support) == support, code


def test_every_category_names_known_departments(ref):
    for category in ref.categories:
        for department in (category.lead, *category.support):
            assert ref.department(department) is not None, (category.code, department)


def test_joint_enforcement_categories(ref):
    for code in ("illegal_construction", "blocked_fire_lane", "street_vending", "construction_dust"):
        assert ref.category(code).joint_enforcement, code


def test_fan_out(ref):
    garbage = ref.category("garbage_dumping")
    assert len(garbage.support) >= 2
    assert 1 + len(garbage.support) >= 3
    wide = [c.code for c in ref.categories if 1 + len(c.support) >= 3]
    assert len(wide) >= 4, wide


def test_urgencies(ref):
    assert set(ref.urgencies) == set(URGENCIES)
    spans = {u: tuple(str(s) for s in (v.check_in, v.arrival, v.completion)) for u, v in ref.urgencies.items()}
    assert spans == {
        "emergency": ("30m", "30m", "2h"),
        "urgent": ("30m", "30m", "24h"),
        "normal": ("30m", "24h", "7wd"),
        "complex": ("30m", "24h", "15wd"),
    }
    assert ref.urgencies["emergency"].name_zh == "紧急"
    assert ref.urgencies["urgent"].name_zh == "加急"
    assert ref.urgencies["normal"].name_zh == "一般"


# --- rejection of broken files ----------------------------------------------------------------

def test_rejects_a_category_naming_an_unknown_department(raw):
    raw["categories"][0]["support"] = ["guihua", "nosuchdept"]
    message = reject(raw)
    assert "unknown department nosuchdept" in message
    assert raw["categories"][0]["code"] in message


def test_rejects_an_unknown_lead_department(raw):
    raw["categories"][-1]["lead"] = "ghost"
    assert "unknown department ghost" in reject(raw)


def test_rejects_duplicate_street_codes(raw):
    twin = yaml.safe_load(yaml.safe_dump(raw["streets"][0]))
    for community in twin["communities"]:  # keep grid codes distinct: only the street code clashes
        community["code"] += "x"
        for grid in community["grids"]:
            grid["code"] += "x"
    raw["streets"].append(twin)
    message = reject(raw)
    assert "duplicate street codes" in message
    assert raw["streets"][0]["code"] in message


@pytest.mark.parametrize("bad", ["7days", "7 d", "h2", ""])
def test_rejects_a_bad_span(raw, bad):
    raw["urgencies"]["normal"]["completion"] = bad
    message = reject(raw)
    assert repr(bad) in message
    assert "30m, 2h or 7wd" in message
    assert "completion" in message

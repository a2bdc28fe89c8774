"""tiers.yaml: the shipped rules load and agree with district.yaml; the schema refuses what cannot work."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from services.common import workdays
from services.common.reference import Span, load_reference
from services.common.tiers import DEFAULT_PATH, check_against, load_tiers, parse_tiers
from services.dispatch import deadlines

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "reference" / "tiers.yaml"


@pytest.fixture()
def raw():
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


def reject(data) -> str:
    with pytest.raises(ValidationError) as info:
        parse_tiers(yaml.safe_dump(data, allow_unicode=True))
    return str(info.value)


def test_the_shipped_rules_load_and_name_only_the_districts_codes():
    assert DEFAULT_PATH == SHIPPED
    rules = load_tiers()
    assert check_against(rules, load_reference()) is rules
    assert rules.tiers["grid"].accept == Span(amount=2, unit="hours")
    assert rules.tiers["street"].handle == Span(amount=3, unit="working_days")


def test_the_hotline_classes_are_the_published_ones():
    hotline = load_tiers().hotline
    assert {name: str(level.complete_within) for name, level in hotline.classes.items()} == {
        "emergency": "2h", "utilities": "24h", "ordinary": "7wd", "complex": "15wd"}
    assert {name: level.urgency for name, level in hotline.classes.items()} == {
        "emergency": "emergency", "utilities": "urgent", "ordinary": "normal", "complex": "complex"}
    assert hotline.class_of("heating_failure") == "utilities" and hotline.class_of("noise") == "ordinary"
    assert (str(hotline.sign_for_within), str(hotline.complete_indicator_within)) == ("24h", "7wd")


def test_the_daily_cap_ships_switched_off():
    cap = load_tiers().daily_cap
    assert not cap.enabled and not cap.applies("nanxiashu", "grid_patrol")
    on = cap.model_copy(update={"enabled": True})
    assert on.applies("nanxiashu", "grid_patrol")
    assert not on.applies("daxigou", "grid_patrol") and not on.applies("nanxiashu", "hotline_12345")


def test_a_missing_tier_a_zero_deadline_or_a_missing_hotline_class_is_refused(raw):
    del raw["tiers"]["community"]
    assert "tiers missing: community" in reject(raw)
    raw = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    raw["tiers"]["grid"]["accept"] = "0m"
    assert "a deadline of zero leaves no time to act" in reject(raw)
    raw = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    del raw["hotline"]["classes"]["complex"]
    assert "hotline classes missing: complex" in reject(raw)


def test_unknown_keys_sources_and_verifiers_are_refused(raw):
    raw["tiers"]["grid"]["patience"] = "1h"
    assert "patience" in reject(raw)
    raw = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    raw["verification"]["rules"].append({"source": "pigeon_post"})
    assert "pigeon_post" in reject(raw)
    raw = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    raw["verification"]["rules"].append({"category": "noise", "by": ["mayor"]})
    assert "mayor" in reject(raw)


def test_codes_the_district_does_not_have_are_named(raw):
    raw["verification"]["rules"].append({"category": "potholes"})
    raw["hotline"]["category_classes"]["ufo"] = "complex"
    raw["daily_cap"]["streets"] = ["atlantis"]
    with pytest.raises(ValueError) as info:
        check_against(parse_tiers(yaml.safe_dump(raw, allow_unicode=True)), load_reference())
    assert str(info.value) == ("verification rule names unknown category potholes; hotline category_classes names "
                               "unknown category ufo; daily_cap names unknown street atlantis")


def test_dispatch_and_whistle_count_working_days_with_one_shared_function():
    assert deadlines.due is workdays.due and deadlines.after_working_days is workdays.after_working_days

"""Dispatch rules: who is called for a whistle, with which deadlines, and what a check-in may do."""
from __future__ import annotations

import copy
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from services.common.events import CalloutCheckedIn, CalloutIssued, CheckIn, Place, WhistleRaised
from services.common.reference import DEFAULT_PATH, ReferenceData, parse_reference
from services.dispatch.domain import (Callout, IllegalStep, check_in, department_in_routing_key,
                                      matrix_version, plan_callouts)

SHANGHAI = ZoneInfo("Asia/Shanghai")
RAISED = datetime(2024, 3, 1, 15, 0, tzinfo=SHANGHAI)          # a Friday afternoon
NOW = RAISED + timedelta(minutes=1)
SHIPPED_TEXT = Path(DEFAULT_PATH).read_text(encoding="utf-8")
SHIPPED_RAW = yaml.safe_load(SHIPPED_TEXT)   # parsed once: YAML is the slow part


def weekdays(day: date) -> bool:
    return day.weekday() < 5


@pytest.fixture(scope="module")
def ref():
    return parse_reference(SHIPPED_TEXT)


@pytest.fixture()
def raw():
    """The shipped file as plain data, to be edited by a test."""
    return copy.deepcopy(SHIPPED_RAW)


def rebuild(raw: dict) -> ReferenceData:
    return ReferenceData.model_validate(raw)


def whistle(category="garbage_dumping", urgency="normal", **overrides) -> WhistleRaised:
    fields = dict(whistle_id="w-1", request_id="req-1", street_code="daxigou", grid_code="daxigou-c1-g1",
                  category=category, urgency=urgency, source="grid_patrol", description="巷口有人倾倒建筑垃圾",
                  place=Place(address="大溪沟街道人和街12号"), reported_by="网格员 王芳", raised_at=RAISED)
    fields.update(overrides)
    return WhistleRaised(**fields)


# --- planning call-outs --------------------------------------------------------------------------

def test_one_callout_per_department_lead_first(ref):
    callouts = plan_callouts(whistle(), ref, weekdays, NOW)
    assert all(isinstance(c, CalloutIssued) for c in callouts)
    assert [c.department_code for c in callouts] == ["chengguan", "shengtai", "huanwei"]
    assert [c.role for c in callouts] == ["lead", "support", "support"]
    assert {c.departments for c in callouts} == {("chengguan", "shengtai", "huanwei")}


@pytest.mark.parametrize("category", ["illegal_construction", "blocked_fire_lane", "food_safety", "noise"])
def test_every_category_follows_the_matrix(ref, category):
    row = ref.category(category)
    callouts = plan_callouts(whistle(category=category), ref, weekdays, NOW)
    assert [c.department_code for c in callouts] == [row.lead, *row.support]
    assert callouts[0].role == "lead" and all(c.role == "support" for c in callouts[1:])
    for callout in callouts:
        assert callout.departments == (row.lead, *row.support)
        assert callout.category == category and callout.category_name_zh == row.name_zh
        assert callout.joint_enforcement == row.joint_enforcement
        assert callout.department_name_zh == ref.department(callout.department_code).name_zh


def test_callouts_carry_the_whistle_and_unique_ids(ref):
    w = whistle()
    callouts = plan_callouts(w, ref, weekdays, NOW)
    assert len({c.callout_id for c in callouts}) == len(callouts)
    assert len({c.event_id for c in callouts}) == len(callouts)
    for c in callouts:
        assert (c.whistle_id, c.street_code, c.grid_code, c.place, c.description, c.urgency) == (
            w.whistle_id, w.street_code, w.grid_code, w.place, w.description, w.urgency)
        assert c.issued_at == NOW and c.occurred_at == NOW


def test_deadlines_are_computed_from_raised_at_not_now(ref):
    much_later = RAISED + timedelta(days=3)
    callouts = plan_callouts(whistle(urgency="normal"), ref, weekdays, much_later)
    deadlines = callouts[0].deadlines
    assert deadlines.check_in_by == RAISED + timedelta(minutes=30)
    assert deadlines.arrival_by == RAISED + timedelta(hours=24)
    # 7 working days after Friday 2024-03-01 on a weekday calendar: Tuesday 2024-03-12, same local time
    assert deadlines.completion_by == datetime(2024, 3, 12, 15, 0, tzinfo=SHANGHAI)
    assert {c.deadlines for c in callouts} == {deadlines}
    assert all(c.issued_at == much_later for c in callouts)


def test_emergency_deadlines(ref):
    deadlines = plan_callouts(whistle(urgency="emergency"), ref, weekdays, NOW)[0].deadlines
    assert (deadlines.check_in_by - RAISED, deadlines.arrival_by - RAISED, deadlines.completion_by - RAISED) == (
        timedelta(minutes=30), timedelta(minutes=30), timedelta(hours=2))


def test_unknown_category_is_an_illegal_step(ref):
    with pytest.raises(IllegalStep) as info:
        plan_callouts(whistle(category="alien_landing"), ref, weekdays, NOW)
    assert [e.field for e in info.value.errors] == ["category"]
    assert "alien_landing" in str(info.value)


# --- the matrix version --------------------------------------------------------------------------

def test_matrix_version_is_stable(ref):
    first = plan_callouts(whistle(), ref, weekdays, NOW)
    second = plan_callouts(whistle(category="noise"), ref, weekdays, NOW + timedelta(hours=1))
    versions = {c.matrix_version for c in first + second}
    assert versions == {matrix_version(ref)}
    assert matrix_version(rebuild(copy.deepcopy(SHIPPED_RAW))) == matrix_version(ref)
    assert len(matrix_version(ref)) == 12


def test_matrix_version_ignores_reordering_the_categories(raw, ref):
    raw["categories"].reverse()
    assert matrix_version(rebuild(raw)) == matrix_version(ref)


def test_matrix_version_ignores_what_is_not_the_matrix(raw, ref):
    raw["departments"][0]["name_zh"] = "改名了"
    raw["urgencies"]["normal"]["completion"] = "5wd"
    assert matrix_version(rebuild(raw)) == matrix_version(ref)


@pytest.mark.parametrize("edit", [
    lambda raw: raw["categories"][0]["support"].append("gongan"),
    lambda raw: raw["categories"][0].update(lead="zhujian", support=["guihua", "chengguan"]),
    lambda raw: raw["categories"][0].update(joint_enforcement=False),
    lambda raw: raw["categories"].append({"code": "potholes", "name_zh": "路面坑洼", "name_en": "Potholes",
                                          "lead": "zhujian"}),
], ids=["support", "lead", "joint", "new-category"])
def test_matrix_version_changes_when_the_matrix_changes(raw, ref, edit):
    edit(raw)
    changed = rebuild(raw)
    assert matrix_version(changed) != matrix_version(ref)
    assert plan_callouts(whistle(category="food_safety"), changed, weekdays, NOW)[0].matrix_version == \
        matrix_version(changed)


def test_matrix_version_changes_when_the_yaml_changes(ref):
    edited = SHIPPED_TEXT.replace("    lead: shichang\n", "    lead: shichang\n    support: [gongan]\n", 1)
    assert edited != SHIPPED_TEXT
    changed = parse_reference(edited)
    assert changed.category("food_safety").support == ("gongan",)
    assert matrix_version(changed) != matrix_version(ref)


def test_matrix_version_changes_with_a_model_copy(ref):
    food = ref.category("food_safety")
    copied = ref.model_copy(update={"categories": tuple(
        c.model_copy(update={"support": ("gongan",)}) if c is food else c for c in ref.categories)})
    assert matrix_version(copied) != matrix_version(ref)
    callouts = plan_callouts(whistle(category="food_safety"), copied, weekdays, NOW)
    assert [c.department_code for c in callouts] == ["shichang", "gongan"]


# --- check-in ------------------------------------------------------------------------------------

def callout(**overrides) -> Callout:
    fields = dict(callout_id="c-1", whistle_id="w-1", department_code="chengguan", street_code="daxigou",
                  category="garbage_dumping", urgency="normal", status="issued", issued_at=RAISED,
                  check_in_by=RAISED + timedelta(minutes=30))
    fields.update(overrides)
    return Callout(**fields)


def command(**overrides) -> CheckIn:
    fields = dict(request_id="ci-1", callout_id="c-1", department_code="chengguan", officer="王建国")
    fields.update(overrides)
    return CheckIn(**fields)


def test_check_in_takes_the_callout():
    at = RAISED + timedelta(minutes=12)
    done, event = check_in(callout(), command(), at)
    assert (done.status, done.checked_in_at, done.officer, done.checkin_request_id) == (
        "checked_in", at, "王建国", "ci-1")
    assert isinstance(event, CalloutCheckedIn)
    assert (event.callout_id, event.whistle_id, event.department_code, event.street_code, event.officer) == (
        "c-1", "w-1", "chengguan", "daxigou", "王建国")
    assert event.issued_at == RAISED
    assert event.checked_in_at == at and event.occurred_at == at
    assert event.check_in_by == RAISED + timedelta(minutes=30)
    assert event.on_time is True


def test_check_in_by_the_wrong_department_is_illegal_and_changes_nothing():
    original = callout()
    with pytest.raises(IllegalStep) as info:
        check_in(original, command(department_code="gongan"), NOW)
    assert [e.field for e in info.value.errors] == ["department_code"]
    assert "gongan" in str(info.value) and "chengguan" in str(info.value)
    assert original.status == "issued"


def test_a_second_check_in_with_another_request_id_is_illegal():
    done, _ = check_in(callout(), command(request_id="ci-1"), NOW)
    with pytest.raises(IllegalStep) as info:
        check_in(done, command(request_id="ci-2", officer="李秀英"), NOW + timedelta(minutes=1))
    assert [e.field for e in info.value.errors] == ["callout_id"]
    assert "already checked_in" in str(info.value)


def test_a_second_check_in_without_request_id_is_illegal():
    done, _ = check_in(callout(), command(request_id=None), NOW)
    with pytest.raises(IllegalStep, match="already checked_in"):
        check_in(done, command(request_id=None), NOW)


def test_the_same_check_in_again_changes_nothing():
    done, first = check_in(callout(), command(request_id="ci-1"), NOW)
    again, event = check_in(done, command(request_id="ci-1"), NOW + timedelta(minutes=5))
    assert event is None
    assert again == done
    assert again.checked_in_at == NOW


def test_the_same_check_in_from_another_department_is_still_illegal():
    done, _ = check_in(callout(), command(request_id="ci-1"), NOW)
    with pytest.raises(IllegalStep) as info:
        check_in(done, command(request_id="ci-1", department_code="gongan"), NOW)
    assert info.value.errors[0].field == "department_code"


@pytest.mark.parametrize("after, on_time", [
    (timedelta(0), True),
    (timedelta(minutes=29, seconds=59), True),
    (timedelta(minutes=30), True),
    (timedelta(minutes=30, microseconds=1), False),
    (timedelta(hours=5), False),
])
def test_on_time_is_at_or_before_check_in_by(after, on_time):
    _, event = check_in(callout(), command(), RAISED + after)
    assert event.on_time is on_time


def test_on_time_compares_instants_not_wall_clocks():
    utc_now = (RAISED + timedelta(minutes=20)).astimezone(timezone.utc)
    _, event = check_in(callout(), command(), utc_now)
    assert event.on_time is True


def test_check_in_does_not_mutate_the_callout():
    original = callout()
    check_in(original, command(), NOW)
    assert original == callout()


# --- routing keys --------------------------------------------------------------------------------

@pytest.mark.parametrize("key, department", [
    ("checkin.chengguan", "chengguan"),
    ("checkin.gongan", "gongan"),
    ("checkin.chengguan.extra", None),
    ("checkin", None),
    ("outcome.chengguan", None),
    ("callout.chengguan", None),
    ("", None),
])
def test_department_in_routing_key(key, department):
    assert department_in_routing_key(key) == department


def test_an_empty_department_in_the_routing_key_is_falsy():
    # "checkin." yields "" (not None); callers use `or "unknown"` and compare with a non-empty code
    assert not department_in_routing_key("checkin.")

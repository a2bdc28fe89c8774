"""The demo district's choices, pure: plausible proportions, departments that are late, never answer or
return, windows too long for a demo compressed into its horizon, the district's rulings, drill deadlines."""
from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta, timezone

import yaml

from services.common.events import CalloutIssued, Deadlines, OfficerAssigned, Place, TeamOfficer
from services.common.reference import DEFAULT_PATH, load_reference, parse_reference
from services.demo import plan
from services.demo.drill import drill

REFERENCE = load_reference()
T0 = datetime(2026, 11, 10, 2, 0, tzinfo=timezone.utc)


def callout(check_in=timedelta(seconds=30), arrival=timedelta(seconds=30), completion=timedelta(days=7),
            department="chengguan") -> CalloutIssued:
    return CalloutIssued(
        callout_id="c1", whistle_id="w1", department_code=department, department_name_zh="区城管执法局", role="lead",
        category="garbage_dumping", category_name_zh="垃圾乱倒", urgency="urgent", street_code="daxigou",
        grid_code="daxigou-c1-g1", place=Place(address="人和街"), description="垃圾", joint_enforcement=False,
        departments=(department,), deadlines=Deadlines(check_in_by=T0 + check_in, arrival_by=T0 + arrival,
                                                       completion_by=T0 + completion),
        issued_at=T0, matrix_version="v1")


def test_whistles_come_in_plausible_proportions_from_every_street():
    district = plan.District(REFERENCE, {}, random.Random(1))
    drawn = [district.next() for _ in range(1500)]
    sources = Counter(w.body["source"] for w in drawn if w.duplicate_of is None)
    assert sources.most_common(1)[0][0] == "hotline_12345" and sources["grid_patrol"] > sources["road_office"]
    urgencies = Counter(w.body["urgency"] for w in drawn)
    assert urgencies.most_common(1)[0][0] == "normal"
    assert {w.body["street_code"] for w in drawn} == {s.code for s in REFERENCE.streets}
    duplicates = [w for w in drawn if w.duplicate_of]
    assert 0.03 < len(duplicates) / len(drawn) < 0.1
    assert all(d.body["place"] == next(w.body["place"] for w in drawn if w.body["request_id"] == d.duplicate_of)
               for d in duplicates)
    unowned = [w for w in drawn if "grid_code" not in w.body]
    assert unowned and all(w.body["place"]["lon"] for w in unowned)


def test_a_department_checks_in_arrives_and_completes_in_order_mostly_in_time():
    rnd, outcomes = random.Random(3), Counter()
    for _ in range(400):
        acts = plan.department_acts(callout(), rnd, horizon=timedelta(minutes=2))
        if not acts:
            outcomes["never"] += 1
            continue
        if acts[0].action == "return":
            outcomes["returned"] += 1
            continue
        assert [a.action for a in acts] == ["checkin", "arrival", "completion"]
        assert acts[0].at < acts[1].at < acts[2].at
        outcomes["late" if acts[0].at > T0 + timedelta(seconds=30) else "on time"] += 1
        assert acts[2].at <= T0 + timedelta(minutes=3)      # 7 days compressed into the demo's horizon
    assert outcomes["on time"] > outcomes["late"] > 0 and outcomes["never"] > 0 and outcomes["returned"] > 0


def assigned(check_in=timedelta(seconds=30)) -> OfficerAssigned:
    officer = TeamOfficer(officer_code="chengguan-01", name="王建国", department_code="chengguan", badge="CG0001")
    return OfficerAssigned(team_id="t1", kind="whistle", whistle_id="w1", street_code="daxigou",
                           category="illegal_construction", department_code="chengguan",
                           department_name_zh="区城管执法局", officer=officer, role="lead", lead=officer,
                           urgency="urgent", assigned_at=T0, check_in_by=T0 + check_in)


def test_a_team_member_checks_in_within_the_window_or_never():
    rnd = random.Random(4)
    drawn = [plan.member_check_in_at(assigned(), rnd) for _ in range(400)]
    times = [at for at in drawn if at is not None]
    assert 0 < drawn.count(None) < 40                                     # now and then a no-show, replaced
    assert all(T0 < at <= T0 + timedelta(seconds=30) for at in times)     # never late: that would be refused
    long_window = [plan.member_check_in_at(assigned(timedelta(hours=2)), rnd, horizon=timedelta(minutes=2))
                   for _ in range(50)]
    assert all(at <= T0 + timedelta(minutes=2) for at in long_window if at is not None)


def test_departments_differ_in_diligence():
    values = {plan.diligence(d.code, plan.Mix()) for d in REFERENCE.departments}
    assert len(values) > 3 and all(0.5 <= v <= 1 for v in values)


def test_the_district_rules_on_places_with_a_grid_and_on_returns_with_a_department():
    rnd = random.Random(5)
    place = plan.district_ruling({"reason": "unowned_place", "candidates": [], "street_code": "nanxiashu",
                                  "decide_by": (T0 + timedelta(minutes=2)).isoformat()}, REFERENCE, rnd, T0)
    assert place.grid_code.startswith("nanxiashu-") and place.department_code is None
    rulings = [plan.district_ruling({"reason": "returned_without_alternative", "candidates": ["guihua"],
                                     "street_code": "daxigou", "decide_by": (T0 + timedelta(minutes=2)).isoformat()},
                                    REFERENCE, rnd, T0) for _ in range(100)]
    assert {r.department_code == "guihua" for r in rulings} == {True, False}          # unjustified, or not
    late = [r for r in rulings if r.at > T0 + timedelta(minutes=2)]
    assert 0 < len(late) < len(rulings)


def test_drill_deadlines_are_the_district_s_sixty_times_shorter():
    data = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    drilled = parse_reference(yaml.safe_dump(drill(data, DEFAULT_PATH), allow_unicode=True))
    assert drilled.urgencies["emergency"].check_in.as_timedelta() == timedelta(seconds=30)
    assert drilled.urgencies["emergency"].completion.as_timedelta() == timedelta(minutes=2)
    assert drilled.urgencies["normal"].completion.as_timedelta() == timedelta(hours=7 * 24 / 60)
    assert [t.after.as_timedelta() for t in drilled.escalation] == [timedelta(0), timedelta(seconds=30),
                                                                   timedelta(minutes=2)]
    assert drilled.arbitration.decide_within.as_timedelta() == timedelta(minutes=2)
    assert drilled.streets == REFERENCE.streets and drilled.categories == REFERENCE.categories

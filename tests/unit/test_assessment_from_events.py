"""The assessment from raw bus events: the fold into facts, redeliveries counted once, verdicts from
arbitration, and a month of events assessed to the same figures as an independent count."""
from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

from services.common.events import (ArbitrationDecided, CalloutArrived, CalloutCheckedIn, CalloutCompleted,
                                    CalloutEscalated, CalloutIssued, CalloutReturned, Deadlines, FollowUpRecorded,
                                    Place, WhistleClosed, WhistleRaised, WhistleReopened)
from services.metrics.assessment import Period, assess
from services.metrics.assessment.from_events import facts_from_events
from tests.unit.assessment_samples import at, context

OCTOBER = Period.parse("2025-10")
PLACE = Place(address="大溪沟街道滨江路12号")


def raised(wid, when, street="daxigou", grid="daxigou-c1-g1"):
    return WhistleRaised(whistle_id=wid, request_id=f"r-{wid}", street_code=street, grid_code=grid,
                         category="illegal_construction", urgency="urgent", source="grid_patrol",
                         description="楼顶加盖彩钢房", place=PLACE, reported_by="网格员 王芳", raised_at=when,
                         occurred_at=when)


def issued(cid, wid, department, when, street="daxigou"):
    return CalloutIssued(
        callout_id=cid, whistle_id=wid, department_code=department, department_name_zh=department, role="lead",
        category="illegal_construction", category_name_zh="违法建设", urgency="urgent", street_code=street,
        grid_code=None, place=PLACE, description="x", joint_enforcement=False, departments=(department,),
        deadlines=Deadlines(check_in_by=when + timedelta(minutes=30), arrival_by=when + timedelta(minutes=30),
                            completion_by=when + timedelta(hours=24)),
        issued_at=when, matrix_version="v1", occurred_at=when)


def step(cls, c: CalloutIssued, after: timedelta, **fields):
    base = dict(callout_id=c.callout_id, whistle_id=c.whistle_id, department_code=c.department_code,
                street_code=c.street_code, category=c.category, urgency=c.urgency, issued_at=c.issued_at,
                occurred_at=c.issued_at + after)
    return cls(**base, **fields)


def checked_in(c, after):
    return step(CalloutCheckedIn, c, after, officer="王建国", checked_in_at=c.issued_at + after,
                check_in_by=c.deadlines.check_in_by, on_time=c.issued_at + after <= c.deadlines.check_in_by)


def arrived(c, after):
    return step(CalloutArrived, c, after, officer="王建国", location=PLACE, evidence_ref="photo-1",
                arrived_at=c.issued_at + after, arrival_by=c.deadlines.arrival_by,
                on_time=c.issued_at + after <= c.deadlines.arrival_by)


def completed(c, after):
    return step(CalloutCompleted, c, after, summary="已拆除", evidence_refs=("photo-2",),
                completed_at=c.issued_at + after, completion_by=c.deadlines.completion_by,
                on_time=c.issued_at + after <= c.deadlines.completion_by)


def test_events_fold_into_facts_and_a_redelivery_counts_once():
    w = raised("w1", at(2025, 10, 9, 10))
    c = issued("c1", "w1", "chengguan", at(2025, 10, 9, 10, 1))
    check = checked_in(c, timedelta(minutes=10))
    closed = WhistleClosed(whistle_id="w1", street_code="daxigou", confirmed_by="街道 李主任",
                           evidence={"before_photo": "a", "after_photo": "b", "checklist": ("ok",)},
                           closed_at=at(2025, 10, 9, 20))
    reopened = WhistleReopened(whistle_id="w1", street_code="daxigou", reason="不满意", reopened_at=at(2025, 10, 11, 9))
    fu = FollowUpRecorded(whistle_id="w1", street_code="daxigou", rating="unsatisfied", comment=None,
                          recorded_by="回访员", reopened=True, occurred_at=at(2025, 10, 11, 9))
    facts = facts_from_events([check, c, w, check, closed, reopened, fu, fu])    # out of order, twice
    [callout] = facts.callouts
    assert callout.checked_in_at == at(2025, 10, 9, 10, 11) and callout.check_in_on_time
    assert callout.check_in_by == at(2025, 10, 9, 10, 31) and callout.arrived_at is None
    [whistle] = facts.whistles
    assert whistle.place == "daxigou-c1-g1" and whistle.closures == (at(2025, 10, 9, 20),)
    assert whistle.reopenings == (at(2025, 10, 11, 9),) and not whistle.closed_as_of(at(2025, 10, 12))
    assert len(facts.follow_ups) == 1 and facts.follow_ups[0].recorded_at == at(2025, 10, 11, 9)


def test_a_return_s_verdict_comes_from_how_it_was_routed_and_how_the_district_decided():
    calls = [issued(f"c{n}", f"w{n}", "guihua", at(2025, 10, 9, 10)) for n in range(4)]

    def ret(c, **kw):
        return step(CalloutReturned, c, timedelta(minutes=5), reason="不属本部门职责",
                    returned_at=c.issued_at + timedelta(minutes=5), **kw)
    decided = [ArbitrationDecided(arbitration_id=a, whistle_id=w, street_code="daxigou", decided_by="区城管委",
                                  grid_code=None, department_code=d, decided_at=at(2025, 10, 9, 11))
               for a, w, d in (("a1", "w1", "guihua"), ("a2", "w2", "zhujian"))]
    facts = facts_from_events([*calls, ret(calls[0], rerouted_to="zhujian"), ret(calls[1], arbitration_id="a1"),
                               ret(calls[2], arbitration_id="a2"), ret(calls[3], arbitration_id="a3"), *decided])
    verdicts = {r.callout_id: r.verdict for r in facts.returns}
    assert verdicts == {"c0": "rerouted", "c1": "unjustified", "c2": "justified", "c3": "pending"}


def test_a_step_of_a_call_out_never_issued_is_left_out():
    c = issued("c9", "w9", "gongan", at(2025, 10, 9, 10))
    facts = facts_from_events([checked_in(c, timedelta(minutes=3))])
    assert facts.callouts == ()


def test_a_month_of_events_assessed_matches_an_independent_count():
    events, expected = [], {}
    departments = ("chengguan", "gongan", "zhujian")
    for n in range(30):
        when = at(2025, 10, 1 + n % 28, 8 + n % 10)
        department = departments[n % 3]
        c = issued(f"c{n}", f"w{n}", department, when)
        events += [raised(f"w{n}", when), c]
        late = n % 4 == 0                                     # every fourth call-out checked in late
        events.append(checked_in(c, timedelta(minutes=45 if late else 12)))
        events += [arrived(c, timedelta(minutes=50 if late else 20)), completed(c, timedelta(hours=6))]
        if late:
            events.append(step(CalloutEscalated, c, timedelta(minutes=30), step="check_in",
                               due_at=c.deadlines.check_in_by, level=1, tier="street", chased_by="jiedao",
                               chased_by_name_zh="街道", escalated_at=c.deadlines.check_in_by))
        hit, total = expected.get(department, (0, 0))
        expected[department] = (hit + (not late), total + 1)
    result = assess(facts_from_events(events + events[:10]), OCTOBER, OCTOBER.end, context())
    for u in result.departments:
        if u.code in expected:
            hit, total = expected[u.code]
            assert u.response.value == Fraction(hit, total) and u.response.denominator == total
            assert u.resolution.value == 1
            assert dict(u.escalations)["street"] == total - hit
            assert u.points_lost == (total - hit) * (2 + 1)      # missed check-in and late arrival each
    assert result.district.response.denominator == 30

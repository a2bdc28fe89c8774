"""The assessment's arithmetic: rates, score, points, rank, flags, exemptions, periods, working days."""
from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

import pytest

from services.metrics.assessment import (AssessmentRules, CalloutFact, Decision, FactError, FactRef, PeriodFacts,
                                         Period, PeriodError, RulesError, assess, parse_rules)
from tests.unit.assessment_samples import (at, callout, context, escalation, follow_up, prompt, returned,
                                           whistle)

OCTOBER = Period.parse("2025-10")
END_OF_OCTOBER = OCTOBER.end
CTX = context()


def run(*, callouts=(), returns=(), escalations=(), whistles=(), follow_ups=(), decisions=(), period=OCTOBER,
        as_of=None, ctx=CTX):
    facts = PeriodFacts(callouts=tuple(callouts), returns=tuple(returns), escalations=tuple(escalations),
                        whistles=tuple(whistles), follow_ups=tuple(follow_ups), decisions=tuple(decisions))
    return assess(facts, period, as_of or period.end, ctx)


def unit(result, code):
    return next(u for u in (*result.departments, *result.streets) if u.code == code)


# --- a month with no cases ------------------------------------------------------------------------

def test_a_month_with_no_cases_ranks_nobody_and_defines_no_rate():
    result = run()
    everyone = (*result.departments, *result.streets)
    assert {u.code for u in result.departments} >= {"chengguan", "gongan", "xiaofang"}
    assert {u.code for u in result.streets} == {"daxigou", "nanxiashu", "jinhaihu", "xinjiekou"}
    for u in everyone:
        assert (u.rank, u.flag, u.score) == (None, None, None)
        assert u.response.value is None and u.resolution.value is None and u.satisfaction.value is None
        assert not u.assessed and not u.zero_loss       # nothing happened is not a 零失分 month
        assert u.points == 100
    assert result.district.response.denominator == 0
    assert result.worst_overdue == () and result.audit == ()
    assert all(h.categories == () and h.places == () for h in result.hotspots)


# --- response ---------------------------------------------------------------------------------------

def test_a_department_that_never_checked_in_scores_zero_response_and_loses_points_per_call_out():
    silent = [callout("shuiwu", at(2025, 10, d, 9, 0)) for d in (9, 10, 13)]
    result = run(callouts=silent)
    shuiwu = unit(result, "shuiwu")
    assert (shuiwu.response.numerator, shuiwu.response.denominator) == (0, 3)
    assert shuiwu.response.value == 0
    assert shuiwu.resolution.value == 0          # never completed either: 0 of 3 due
    rules = [d.rule for d in shuiwu.deductions]
    assert rules.count("missed_check_in") == 3 and rules.count("late_arrival") == 3
    assert shuiwu.points_lost == 3 * 2 + 3 * 1
    assert shuiwu.score == 0 and shuiwu.rank == 1          # the only ranked department
    assert shuiwu.sign_for.value == 0


def test_a_call_out_whose_deadline_has_not_passed_is_not_yet_counted():
    c = callout("gongan", at(2025, 10, 31, 23, 50))          # due 00:20 on 1 November: November's
    early = run(callouts=[c], as_of=at(2025, 10, 31, 23, 59))
    assert unit(early, "gongan").response.denominator == 0
    november = run(callouts=[c], period=Period.parse("2025-11"), as_of=at(2025, 11, 1, 0, 10))
    assert unit(november, "gongan").response.denominator == 0   # still open: neither hit nor miss
    later = run(callouts=[c], period=Period.parse("2025-11"), as_of=at(2025, 11, 1, 0, 21))
    assert unit(later, "gongan").response.denominator == 1 and unit(later, "gongan").response.value == 0


def test_a_late_check_in_is_a_miss_and_a_fact_after_as_of_has_not_happened():
    late = callout("gongan", at(2025, 10, 9, 10, 0), checked_in=timedelta(minutes=45))
    result = run(callouts=[late])
    assert unit(result, "gongan").response.value == 0
    # as of 10:40 the check-in at 10:45 is still in the future: the deadline passed with nothing
    before = run(callouts=[late], as_of=at(2025, 10, 9, 10, 40))
    assert unit(before, "gongan").response.denominator == 1 and unit(before, "gongan").response.value == 0


def test_a_prompt_return_is_a_response_and_leaves_resolution_when_rerouted():
    c = callout("guihua", at(2025, 10, 9, 10, 0))
    r = returned(c, timedelta(minutes=12), "rerouted")
    guihua = unit(run(callouts=[c], returns=[r]), "guihua")
    assert guihua.response.value == 1 and guihua.resolution.denominator == 0
    assert not guihua.deductions                       # returned before the arrival deadline too


def test_an_unjustified_return_stays_in_resolution_and_costs_points():
    c = callout("guihua", at(2025, 10, 9, 10, 0))
    r = returned(c, timedelta(minutes=12), "unjustified")
    guihua = unit(run(callouts=[c], returns=[r]), "guihua")
    assert guihua.response.value == 1
    assert guihua.resolution.value == 0 and guihua.resolution.denominator == 1
    assert [d.rule for d in guihua.deductions] == ["unjustified_return"] and guihua.points == 97


def test_a_return_pending_arbitration_is_not_judged_yet():
    c = callout("guihua", at(2025, 10, 9, 10, 0))
    guihua = unit(run(callouts=[c], returns=[returned(c, timedelta(minutes=50), "pending")]), "guihua")
    assert guihua.response.value == 0                  # returned after the 30-minute deadline: late
    assert guihua.resolution.denominator == 0
    # and it was not on site by the 30-minute arrival deadline before it returned the call-out
    assert sorted(d.rule for d in guihua.deductions) == ["late_arrival", "missed_check_in"]


# --- resolution, satisfaction, score ---------------------------------------------------------------

def test_score_weights_the_three_rates_and_renormalises_over_the_defined_ones():
    good = prompt("chengguan", at(2025, 10, 9, 10, 0), whistle="w-a")
    slow = callout("chengguan", at(2025, 10, 10, 10, 0), whistle="w-b", checked_in=timedelta(minutes=40),
                   completed=timedelta(hours=3), arrived=timedelta(minutes=45))
    fu = [follow_up("w-a", "satisfied", at(2025, 10, 12, 9, 0)),
          follow_up("w-b", "unsatisfied", at(2025, 10, 12, 9, 30))]
    chengguan = unit(run(callouts=[good, slow], follow_ups=fu), "chengguan")
    assert chengguan.response.value == Fraction(1, 2)
    assert chengguan.resolution.value == 1
    assert chengguan.satisfaction.value == Fraction(1, 2)
    assert chengguan.score == 100 * (Fraction(3, 10) * Fraction(1, 2) + Fraction(7, 20) + Fraction(7, 20) / 2)
    # without follow-ups the score is over response and resolution only, their weights rescaled
    alone = unit(run(callouts=[good, slow]), "chengguan")
    assert alone.score == 100 * (Fraction(3, 10) / 2 + Fraction(7, 20)) / Fraction(13, 20)


def test_a_follow_up_counts_for_the_street_and_every_department_of_the_case_but_not_a_rightful_returner():
    case = "w-fire"
    calls = [prompt(d, at(2025, 10, 9, 10, 0), whistle=case, street="nanxiashu")
             for d in ("xiaofang", "jiaoguan", "chengguan")]
    wrong = callout("gongan", at(2025, 10, 9, 10, 0), whistle=case, street="nanxiashu")
    fu = follow_up(case, "unsatisfied", at(2025, 10, 15, 9, 0), street="nanxiashu")
    result = run(callouts=[*calls, wrong], returns=[returned(wrong, timedelta(minutes=5), "justified")],
                 follow_ups=[fu])
    for code in ("xiaofang", "jiaoguan", "chengguan", "nanxiashu"):
        assert (unit(result, code).satisfaction.numerator, unit(result, code).satisfaction.denominator) == (0, 1)
    assert unit(result, "gongan").satisfaction.denominator == 0
    assert unit(result, "daxigou").satisfaction.denominator == 0


def test_basically_satisfied_is_worth_what_the_rules_say():
    rules = parse_rules("satisfaction_scores: {basically_satisfied: 0.8}")
    fu = [follow_up("w1", "basically_satisfied", at(2025, 10, 3, 9)), follow_up("w2", "satisfied", at(2025, 10, 4, 9))]
    street = unit(run(follow_ups=fu, ctx=context(rules)), "daxigou")
    assert street.satisfaction.value == Fraction(9, 10)
    assert unit(run(follow_ups=fu), "daxigou").satisfaction.value == 1


def test_a_street_case_is_resolved_only_if_closed_by_its_deadline_and_never_reopened():
    on_time = whistle("w1", at(2025, 10, 9, 10), closures=[at(2025, 10, 9, 20)])          # urgent: 24 h
    late = whistle("w2", at(2025, 10, 9, 10), closures=[at(2025, 10, 10, 11)])
    reopened = whistle("w3", at(2025, 10, 9, 10), closures=[at(2025, 10, 9, 15), at(2025, 10, 12, 9)],
                       reopenings=[at(2025, 10, 11, 9)])
    open_case = whistle("w4", at(2025, 10, 9, 10))
    street = unit(run(whistles=[on_time, late, reopened, open_case]), "daxigou")
    assert (street.resolution.numerator, street.resolution.denominator) == (1, 4)
    assert (street.closure.numerator, street.closure.denominator) == (3, 4)      # 办结率: closed by as_of
    assert [d.rule for d in street.deductions] == ["reopened"] and street.points == 98


# --- published figures: 24小时签收率, 7日办结率 on the Chinese calendar ---------------------------------

def test_seven_working_days_skip_the_national_day_holiday_and_count_the_saturday_make_up_day():
    # raised Tue 30 Sep 2025 10:00; 1–8 Oct are holidays, Sat 11 Oct is a 调休 workday:
    # 9, 10, 11, 13, 14, 15, 16 October -> due Thu 16 Oct 10:00
    raised = at(2025, 9, 30, 10, 0)
    within = whistle("w1", raised, urgency="normal", closures=[at(2025, 10, 16, 9, 59)])
    past = whistle("w2", raised, urgency="normal", closures=[at(2025, 10, 16, 10, 1)])
    street = unit(run(whistles=[within, past]), "daxigou")
    assert (street.closed_in_time.numerator, street.closed_in_time.denominator) == (1, 2)
    # the 7-day mark is in October, so September does not count them
    september = unit(run(whistles=[within, past], period=Period.parse("2025-09")), "daxigou")
    assert september.closed_in_time.denominator == 0
    assert september.closure.denominator == 2           # but they were raised in September
    # normal cases must be resolved within 7 working days as well (the reference data's 7wd)
    assert (street.resolution.numerator, street.resolution.denominator) == (1, 2)


def test_a_department_s_seven_day_closure_counts_working_days_from_issue():
    issued = at(2025, 9, 30, 16, 0)
    c = callout("zhujian", issued, checked_in=timedelta(minutes=5), arrived=timedelta(hours=20),
                completed=at(2025, 10, 16, 15, 0) - issued, urgency="normal", arrival=timedelta(hours=24),
                completion=at(2025, 10, 16, 16, 0) - issued)
    zhujian = unit(run(callouts=[c]), "zhujian")
    assert zhujian.closed_in_time.value == 1 and zhujian.resolution.value == 1


def test_sign_for_within_24_hours_counts_a_late_check_in_that_is_within_a_day():
    c = callout("gongre", at(2025, 10, 9, 10, 0), checked_in=timedelta(hours=3))
    gongre = unit(run(callouts=[c]), "gongre")
    assert gongre.response.value == 0 and gongre.sign_for.value == 1


# --- points and 零失分 -------------------------------------------------------------------------------

def test_an_escalation_to_the_city_costs_the_department_and_the_street():
    c = callout("shengtai", at(2025, 10, 20, 8, 0), street="jinhaihu", checked_in=timedelta(hours=3),
                arrived=timedelta(hours=4), completed=timedelta(hours=20))
    ups = [escalation(c, t, timedelta(minutes=m)) for t, m in (("street", 30), ("district", 60), ("city", 150))]
    result = run(callouts=[c], escalations=ups)
    shengtai, jinhaihu = unit(result, "shengtai"), unit(result, "jinhaihu")
    assert sorted(d.rule for d in shengtai.deductions) == ["escalated_to_city", "late_arrival", "missed_check_in"]
    assert shengtai.points == 100 - 5 - 1 - 2
    assert dict(shengtai.escalations) == {"street": 1, "district": 1, "city": 1}
    assert [d.rule for d in jinhaihu.deductions] == ["escalated_to_city"] and not jinhaihu.zero_loss


def test_a_street_whose_cases_all_went_well_has_a_zero_loss_month():
    calls = [prompt("chengguan", at(2025, 10, d, 10), whistle=f"w{d}", street="nanxiashu") for d in (9, 10)]
    cases = [whistle(f"w{d}", at(2025, 10, d, 10), street="nanxiashu", closures=[at(2025, 10, d, 18)])
             for d in (9, 10)]
    result = run(callouts=calls, whistles=cases)
    assert unit(result, "nanxiashu").zero_loss and unit(result, "nanxiashu").points == 100
    assert unit(result, "chengguan").zero_loss


def test_a_rule_set_to_zero_deducts_nothing():
    ctx = context(parse_rules("points: {department: {missed_check_in: 0}}"))
    shuiwu = unit(run(callouts=[callout("shuiwu", arrived=timedelta(minutes=5))], ctx=ctx), "shuiwu")
    assert shuiwu.deductions == () and shuiwu.zero_loss and shuiwu.response.value == 0


# --- rank, ties and flags ---------------------------------------------------------------------------

def five(department, **kw):
    return [prompt(department, at(2025, 10, 9 + i, 10), **kw) for i in range(5)]


def test_ranks_are_one_to_n_and_ties_are_broken_by_the_defined_rule():
    a = five("gongan")
    b = five("jiaoguan")                                   # the same as gongan in every figure
    c = five("chengguan")[:4] + [callout("chengguan", at(2025, 10, 20, 10), checked_in=timedelta(minutes=50),
                                         arrived=timedelta(minutes=55), completed=timedelta(hours=2))]
    result = run(callouts=[*a, *b, *c])
    ranked = [u for u in result.departments if u.rank]
    assert [u.code for u in ranked] == ["gongan", "jiaoguan", "chengguan"]   # full tie: by code
    assert [u.rank for u in ranked] == [1, 2, 3]
    assert ranked[0].flag == "horse" and ranked[2].flag == "snail" and ranked[1].flag is None


def test_equal_scores_are_separated_by_resolution_then_response():
    # with response and resolution weighted alike, (1/2, 1) and (1, 1/2) both score 75
    ctx = context(parse_rules("weights: {response: 0.5, resolution: 0.5, satisfaction: 0}"))
    hi_res = [prompt("shichang", at(2025, 10, 9 + i, 10)) for i in range(2)] + [
        callout("shichang", at(2025, 10, 12 + i, 10), checked_in=timedelta(minutes=40), arrived=timedelta(minutes=20),
                completed=timedelta(hours=2)) for i in range(2)]               # response 1/2, resolution 1
    hi_resp = [prompt("xiaofang", at(2025, 10, 9 + i, 10)) for i in range(2)] + [
        callout("xiaofang", at(2025, 10, 12 + i, 10), checked_in=timedelta(minutes=10),
                arrived=timedelta(minutes=20)) for i in range(2)]               # response 1, resolution 1/2
    result = run(callouts=[*hi_res, *hi_resp], ctx=ctx)
    shichang, xiaofang = unit(result, "shichang"), unit(result, "xiaofang")
    assert shichang.score == xiaofang.score == 75
    assert (shichang.rank, xiaofang.rank) == (1, 2)      # resolution breaks the tie first
    assert xiaofang.flag is None and shichang.flag is None       # fewer than 5 cases: no flag


def test_no_snail_flag_when_nobody_did_worse():
    result = run(callouts=[*five("gongan"), *five("jiaoguan")])
    flags = {u.code: u.flag for u in result.departments if u.rank}
    assert flags == {"gongan": "horse", "jiaoguan": None}


def test_a_unit_below_the_volume_threshold_is_ranked_but_holds_no_flag():
    few = [prompt("shuiwu", at(2025, 10, 9, 10))]
    fair = five("gongan")[:4] + [callout("gongan", at(2025, 10, 20, 10), checked_in=timedelta(minutes=40),
                                         arrived=timedelta(minutes=20), completed=timedelta(hours=2))]
    bad = [callout("gongre", at(2025, 10, 9 + i, 10)) for i in range(5)]
    result = run(callouts=[*few, *fair, *bad])
    assert unit(result, "shuiwu").rank == 1 and unit(result, "shuiwu").flag is None
    assert unit(result, "gongan").flag == "horse" and unit(result, "gongre").flag == "snail"
    assert result.holder("department", "snail").code == "gongre"


# --- exemptions and appeals -------------------------------------------------------------------------

def decision(kind, fact_kind, fact_id, upheld=True, **kw):
    return Decision(kind=kind, fact=FactRef(fact_kind, fact_id), reason=kw.pop("reason", "台风红色预警, 道路封闭"),
                    decided_by=kw.pop("decided_by", "区考核办 张主任"), decided_at=at(2025, 11, 2, 9), upheld=upheld,
                    **kw)


def test_an_exempted_call_out_leaves_every_figure_with_an_audit_line():
    missed = callout("shuiwu", at(2025, 10, 9, 10), ident="c-typhoon")
    ups = [escalation(missed, "city", timedelta(hours=3))]
    ok = prompt("shuiwu", at(2025, 10, 10, 10))
    result = run(callouts=[missed, ok], escalations=ups, decisions=[decision("exemption", "callout", "c-typhoon")])
    shuiwu = unit(result, "shuiwu")
    assert shuiwu.response.value == 1 and shuiwu.response.denominator == 1
    assert shuiwu.deductions == () and dict(shuiwu.escalations)["city"] == 0
    [line] = result.audit
    assert line.effect == "removed" and line.decision.decided_by == "区考核办 张主任"
    assert set(line.removed) == {FactRef("callout", "c-typhoon"), ups[0].ref}


def test_an_exempted_whistle_takes_its_call_outs_and_follow_ups_with_it():
    c = callout("gongan", at(2025, 10, 9, 10), whistle="w-false")
    case = whistle("w-false", at(2025, 10, 9, 10))
    fu = follow_up("w-false", "unsatisfied", at(2025, 10, 10, 10))
    result = run(callouts=[c], whistles=[case], follow_ups=[fu],
                 decisions=[decision("exemption", "whistle", "w-false", reason="核查为虚假举报")])
    assert not unit(result, "gongan").assessed and not unit(result, "daxigou").assessed
    assert len(result.audit[0].removed) == 3


def test_a_rejected_appeal_changes_nothing_but_is_audited():
    c = callout("gongan", at(2025, 10, 9, 10))
    result = run(callouts=[c], decisions=[decision("appeal", "callout", c.callout_id, upheld=False,
                                                   requested_by="gongan")])
    assert unit(result, "gongan").response.value == 0
    assert result.audit[0].effect == "kept" and result.audit[0].removed == ()


def test_an_upheld_appeal_against_a_return_verdict_makes_it_justified():
    c = callout("guihua", at(2025, 10, 9, 10))
    r = returned(c, timedelta(minutes=10), "unjustified")
    result = run(callouts=[c], returns=[r], decisions=[decision("appeal", "return", c.callout_id,
                                                                requested_by="guihua")])
    guihua = unit(result, "guihua")
    assert guihua.deductions == () and guihua.resolution.denominator == 0
    assert result.audit[0].effect == "rejudged"


def test_a_decision_about_an_unknown_fact_is_audited_as_such():
    result = run(decisions=[decision("exemption", "callout", "c-nowhere")])
    assert result.audit[0].effect == "no_such_fact"


# --- quarters ---------------------------------------------------------------------------------------

def test_a_quarter_is_three_months_in_shanghai_and_adds_up_its_months():
    q4 = Period.parse("2025-q4")
    assert (q4.start, q4.end) == (at(2025, 10, 1), at(2026, 1, 1))
    assert q4.months == (10, 11, 12) and q4.title() == "2025年第四季度" and q4.title("en") == "Q4 2025"
    calls = [callout("gongan", at(2025, m, 15, 10), checked_in=timedelta(minutes=m)) for m in (10, 11, 12)]
    calls.append(callout("gongan", at(2025, 12, 31, 23, 29)))      # due 23:59 on 31 Dec: Q4
    calls.append(callout("gongan", at(2025, 12, 31, 23, 31)))      # due 00:01 on 1 Jan: Q1 2026
    quarter = unit(run(callouts=calls, period=q4), "gongan").response
    months = [unit(run(callouts=calls, period=Period("month", 2025, m)), "gongan").response for m in (10, 11, 12)]
    assert quarter.denominator == sum(m.denominator for m in months) == 4
    assert quarter.numerator == sum(m.numerator for m in months) == 3   # the 31 December one never checked in
    assert Period.containing(at(2026, 1, 1, 0, 0), "quarter") == Period("quarter", 2026, 1)
    assert Period.containing(at(2025, 12, 31, 23, 59), "quarter") == q4


# --- bad input --------------------------------------------------------------------------------------

def test_bad_facts_and_settings_are_refused_with_the_field_named():
    from datetime import datetime
    good = callout()
    with pytest.raises(FactError, match=r"callout x\.issued_at: must be timezone-aware"):
        CalloutFact(**{**good.__dict__, "callout_id": "x", "issued_at": datetime(2025, 10, 1)})
    with pytest.raises(FactError, match="check_in_on_time: must be given exactly when checked_in_at is"):
        CalloutFact(**{**good.__dict__, "check_in_on_time": None, "checked_in_at": good.issued_at})
    with pytest.raises(FactError, match="appears twice"):
        PeriodFacts(callouts=(good, good))
    with pytest.raises(FactError, match="exempted with its call-out"):
        decision("exemption", "return", "c1")
    with pytest.raises(RulesError, match="weights"):
        parse_rules("weights: {response: 0.4, resolution: 0.4, satisfaction: 0.4}")
    with pytest.raises(RulesError, match=r"published.close_within"):
        parse_rules("published: {close_within: seven days}")
    with pytest.raises(PeriodError, match="2025-10"):
        Period.parse("October")
    with pytest.raises(FactError, match="as_of"):
        assess(PeriodFacts(), OCTOBER, datetime(2025, 11, 1), CTX)


def test_the_shipped_rules_file_is_the_documented_default():
    from services.metrics.assessment import load_rules
    assert load_rules() == AssessmentRules()


# --- a demo month, recomputed independently ---------------------------------------------------------

def test_a_demo_month_is_reproduced_by_an_independent_count():
    from collections import Counter, defaultdict

    from tests.unit.assessment_samples import demo_month
    facts = demo_month()
    result = run(callouts=facts.callouts, returns=facts.returns, escalations=facts.escalations,
                 whistles=facts.whistles, follow_ups=facts.follow_ups, decisions=facts.decisions)
    exempt = {d.fact.id for d in facts.decisions if d.upheld}
    start, end = OCTOBER.start, OCTOBER.end
    returned_at = {r.callout_id: r.returned_at for r in facts.returns}
    due, hit = Counter(), Counter()
    for c in facts.callouts:
        if c.callout_id in exempt or not start <= c.check_in_by < end:
            continue
        due[c.department] += 1
        answered = [t for t in (c.checked_in_at, returned_at.get(c.callout_id)) if t is not None]
        hit[c.department] += bool(answered) and min(answered) <= c.check_in_by
    for code in due:
        assert unit(result, code).response.value == Fraction(hit[code], due[code]), code
    scores = defaultdict(list)
    for f in facts.follow_ups:
        if start <= f.recorded_at < end:
            scores[f.street].append(f.rating != "unsatisfied")
    for street, ratings in scores.items():
        assert unit(result, street).satisfaction.value == Fraction(sum(ratings), len(ratings))
    city = Counter(e.department for e in facts.escalations
                   if e.tier == "city" and e.callout_id not in exempt and start <= e.escalated_at < end)
    for code, n in city.items():
        assert dict(unit(result, code).escalations)["city"] == n
    assert sum(due.values()) == result.district.response.denominator

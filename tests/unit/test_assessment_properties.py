"""Properties of the assessment over random months: rates are rates, ranks a permutation, flags
unique, and an exempted fact counts nowhere (the same figures as if it had never been recorded)."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.metrics.assessment import Decision, FactRef, PeriodFacts, Period, apply_decisions, assess
from tests.unit.assessment_samples import at, callout, context, escalation, follow_up, returned, whistle

OCTOBER = Period.parse("2025-10")
CTX = context()
DEPARTMENTS = ("chengguan", "gongan", "zhujian")
STREETS = ("daxigou", "nanxiashu")
offsets = st.one_of(st.none(), st.integers(min_value=1, max_value=60 * 60).map(lambda s: timedelta(seconds=s * 30)))


@st.composite
def months(draw):
    whistles, callouts, returns, escalations, follow_ups = [], [], [], [], []
    for n in range(draw(st.integers(min_value=0, max_value=8))):
        wid = f"w{n}"
        street = draw(st.sampled_from(STREETS))
        raised = at(2025, 9, 25) + timedelta(hours=draw(st.integers(min_value=0, max_value=24 * 40)))
        closures = sorted(raised + timedelta(hours=h) for h in draw(st.lists(st.integers(1, 400), max_size=2)))
        reopenings = [c + timedelta(hours=1) for c in closures[:-1]] if draw(st.booleans()) else []
        whistles.append(whistle(wid, raised, street=street, urgency=draw(st.sampled_from(
            ("emergency", "urgent", "normal", "complex"))), place=draw(st.sampled_from(("g1", "g2", "g3"))),
            category=draw(st.sampled_from(("noise", "illegal_ads"))), closures=closures, reopenings=reopenings))
        for department in draw(st.lists(st.sampled_from(DEPARTMENTS), min_size=1, max_size=3, unique=True)):
            c = callout(department, raised + timedelta(minutes=1), street=street, whistle=wid,
                        ident=f"{wid}-{department}", checked_in=draw(offsets), arrived=draw(offsets),
                        completed=draw(offsets))
            callouts.append(c)
            if draw(st.integers(0, 4)) == 0:
                returns.append(returned(c, timedelta(minutes=draw(st.integers(1, 90))),
                                        draw(st.sampled_from(("rerouted", "pending", "justified", "unjustified")))))
            for tier in draw(st.lists(st.sampled_from(("street", "district", "city")), max_size=2, unique=True)):
                escalations.append(escalation(c, tier, timedelta(minutes=draw(st.integers(30, 300)))))
        for _ in range(draw(st.integers(0, 2))):
            follow_ups.append(follow_up(wid, draw(st.sampled_from(("satisfied", "basically_satisfied", "unsatisfied"))),
                                        raised + timedelta(days=draw(st.integers(1, 20))), street=street))
    facts = PeriodFacts(tuple(callouts), tuple(returns), tuple(escalations), tuple(whistles), tuple(follow_ups))
    refs = [f.ref for f in (*facts.callouts, *facts.escalations, *facts.whistles, *facts.follow_ups)]
    decisions = []
    if refs:
        for ref in draw(st.lists(st.sampled_from(refs), max_size=3, unique=True)):
            decisions.append(Decision(kind=draw(st.sampled_from(("exemption", "appeal"))), fact=ref, reason="核查",
                                      decided_by="区考核办", decided_at=at(2025, 11, 3), upheld=True))
    if facts.returns and draw(st.booleans()):
        decisions.append(Decision(kind="appeal", fact=FactRef("return", facts.returns[0].callout_id),
                                  reason="确属他部门职责", decided_by="区城管委", decided_at=at(2025, 11, 4)))
    as_of = draw(st.sampled_from((at(2025, 10, 20), OCTOBER.end, at(2025, 12, 1))))
    return replace(facts, decisions=tuple(decisions)), as_of


def never_recorded(facts: PeriodFacts) -> PeriodFacts:
    """The facts as if every exempted (or successfully appealed) one had never been recorded."""
    gone_whistles = {d.fact.id for d in facts.decisions if d.fact.kind == "whistle"}
    gone_callouts = {d.fact.id for d in facts.decisions if d.fact.kind == "callout"} | {
        c.callout_id for c in facts.callouts if c.whistle_id in gone_whistles}
    gone = {d.fact for d in facts.decisions if d.fact.kind in ("escalation", "follow_up")}
    rejudged = {d.fact.id for d in facts.decisions if d.fact.kind == "return"}
    return PeriodFacts(
        callouts=tuple(c for c in facts.callouts if c.callout_id not in gone_callouts),
        returns=tuple(replace(r, verdict="justified") if r.callout_id in rejudged else r
                      for r in facts.returns if r.callout_id not in gone_callouts),
        escalations=tuple(e for e in facts.escalations if e.callout_id not in gone_callouts and e.ref not in gone),
        whistles=tuple(w for w in facts.whistles if w.whistle_id not in gone_whistles),
        follow_ups=tuple(f for f in facts.follow_ups if f.whistle_id not in gone_whistles and f.ref not in gone))


def rates(u):
    return (u.response, u.resolution, u.satisfaction, u.sign_for, u.closed_in_time, u.closure)


def figures(result):
    strip = lambda units: tuple(replace(u, deductions=tuple(sorted(u.deductions, key=repr))) for u in units)
    return strip(result.departments), strip(result.streets), result.district, result.worst_overdue, result.hotspots


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(months())
def test_rates_are_rates_ranks_a_permutation_and_flags_unique(month):
    facts, as_of = month
    result = assess(facts, OCTOBER, as_of, CTX)
    for u in (*result.departments, *result.streets, result.district):
        for r in rates(u):
            assert 0 <= r.numerator <= r.denominator
            assert r.value is None or 0 <= r.value <= 1
        assert u.score is None or 0 <= u.score <= 100
        assert u.points == u.points_base - sum(d.points for d in u.deductions)
    for units in (result.departments, result.streets):
        ranks = [u.rank for u in units if u.rank is not None]
        assert ranks == list(range(1, len(ranks) + 1))
        assert all(u.rank is not None for u in units if u.score is not None)
        for flag in ("horse", "snail"):
            holders = [u for u in units if u.flag == flag]
            assert len(holders) <= 1
            assert all(h.volume >= CTX.rules.flags.min_volume for h in holders)
        scores = [u.score for u in units if u.rank is not None]
        assert scores == sorted(scores, reverse=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(months())
def test_exempted_facts_never_count(month):
    facts, as_of = month
    kept = never_recorded(facts)
    assert kept == apply_decisions(facts)[0]
    with_decisions = assess(facts, OCTOBER, as_of, CTX)
    as_if_never_recorded = assess(kept, OCTOBER, as_of, CTX)
    assert figures(with_decisions) == figures(as_if_never_recorded)
    removed = {ref for line in with_decisions.audit if line.effect == "removed" for ref in line.removed}
    for u in (*with_decisions.departments, *with_decisions.streets):
        assert not {d.fact for d in u.deductions} & removed
    assert not {FactRef("callout", o.callout_id) for o in with_decisions.worst_overdue} & removed

"""核查: the rule per category/source, the on-site check before a whistle, and the false report."""
from __future__ import annotations

from dataclasses import replace

import pytest

from services.common.tiers import VerificationRule
from services.common.events import GridEventClosed, GridEventVerified
from services.whistle.domain import IllegalAction, InvalidRequest
from services.whistle.grid_event import accept, open_event, whistle
from services.whistle.verification import allowed_verifiers, verify
from tests.support.grid_samples import T0, accepting, minutes, opening, rules, verifying, whistling

RULES = rules()


def construction(**overrides):
    """An illegal-construction report: tiers.yaml wants the street's team to check it on site."""
    return open_event(opening(category="illegal_construction", description="楼顶正在加盖彩钢房", **overrides),
                      "e-1", RULES, T0)


def test_the_rules_ship_chongqings_order_first_match_deciding():
    rule_for = RULES.tiers.verification.rule_for
    assert rule_for("illegal_construction", "grid_patrol").by == ("street_team",)
    assert rule_for("garbage_dumping", "hotline_12345").by == ("street_team", "grid_worker")
    assert rule_for("noise", "resident_report").required
    assert rule_for("illegal_construction", "road_office").required is False     # a leader saw it: no check
    assert rule_for("garbage_dumping", "grid_patrol") is None                    # the grid worker saw it


def test_a_required_check_is_pending_from_the_start():
    decision = construction()
    assert decision.state.verification == "pending" and decision.events[0].verification == "pending"
    assert decision.entries[-1].summary == "吹哨前须现场核查（街道执法队）"


def test_whistling_without_the_required_check_is_refused_naming_verification():
    state = replace(construction().state, tier="street")
    with pytest.raises(IllegalAction) as refused:
        whistle(state, whistling(), RULES, minutes(5))
    assert [e.field for e in refused.value.errors] == ["verification"]
    assert "street_team" in refused.value.errors[0].message
    # accepting (签收) does not wait for the check; the whistle does
    assert accept(state, accepting("street"), RULES, minutes(5)).state.status == "accepted"


def test_a_confirmed_check_lets_the_street_whistle():
    state = replace(construction().state, tier="street")
    checked = verify(state, verifying("confirmed"), RULES, minutes(20))
    event = checked.events[0]
    assert isinstance(event, GridEventVerified)
    assert (event.outcome, event.role, event.photo_ref) == ("confirmed", "street_team", "photo://check/1")
    assert checked.state.verification == "confirmed" and checked.state.signed_for_at == minutes(20)
    assert checked.entries[0].summary == "执法队员 李强（街道执法队）现场核查属实"
    assert whistle(checked.state, whistling(), RULES, minutes(30)).whistle.category == "illegal_construction"


def test_a_check_that_finds_nothing_closes_the_event_as_a_false_report():
    state = open_event(opening(source="resident_report", reported_by="市民"), "e-1", RULES, T0).state
    assert state.verification == "pending"
    closed = verify(state, verifying("false_report", role="grid_worker", reason="现场无垃圾，系重复误报"), RULES,
                    minutes(40))
    verified, figure = closed.events
    assert isinstance(verified, GridEventVerified) and isinstance(figure, GridEventClosed)
    assert (figure.outcome, figure.resolved_by, figure.summary) == ("false_report", "grid", "现场无垃圾，系重复误报")
    assert (closed.state.status, closed.state.accept_by) == ("closed", None)
    assert closed.entries[0].summary == "执法队员 李强（网格员）现场核查不实，按虚假上报办结：现场无垃圾，系重复误报"
    with pytest.raises(IllegalAction) as refused:
        whistle(replace(closed.state, tier="street"), whistling(), RULES, minutes(50))
    assert [e.field for e in refused.value.errors] == ["status"]


def test_a_false_report_needs_its_reason():
    for reason in (None, "  ", "无"):
        with pytest.raises(InvalidRequest) as refused:
            verify(construction().state, verifying("false_report", reason=reason), RULES, minutes(1))
        assert [e.field for e in refused.value.errors] == ["reason"]


def test_only_the_verifiers_the_rule_names_may_check_and_only_once():
    state = construction().state
    with pytest.raises(IllegalAction) as refused:
        verify(state, verifying(role="grid_worker"), RULES, minutes(1))
    assert [e.field for e in refused.value.errors] == ["role"]
    checked = verify(state, verifying(), RULES, minutes(2)).state
    with pytest.raises(IllegalAction) as refused:
        verify(checked, verifying(request_id="verify-2"), RULES, minutes(3))
    assert [e.field for e in refused.value.errors] == ["verification"]


def test_where_no_check_is_required_anyone_may_still_check_or_unmask_a_false_report():
    state = open_event(opening(), "e-1", RULES, T0).state
    assert state.verification == "not_required"
    assert allowed_verifiers(state, RULES) == ("street_team", "grid_worker")
    closed = verify(state, verifying("false_report", role="grid_worker", reason="照片系网图，现场无此情况"), RULES,
                    minutes(5))
    assert closed.state.outcome == "false_report"


def test_a_required_rule_must_name_its_verifiers():
    with pytest.raises(ValueError, match="by"):
        VerificationRule(category="noise", by=())

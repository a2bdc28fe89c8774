"""The rule table: who may do what, on whose objects; bodies claimed by the token; lists filtered."""
from __future__ import annotations

import pytest

from services.common.auth.principals import (SERVICES, Kind, Principal, broker_user,
                                             principal_of_broker_user)
from services.common.auth.rules import RULES, Denied, Scope, authorize, claim, may_attempt, visible

daxigou = Principal(Kind.STREET, "daxigou", "t1")
chengguan = Principal(Kind.DEPARTMENT, "chengguan", "t2")
district = Principal(Kind.DISTRICT, "zhangwei", "t3")
assessment = Principal(Kind.ASSESSMENT, "assessment", "t4")
operator = Principal(Kind.OPERATOR, "duty", "t5")
dispatch = Principal(Kind.SERVICE, "dispatch", "t6")

WHISTLE_OF_DAXIGOU = {"street_code": "daxigou", "department_codes": ("chengguan", "guihua")}
WHISTLE_OF_NANXIASHU = {"street_code": "nanxiashu", "department_codes": ("gongan",)}


def test_a_street_acts_on_its_own_whistles_only():
    for action in ("whistle.read", "whistle.close", "whistle.send_back", "whistle.follow_up", "callout.read",
                   "team.read"):
        assert authorize(daxigou, action, WHISTLE_OF_DAXIGOU), action
        refused = authorize(daxigou, action, WHISTLE_OF_NANXIASHU)
        assert not refused and refused.field == "street_code", action
        assert "'nanxiashu'" in refused.reason and "nanxiashu" in refused.reason_zh


def test_a_department_reports_on_its_own_call_outs_and_sees_whistles_it_is_called_on():
    assert authorize(chengguan, "callout.report", {"department_code": "chengguan"})
    refused = authorize(chengguan, "callout.report", {"department_code": "xiaofang"})
    assert not refused and refused.field == "department_code"
    assert "'xiaofang'" in refused.reason
    assert authorize(chengguan, "callout.read", WHISTLE_OF_DAXIGOU)
    refused = authorize(chengguan, "callout.read", WHISTLE_OF_NANXIASHU)
    assert not refused and "not called" in refused.reason
    assert not authorize(chengguan, "whistle.close", WHISTLE_OF_DAXIGOU)
    assert not authorize(chengguan, "whistle.raise", {"street_code": "daxigou"})


def test_district_staff_read_everything_decide_arbitrations_and_add_departments_but_close_nothing():
    for action in RULES:
        if action.endswith(".read") and not action.startswith("dlq."):
            assert authorize(district, action, WHISTLE_OF_NANXIASHU), action
    assert authorize(district, "arbitration.decide", {"street_code": "daxigou"})
    assert authorize(district, "department.add", WHISTLE_OF_DAXIGOU)
    for action in ("whistle.raise", "whistle.close", "callout.report", "dlq.replay"):
        refused = authorize(district, action, WHISTLE_OF_DAXIGOU)
        assert not refused and "district" in refused.reason and refused.reason_zh


def test_the_assessment_office_reads_assessment_data_only_and_the_operator_handles_dead_letters_only():
    # the roster's service history is assessment data too (who served, on time or not, by month)
    assert [a for a in RULES if may_attempt(assessment, a)] == ["roster.history", "assessment.read"]
    assert [a for a in RULES if may_attempt(operator, a)] == ["dlq.read", "dlq.replay", "dlq.drop"]


def test_services_may_do_everything_but_read_personal_data_and_operate_dead_letters():
    assert [a for a in RULES if not may_attempt(dispatch, a)] == ["grid_event.contact", "dlq.read", "dlq.replay",
                                                                    "dlq.drop"]


def test_a_complainants_contact_is_for_the_owning_street_and_the_follow_up_desk_only():
    from services.common.auth.principals import Principal as P
    desk, hotline, client = P(Kind.FOLLOW_UP, "huifang", "t7"), P(Kind.HOTLINE, "beijing12345", "t8"), \
        P(Kind.OPEN311, "fixmystreet", "t9")
    event = {"street_code": "daxigou"}
    assert authorize(daxigou, "grid_event.contact", event) and authorize(desk, "grid_event.contact", event)
    assert not authorize(P(Kind.STREET, "nanxiashu", "t"), "grid_event.contact", event)
    for other in (district, dispatch, hotline, client, chengguan, assessment, operator):
        assert not authorize(other, "grid_event.contact", event), other
    assert [a for a in RULES if may_attempt(desk, a)] == ["grid_event.contact"]
    assert [a for a in RULES if may_attempt(hotline, a)] == ["ticket.receive", "ticket.read"]
    assert [a for a in RULES if may_attempt(client, a)] == ["open311.report", "open311.read"]


def test_an_unknown_action_or_a_missing_attribute_is_refused_not_an_error():
    assert not authorize(district, "whistle.delete", None)
    assert "no rule" in authorize(district, "whistle.delete", None).reason
    missing = authorize(daxigou, "whistle.close", {})
    assert not missing and missing.field == "street_code" and "cannot check" in missing.reason
    assert not authorize(daxigou, "whistle.close", None)
    assert not authorize(chengguan, "callout.read", {"street_code": "daxigou"})


def test_every_rule_is_well_formed():
    for action, rule in RULES.items():
        assert rule.action == action and rule.grants and rule.summary and rule.summary_zh
        for kind, scope in rule.grants.items():
            # a scope names the principal's own street or department: only those kinds can have one
            assert scope is Scope.ANY or kind in (Kind.STREET, Kind.DEPARTMENT), (action, kind)
            assert scope is not Scope.OWN_STREET or kind is Kind.STREET
            assert scope not in (Scope.OWN_DEPARTMENT, Scope.CALLED) or kind is Kind.DEPARTMENT


def test_claim_fills_the_principals_code_and_refuses_another_naming_the_field():
    assert claim(daxigou, {"category": "noise"}) == {"category": "noise", "street_code": "daxigou"}
    assert claim(daxigou, {"street_code": "daxigou"}) == {"street_code": "daxigou"}
    with pytest.raises(Denied) as refused:
        claim(daxigou, {"street_code": "nanxiashu"})
    assert refused.value.decision.field == "street_code"
    assert "'nanxiashu' does not match the token's street 'daxigou'" in refused.value.decision.reason
    assert claim(chengguan, {"callout_id": "c1"}) == {"callout_id": "c1", "department_code": "chengguan"}
    with pytest.raises(Denied) as refused:
        claim(chengguan, {"callout_id": "c1", "department_code": "xiaofang"})
    assert refused.value.decision.field == "department_code"
    body = {"street_code": "nanxiashu"}
    assert claim(dispatch, body) is body and claim(district, body) is body


def test_visible_rows_a_department_sees_only_its_own_call_outs():
    rows = [{"callout_id": "1", "department_code": "chengguan", "street_code": "daxigou"},
            {"callout_id": "2", "department_code": "guihua", "street_code": "daxigou"}]
    assert [r["callout_id"] for r in visible(chengguan, "callout.read", rows)] == ["1"]
    assert visible(daxigou, "callout.read", rows) == rows
    assert visible(Principal(Kind.STREET, "nanxiashu", "t"), "callout.read", rows) == []
    assert visible(district, "callout.read", rows) == rows
    assert visible(operator, "callout.read", rows) == []


def test_principals_are_validated_and_map_to_their_broker_accounts():
    with pytest.raises(ValueError, match="code"):
        Principal(Kind.STREET, "Da Xi Gou", "t")
    with pytest.raises(ValueError, match="service"):
        Principal(Kind.SERVICE, "billing", "t")
    with pytest.raises(ValueError, match="kind"):
        Principal("street", "daxigou", "t")
    assert str(daxigou) == "street:daxigou"
    assert daxigou.record() == {"kind": "street", "code": "daxigou", "token_id": "t1"}
    assert broker_user(Kind.DEPARTMENT, "chengguan") == "dept-chengguan"
    assert broker_user(Kind.STREET, "daxigou", "t1-") == "t1-street-daxigou"
    for kind, code in ((Kind.STREET, "daxigou"), (Kind.DEPARTMENT, "chengguan"), (Kind.OPERATOR, "duty"),
                       *((Kind.SERVICE, s) for s in SERVICES)):
        principal = principal_of_broker_user(broker_user(kind, code, "x-"), "x-")
        assert (principal.kind, principal.code, principal.token_id) == (kind, code, f"amqp:x-{broker_user(kind, code)}")
    assert principal_of_broker_user("guest") is None
    assert principal_of_broker_user("svc-billing") is None
    assert principal_of_broker_user("") is None
    with pytest.raises(ValueError):
        broker_user(Kind.DISTRICT, "zhangwei")

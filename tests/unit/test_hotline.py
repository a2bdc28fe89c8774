"""接诉即办: a 12345 ticket's intake, its deadlines by the hotline's classes, personal data kept apart, and
the answer sent back with its 签收 and 办结 times."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from services.common.events import ContractError, HotlineTicket, TicketAnswered, WhistleClosed, parse
from services.common.workdays import CHINA, chinese_workdays
from services.whistle.domain import IllegalAction
from services.whistle.grid_event import (InvalidGridEvent, accept, close, handle, whistle, whistle_closed,
                                         whistle_raised)
from services.whistle.hotline import receive_ticket, rejected_receipt, verify_sender
from services.whistle.hotline import answer as answer_of
from services.whistle.verification import verify
from tests.support.grid_samples import (EMAIL, EVIDENCE, NAME, PHONE, T0, accepting, closing, handling, minutes,
                                        rules, ticket, ticket_body, verifying, whistling)

RULES = rules()
def test_a_ticket_opens_an_event_at_its_grid_and_keeps_the_complainant_apart():
    intake = receive_ticket(ticket(), "e-1", RULES, T0)
    state = intake.decision.state
    assert (state.source, state.tier, state.ticket_id, state.urgency) == ("hotline_12345", "grid",
                                                                           "BJ12345-20250314-0007", "normal")
    assert state.reported_by == "12345热线" and state.verification == "pending"
    assert intake.contact.model_dump() == {"grid_event_id": "e-1", "channel": "hotline_12345", "name": NAME,
                                           "phone": PHONE, "email": EMAIL, "device_id": None, "account_id": None}
    assert (intake.receipt.outcome, intake.receipt.grid_event_id, intake.receipt.repeated) == ("accepted", "e-1",
                                                                                               False)
    assert intake.ticket.received_at == datetime(2025, 3, 14, 1, 0, tzinfo=timezone.utc)
    assert intake.decision.entries[-1].summary.startswith("12345工单BJ12345-20250314-0007（一般），须在")
    # nothing personal anywhere but the contact: not the state, the events, the timeline, the whistle
    whistled = whistle(replace(verify(state, verifying(), RULES, minutes(1)).state, tier="street"), whistling(),
                       RULES, minutes(2))
    carried = [repr(state), repr(whistled.state), whistled.whistle.model_dump_json(), intake.receipt.model_dump_json(),
               *(e.model_dump_json() for e in intake.decision.events),
               *(repr(e) for e in intake.decision.entries + whistled.entries)]
    for text in carried:
        assert PHONE not in text and NAME not in text and EMAIL not in text


def test_a_ticket_without_its_id_is_refused_naming_it():
    body = ticket_body()
    del body["ticket_id"]
    with pytest.raises(ContractError) as refused:
        parse(HotlineTicket, body)
    assert [e.field for e in refused.value.errors] == ["ticket_id"]
    with pytest.raises(ContractError) as refused:
        parse(HotlineTicket, ticket_body(ticket_id=" "))
    assert [e.field for e in refused.value.errors] == ["ticket_id"]


def test_the_same_ticket_twice_is_the_same_event():
    first = receive_ticket(ticket(), "e-1", RULES, T0)
    again = receive_ticket(ticket(description="又打了一次电话"), "e-2", RULES, minutes(30),
                           existing=first.decision.state)
    assert again.decision.repeated and again.decision.state == first.decision.state
    assert (again.receipt.grid_event_id, again.receipt.repeated) == ("e-1", True)
    assert again.ticket is None and again.contact is None and again.decision.events == ()


def test_a_ticket_for_an_unknown_grid_or_from_the_future_is_refused_naming_the_field():
    with pytest.raises(InvalidGridEvent) as refused:
        receive_ticket(ticket(grid_code="jinhaihu-c1-g1"), "e-1", RULES, T0)
    assert [e.field for e in refused.value.errors] == ["grid_code"]
    with pytest.raises(InvalidGridEvent) as refused:
        receive_ticket(ticket(received_at="2025-03-14T02:00:00Z"), "e-1", RULES, T0)
    assert [e.field for e in refused.value.errors] == ["received_at"]


def test_a_ticket_without_a_grid_is_placed_by_the_map_within_its_street_or_stays_at_the_street():
    placed = receive_ticket(ticket(grid_code=None), "e-1", RULES, T0, locate=lambda lon, lat: "daxigou-c3-g2")
    assert (placed.decision.state.grid_code, placed.decision.state.tier) == ("daxigou-c3-g2", "grid")
    elsewhere = receive_ticket(ticket(grid_code=None), "e-1", RULES, T0, locate=lambda lon, lat: "jinhaihu-c1-g1")
    assert (elsewhere.decision.state.grid_code, elsewhere.decision.state.tier) == (None, "street")
    nowhere = receive_ticket(ticket(grid_code=None), "e-1", RULES, T0, locate=lambda lon, lat: None)
    assert nowhere.decision.state.tier == "street"


@pytest.mark.parametrize("overrides, hotline_class, due_local", [
    ({"hotline_class": "emergency"}, "emergency", datetime(2025, 9, 30, 12, 0, tzinfo=CHINA)),
    ({"category": "heating_failure"}, "utilities", datetime(2025, 10, 1, 10, 0, tzinfo=CHINA)),
    # working days across National Day 2025: Oct 1-8 off, Saturday Oct 11 a make-up working day
    ({}, "ordinary", datetime(2025, 10, 16, 10, 0, tzinfo=CHINA)),
    ({"hotline_class": "complex"}, "complex", datetime(2025, 10, 28, 10, 0, tzinfo=CHINA)),
])
def test_deadlines_follow_the_hotline_rules_in_working_days(overrides, hotline_class, due_local):
    received = datetime(2025, 9, 30, 10, 0, tzinfo=CHINA)
    calendar = rules(is_workday=chinese_workdays())
    intake = receive_ticket(ticket(received_at=received.isoformat(), **overrides), "e-1", calendar,
                            received + timedelta(minutes=1))
    assert intake.ticket.hotline_class == hotline_class
    assert intake.ticket.due_at == due_local.astimezone(timezone.utc)


def test_a_ticket_handled_in_its_grid_is_answered_back_to_the_hotline():
    intake = receive_ticket(ticket(), "e-1", RULES, minutes(5))
    accepted = accept(intake.decision.state, accepting("grid"), RULES, minutes(20))            # 签收
    handled = handle(accepted.state, handling("grid"), minutes(300))
    closed = close(handled.state, closing("grid"), minutes(320)).state                         # 办结
    answered, record, entry = answer_of(intake.ticket, closed, RULES, minutes(320))
    assert isinstance(answered, TicketAnswered)
    assert answered.model_dump(mode="json", exclude={"event_id", "occurred_at", "type", "schema_version"}) == {
        "ticket_id": "BJ12345-20250314-0007", "grid_event_id": "e-1", "street_code": "daxigou", "answer_no": 1,
        "outcome": "resolved", "resolved_by": "grid", "summary": "已清运建筑垃圾两车", "whistle_id": None,
        "hotline_class": "ordinary", "received_at": "2025-03-14T01:00:00Z", "signed_for_at": "2025-03-14T01:50:00Z",
        "completed_at": "2025-03-14T06:50:00Z", "due_at": "2025-03-25T01:00:00Z", "on_time": True,
        "signed_within_24h": True, "completed_within_7d": True}
    assert record.answers == 1 and entry.summary == "已向12345回复工单BJ12345-20250314-0007（第1次）：已解决"
    assert PHONE not in answered.model_dump_json()


def test_a_whistled_ticket_is_answered_when_its_whistle_closes_late_and_signed_for_late():
    intake = receive_ticket(ticket(hotline_class="emergency"), "e-1", RULES, minutes(5))
    state = replace(intake.decision.state, tier="street")
    checked = verify(state, verifying(), RULES, minutes(60 * 25)).state                       # 25 h: too late
    asked = whistle(checked, whistling(urgency=None), RULES, minutes(60 * 25))
    assert asked.whistle.urgency == "emergency"                                                # from its class
    raised = whistle_raised(asked.state, "w-1", False, "赵敏", minutes(60 * 25)).state
    done = whistle_closed(raised, WhistleClosed(whistle_id="w-1", street_code="daxigou", confirmed_by="赵敏",
                                                evidence=EVIDENCE, closed_at=minutes(60 * 30),
                                                occurred_at=minutes(60 * 30))).state
    answered, _, _ = answer_of(intake.ticket, done, RULES, minutes(60 * 30))
    assert (answered.resolved_by, answered.whistle_id, answered.outcome) == ("whistle", "w-1", "resolved")
    assert not answered.on_time and not answered.signed_within_24h
    assert answered.completed_within_7d


def test_a_false_report_is_answered_as_such_and_only_a_closed_ticket_is_answered():
    intake = receive_ticket(ticket(), "e-1", RULES, minutes(5))
    with pytest.raises(IllegalAction):
        answer_of(intake.ticket, intake.decision.state, RULES, minutes(6))
    report = verifying("false_report", role="grid_worker", reason="现场已无垃圾，群众误报")
    false = verify(intake.decision.state, report, RULES, minutes(50)).state
    answered, _, _ = answer_of(intake.ticket, false, RULES, minutes(50))
    assert (answered.outcome, answered.summary, answered.signed_for_at) == ("false_report", "现场已无垃圾，群众误报",
                                                                            minutes(50))


def test_a_ticket_travels_on_its_streets_key_and_a_rejected_one_hears_why():
    assert verify_sender(ticket(), "ticket.daxigou") == ()
    assert [e.field for e in verify_sender(ticket(), "ticket.nanxiashu")] == ["street_code"]
    with pytest.raises(ContractError) as refused:
        parse(HotlineTicket, {"street_code": "daxigou"})
    receipt = rejected_receipt({"ticket_id": " T-1 "}, "ticket.daxigou", refused.value.errors, T0)
    assert (receipt.ticket_id, receipt.street_code, receipt.outcome) == ("T-1", "daxigou", "rejected")
    assert "ticket_id" in [e.field for e in receipt.errors]
    assert rejected_receipt("not json", "nonsense", (), T0).ticket_id == "(missing)"

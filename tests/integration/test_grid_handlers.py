"""The use cases below the whistle on a real database (SQLite, or PostgreSQL with DATABASE_URL), the clock
passed in: one unit of work each, as the entrypoints run them; what they announce is read from the outbox.

A small thing handled in its grid; a 12345 ticket placed by the map, checked, whistled, closed with its
whistle, reopened and answered twice; a false report; the sweep passing events up and chasing the street
once; the daily cap; Open311 intake; and the same request twice changing nothing."""
from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from services.common.areas import load_area_map
from services.common.db import create_schema, dispose_all
from services.common.events import AllCompleted, CloseWhistle, Evidence, FollowUp, HotlineTicket, parse
from services.common.reference import load_reference
from services.common.tiers import DailyCap
from services.common.uow import Store
from services.whistle import grid_handlers, handlers
from services.whistle.domain import IllegalAction, InvalidRequest
from services.whistle.grid_event import InvalidGridEvent, NoSuchGridEvent
from services.whistle.grid_handlers import TicketElsewhere
from services.whistle.grid_rules import locator
from services.whistle.open311 import Open311Error
from services.whistle.orm import (complainant_contacts, grid_event_timeline, grid_events, hotline_tickets,
                                  platform, timeline, whistles)
from tests.support.grid_samples import (EVIDENCE, NAME, PHONE, T0, accepting, closing, handling, minutes, opening,
                                        passing_up, rules, ticket_body, verifying, whistling)
from tests.support.processes import database_template, drop_databases
from tests.support.samples import callouts_issued

pytestmark = pytest.mark.integration
REFERENCE = load_reference()
RULES = rules()
LOCATE = locator(load_area_map(REFERENCE))
IN_C1_G1 = {"address": "大溪沟街道滨江路12号", "lon": 106.5415, "lat": 29.5625}


@pytest.fixture()
def store(tmp_path):
    template = database_template(uuid.uuid4().hex[:8], tmp_path)
    created = Store(platform, relay=False).attach(create_schema(template.replace("{service}", "whistle"), "whistle"))
    yield created
    dispose_all()
    drop_databases(template, ("whistle",))


def run(store, now, use_case, *args):
    with store.unit_of_work(now) as uow:
        return use_case(uow, *args)


def outbox(store) -> list[dict]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(platform.outbox).order_by(platform.outbox.c.id)).all()
    return [{"type": r.event_type, "exchange": r.exchange, "key": r.routing_key, **json.loads(r.body)} for r in rows]


def count(store, table) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def event_of(store, grid_event_id: str) -> dict:
    with store.unit_of_work() as uow:
        return grid_handlers.get_event(uow, grid_event_id, "zh_CN")


def step(store, now, command):
    return run(store, now, lambda uow: grid_handlers.act(uow, RULES, command))


def ticket(**overrides) -> HotlineTicket:
    return parse(HotlineTicket, ticket_body(**overrides))


def receive(store, now, command: HotlineTicket):
    return run(store, now, lambda uow: grid_handlers.receive_ticket(uow, RULES, LOCATE, command))


def for_event(command, grid_event_id: str):
    return command.model_copy(update={"grid_event_id": grid_event_id})


# ---------------------------------------------------------------- 小事不出网格

def test_a_small_thing_is_handled_in_its_grid_and_the_same_request_twice_changes_nothing(store):
    opened = run(store, T0, lambda uow: grid_handlers.open_grid_event(uow, RULES, LOCATE, opening()))
    event_id = opened.state.event_id
    again = run(store, minutes(1), lambda uow: grid_handlers.open_grid_event(uow, RULES, LOCATE, opening()))
    assert again.repeated and again.state.event_id == event_id
    for at, command in ((5, accepting("grid")), (30, handling("grid")), (40, closing("grid"))):
        step(store, minutes(at), for_event(command, event_id))
    before = (outbox(store), count(store, grid_event_timeline))
    assert step(store, minutes(50), for_event(closing("grid"), event_id)).repeated
    assert (outbox(store), count(store, grid_event_timeline)) == before

    shown = event_of(store, event_id)
    assert (shown["status"], shown["outcome"], shown["resolved_by"], shown["tier"]) == ("closed", "handled", "grid",
                                                                                        "grid")
    assert [e["type"] for e in outbox(store)] == ["grid_event.opened", "grid_event.accepted", "grid_event.handled",
                                                  "grid_event.closed"]
    closed = outbox(store)[-1]
    assert (closed["exchange"], closed["key"], closed["seconds_to_close"]) == ("events", "grid_event.closed", 2400.0)
    assert count(store, whistles) == 0                          # solved below: the departments never hear of it
    with store.unit_of_work() as uow:
        english = grid_handlers.get_event(uow, event_id, "en")["timeline"]
    assert english[-1]["summary"] == "网格员 王芳 (grid) closed it with before/after photos and a 2-item checklist"
    assert shown["timeline"][-1]["summary"] == "网格员 王芳（网格）办结销号：处置前后照片及2项清单"


def test_a_report_without_a_grid_is_placed_by_the_map_and_an_unknown_grid_is_refused(store):
    placed = run(store, T0, lambda uow: grid_handlers.open_grid_event(
        uow, RULES, LOCATE, opening(request_id="walk-1", grid_code=None, source="road_office", place=IN_C1_G1)))
    assert (placed.state.grid_code, placed.state.tier) == ("daxigou-c1-g1", "grid")
    elsewhere = opening(request_id="walk-2", grid_code=None, source="road_office",
                        place={"address": "城外", "lon": 100.0, "lat": 20.0})
    assert run(store, T0, lambda uow: grid_handlers.open_grid_event(uow, RULES, LOCATE, elsewhere)).state.tier == \
        "street"
    with pytest.raises(InvalidGridEvent) as refused:
        run(store, T0, lambda uow: grid_handlers.open_grid_event(
            uow, RULES, LOCATE, opening(request_id="bad-1", grid_code="nanxiashu-c1-g1")))
    assert [e.field for e in refused.value.errors] == ["grid_code"]
    with pytest.raises(NoSuchGridEvent):
        step(store, T0, for_event(accepting("grid"), "no-such-event"))
    assert count(store, grid_events) == 2


def test_a_pass_up_without_a_reason_is_refused_by_the_contract_naming_it():
    from services.common.events import ContractError
    with pytest.raises(ContractError) as refused:
        parse(type(passing_up("grid")), {**passing_up("grid").model_dump(), "reason": ""})
    assert [e.field for e in refused.value.errors] == ["reason"]


# ---------------------------------------------------------------- 接诉即办: a ticket, whistled, answered

def test_a_ticket_is_checked_whistled_closed_with_its_whistle_reopened_and_answered_twice(store):
    receipt = receive(store, T0, ticket(grid_code=None, place=IN_C1_G1))
    event_id = receipt.grid_event_id
    assert receipt.outcome == "accepted" and not receipt.repeated
    assert event_of(store, event_id)["grid_code"] == "daxigou-c1-g1"       # placed by the map
    for at, tier in ((5, "grid"), (10, "community")):
        step(store, minutes(at), for_event(passing_up(tier, reason="需上一级协调处理"), event_id))
    with pytest.raises(IllegalAction) as unverified:
        run(store, minutes(15), lambda uow: grid_handlers.whistle(uow, REFERENCE, RULES,
                                                                   for_event(whistling(), event_id)))
    assert [e.field for e in unverified.value.errors] == ["verification"]
    assert count(store, whistles) == 0
    step(store, minutes(20), for_event(verifying(), event_id))
    whistled = run(store, minutes(25), lambda uow: grid_handlers.whistle(uow, REFERENCE, RULES,
                                                                          for_event(whistling(), event_id)))
    whistle_id = whistled.state.whistle_id
    with store.engine.connect() as conn:
        raised = conn.execute(select(whistles).where(whistles.c.id == whistle_id)).one()
        lines = conn.execute(select(timeline).where(timeline.c.whistle_id == whistle_id)).all()
    assert (raised.request_id, raised.source, raised.urgency) == (f"grid-event-{event_id}", "hotline_12345", "urgent")
    assert [line.message for line in lines] == ["whistle.raised", "grid_event.history"]
    carried = [h["kind"] for h in lines[1].detail["lines"]]
    assert carried[0] == "grid_event.opened" and "ticket.received" in carried and carried[-1] == "grid_event.whistled"
    whistle_text = json.dumps([raised._asdict(), [line._asdict() for line in lines]], default=str,
                              ensure_ascii=False)
    assert PHONE not in whistle_text and NAME not in whistle_text          # the contact stays apart
    again = run(store, minutes(26), lambda uow: grid_handlers.whistle(uow, REFERENCE, RULES,
                                                                       for_event(whistling(), event_id)))
    assert again.repeated and count(store, whistles) == 1

    complete_round(store, whistle_id, 1, minutes(60))
    close = CloseWhistle(whistle_id=whistle_id, street_code="daxigou", confirmed_by="大溪沟街道 李主任",
                         evidence=Evidence(**EVIDENCE.model_dump()))
    run(store, minutes(70), lambda uow: handlers.close_whistle(uow, REFERENCE, close))
    assert (event_of(store, event_id)["status"], event_of(store, event_id)["resolved_by"]) == ("closed", "whistle")
    answer = [e for e in outbox(store) if e["type"] == "ticket.answered"]
    assert len(answer) == 1 and answer[0]["exchange"] == "hotline" and answer[0]["key"] == "answer.daxigou"
    assert (answer[0]["ticket_id"], answer[0]["answer_no"], answer[0]["outcome"]) == (
        "BJ12345-20250314-0007", 1, "resolved")
    assert answer[0]["signed_for_at"] == "2025-03-14T01:35:00Z" and answer[0]["completed_at"] == "2025-03-14T02:40:00Z"
    assert answer[0]["signed_within_24h"] and answer[0]["completed_within_7d"] and answer[0]["on_time"]
    assert PHONE not in json.dumps(outbox(store), ensure_ascii=False)

    unhappy = FollowUp(whistle_id=whistle_id, rating="unsatisfied", reopen=True, recorded_by="12345 回访员",
                       comment="垃圾又堆起来了")
    run(store, minutes(90), lambda uow: handlers.record_follow_up(uow, REFERENCE, unhappy))
    assert event_of(store, event_id)["status"] == "whistled"
    assert [e["type"] for e in outbox(store)].count("grid_event.reopened") == 1
    complete_round(store, whistle_id, 2, minutes(120))
    run(store, minutes(130), lambda uow: handlers.close_whistle(uow, REFERENCE, close))
    answers = [e for e in outbox(store) if e["type"] == "ticket.answered"]
    assert [a["answer_no"] for a in answers] == [1, 2]
    with store.engine.connect() as conn:
        assert conn.execute(select(hotline_tickets.c.answers)).scalar_one() == 2


def complete_round(store, whistle_id: str, round_: int, now) -> None:
    """What dispatch would tell the whistle: its call-outs issued, then every department completed."""
    issued = callouts_issued(whistle_id, departments=("chengguan",), round=round_, at=now,
                             reason="matrix" if round_ == 1 else "reopened")
    done = AllCompleted(whistle_id=whistle_id, street_code="daxigou", departments=("chengguan",), round=round_,
                        completed_at=now, occurred_at=now)
    run(store, now, lambda uow: handlers.record_progress(uow, REFERENCE, [issued, done]))


def test_the_same_ticket_twice_is_one_event_and_its_id_for_another_street_is_refused(store):
    first = receive(store, T0, ticket())
    second = receive(store, minutes(1), ticket())
    assert second.repeated and second.grid_event_id == first.grid_event_id
    assert (count(store, grid_events), count(store, hotline_tickets), count(store, complainant_contacts)) == (1, 1, 1)
    assert [e["key"] for e in outbox(store) if e["type"] == "ticket.receipt"] == ["receipt.daxigou.accepted"] * 2
    with pytest.raises(TicketElsewhere) as refused:
        receive(store, minutes(2), ticket(street_code="nanxiashu", grid_code=None))
    assert [e.field for e in refused.value.errors] == ["ticket_id"]
    assert count(store, grid_events) == 1


def test_a_false_report_is_closed_with_its_reason_and_answered_as_such(store):
    event_id = receive(store, T0, ticket()).grid_event_id
    with pytest.raises(InvalidRequest) as no_reason:
        step(store, minutes(5), for_event(verifying("false_report", "grid_worker", reason=""), event_id))
    assert [e.field for e in no_reason.value.errors] == ["reason"]
    step(store, minutes(10), for_event(verifying("false_report", "grid_worker", reason="现场无垃圾，系误报"),
                                       event_id))
    shown = event_of(store, event_id)
    assert (shown["status"], shown["outcome"], shown["summary"]) == ("closed", "false_report", "现场无垃圾，系误报")
    [answer] = [e for e in outbox(store) if e["type"] == "ticket.answered"]
    assert answer["outcome"] == "false_report" and answer["summary"] == "现场无垃圾，系误报"


# ---------------------------------------------------------------- deadlines, the cap

def test_the_sweep_passes_late_events_up_and_chases_the_street_once(store):
    event_id = run(store, T0, lambda uow: grid_handlers.open_grid_event(uow, RULES, LOCATE, opening())).state.event_id
    assert run(store, minutes(119), lambda uow: grid_handlers.sweep(uow, RULES)) == 0
    assert run(store, minutes(121), lambda uow: grid_handlers.sweep(uow, RULES)) == 1       # grid accepts in 2h
    assert event_of(store, event_id)["tier"] == "community"
    assert run(store, minutes(121), lambda uow: grid_handlers.sweep(uow, RULES)) == 0
    assert run(store, minutes(122 + 240), lambda uow: grid_handlers.sweep(uow, RULES)) == 1  # community: 4h
    assert event_of(store, event_id)["tier"] == "street"
    late = minutes(122 + 480 + 5)
    assert run(store, late, lambda uow: grid_handlers.sweep(uow, RULES)) == 1                # street: chased
    assert run(store, late + timedelta(hours=1), lambda uow: grid_handlers.sweep(uow, RULES)) == 0
    kinds = [e["type"] for e in outbox(store)]
    assert kinds.count("grid_event.passed_up") == 2 and kinds.count("grid_event.overdue") == 1
    shown = event_of(store, event_id)
    assert shown["status"] == "reported" and len(shown["chased"]) == 1
    assert [e for e in outbox(store) if e["type"] == "grid_event.passed_up"][0]["automatic"] is True


def test_the_daily_cap_flags_a_grids_fourth_report_for_the_assessment_and_refuses_none(store):
    capped = rules(DailyCap(enabled=True, per_grid_per_day=3))
    for n in range(4):
        run(store, minutes(n), lambda uow, n=n: grid_handlers.open_grid_event(uow, capped, LOCATE,
                                                                        opening(request_id=f"cap-{n}")))
    opened = [e for e in outbox(store) if e["type"] == "grid_event.opened"]
    assert [e["over_daily_cap"] for e in opened] == [False, False, False, True]
    assert [e["reports_today"] for e in opened] == [1, 2, 3, 4]


# ---------------------------------------------------------------- Open311

def test_an_open311_request_lands_in_its_grid_its_personal_fields_apart_and_twice_is_once(store):
    form = {"service_code": ["garbage_dumping"], "lat": ["29.5625"], "long": ["106.5415"],
            "description": ["巷口垃圾堆积"], "email": ["resident@example.cn"], "first_name": ["李"],
            "api_key": ["not-part-of-the-request"]}
    first = run(store, T0, lambda uow: grid_handlers.open311_request(uow, RULES, LOCATE, form))
    second = run(store, minutes(1), lambda uow: grid_handlers.open311_request(
        uow, RULES, LOCATE, {**form, "api_key": ["another-key"]}))
    assert second.repeated and second.state.event_id == first.state.event_id
    assert (first.state.grid_code, first.state.source) == ("daxigou-c1-g1", "resident_report")
    assert count(store, complainant_contacts) == 1
    assert "resident@example.cn" not in json.dumps(outbox(store), ensure_ascii=False)
    with pytest.raises(Open311Error) as unknown:
        run(store, T0, lambda uow: grid_handlers.open311_request(uow, RULES, LOCATE,
                                                                 {**form, "service_code": ["parking_on_mars"]}))
    assert unknown.value.status == 404 and "service_code" in unknown.value.body[0]["description"]

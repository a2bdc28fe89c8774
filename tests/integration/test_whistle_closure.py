"""The whistle service as a process, driven by dispatch's events: closure, send-back, follow-up, duplicates."""
from __future__ import annotations

import itertools
from datetime import datetime, timezone

import pytest
import requests
from nameko.exceptions import RemoteError

from services.common.auth.principals import Kind
from services.common.events import AllCompleted, CalloutsIssued, Event, route_of
from services.common.geo import distance_m
from tests.support.bus import Bus
from tests.support.samples import callouts_issued, whistle_request
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
SPOTS = itertools.count(1)
EVIDENCE = {"before_photo": "photo://before/1", "after_photo": "photo://after/1",
            "checklist": ["垃圾已清运", "现场已冲洗"]}


@pytest.fixture(scope="module", autouse=True)
def whistle(stack):
    # Bound before anything is raised, so every event is routable: the relay would otherwise retry an
    # event nobody listened for yet and deliver it, stale, to a later test's listener.
    sink = Bus(stack.amqp_uri, stack.namespace)
    sink.listen("events", "#")
    stack.start("whistle")
    yield
    sink.close()


def place_of_its_own() -> dict:
    """1 km from every other test's place, so only the duplicate test links anything."""
    return {"address": "大溪沟街道人和街12号", "lon": 106.40 + next(SPOTS) * 0.01, "lat": 29.50}


def east(place: dict, metres: float) -> dict:
    step = distance_m(place["lon"], place["lat"], place["lon"] + 1, place["lat"])
    return {**place, "address": f"{place['address']}东{metres:.0f}米", "lon": place["lon"] + metres / step}


def publish(bus, event: Event) -> None:
    """What dispatch would publish, sent with plain pika."""
    route = route_of(event)
    bus.publish(route.exchange, route.routing_key, event.model_dump(mode="json"), message_id=event.event_id)


def issued(whistle_id: str, round: int = 1, department: str = "chengguan") -> CalloutsIssued:
    return callouts_issued(whistle_id, departments=(department,), urgency="emergency", round=round,
                           reason="matrix" if round == 1 else "sent_back")


def all_completed(whistle_id: str, round: int = 1) -> AllCompleted:
    return AllCompleted(whistle_id=whistle_id, street_code="daxigou", departments=("chengguan",), round=round,
                        completed_at=datetime.now(timezone.utc))


def http(stack, method: str, path: str, street: str | None = None, **kwargs) -> requests.Response:
    """A request as the street office of `street`, or as a service when none is named."""
    headers = stack.bearer(Kind.STREET, street) if street else stack.bearer()
    return requests.request(method, f"{stack.url('whistle')}/api/v1/whistles{path}", timeout=5, headers=headers,
                            **kwargs)


def whistle_of(stack, whistle_id: str) -> dict:
    return http(stack, "GET", f"/{whistle_id}").json()


def timeline_of(stack, whistle_id: str) -> list[dict]:
    return http(stack, "GET", f"/{whistle_id}/timeline").json()["timeline"]


def wait_status(stack, whistle_id: str, status: str, round: int = 1) -> dict:
    return wait_for(lambda: (w := whistle_of(stack, whistle_id))["status"] == status and w["round"] == round and w,
                    what=f"whistle {whistle_id} to be {status} in round {round}")


def raised(stack, **overrides) -> str:
    with stack.rpc() as rpc:
        return rpc.whistle.raise_whistle(whistle_request(place=place_of_its_own(), **overrides))["whistle_id"]


def completed_whistle(stack, bus) -> str:
    """A whistle whose every department has completed round 1, as dispatch would tell it."""
    whistle_id = raised(stack)
    publish(bus, issued(whistle_id))
    wait_status(stack, whistle_id, "dispatched")
    publish(bus, all_completed(whistle_id))
    wait_status(stack, whistle_id, "all_completed")
    return whistle_id


def close_request(whistle_id: str, street: str = "daxigou") -> dict:
    return {"whistle_id": whistle_id, "street_code": street, "confirmed_by": "街道城管科 李明", "evidence": EVIDENCE}


# --- closure -----------------------------------------------------------------------------------

def test_a_street_closes_a_completed_whistle_with_its_evidence(stack, bus):
    closed = bus.listen("events", "whistle.closed")
    whistle_id = completed_whistle(stack, bus)
    body = {k: v for k, v in close_request(whistle_id).items() if k not in ("whistle_id", "street_code")}
    response = http(stack, "POST", f"/{whistle_id}/closure", street="daxigou", json=body)   # the token names the street
    assert response.status_code == 200, response.text
    assert response.json() == {"whistle_id": whistle_id, "status": "closed", "round": 1}

    event, props, _ = closed.get(predicate=lambda p: p["whistle_id"] == whistle_id)
    assert event["evidence"] == EVIDENCE and event["confirmed_by"] == "街道城管科 李明"
    assert event["street_code"] == "daxigou" and props.content_type == "application/json"
    stored = whistle_of(stack, whistle_id)
    assert stored["status"] == "closed" and stored["closure"]["evidence"] == EVIDENCE
    assert stored["closure"]["round"] == 1 and stored["follow_up"] is None
    kinds = [e["kind"] for e in timeline_of(stack, whistle_id)]
    assert kinds == ["whistle.raised", "callout.issued", "whistle.all_completed", "whistle.closed"]
    closure = timeline_of(stack, whistle_id)[-1]
    assert closure["detail"]["evidence"]["before_photo"] == "photo://before/1"
    assert closure["detail"]["principal"] == {"kind": "street", "code": "daxigou",
                                              "token_id": stack.issued(Kind.STREET, "daxigou").token_id}
    assert closure["actor"] == "街道城管科 李明"                 # the free-text name stays beside it


def test_closing_before_every_department_completed_is_refused_and_changes_nothing(stack, bus):
    closed = bus.listen("events", "whistle.closed")
    whistle_id = raised(stack)
    publish(bus, issued(whistle_id))
    wait_status(stack, whistle_id, "dispatched")
    before = whistle_of(stack, whistle_id)
    with stack.rpc() as rpc:
        with pytest.raises(RemoteError) as caught:
            rpc.whistle.close_whistle(close_request(whistle_id))
    assert caught.value.exc_type == "IllegalAction"
    assert f"whistle {whistle_id} is dispatched" in str(caught.value) and "all_completed" in str(caught.value)

    response = http(stack, "POST", f"/{whistle_id}/closure", json=close_request(whistle_id))
    assert response.status_code == 409 and response.json()["errors"][0]["field"] == "status"
    assert whistle_of(stack, whistle_id) == before
    assert [e["kind"] for e in timeline_of(stack, whistle_id)] == ["whistle.raised", "callout.issued"]
    assert closed.nothing_more(settle=1.0)


def test_only_the_whistles_own_street_closes_it_and_an_unknown_whistle_is_404(stack, bus):
    whistle_id = completed_whistle(stack, bus)
    other = http(stack, "POST", f"/{whistle_id}/closure", json=close_request(whistle_id, street="nanxiashu"))
    assert other.status_code == 409                   # a service naming the wrong street: the rules refuse
    assert "belongs to street daxigou, not nanxiashu" in other.json()["error"]
    body = {k: v for k, v in close_request(whistle_id).items() if k != "street_code"}
    foreign = http(stack, "POST", f"/{whistle_id}/closure", street="nanxiashu", json=body)
    assert foreign.status_code == 403 and foreign.json()["errors"][0]["field"] == "street_code"
    assert "belongs to street 'daxigou', not 'nanxiashu'" in foreign.json()["error"]
    claimed = http(stack, "POST", f"/{whistle_id}/closure", street="nanxiashu", json=close_request(whistle_id))
    assert claimed.status_code == 403 and claimed.json()["errors"][0]["field"] == "street_code"
    assert whistle_of(stack, whistle_id)["status"] == "all_completed"
    missing = http(stack, "POST", "/no-such-whistle/closure", json=close_request("no-such-whistle"))
    assert missing.status_code == 404
    no_evidence = http(stack, "POST", f"/{whistle_id}/closure",
                       json={**close_request(whistle_id), "evidence": {"before_photo": "x"}})
    assert no_evidence.status_code == 422
    assert {e["field"] for e in no_evidence.json()["errors"]} == {"evidence.after_photo", "evidence.checklist"}


# --- send back ---------------------------------------------------------------------------------

def test_a_street_sends_the_work_back_and_a_late_event_of_round_one_changes_nothing(stack, bus):
    sent = bus.listen("events", "whistle.sent_back")
    whistle_id = completed_whistle(stack, bus)
    with stack.rpc() as rpc:
        answer = rpc.whistle.send_back({"whistle_id": whistle_id, "street_code": "daxigou", "by": "街道 李明",
                                        "reason": "现场仍有垃圾残留", "departments": ["chengguan"]})
    assert answer == {"whistle_id": whistle_id, "status": "sent_back", "round": 2}
    event, _, _ = sent.get(predicate=lambda p: p["whistle_id"] == whistle_id)
    assert event["departments"] == ["chengguan"] and event["reason"] == "现场仍有垃圾残留"

    publish(bus, all_completed(whistle_id, round=1))        # a late copy of round 1's news
    publish(bus, issued(whistle_id, round=2))
    wait_status(stack, whistle_id, "dispatched", round=2)
    kinds = [e["kind"] for e in timeline_of(stack, whistle_id)]
    assert kinds.count("whistle.all_completed") == 2 and kinds[-1] == "callout.issued"
    publish(bus, all_completed(whistle_id, round=2))
    wait_status(stack, whistle_id, "all_completed", round=2)


def test_send_back_names_known_departments_and_waits_for_completion(stack, bus):
    whistle_id = completed_whistle(stack, bus)
    body = {"street_code": "daxigou", "by": "街道 李明", "reason": "现场仍有垃圾残留"}
    unknown = http(stack, "POST", f"/{whistle_id}/send-back", json={**body, "departments": ["dragons"]})
    assert unknown.status_code == 422 and "unknown department 'dragons'" in unknown.json()["error"]
    fresh = raised(stack)
    early = http(stack, "POST", f"/{fresh}/send-back", json=body)
    assert early.status_code == 409 and f"whistle {fresh} is raised" in early.json()["error"]
    ok = http(stack, "POST", f"/{whistle_id}/send-back", json=body)
    assert ok.status_code == 200 and ok.json()["status"] == "sent_back"


# --- follow-up ---------------------------------------------------------------------------------

def test_an_unsatisfied_follow_up_reopens_the_case(stack, bus):
    reopened = bus.listen("events", "whistle.reopened")
    recorded = bus.listen("events", "whistle.follow_up")
    whistle_id = completed_whistle(stack, bus)
    with stack.rpc() as rpc:
        early = pytest.raises(RemoteError, rpc.whistle.record_follow_up,
                              {"whistle_id": whistle_id, "rating": "unsatisfied", "recorded_by": "回访员"})
        assert "can be followed up only when it is closed" in str(early.value)
        rpc.whistle.close_whistle(close_request(whistle_id))
        wrong = pytest.raises(RemoteError, rpc.whistle.record_follow_up,
                              {"whistle_id": whistle_id, "rating": "satisfied", "reopen": True, "recorded_by": "x"})
        assert "only an unsatisfied follow-up can reopen" in str(wrong.value)

    response = http(stack, "POST", f"/{whistle_id}/follow-up",
                    json={"rating": "unsatisfied", "comment": "还有异味", "reopen": True, "recorded_by": "12345回访员"})
    assert response.status_code == 200 and response.json() == {"whistle_id": whistle_id, "status": "reopened",
                                                               "round": 2}
    event, _, _ = reopened.get(predicate=lambda p: p["whistle_id"] == whistle_id)
    assert "还有异味" in event["reason"]
    rating, _, _ = recorded.get(predicate=lambda p: p["whistle_id"] == whistle_id)
    assert rating["rating"] == "unsatisfied" and rating["reopened"] is True
    stored = whistle_of(stack, whistle_id)
    assert stored["follow_up"]["rating"] == "unsatisfied" and stored["closure"]["round"] == 1

    again = http(stack, "POST", f"/{whistle_id}/follow-up", json={"rating": "satisfied", "recorded_by": "x"})
    assert again.status_code == 409
    publish(bus, issued(whistle_id, round=2))                   # dispatch issues fresh call-outs
    wait_status(stack, whistle_id, "dispatched", round=2)


def test_a_second_follow_up_of_one_closure_is_refused(stack, bus):
    whistle_id = completed_whistle(stack, bus)
    http(stack, "POST", f"/{whistle_id}/closure", json=close_request(whistle_id))
    first = http(stack, "POST", f"/{whistle_id}/follow-up", json={"rating": "satisfied", "recorded_by": "回访员"})
    second = http(stack, "POST", f"/{whistle_id}/follow-up", json={"rating": "satisfied", "recorded_by": "回访员"})
    assert first.status_code == 200 and first.json()["status"] == "closed"
    assert second.status_code == 409 and "already has its follow-up" in second.json()["error"]


# --- duplicates --------------------------------------------------------------------------------

def test_a_second_report_close_by_joins_the_open_whistle(stack, bus):
    raised_events = bus.listen("events", "whistle.raised")
    linked_events = bus.listen("events", "whistle.linked")
    outcomes = bus.listen("whistles", "outcome.nanxiashu.*")
    here = place_of_its_own()
    with stack.rpc() as rpc:
        first = rpc.whistle.raise_whistle(whistle_request(place=here))["whistle_id"]
    raised_events.get(predicate=lambda p: p["whistle_id"] == first)

    second = whistle_request(street_code="nanxiashu", grid_code=None, place=east(here, 60),
                             description="人和街口又有人倒垃圾", reported_by="市民热线")
    bus.publish("whistles", "raise.nanxiashu", second)
    outcome, _, method = outcomes.get(predicate=lambda p: p["request_id"] == second["request_id"])
    assert method.routing_key == "outcome.nanxiashu.raised" and outcome["linked_to"] == first
    linked, _, _ = linked_events.get(predicate=lambda p: p["linked_to"] == first)
    assert linked["whistle_id"] == outcome["whistle_id"] and linked["distance_m"] == pytest.approx(60, abs=0.5)
    assert raised_events.nothing_more(settle=1.5)             # the departments are not called twice

    third = http(stack, "POST", "", json=whistle_request(place=east(here, 90)))
    assert third.status_code == 201 and third.json()["linked_to"] == first
    stored = whistle_of(stack, outcome["whistle_id"])
    assert (stored["status"], stored["linked_to"]) == ("linked", first)
    assert whistle_of(stack, first)["linked"] == [outcome["whistle_id"], third.json()["whistle_id"]]
    joined = [e for e in timeline_of(stack, first) if e["kind"] == "whistle.report_joined"]
    assert "又一条上报并入：人和街口又有人倒垃圾" in joined[0]["summary"]
    assert joined[0]["detail"]["whistle_id"] == outcome["whistle_id"]

    with stack.rpc() as rpc:
        repeated = rpc.whistle.raise_whistle(second)
        far = rpc.whistle.raise_whistle(whistle_request(place=east(here, 150)))
        other_kind = rpc.whistle.raise_whistle(whistle_request(place=east(here, 10), category="noise"))
    assert repeated == {"whistle_id": outcome["whistle_id"], "repeated": True, "linked_to": first}
    assert far["linked_to"] is None and other_kind["linked_to"] is None
    new = {far["whistle_id"], other_kind["whistle_id"]}
    assert {raised_events.get(predicate=lambda p: p["whistle_id"] in new)[0]["whistle_id"] for _ in new} == new


def test_a_closed_whistle_is_not_joined(stack, bus):
    whistle_id = completed_whistle(stack, bus)
    http(stack, "POST", f"/{whistle_id}/closure", json=close_request(whistle_id))
    here = whistle_of(stack, whistle_id)["place"]
    with stack.rpc() as rpc:
        again = rpc.whistle.raise_whistle(whistle_request(place=east(here, 5)))
    assert again["linked_to"] is None

"""The dispatch service as its own process: raised whistles become call-outs; check-ins by bus and RPC."""
from __future__ import annotations

import uuid

import pytest
import requests
from nameko.exceptions import RemoteError

from services.common.auth.principals import Kind
from tests.support.bus import dead_letters
from tests.support.samples import publish_event, raised
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def dispatch(stack):
    stack.start("dispatch")


def test_a_raised_whistle_calls_each_department_exactly_once(stack, bus):
    callouts = bus.listen("callouts", "callout.#")
    event = raised()
    publish_event(bus, event)
    publish_event(bus, event)                                    # redelivered: no second call-out
    publish_event(bus, event.model_copy(update={"event_id": str(uuid.uuid4())}))  # re-announced
    mine = lambda p: p["whistle_id"] == event.whistle_id          # noqa: E731
    got = callouts.get_all(3, predicate=mine)
    assert sorted(c["department_code"] for c in got) == ["chengguan", "huanwei", "shengtai"]
    assert [c["role"] for c in got if c["department_code"] == "chengguan"] == ["lead"]
    assert all(c["deadlines"]["check_in_by"] and c["place"]["address"] == "人和街" for c in got)
    assert callouts.nothing_more(settle=1.5)
    with stack.rpc() as rpc:
        assert len(rpc.dispatch.callouts_of(event.whistle_id)) == 3


def test_a_department_binding_only_its_key_gets_only_its_callout(stack, bus):
    mine = bus.listen("callouts", "callout.huanwei.*")
    event = raised()
    publish_event(bus, event)
    callout, _, method = mine.get(predicate=lambda p: p["whistle_id"] == event.whistle_id)
    assert method.routing_key == "callout.huanwei.emergency"
    assert callout["department_code"] == "huanwei" and callout["role"] == "support"
    assert mine.nothing_more(settle=1.0)


def test_bus_checkins_complete_the_whistle_and_announce_it(stack, bus):
    events = bus.listen("events", "#")
    outcomes = bus.listen("checkins", "outcome.*.*")
    event = raised(category="illegal_parking")
    publish_event(bus, event)
    with stack.rpc() as rpc:
        ids = wait_for(lambda: rpc.dispatch.callouts_of(event.whistle_id), what="call-outs")
    for callout in ids:
        department = callout["department_code"]
        bus.publish("checkins", f"checkin.{department}",
                    {"request_id": f"ci-{callout['callout_id']}", "callout_id": callout["callout_id"],
                     "department_code": department, "officer": "李警官"})
    checked = events.get_all(2, predicate=lambda p: p["type"] == "callout.checked_in"
                             and p["whistle_id"] == event.whistle_id)
    assert all(c["on_time"] for c in checked)
    everyone, _, _ = events.get(predicate=lambda p: p["type"] == "whistle.all_checked_in"
                                and p["whistle_id"] == event.whistle_id)
    assert everyone["departments"] == ["chengguan", "jiaoguan"]
    assert all(c["by"] is None for c in checked)    # SENDER_CHECK is off: nobody vouched for the sender
    accepted = outcomes.get_all(2, predicate=lambda p: p["outcome"] == "accepted"
                                and p["callout_id"] in {c["callout_id"] for c in ids})
    assert {a["department_code"] for a in accepted} == {"chengguan", "jiaoguan"}


def test_illegal_checkins_are_refused_and_change_nothing(stack, bus):
    event = raised(category="food_safety")
    publish_event(bus, event)
    with stack.rpc() as rpc:
        [callout] = wait_for(lambda: rpc.dispatch.callouts_of(event.whistle_id), what="call-out")
        with pytest.raises(RemoteError) as other:
            rpc.dispatch.check_in({"callout_id": callout["callout_id"], "department_code": "gongan",
                                   "officer": "x"})
        with pytest.raises(RemoteError) as unknown:
            rpc.dispatch.check_in({"callout_id": "nope", "department_code": "shichang", "officer": "x"})
        first = rpc.dispatch.check_in({"request_id": "a", "callout_id": callout["callout_id"],
                                       "department_code": "shichang", "officer": "赵"})
        again = rpc.dispatch.check_in({"request_id": "a", "callout_id": callout["callout_id"],
                                       "department_code": "shichang", "officer": "赵"})
        with pytest.raises(RemoteError) as twice:
            rpc.dispatch.check_in({"request_id": "b", "callout_id": callout["callout_id"],
                                   "department_code": "shichang", "officer": "钱"})
        [after] = rpc.dispatch.callouts_of(event.whistle_id)
    assert "issued to shichang, not gongan" in str(other.value)
    assert "no call-out nope" in str(unknown.value)
    assert first["outcome"] == "accepted" and first["repeated"] is False and again["repeated"] is True
    assert "already checked_in" in str(twice.value)
    assert after["officer"] == "赵"


def test_a_bus_checkin_for_someone_elses_callout_is_dead_lettered(stack, bus):
    outcomes = bus.listen("checkins", "outcome.gongan.rejected")
    event = raised(category="food_safety")
    publish_event(bus, event)
    with stack.rpc() as rpc:
        [callout] = wait_for(lambda: rpc.dispatch.callouts_of(event.whistle_id), what="call-out")
    bus.publish("checkins", "checkin.gongan", {"request_id": "wrong-dept", "callout_id": callout["callout_id"],
                                              "department_code": "gongan", "officer": "x"})
    outcome, _, _ = outcomes.get(predicate=lambda p: p["request_id"] == "wrong-dept")
    assert "not gongan" in outcome["errors"][0]["message"]
    letter = wait_for(lambda: [h for h, b in dead_letters(bus) if b"wrong-dept" in b], what="dead letter")[0]
    assert "not gongan" in letter["x-dead-reason"] and letter["x-dead-consumer"].startswith("dispatch.")


def test_http_checkin_and_listing(stack, bus):
    events = bus.listen("events", "callout.checked_in")
    event = raised(category="illegal_parking")                   # jiaoguan leads, chengguan supports
    publish_event(bus, event)
    base = stack.url("dispatch")
    listing = f"{base}/api/v1/whistles/{event.whistle_id}/callouts"
    everything = wait_for(lambda: requests.get(listing, headers=stack.bearer(Kind.DISTRICT), timeout=5
                                               ).json()["callouts"], what="call-outs over HTTP")
    assert sorted(c["department_code"] for c in everything) == ["chengguan", "jiaoguan"]
    street = requests.get(listing, headers=stack.bearer(Kind.STREET, "daxigou"), timeout=5).json()["callouts"]
    assert len(street) == 2                                      # its own whistle: every call-out
    jiaoguan = stack.bearer(Kind.DEPARTMENT, "jiaoguan")
    [own] = requests.get(listing, headers=jiaoguan, timeout=5).json()["callouts"]       # only its own
    assert own["department_code"] == "jiaoguan"
    for outsider in (stack.bearer(Kind.DEPARTMENT, "shichang"), stack.bearer(Kind.STREET, "nanxiashu")):
        assert requests.get(listing, headers=outsider, timeout=5).status_code == 403

    body = {"callout_id": own["callout_id"], "officer": "孙"}           # department_code comes from the token
    foreign = requests.post(f"{base}/api/v1/checkins", timeout=5, json=body, headers=stack.bearer(Kind.DEPARTMENT))
    assert foreign.status_code == 403 and foreign.json()["errors"][0]["field"] == "department_code"
    ok = requests.post(f"{base}/api/v1/checkins", timeout=5, json=body, headers=jiaoguan)
    refused = requests.post(f"{base}/api/v1/checkins", timeout=5, json=body, headers=jiaoguan)
    assert ok.status_code == 200 and ok.json()["outcome"] == "accepted"
    assert refused.status_code == 409 and "already" in refused.json()["error"]
    checked, _, _ = events.get(predicate=lambda p: p["callout_id"] == own["callout_id"])
    assert checked["by"] == {"kind": "department", "code": "jiaoguan",
                             "token_id": stack.issued(Kind.DEPARTMENT, "jiaoguan").token_id}
    assert checked["officer"] == "孙"

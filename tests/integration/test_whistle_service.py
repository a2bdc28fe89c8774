"""The whistle service as its own process on the real broker: RPC, HTTP and the `whistles` exchange."""
from __future__ import annotations

import itertools

import pytest
import requests
from nameko.exceptions import RemoteError

from services.common.auth.principals import Kind
from tests.support.bus import dead_letters
from tests.support.samples import whistle_request as sample
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
SPOTS = itertools.count(1)


def whistle_request(**overrides) -> dict:
    """A sample whistle at a place of its own, 1 km from the last: these tests are not about duplicates."""
    place = {"address": "大溪沟街道人和街12号", "lon": 106.5516 + next(SPOTS) * 0.01, "lat": 29.5630}
    return sample(**{"place": place, **overrides})


@pytest.fixture(scope="module", autouse=True)
def whistle(stack):
    stack.start("whistle")


def test_rpc_raises_a_whistle_and_announces_it(stack, bus):
    raised = bus.listen("events", "whistle.raised")
    request = whistle_request()
    with stack.rpc() as rpc:
        answer = rpc.whistle.raise_whistle(request)
        stored = rpc.whistle.get_whistle(answer["whistle_id"])
    assert answer["repeated"] is False and answer["linked_to"] is None
    assert (stored["status"], stored["round"], stored["linked_to"]) == ("raised", 1, None)
    assert stored["street_code"] == "daxigou"
    assert [e["kind"] for e in stored["timeline"]] == ["whistle.raised"]
    assert stored["timeline"][0]["detail"]["principal"] == {"kind": "service", "code": "whistle",
                                                            "token_id": stack.issued().token_id}
    event, props, _ = raised.get(predicate=lambda p: p["whistle_id"] == answer["whistle_id"])
    assert event["request_id"] == request["request_id"]
    assert event["schema_version"] == 1 and event["occurred_at"].endswith("Z") and event["event_id"]
    assert props.delivery_mode == 2 and props.content_type == "application/json"


def test_the_same_request_id_gives_the_same_whistle(stack):
    request = whistle_request()
    with stack.rpc() as rpc:
        first = rpc.whistle.raise_whistle(request)
        second = rpc.whistle.raise_whistle(request)
    response = requests.post(f"{stack.url('whistle')}/api/v1/whistles", json=request, timeout=5,
                             headers=stack.bearer(Kind.STREET, "daxigou"))
    assert second == {"whistle_id": first["whistle_id"], "repeated": True, "linked_to": None}
    assert response.status_code == 200 and response.json()["whistle_id"] == first["whistle_id"]


def test_rpc_rejects_an_invalid_whistle_naming_each_field(stack):
    bad = whistle_request(street_code="atlantis", category="dragons", urgency="whenever")
    del bad["reported_by"]
    with stack.rpc() as rpc:
        with pytest.raises(RemoteError) as caught:
            rpc.whistle.raise_whistle(bad)
        unknown = whistle_request(street_code="atlantis", category="dragons")
        with pytest.raises(RemoteError) as caught_reference:
            rpc.whistle.raise_whistle(unknown)
        assert rpc.whistle.get_whistle("no-such-whistle") is None
    assert caught.value.exc_type == "InvalidWhistle"
    assert "urgency" in str(caught.value) and "reported_by" in str(caught.value)
    assert "street_code: unknown street 'atlantis'" in str(caught_reference.value)
    assert "category: unknown category 'dragons'" in str(caught_reference.value)


def test_a_street_raises_over_the_bus_and_hears_the_outcome(stack, bus):
    outcomes = bus.listen("whistles", "outcome.nanxiashu.*")
    request = whistle_request(street_code="nanxiashu", grid_code=None)
    bus.publish("whistles", "raise.nanxiashu", request)
    bus.publish("whistles", "raise.nanxiashu", request)      # a retry: same whistle, never two
    first, _, method = outcomes.get(predicate=lambda p: p["request_id"] == request["request_id"])
    second, _, _ = outcomes.get(predicate=lambda p: p["request_id"] == request["request_id"])
    assert method.routing_key == "outcome.nanxiashu.raised"
    assert first["outcome"] == second["outcome"] == "raised"
    assert first["whistle_id"] == second["whistle_id"]
    assert {first["repeated"], second["repeated"]} == {False, True}
    with stack.rpc() as rpc:
        [line] = rpc.whistle.get_whistle(first["whistle_id"])["timeline"]
    assert "principal" not in line["detail"]     # SENDER_CHECK is off: nobody vouched for the sender


@pytest.mark.parametrize("body, content_type, reason", [
    (b"{not json", "application/json", "invalid JSON"),
    (b'{"request_id": "x"}', "text/plain", "content_type"),
    (b"[1, 2]", "application/json", "must be a JSON object"),
    (b"x" * 70000, "application/json", "exceeds"),
])
def test_undecodable_messages_are_dead_lettered_with_the_reason(stack, bus, body, content_type, reason):
    marker = f"poison-{reason}"
    bus.publish("whistles", "raise.daxigou", body, content_type=content_type, headers={"marker": marker})
    letter = wait_for(lambda: [h for h, _ in dead_letters(bus) if h.get("marker") == marker],
                      what="the dead letter")[0]
    assert reason in letter["x-dead-reason"]
    assert letter["x-original-exchange"] == bus.name("whistles")
    assert letter["x-original-routing-key"] == "raise.daxigou"
    # and the consumer keeps serving the next message
    outcomes = bus.listen("whistles", "outcome.daxigou.raised")
    request = whistle_request()
    bus.publish("whistles", "raise.daxigou", request)
    assert outcomes.get(predicate=lambda p: p["request_id"] == request["request_id"])


def test_an_invalid_bus_whistle_gets_a_rejected_outcome_and_changes_nothing(stack, bus):
    outcomes = bus.listen("whistles", "outcome.daxigou.rejected")
    request = whistle_request(category="dragons", description="")
    bus.publish("whistles", "raise.daxigou", request)
    outcome, _, _ = outcomes.get(predicate=lambda p: p["request_id"] == request["request_id"])
    fields = {e["field"] for e in outcome["errors"]}
    assert "description" in fields
    letter = wait_for(lambda: [h for h, b in dead_letters(bus) if request["request_id"].encode() in b],
                      what="the rejected whistle in the dead letters")[0]
    assert "description" in letter["x-dead-reason"]
    with stack.rpc() as rpc:
        retried = rpc.whistle.raise_whistle(whistle_request(request_id=request["request_id"]))
    assert retried["repeated"] is False      # the rejected request left no whistle behind


def test_a_street_cannot_raise_on_another_streets_key(stack, bus):
    outcomes = bus.listen("whistles", "outcome.jinhaihu.rejected")
    request = whistle_request(street_code="daxigou")
    bus.publish("whistles", "raise.jinhaihu", request)
    outcome, _, _ = outcomes.get(predicate=lambda p: p["request_id"] == request["request_id"])
    assert outcome["errors"][0]["field"] == "street_code"
    assert "does not match routing key" in outcome["errors"][0]["message"]


def test_http_errors_are_clear_json(stack):
    base = f"{stack.url('whistle')}/api/v1/whistles"
    token = stack.bearer()
    as_json = {"content-type": "application/json", **token}
    not_json = requests.post(base, data=b"{oops", headers=as_json, timeout=5)
    wrong_type = requests.post(base, data=b"a=b", headers={"content-type": "text/plain", **token}, timeout=5)
    invalid = requests.post(base, json=whistle_request(urgency="someday"), headers=token, timeout=5)
    too_big = requests.post(base, data=b"x" * 70000, headers=as_json, timeout=5)
    missing = requests.get(f"{base}/nope", headers=token, timeout=5)
    assert (not_json.status_code, wrong_type.status_code, invalid.status_code,
            too_big.status_code, missing.status_code) == (400, 415, 422, 413, 404)
    assert invalid.json()["errors"][0]["field"] == "urgency"
    for response in (not_json, wrong_type, invalid, too_big, missing):
        assert response.headers["content-type"] == "application/json" and response.json()["error"]


def test_the_list_is_paged_newest_first_and_a_street_lists_only_its_own(stack):
    with stack.rpc() as rpc:
        ours = [rpc.whistle.raise_whistle(whistle_request(street_code="jinhaihu", grid_code=None))["whistle_id"]
                for _ in range(3)]
        theirs = rpc.whistle.raise_whistle(whistle_request(street_code="xinjiekou", grid_code=None))["whistle_id"]
    base = f"{stack.url('whistle')}/api/v1/whistles"
    street = stack.bearer(Kind.STREET, "jinhaihu")
    first = requests.get(base, params={"limit": 2}, headers=street, timeout=5).json()
    second = requests.get(base, params={"limit": 2, "cursor": first["next_cursor"]}, headers=street, timeout=5).json()
    assert [w["id"] for w in first["whistles"] + second["whistles"]] == ours[::-1]     # its own, newest first
    assert second["next_cursor"] is None
    assert {w["street_code"] for w in first["whistles"] + second["whistles"]} == {"jinhaihu"}

    foreign = requests.get(base, params={"street": "xinjiekou"}, headers=street, timeout=5)
    assert foreign.status_code == 403 and foreign.json()["errors"][0]["field"] == "street_code"
    district = requests.get(base, params={"street": "xinjiekou"}, headers=stack.bearer(Kind.DISTRICT), timeout=5)
    assert [w["id"] for w in district.json()["whistles"]] == [theirs]
    everyone = requests.get(base, params={"limit": 200}, headers=stack.bearer(Kind.DISTRICT), timeout=5).json()
    assert {theirs, *ours} <= {w["id"] for w in everyone["whistles"]}
    assert requests.get(base, headers=stack.bearer(Kind.DEPARTMENT), timeout=5).status_code == 403
    assert requests.get(base, timeout=5).status_code == 401
    for query, field_name in (({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"cursor": "!!"}, "cursor")):
        refused = requests.get(base, params=query, headers=street, timeout=5)
        assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == field_name, query


def test_a_street_reads_only_its_own_whistles_and_timelines(stack):
    with stack.rpc() as rpc:
        whistle_id = rpc.whistle.raise_whistle(whistle_request())["whistle_id"]        # daxigou's
    base = f"{stack.url('whistle')}/api/v1/whistles/{whistle_id}"
    for path in ("", "/timeline"):
        assert requests.get(base + path, headers=stack.bearer(Kind.STREET, "daxigou"), timeout=5).status_code == 200
        other = requests.get(base + path, headers=stack.bearer(Kind.STREET, "nanxiashu"), timeout=5)
        assert other.status_code == 403 and "belongs to street 'daxigou'" in other.json()["error"]
        assert other.json()["error_zh"]
    with stack.rpc(Kind.STREET, "nanxiashu") as rpc:
        with pytest.raises(RemoteError) as caught:
            rpc.whistle.get_whistle(whistle_id)
    assert caught.value.exc_type == "Forbidden"

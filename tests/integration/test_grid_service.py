"""The whistle service as a process, below the whistle: grid events and 12345 tickets over HTTP with bearer
tokens, tickets over the `hotline` exchange, the complainant's contact kept to its street and the follow-up
desk, and Open311 checked against the GeoReport v2 conformance check."""
from __future__ import annotations

import itertools
import uuid

import pytest
import requests

from tests.support import open311_conformance as spec
from tests.support.bus import Bus
from tests.support.grid_samples import EVIDENCE, NAME, PHONE, ticket_body
from tests.support.grid_world import bearer, hotline_answers, tokens

pytestmark = pytest.mark.integration
SERIAL = itertools.count(1)
IN_C1_G1 = {"address": "大溪沟街道滨江路12号", "lon": 106.5415, "lat": 29.5625}


@pytest.fixture(scope="module")
def world(stack, tmp_path_factory):
    here = tmp_path_factory.mktemp("grid")
    issued = tokens(here / "auth")
    stack.extra_env.update({"CHUISHAO_AUTH_DIR": str(here / "auth")})
    stack.start("whistle")
    return issued


def api(stack, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
    headers = {**(bearer(token) if token else {}), **kwargs.pop("headers", {})}
    return requests.request(method, f"{stack.url('whistle')}{path}", headers=headers, timeout=10, **kwargs)


def report(**overrides) -> dict:
    body = {"request_id": f"patrol-{uuid.uuid4().hex[:8]}", "grid_code": "daxigou-c1-g1",
            "category": "garbage_dumping", "source": "grid_patrol", "description": "巷口有人倾倒建筑垃圾",
            "place": IN_C1_G1, "photos": ["photo://report/1"], "reported_by": "网格员 王芳"}
    return {**body, **overrides}


def opened(stack, world, **overrides) -> str:
    response = api(stack, "POST", "/api/v1/grid-events", world["daxigou"], json=report(**overrides))
    assert response.status_code == 201, response.text
    return response.json()["grid_event_id"]


def act(stack, world, event_id: str, step: str, body: dict, who: str = "daxigou") -> requests.Response:
    return api(stack, "POST", f"/api/v1/grid-events/{event_id}/{step}", world[who],
               json={"request_id": f"{step}-{next(SERIAL)}", "by": "网格员 王芳", **body})


def ticket(**overrides) -> dict:
    return ticket_body(ticket_id=f"BJ12345-{uuid.uuid4().hex[:10]}", received_at=_now_iso(), **overrides)


def _now_iso() -> str:
    from datetime import datetime, timezone
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------- grid events over HTTP

def test_a_street_handles_a_small_thing_in_its_grid_and_reads_it_in_either_language(stack, world):
    event_id = opened(stack, world)
    assert act(stack, world, event_id, "accept", {"tier": "grid"}).json()["status"] == "accepted"
    assert act(stack, world, event_id, "handle", {"tier": "grid", "summary": "已清运建筑垃圾两车",
                                                  "evidence_refs": ["photo://done/1"]}).status_code == 200
    closed = act(stack, world, event_id, "close", {"tier": "grid", "evidence": EVIDENCE.model_dump()})
    assert closed.status_code == 200 and closed.json()["status"] == "closed", closed.text
    english = api(stack, "GET", f"/api/v1/grid-events/{event_id}?lang=en", world["daxigou"]).json()
    assert (english["outcome"], english["resolved_by"], english["whistle_id"]) == ("handled", "grid", None)
    assert [line["kind"] for line in english["timeline"]] == ["grid_event.opened", "grid_event.accepted",
                                                              "grid_event.handled", "grid_event.closed"]
    assert english["timeline"][1]["summary"].startswith("网格员 王芳 (grid) accepted it, to handle it by ")
    chinese = api(stack, "GET", f"/api/v1/grid-events/{event_id}", world["daxigou"],
                  headers={"Accept-Language": "zh-CN,zh;q=0.9"}).json()
    assert chinese["timeline"][-1]["summary"] == "网格员 王芳（网格）办结销号：处置前后照片及2项清单"
    assert api(stack, "GET", f"/api/v1/grid-events/{event_id}", world["district"]).status_code == 200


def test_streets_act_on_their_own_events_only(stack, world):
    event_id = opened(stack, world)
    assert api(stack, "GET", f"/api/v1/grid-events/{event_id}").status_code == 401
    other = api(stack, "GET", f"/api/v1/grid-events/{event_id}", world["nanxiashu"])
    assert other.status_code == 403 and other.json()["errors"][0]["field"] == "street_code"
    assert act(stack, world, event_id, "accept", {"tier": "grid"}, who="nanxiashu").status_code == 403
    assert act(stack, world, event_id, "accept", {"tier": "grid"}, who="district").status_code == 403
    elsewhere = api(stack, "POST", "/api/v1/grid-events", world["nanxiashu"], json=report(street_code="daxigou"))
    assert elsewhere.status_code == 403 and elsewhere.json()["errors"][0]["field"] == "street_code"
    assert api(stack, "GET", f"/api/v1/grid-events/{event_id}", world["daxigou"]).json()["status"] == "reported"


def test_bad_input_is_refused_naming_the_field_and_the_same_request_twice_changes_nothing(stack, world):
    unknown = api(stack, "POST", "/api/v1/grid-events", world["daxigou"], json=report(grid_code="nanxiashu-c1-g1"))
    assert unknown.status_code == 422 and [e["field"] for e in unknown.json()["errors"]] == ["grid_code"]
    body = report()
    first = api(stack, "POST", "/api/v1/grid-events", world["daxigou"], json=body)
    again = api(stack, "POST", "/api/v1/grid-events", world["daxigou"], json=body)
    assert (first.status_code, again.status_code) == (201, 200) and again.json()["repeated"]
    event_id = first.json()["grid_event_id"]
    assert again.json()["grid_event_id"] == event_id

    no_reason = act(stack, world, event_id, "pass-up", {"tier": "grid", "reason": ""})
    assert no_reason.status_code == 422 and [e["field"] for e in no_reason.json()["errors"]] == ["reason"]
    wrong_tier = act(stack, world, event_id, "accept", {"tier": "street"})
    assert wrong_tier.status_code == 409 and wrong_tier.json()["errors"][0]["field"] == "tier"
    assert act(stack, world, event_id, "fly", {"tier": "grid"}).status_code == 404
    up = {"request_id": "up-once", "by": "网格员 王芳", "tier": "grid", "reason": "需社区协调物业处理"}
    assert api(stack, "POST", f"/api/v1/grid-events/{event_id}/pass-up", world["daxigou"], json=up).status_code == 200
    before = api(stack, "GET", f"/api/v1/grid-events/{event_id}", world["daxigou"]).json()
    repeat = api(stack, "POST", f"/api/v1/grid-events/{event_id}/pass-up", world["daxigou"], json=up)
    assert repeat.status_code == 200 and repeat.json()["repeated"]
    assert api(stack, "GET", f"/api/v1/grid-events/{event_id}", world["daxigou"]).json() == before
    assert before["tier"] == "community" and before["passed_up"] == 1


def test_whistling_an_unchecked_ticket_is_refused_until_it_is_checked_on_site(stack, world):
    receipt = api(stack, "POST", "/api/v1/tickets", world["hotline"], json=ticket(grid_code=None,
                                                                                 place={"address": "大溪沟街道某处"}))
    assert receipt.status_code == 201, receipt.text
    event_id = receipt.json()["grid_event_id"]
    shown = api(stack, "GET", f"/api/v1/grid-events/{event_id}", world["daxigou"]).json()
    assert (shown["tier"], shown["verification"]) == ("street", "pending")
    refused = act(stack, world, event_id, "whistle", {"urgency": "urgent"})
    assert refused.status_code == 409 and [e["field"] for e in refused.json()["errors"]] == ["verification"]
    checked = act(stack, world, event_id, "verify", {"role": "street_team", "outcome": "confirmed",
                                                     "photo_ref": "photo://check/1", "by": "执法队员 李强"})
    assert checked.status_code == 200 and checked.json()["verification"] == "confirmed"
    whistled = act(stack, world, event_id, "whistle", {"urgency": "urgent"})
    assert whistled.status_code == 200 and whistled.json()["status"] == "whistled", whistled.text
    whistle = requests.get(f"{stack.url('whistle')}/api/v1/whistles/{whistled.json()['whistle_id']}", timeout=5,
                           headers=bearer(world["daxigou"])).json()
    assert whistle["request_id"] == f"grid-event-{event_id}" and whistle["source"] == "hotline_12345"


# ---------------------------------------------------------------- 12345 tickets, the complainant's contact

def test_a_ticket_over_http_is_one_event_however_often_it_comes(stack, world):
    body = ticket()
    first = api(stack, "POST", "/api/v1/tickets", world["hotline"], json=body)
    again = api(stack, "POST", "/api/v1/tickets", world["hotline"], json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["repeated"] and again.json()["grid_event_id"] == first.json()["grid_event_id"]
    moved = api(stack, "POST", "/api/v1/tickets", world["hotline"], json={**body, "street_code": "nanxiashu",
                                                                          "grid_code": None})
    assert moved.status_code == 409 and moved.json()["errors"][0]["field"] == "ticket_id"
    missing = api(stack, "POST", "/api/v1/tickets", world["hotline"],
                  json={k: v for k, v in body.items() if k != "ticket_id"})
    assert missing.status_code == 422 and [e["field"] for e in missing.json()["errors"]] == ["ticket_id"]
    assert api(stack, "POST", "/api/v1/tickets", world["daxigou"], json=body).status_code == 403
    read = api(stack, "GET", f"/api/v1/tickets/{body['ticket_id']}", world["hotline"]).json()
    assert (read["street_code"], read["hotline_class"], read["answers"], read["status"]) == (
        "daxigou", "ordinary", 0, "reported")
    assert api(stack, "GET", f"/api/v1/tickets/{body['ticket_id']}", world["nanxiashu"]).status_code == 403
    assert api(stack, "GET", "/api/v1/tickets/BJ-none", world["hotline"]).status_code == 404


def test_the_complainants_contact_is_for_the_owning_street_and_the_follow_up_desk_only(stack, world):
    event_id = api(stack, "POST", "/api/v1/tickets", world["hotline"], json=ticket()).json()["grid_event_id"]
    path = f"/api/v1/grid-events/{event_id}/contact"
    for who in ("daxigou", "follow_up"):
        contact = api(stack, "GET", path, world[who])
        assert contact.status_code == 200, (who, contact.text)
        assert contact.json()["contacts"][0]["phone"] == PHONE and contact.json()["contacts"][0]["name"] == NAME
    for who in ("nanxiashu", "district", "hotline", "open311", "chengguan"):
        assert api(stack, "GET", path, world[who]).status_code == 403, who
    event = api(stack, "GET", f"/api/v1/grid-events/{event_id}", world["daxigou"]).text
    assert PHONE not in event and NAME not in event


def test_a_ticket_over_the_bus_gets_its_receipt_and_a_bad_one_a_rejection_naming_the_field(stack, world):
    bus = Bus(stack.amqp_uri, stack.namespace)
    answers = hotline_answers(bus)
    try:
        good = ticket()
        bus.publish("hotline", "ticket.daxigou", good)
        receipt, _, method = answers.get(predicate=lambda p: p["ticket_id"] == good["ticket_id"])
        assert (method.routing_key, receipt["outcome"]) == ("receipt.daxigou.accepted", "accepted")
        assert api(stack, "GET", f"/api/v1/grid-events/{receipt['grid_event_id']}",
                   world["daxigou"]).json()["ticket_id"] == good["ticket_id"]
        wrong = ticket()
        bus.publish("hotline", "ticket.nanxiashu", wrong)
        rejected, _, method = answers.get(predicate=lambda p: p["ticket_id"] == wrong["ticket_id"])
        assert method.routing_key == "receipt.nanxiashu.rejected"
        assert [e["field"] for e in rejected["errors"]] == ["street_code"]
        bus.publish("hotline", "ticket.daxigou", {k: v for k, v in ticket().items() if k != "ticket_id"})
        nameless, _, _ = answers.get(predicate=lambda p: p["ticket_id"] == "(missing)")
        assert nameless["outcome"] == "rejected" and [e["field"] for e in nameless["errors"]] == ["ticket_id"]
    finally:
        bus.close()


# ---------------------------------------------------------------- Open311 GeoReport v2

def open311(stack, world, method: str, path: str, key: bool = True, **kwargs) -> requests.Response:
    params = {**kwargs.pop("params", {}), **({"api_key": world["open311"]} if key and method == "GET" else {})}
    return requests.request(method, f"{stack.url('whistle')}/open311/v2/{path}", params=params, timeout=10, **kwargs)


def conforms(response: requests.Response, check) -> None:
    problems = check(response.json()) + spec.check_content_type(response.headers.get("Content-Type"))
    assert not problems, problems


def test_the_open311_endpoints_pass_the_georeport_v2_conformance_check(stack, world):
    discovery = open311(stack, world, "GET", "discovery.json")
    conforms(discovery, spec.check_discovery)
    assert discovery.json()["endpoints"][0]["url"].endswith("/open311/v2/")
    services = open311(stack, world, "GET", "services.json")
    conforms(services, spec.check_services)
    assert "garbage_dumping" in {s["service_code"] for s in services.json()}
    assert open311(stack, world, "GET", "services.json", params={"lang": "en"}).json()[0]["service_name"] != \
        services.json()[0]["service_name"]
    conforms(open311(stack, world, "GET", "services/garbage_dumping.json"), spec.check_service_definition)

    form = {"api_key": world["open311"], "service_code": "garbage_dumping", "lat": "29.5625", "long": "106.5415",
            "description": f"巷口垃圾堆积 {uuid.uuid4().hex[:6]}", "email": "resident@example.cn",
            "media_url": "https://example.cn/photo/1.jpg"}
    posted = open311(stack, world, "POST", "requests.json", data=form)
    assert posted.status_code == 201, posted.text
    conforms(posted, spec.check_post_response)
    request_id = posted.json()[0]["service_request_id"]
    twice = open311(stack, world, "POST", "requests.json", data=form)
    assert twice.status_code == 200 and twice.json()[0]["service_request_id"] == request_id
    as_json = open311(stack, world, "POST", "requests.json", json={**form, "description": "同一地点又有垃圾"})
    assert as_json.status_code == 201 and as_json.json()[0]["service_request_id"] != request_id

    one = open311(stack, world, "GET", f"requests/{request_id}.json")
    conforms(one, spec.check_requests)
    assert (one.json()[0]["status"], one.json()[0]["service_code"]) == ("open", "garbage_dumping")
    assert "resident@example.cn" not in one.text
    listed = open311(stack, world, "GET", "requests.json", params={"service_code": "garbage_dumping",
                                                                  "status": "open"})
    conforms(listed, spec.check_requests)
    assert request_id in {r["service_request_id"] for r in listed.json()}
    by_id = open311(stack, world, "GET", "requests.json", params={"service_request_id": request_id})
    assert [r["service_request_id"] for r in by_id.json()] == [request_id]


@pytest.mark.parametrize("method, path, kwargs, status, says", [
    ("POST", "requests.json", {"data": {"service_code": "parking_on_mars", "lat": "29.5625", "long": "106.5415"}},
     404, "service_code"),
    ("POST", "requests.json", {"data": {"service_code": "garbage_dumping", "lat": "91", "long": "106.5415"}},
     400, "lat"),
    ("POST", "requests.json", {"data": {"service_code": "garbage_dumping"}}, 400, "location"),
    ("GET", "services/parking_on_mars.json", {}, 404, "service_code"),
    ("GET", "requests/no-such-request.json", {}, 404, "service_request_id"),
    ("GET", "requests.json", {"params": {"start_date": "yesterday"}}, 400, "start_date"),
    ("GET", "services.json", {"params": {"jurisdiction_id": "atlantis"}}, 404, "jurisdiction_id"),
])
def test_open311_refusals_are_in_the_specs_error_shape_naming_the_argument(stack, world, method, path, kwargs,
                                                                            status, says):
    if method == "POST":
        kwargs = {**kwargs, "data": {**kwargs["data"], "api_key": world["open311"]}}
    response = open311(stack, world, method, path, **kwargs)
    assert response.status_code == status, response.text
    assert not spec.check_errors(response.json(), response.status_code)
    assert response.json()[0]["description"].startswith(says) or says in response.json()[0]["description"]


def test_open311_needs_an_open311_clients_api_key(stack, world):
    for key in (None, "garbage", world["daxigou"]):
        params = {"api_key": key} if key else {}
        response = requests.get(f"{stack.url('whistle')}/open311/v2/services.json", params=params, timeout=10)
        assert response.status_code == 403, (key, response.text)
        assert not spec.check_errors(response.json(), 403)
        assert response.json()[0]["description"].startswith("api_key")
    posted = requests.post(f"{stack.url('whistle')}/open311/v2/requests.json", timeout=10,
                           data={"service_code": "garbage_dumping", "lat": "29.5625", "long": "106.5415"})
    assert posted.status_code == 403
    assert requests.get(f"{stack.url('whistle')}/open311/v2/services.json", timeout=10,
                        headers=bearer(world["open311"])).status_code == 200

"""End to end, 接诉即办: a 12345 ticket arrives over the bus, climbs grid → community → street, is checked on
site and whistled; the departments check in, arrive and complete on the pika client; the street closes the
whistle, and the hotline system's queue receives the answer with the ticket id and its 签收/办结 times. The
complainant's contact reaches no department; the tier figures reach the metrics service."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pytest
import requests

from services.department_client import DepartmentClient
from tests.support.bus import Bus
from tests.support.grid_samples import EVIDENCE, NAME, PHONE, ticket_body
from tests.support.grid_world import bearer, hotline_answers, tokens
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e
DEPARTMENTS = (("chengguan", "城管 王建国"), ("shengtai", "环保 刘洋"), ("huanwei", "环卫 赵强"))   # garbage_dumping


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def world(stack, tmp_path_factory):
    auth = tmp_path_factory.mktemp("grid") / "auth"
    issued = tokens(auth)
    stack.extra_env["CHUISHAO_AUTH_DIR"] = str(auth)
    stack.start("whistle", "dispatch", "metrics")
    return issued


def test_a_12345_ticket_is_whistled_handled_by_the_departments_and_answered_to_the_hotline(stack, world):
    bus = Bus(stack.amqp_uri, stack.namespace)
    answers = hotline_answers(bus)
    street = bearer(world["daxigou"])
    base = f"{stack.url('whistle')}/api/v1"
    ticket = ticket_body(ticket_id=f"BJ12345-{uuid.uuid4().hex[:10]}", grid_code=None,
                         received_at=datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
                         place={"address": "大溪沟街道滨江路12号", "lon": 106.5415, "lat": 29.5625})
    try:
        bus.publish("hotline", "ticket.daxigou", ticket)
        receipt, _, method = answers.get(timeout=30, predicate=lambda p: p["ticket_id"] == ticket["ticket_id"])
        assert (method.routing_key, receipt["outcome"]) == ("receipt.daxigou.accepted", "accepted")
        event_id = receipt["grid_event_id"]
        event = requests.get(f"{base}/grid-events/{event_id}", headers=street, timeout=5).json()
        assert (event["tier"], event["grid_code"], event["verification"]) == ("grid", "daxigou-c1-g1", "pending")

        def act(step: str, body: dict) -> dict:
            response = requests.post(f"{base}/grid-events/{event_id}/{step}", headers=street, timeout=10,
                                     json={"request_id": f"{step}-{uuid.uuid4().hex[:6]}", **body})
            assert response.status_code == 200, (step, response.text)
            return response.json()

        act("pass-up", {"by": "网格员 王芳", "tier": "grid", "reason": "垃圾来自小区物业，需社区协调"})
        act("pass-up", {"by": "社区书记 陈红", "tier": "community", "reason": "物业拒不清运，需执法部门介入"})
        act("verify", {"by": "执法队员 李强", "role": "street_team", "outcome": "confirmed",
                       "photo_ref": "photo://check/1"})
        whistle_id = act("whistle", {"by": "街道主任 赵敏", "urgency": "urgent"})["whistle_id"]
        assert whistle_id

        for department, officer in DEPARTMENTS:
            with DepartmentClient(stack.amqp_uri, department, namespace=stack.namespace) as client:
                callout = next(c for c in client.callouts(timeout=30) if c.whistle_id == whistle_id)
                said = json.dumps(callout.model_dump(mode="json"), ensure_ascii=False)
                assert PHONE not in said and NAME not in said           # personal data stays with the street
                assert client.check_in(callout.callout_id, officer).outcome == "accepted"
                assert client.arrive(callout.callout_id, officer, callout.place,
                                     evidence_ref=f"photo://{department}/arrival").outcome == "accepted"
                assert client.complete(callout.callout_id, "垃圾已清运，现场已冲洗",
                                       [f"photo://{department}/after"]).outcome == "accepted"

        whistles = f"{base}/whistles/{whistle_id}"
        wait_for(lambda: requests.get(whistles, headers=street, timeout=5).json()["status"] == "all_completed",
                 timeout=30, what="every department to have completed")
        closure = requests.post(f"{whistles}/closure", headers=street, timeout=10, json={
            "street_code": "daxigou", "confirmed_by": "大溪沟街道 李主任", "evidence": EVIDENCE.model_dump()})
        assert closure.status_code == 200, closure.text

        answer, _, method = answers.get(timeout=30, predicate=lambda p: p.get("type") == "ticket.answered"
                                        and p["ticket_id"] == ticket["ticket_id"])
        assert method.routing_key == "answer.daxigou"
        assert (answer["grid_event_id"], answer["whistle_id"], answer["resolved_by"], answer["outcome"]) == (
            event_id, whistle_id, "whistle", "resolved")
        assert instant(answer["received_at"]) == instant(ticket["received_at"])
        assert answer["received_at"] <= answer["signed_for_at"] <= answer["completed_at"]
        assert answer["signed_within_24h"] and answer["completed_within_7d"] and answer["on_time"]
        assert PHONE not in json.dumps(answer, ensure_ascii=False)

        closed = requests.get(f"{base}/grid-events/{event_id}", headers=street, timeout=5).json()
        assert (closed["status"], closed["resolved_by"], closed["whistle_id"]) == ("closed", "whistle", whistle_id)
        timeline = requests.get(f"{whistles}/timeline", headers=street, timeout=5).json()["timeline"]
        assert timeline[1]["kind"] == "grid_event.history" and event_id in timeline[1]["summary"]
        assert requests.get(f"{base}/tickets/{ticket['ticket_id']}", headers=bearer(world["hotline"]),
                            timeout=5).json()["answers"] == 1
    finally:
        bus.close()

    def figures() -> str:
        text = requests.get(f"{stack.url('metrics')}/metrics", timeout=5).text
        wanted = ('chuishao_grid_events_closed_total{outcome="whistled",resolved_by="whistle",street="daxigou"} 1.0',
                  'chuishao_grid_events_passed_up_total{automatic="false",from_tier="community",street="daxigou"} 1.0',
                  'chuishao_tickets_answered_total{hotline_class="ordinary",on_time="true",outcome="resolved",'
                  'street="daxigou"} 1.0',
                  'chuishao_ticket_indicators_total{indicator="signed_within_24h",met="true",street="daxigou"} 1.0')
        return text if all(w in text for w in wanted) else ""

    assert "chuishao_grid_event_close_seconds_count" in wait_for(figures, timeout=20,
                                                                 what="the tier figures in the metrics service")

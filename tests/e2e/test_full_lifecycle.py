"""End to end, the whole case: four service processes, departments on the pika client, the street closes."""
from __future__ import annotations

import pytest
import requests

from services.common.auth.principals import Kind
from services.department_client import DepartmentClient
from tests.support.samples import whistle_request
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", autouse=True)
def everything(stack):
    stack.start("whistle", "dispatch", "roster", "metrics")


def test_every_department_reports_in_and_the_street_closes_the_case(stack):
    whistle_api = f"{stack.url('whistle')}/api/v1/whistles"
    street = stack.bearer(Kind.STREET, "daxigou")              # the street office's token throughout
    request = whistle_request(category="illegal_parking", urgency="urgent", grid_code="daxigou-c1-g1",
                              place={"address": "大溪沟街道人和街消防通道口", "lon": 106.5415, "lat": 29.5625})
    del request["street_code"]                                  # the token names the street
    raised = requests.post(whistle_api, json=request, headers=street, timeout=10)
    assert raised.status_code == 201, raised.text
    whistle_id = raised.json()["whistle_id"]

    for department, officer in (("jiaoguan", "交警 马超"), ("chengguan", "城管 王建国")):
        with DepartmentClient(stack.amqp_uri, department, namespace=stack.namespace) as client:
            callout = next(c for c in client.callouts(timeout=30) if c.whistle_id == whistle_id)
            assert callout.street_code == "daxigou" and callout.deadlines.check_in_by > callout.issued_at
            assert client.check_in(callout.callout_id, officer).outcome == "accepted"
            assert client.arrive(callout.callout_id, officer, {"address": request["place"]["address"],
                                                               "lon": 106.5415, "lat": 29.5625},
                                 evidence_ref=f"photo://{department}/arrival").outcome == "accepted"
            assert client.complete(callout.callout_id, "车辆已挪离，通道畅通",
                                   [f"photo://{department}/after"]).outcome == "accepted"

    wait_for(lambda: requests.get(f"{whistle_api}/{whistle_id}", headers=street, timeout=5
                                  ).json()["status"] == "all_completed",
             timeout=30, what="the whistle to be all_completed")
    closure = requests.post(f"{whistle_api}/{whistle_id}/closure", headers=street, timeout=10, json={
        "whistle_id": whistle_id, "street_code": "daxigou", "confirmed_by": "大溪沟街道 李主任",
        "evidence": {"before_photo": "photo://before", "after_photo": "photo://after",
                     "checklist": ["通道畅通", "车辆已挪离", "已告知物业"]}})
    assert closure.status_code == 200, closure.text
    follow_up = requests.post(f"{whistle_api}/{whistle_id}/follow-up", headers=street, timeout=10, json={
        "whistle_id": whistle_id, "rating": "satisfied", "recorded_by": "12345 回访员"})
    assert follow_up.status_code == 200, follow_up.text

    whistle = requests.get(f"{whistle_api}/{whistle_id}", headers=street, timeout=5).json()
    assert whistle["status"] == "closed" and whistle["street_code"] == "daxigou"
    timeline = requests.get(f"{whistle_api}/{whistle_id}/timeline", headers=street, timeout=5).json()["timeline"]
    kinds = [entry["kind"] for entry in timeline]
    assert kinds[0] == "whistle.raised"
    for kind, times in (("callout.issued", 2), ("callout.checked_in", 2), ("callout.arrived", 2),
                        ("callout.completed", 2), ("whistle.all_checked_in", 1), ("whistle.all_completed", 1),
                        ("whistle.closed", 1)):
        assert kinds.count(kind) == times, (kind, kinds)
    assert kinds.index("whistle.all_completed") < kinds.index("whistle.closed")
    stamps = [entry["at"] for entry in timeline]
    assert stamps == sorted(stamps)                                # ordered: responsibility can be traced
    arrivals = [e for e in timeline if e["kind"] == "callout.arrived"]
    assert all("photo://" in str(e["detail"]) for e in arrivals)
    office = {"kind": "street", "code": "daxigou", "token_id": stack.issued(Kind.STREET, "daxigou").token_id}
    for kind in ("whistle.raised", "whistle.closed", "whistle.follow_up"):      # who acted, on every line
        assert [e["detail"]["principal"] for e in timeline if e["kind"] == kind] == [office], kind
    # the departments reported over the bus with the shared dev account: nobody vouched for them
    assert not [e for e in timeline if e["kind"] == "callout.checked_in" and "principal" in e["detail"]]

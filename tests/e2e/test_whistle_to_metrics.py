"""End to end: four service processes; a street raises with plain pika, a department acts with plain pika."""
from __future__ import annotations

import re

import pytest
import requests

from tests.support.samples import whistle_request
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", autouse=True)
def everything(stack):
    stack.start("whistle", "dispatch", "roster", "metrics")


def test_whistle_raised_called_out_checked_in_and_measured(stack, bus):
    outcomes = bus.listen("whistles", "outcome.daxigou.*")
    # the environment bureau's own system binds only its own routing key
    shengtai = bus.listen("callouts", "callout.shengtai.*")
    request = whistle_request(category="construction_dust", urgency="urgent")
    bus.publish("whistles", "raise.daxigou", request)

    outcome, _, _ = outcomes.get(predicate=lambda p: p["request_id"] == request["request_id"])
    assert outcome["outcome"] == "raised"
    whistle_id = outcome["whistle_id"]
    callout, _, method = shengtai.get(predicate=lambda p: p["whistle_id"] == whistle_id)
    assert method.routing_key == "callout.shengtai.urgent"
    assert callout["role"] == "lead" and callout["category"] == "construction_dust"
    assert callout["departments"] == ["shengtai", "zhujian", "chengguan"]
    assert shengtai.nothing_more(settle=0.5)            # nobody else's call-outs reach this binding

    bus.publish("checkins", "checkin.shengtai", {"request_id": "e2e-1", "callout_id": callout["callout_id"],
                                                 "department_code": "shengtai", "officer": "生态执法 陈刚"})
    metrics = f"{stack.url('metrics')}/metrics"
    text = wait_for(lambda: (t := requests.get(metrics, timeout=5).text) and re.search(
        r'chuishao_checkin_latency_seconds_count\{department="shengtai",urgency="urgent"\} 1\.0', t) and t,
        what="the check-in latency on /metrics")
    assert 'chuishao_checkins_total{department="shengtai",on_time="true",urgency="urgent"} 1.0' in text

    timeline_url = f"{stack.url('whistle')}/api/v1/whistles/{whistle_id}/timeline"
    timeline = wait_for(lambda: [e for e in requests.get(timeline_url, headers=stack.bearer(), timeout=5
                                                         ).json()["timeline"]
                                 if e["kind"] == "callout.checked_in"]
                        and requests.get(timeline_url, headers=stack.bearer(), timeout=5).json()["timeline"],
                        what="the check-in on the whistle's timeline")
    kinds = [e["kind"] for e in timeline]
    assert kinds[0] == "whistle.raised"
    assert kinds.count("callout.issued") == 3

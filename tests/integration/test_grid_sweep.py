"""The tiers' deadlines in a running whistle service (drill rules: seconds): a grid or community that misses
its deadline has the event passed up by the sweep; the street, the top tier, is chased (督办) once."""
from __future__ import annotations

import time

import pytest
import requests

from tests.support.grid_world import bearer, drill_tiers, tokens
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(stack, tmp_path_factory):
    here = tmp_path_factory.mktemp("grid")
    issued = tokens(here / "auth")
    stack.extra_env.update({"CHUISHAO_AUTH_DIR": str(here / "auth"), "GRID_SWEEP_SECONDS": "0.5",
                            "TIERS_DATA": str(drill_tiers(here, accept="2s", handle="30s"))})
    stack.start("whistle")
    return issued


def test_a_neglected_event_climbs_to_the_street_which_is_chased_once(stack, world):
    url = f"{stack.url('whistle')}/api/v1/grid-events"
    opened = requests.post(url, headers=bearer(world["daxigou"]), timeout=10, json={
        "request_id": "neglected-1", "grid_code": "daxigou-c1-g1", "category": "garbage_dumping",
        "source": "grid_patrol", "description": "巷口有人倾倒建筑垃圾", "reported_by": "网格员 王芳",
        "place": {"address": "大溪沟街道滨江路12号", "lon": 106.5415, "lat": 29.5625}})
    assert opened.status_code == 201, opened.text
    event_id = opened.json()["grid_event_id"]

    def chased():
        event = requests.get(f"{url}/{event_id}", headers=bearer(world["daxigou"]), timeout=5).json()
        return event if event["chased"] else None

    event = wait_for(chased, timeout=30, what="the sweep to pass the event up twice and chase the street")
    kinds = [line["kind"] for line in event["timeline"]]
    assert (event["tier"], event["status"], event["passed_up"]) == ("street", "reported", 2)
    assert kinds == ["grid_event.opened", "grid_event.passed_up", "grid_event.passed_up", "grid_event.overdue"]
    assert all(line["actor"] == "sweep" for line in event["timeline"][1:])
    assert event["timeline"][1]["detail"]["automatic"] is True
    settle = time.monotonic() + 2          # four more sweeps: the street is not chased again for one deadline
    while time.monotonic() < settle:
        again = requests.get(f"{url}/{event_id}", headers=bearer(world["daxigou"]), timeout=5).json()
        assert len(again["chased"]) == 1 and again["tier"] == "street"
        time.sleep(0.2)

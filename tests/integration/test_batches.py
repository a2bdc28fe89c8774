"""The bus entrypoint in batches: messages that wait on a queue are handled together, and one poison message
among them neither holds back nor dead-letters its neighbours."""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone

import pytest
import requests

from services.common.events import TeamAssembled, TeamOfficer
from tests.support.bus import dead_letters
from tests.support.samples import publish_event, whistle_request
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
LEAD = TeamOfficer(officer_code="cg-01", name="王建国", department_code="chengguan", badge="CG-0001")


def team(whistle_id: str) -> TeamAssembled:
    now = datetime.now(timezone.utc)
    return TeamAssembled(team_id=str(uuid.uuid4()), kind="whistle", whistle_id=whistle_id, street_code="daxigou",
                         category="garbage_dumping", lead=LEAD, members=(LEAD,), gaps=(), formed_at=now,
                         assembled_at=now)


def batches(stack, outcome: str) -> float:
    text = requests.get(f"{stack.url('whistle')}/metrics", timeout=5).text
    found = re.search(r'chuishao_consumer_batches_total\{consumer="whistle.progress",outcome="%s",'
                      r'service="whistle"\} ([0-9.e+]+)' % outcome, text)
    return float(found.group(1)) if found else 0.0


def test_a_poison_message_inside_a_batch_leaves_its_neighbours_alone(stack, bus):
    stack.start("whistle")
    raised = requests.post(f"{stack.url('whistle')}/api/v1/whistles", json=whistle_request(), timeout=5,
                           headers=stack.bearer())
    whistle_id = raised.json()["whistle_id"]
    stack.processes["whistle"].stop()

    # while the consumer is away, 30 good events and one for a whistle nobody knows wait on its queue:
    # when it comes back it takes them in one batch (BATCH_MAX is 100)
    good = [team(whistle_id) for _ in range(30)]
    poison = team(str(uuid.uuid4()))
    for event in good[:15]:
        publish_event(bus, event)
    publish_event(bus, poison)
    for event in good[15:]:
        publish_event(bus, event)
    publish_event(bus, good[3])                    # and one of them twice: counted once
    stack.start("whistle")

    def lines():
        timeline = requests.get(f"{stack.url('whistle')}/api/v1/whistles/{whistle_id}/timeline",
                                headers=stack.bearer(), timeout=5).json()["timeline"]
        return [e for e in timeline if e["kind"] == "team.assembled"]

    got = wait_for(lambda: len(lines()) >= 30 and lines(), what="the 30 good events on the timeline")
    assert sorted(e["detail"]["team_id"] for e in got) == sorted(e.team_id for e in good)
    letters = wait_for(lambda: [h for h, _ in dead_letters(bus) if poison.whistle_id in h["x-dead-reason"]],
                       what="the poison message's dead letter")
    assert len(letters) == 1 and letters[0]["x-dead-consumer"] == "whistle.whistle.progress"
    assert "no whistle" in letters[0]["x-dead-reason"] and letters[0]["x-attempts"] == 1
    # the lot failed once because of it, and was split: each message alone
    assert batches(stack, "split") >= 1

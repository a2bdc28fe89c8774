"""The contract's evolution rule with the real services on the real broker (services/common/events.py).

dispatch and metrics run as the release that prepares a breaking change to whistle.raised (version 2,
read through an upcaster: tests/support/next_release.py); roster runs as it ships. The test publishes
what other releases of the producers would write:

- a newer producer adds optional fields within version 1: read, the unknown fields ignored;
- an older producer omits optional fields added since: read, with their defaults;
- version 2, which the consumers have an upcaster for: read;
- version 3, which they do not: dead-lettered by each consumer, naming schema_version.

Nothing else is dead-lettered: each case checks the dead letters once every consumer has shown its
effect (call-outs issued, a joint team formed, a metric counted)."""
from __future__ import annotations

import re
import sys
import uuid

import pytest
import requests

from services.common.reference import load_reference
from tests.support.bus import dead_letters
from tests.support.processes import ServiceProcess
from tests.support.samples import callouts_issued, raised
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
LINE = re.compile(r"^(?P<name>[a-z_]+)(?:\{[^}]*\})? (?P<value>\S+)$", re.M)


class NextRelease(ServiceProcess):
    def command(self) -> list[str]:
        return [sys.executable, "-m", "tests.support.next_release", self.name]


@pytest.fixture(scope="module", autouse=True)
def services(stack):
    for name, kind in (("dispatch", NextRelease), ("metrics", NextRelease), ("roster", ServiceProcess)):
        stack.processes[name] = kind(name, stack.env(), stack.tmp / f"{name}.log", stack.ports[name]).start()


def metric(stack, name: str) -> float:
    text = requests.get(f"{stack.url('metrics')}/metrics", timeout=5).text
    return sum(float(m.group("value")) for m in LINE.finditer(text) if m.group("name") == name)


def letters_marked(bus, marker: str) -> list[dict]:
    return [headers for headers, _ in dead_letters(bus) if headers.get("marker") == marker]


def departments_called(category: str = "garbage_dumping") -> set[str]:
    lead, support = load_reference().assignment("daxigou", category)
    return {lead, *support}


def publish_raised(bus, payload: dict, marker: str) -> None:
    bus.publish("events", "whistle.raised", payload, message_id=payload["event_id"], headers={"marker": marker})


def expect_processed(stack, bus, payload: dict, marker: str) -> None:
    """dispatch issued the whistle's call-outs, metrics counted it and them, nobody dead-lettered it.

    Waiting for metrics to count the call-outs too leaves nothing of this whistle in flight when the
    next test reads its own "before"."""
    callouts = bus.listen("callouts", "callout.*.*")
    before = metric(stack, "chuishao_whistles_raised_total")
    issued_before = metric(stack, "chuishao_callouts_issued_total")
    publish_raised(bus, payload, marker)
    wanted = departments_called()
    got = callouts.get_all(len(wanted), timeout=30, predicate=lambda c: c["whistle_id"] == payload["whistle_id"])
    assert {c["department_code"] for c in got} == wanted
    wait_for(lambda: metric(stack, "chuishao_whistles_raised_total") == before + 1, timeout=30,
             what="metrics to count the whistle")
    wait_for(lambda: metric(stack, "chuishao_callouts_issued_total") == issued_before + len(wanted), timeout=30,
             what="metrics to count the whistle's call-outs")
    assert letters_marked(bus, marker) == []


def test_an_older_consumer_reads_a_newer_producers_event_ignoring_the_fields_it_added(stack, bus):
    payload = raised().model_dump(mode="json")
    payload["reported_via"] = "mobile_app"            # optional fields a newer whistle service writes
    payload["place"]["floor"] = 12
    assert payload["schema_version"] == 1
    expect_processed(stack, bus, payload, marker=f"additive-{uuid.uuid4().hex}")


def test_a_newer_consumer_reads_an_older_producers_event_without_the_optional_fields_added_since(stack, bus):
    # a category both departments have qualified officers for: a team, not a roster gap
    event = callouts_issued(departments=("chengguan", "gongan"), joint=True, category="illegal_parking")
    payload = event.model_dump(mode="json")
    for added in ("round", "reason", "located_by"):   # optional, with defaults: a release before them omits them
        del payload[added]
    marker = f"older-{uuid.uuid4().hex}"
    assigned = bus.listen("assignments", "assignment.*.*")      # the roster forms the team: one member each
    before = metric(stack, "chuishao_callouts_issued_total")
    bus.publish("events", "callouts.issued", payload, message_id=event.event_id, headers={"marker": marker})
    members = assigned.get_all(2, timeout=30, predicate=lambda a: a["whistle_id"] == event.whistle_id)
    assert {m["department_code"] for m in members} == {"chengguan", "gongan"}
    assert {m["street_code"] for m in members} == {"daxigou"} and members[0]["team_id"] == members[1]["team_id"]
    wait_for(lambda: metric(stack, "chuishao_callouts_issued_total") == before + 2, timeout=30,
             what="metrics to count both call-outs")
    assert letters_marked(bus, marker) == []


def test_a_version_the_consumers_have_an_upcaster_for_is_read(stack, bus):
    payload = raised().model_dump(mode="json")
    payload["schema_version"] = 2
    payload["reporter"] = {"name": payload.pop("reported_by"), "role": "grid_worker"}
    expect_processed(stack, bus, payload, marker=f"v2-{uuid.uuid4().hex}")


def test_a_version_no_consumer_reads_is_dead_lettered_by_each_naming_schema_version(stack, bus):
    payload = raised().model_dump(mode="json")
    payload["schema_version"] = 3
    marker = f"v3-{uuid.uuid4().hex}"
    callouts = bus.listen("callouts", "callout.*.*")
    before = metric(stack, "chuishao_whistles_raised_total")
    publish_raised(bus, payload, marker)
    letters = wait_for(lambda: (found := letters_marked(bus, marker)) and len(found) >= 2 and found,
                       timeout=30, what="two dead letters")
    assert sorted(h["x-dead-consumer"] for h in letters) == ["dispatch.dispatch.whistles", "metrics.metrics.events"]
    for headers in letters:
        assert ("schema_version: version 3 of whistle.raised is not read by this release (it reads 1, and "
                "through upcasters 2)") in headers["x-dead-reason"]
    assert callouts.nothing_more(settle=2.0)
    assert metric(stack, "chuishao_whistles_raised_total") == before

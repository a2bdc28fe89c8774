"""Nothing lost: retries then dead letters with the error, replay after a fix, a relay that waits for the broker."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import sessionmaker

from services.common.broker import ConfirmedPublisher
from services.common.db import create_schema
from services.common.events import WhistleOutcome, WhistleRaised
from services.common.outbox import Relay
from services.common.settings import load_settings
from services.whistle.orm import platform as whistle_platform
from tests.support.bus import dead_letters
from tests.support.processes import ROOT, drop_databases
from tests.support.samples import publish_event, raised, whistle_request
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def rename_table(url: str, old: str, new: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))
    engine.dispose()


def dlq(stack, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, AMQP_URI=stack.amqp_uri, BUS_NAMESPACE=stack.namespace)
    return subprocess.run([sys.executable, "-m", "services.cli", "dlq", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_a_failing_handler_is_retried_then_dead_lettered_and_replayed_after_the_fix(stack, bus):
    stack.start("dispatch")
    database = stack.database_url.replace("{service}", "dispatch")
    event = raised(category="noise")
    rename_table(database, "callouts", "callouts_away")          # the database breaks
    try:
        publish_event(bus, event)
        letter = wait_for(lambda: [h for h, b in dead_letters(bus) if event.event_id.encode() in b],
                          timeout=40, what="the dead letter after the retries")[0]
    finally:
        rename_table(database, "callouts_away", "callouts")      # the operator fixes it
    assert "failed 3 times" in letter["x-dead-reason"] and "callouts" in letter["x-dead-reason"]
    assert letter["x-dead-consumer"] == "dispatch.dispatch.whistles"

    listing = dlq(stack, "list")
    assert listing.returncode == 0 and event.event_id in listing.stdout
    replay = dlq(stack, "replay", event.event_id)
    assert replay.returncode == 0, replay.stderr
    with stack.rpc() as rpc:
        issued = wait_for(lambda: rpc.dispatch.callouts_of(event.whistle_id), what="call-outs after replay")
    assert sorted(c["department_code"] for c in issued) == ["gongan", "shengtai"]
    assert not [h for h, b in dead_letters(bus) if event.event_id.encode() in b]
    assert dlq(stack, "show", "no-such-id").returncode == 1


def test_a_whistle_raised_before_dispatch_ever_ran_still_reaches_it(stack, bus, tmp_path):
    # a fresh namespace: dispatch has never bound its queue there
    from tests.support.processes import Stack
    late = Stack(tmp_path)
    try:
        late.start("whistle")
        with late.rpc() as rpc:
            answer = rpc.whistle.raise_whistle(whistle_request(category="food_safety"))
        late.start("dispatch")
        with late.rpc() as rpc:
            issued = wait_for(lambda: rpc.dispatch.callouts_of(answer["whistle_id"]), timeout=60,
                              what="the call-out once dispatch is up")
        assert [c["department_code"] for c in issued] == ["shichang"]
    finally:
        late.stop()
        from tests.support.bus import delete_namespace
        from tests.support.processes import drop_databases
        delete_namespace(late.amqp_uri, late.namespace)
        drop_databases(late.database_url, ("whistle", "dispatch"))


@pytest.fixture(scope="module", autouse=True)
def drop_relay_database(stack):
    """The relay tests' own database is not one of the four the stack drops."""
    yield
    drop_databases(stack.database_url, ("relaytest",))


def _relay(stack, amqp_uri: str):
    settings = load_settings("whistle", {"AMQP_URI": amqp_uri, "BUS_NAMESPACE": stack.namespace,
                                         "DATABASE_URL": stack.database_url.replace("{service}", "relaytest"),
                                         "CONFIRM_TIMEOUT_SECONDS": "3"})
    engine = create_schema(settings.database_url, "whistle")
    factory = sessionmaker(bind=engine)
    return Relay(whistle_platform, engine, ConfirmedPublisher(settings), "test"), factory


def _stage(factory, event) -> None:
    """A row committed by a process that died before it could relay it: only the sweep finds it."""
    with factory() as session:
        whistle_platform.insert_outbox(session, whistle_platform.rows_of([event]))
        session.commit()


def test_the_relay_keeps_what_the_broker_did_not_confirm(stack, bus):
    outcomes = bus.listen("whistles", "outcome.daxigou.raised")
    down, factory = _relay(stack, "amqp://guest:guest@127.0.0.1:1/")     # nothing listens on port 1
    event = WhistleOutcome(request_id=uuid.uuid4().hex, street_code="daxigou", outcome="raised",
                           whistle_id="w-1")
    _stage(factory, event)
    assert down.relay_once() == 0
    table = whistle_platform.outbox
    with factory() as session:
        row = session.execute(select(table).where(table.c.event_id == event.event_id)).one()
    assert row.sent_at is None and row.attempts == 1 and "Error" in row.last_error

    up, _ = _relay(stack, stack.amqp_uri)
    later = datetime(2100, 1, 1, tzinfo=timezone.utc)                   # past the back-off
    assert up.relay_once(now=later) >= 1
    got, props, _ = outcomes.get(predicate=lambda p: p["request_id"] == event.request_id)
    assert props.message_id == event.event_id
    with factory() as session:
        row = session.execute(select(table).where(table.c.event_id == event.event_id)).one()
    assert row.sent_at is not None and row.last_error is None
    up.publisher.close()


def test_an_unroutable_event_is_recorded_not_confirmed_into_the_void(stack, bus):
    relay, factory = _relay(stack, stack.amqp_uri)
    now = datetime.now(timezone.utc)
    nobody = WhistleRaised.model_validate({
        **raised().model_dump(), "event_id": str(uuid.uuid4()), "raised_at": now, "occurred_at": now})
    # route it to a routing key no queue binds, by giving the namespace a fresh events exchange
    relay.publisher.settings = load_settings("whistle", {
        "AMQP_URI": stack.amqp_uri, "BUS_NAMESPACE": f"{stack.namespace}void.",
        "DATABASE_URL": stack.database_url})
    _stage(factory, nobody)
    assert relay.relay_once() == 0
    table = whistle_platform.outbox
    with factory() as session:
        row = session.execute(select(table).where(table.c.event_id == nobody.event_id)).one()
    assert row.sent_at is None and row.last_error.startswith("Unroutable")
    relay.publisher.close()
    import pika
    connection = pika.BlockingConnection(pika.URLParameters(stack.amqp_uri))
    channel = connection.channel()
    for name in ("whistles", "callouts", "checkins", "events", "deadletters"):
        channel.exchange_delete(f"{stack.namespace}void.{name}")
    channel.queue_delete(f"{stack.namespace}void.deadletters")
    connection.close()

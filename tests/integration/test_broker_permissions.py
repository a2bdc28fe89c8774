"""Provisioned broker accounts against the real RabbitMQ, in a private vhost made and deleted here.

A department's account binding another department's call-outs, publishing another's check-in key,
or stamping another's user_id is refused by the broker itself; its own bind and publish work, and
so does the department client with that account. Streets likewise. Needs rabbitmqctl as root."""
from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from urllib.parse import urlparse

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker

from services.common.broker import declare_exchanges, declare_outside_parties
from services.common.deadletters import DeadLetterQueue
from services.common.events import CalloutIssued, CheckIn, Deadlines, Place, encode
from services.common.provision import Credentials, Rabbitmqctl, accounts, apply, uri_for
from services.common.reference import load_reference
from services.common.settings import load_settings
from services.department_client.client import DeliveryError, DepartmentClient, ReportTimeout, make_report
from tests.support.processes import amqp_uri

pytestmark = pytest.mark.integration
RUN = uuid.uuid4().hex[:8]
PREFIX = f"t{RUN}-"                     # broker users are broker-wide: keep this run's apart
NS = f"t{RUN}."
VHOST = f"test-{RUN}"


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    host = urlparse(amqp_uri()).hostname
    if host not in ("127.0.0.1", "localhost") or not shutil.which("rabbitmqctl") or os.geteuid() != 0:
        pytest.skip("needs rabbitmqctl as root against the local broker to create accounts and a vhost")
    full = load_reference()
    reference = SimpleNamespace(departments=[d for d in full.departments if d.code in ("chengguan", "gongan")],
                                streets=[s for s in full.streets if s.code in ("daxigou", "nanxiashu")])
    ctl = Rabbitmqctl()
    wanted = accounts(reference, NS, PREFIX)
    credentials = Credentials(tmp_path_factory.mktemp("credentials") / "broker.json")
    first = apply(ctl, VHOST, wanted, credentials, env={})
    try:
        passwords = credentials.load()
        uri = {a.user[len(PREFIX):]: uri_for(amqp_uri(), a.user, passwords[a.user], VHOST) for a in wanted}
        settings = load_settings("dispatch", {"AMQP_URI": uri["svc-dispatch"], "BUS_NAMESPACE": NS})
        service = pika.BlockingConnection(pika.URLParameters(uri["svc-dispatch"]))
        channel = service.channel()
        declare_exchanges(channel, settings)
        declare_outside_parties(channel, settings, reference)
        # where the services would read reports and raise requests, so a permitted publish is routed
        channel.queue_declare(f"{NS}inbox", durable=False, auto_delete=False)
        for exchange, key in (("checkins", "*.chengguan"), ("checkins", "*.gongan"), ("whistles", "raise.*")):
            channel.queue_bind(f"{NS}inbox", f"{NS}{exchange}", key)
        yield SimpleNamespace(ctl=ctl, wanted=wanted, credentials=credentials, first=first, uri=uri,
                              service=service, channel=channel)
        service.close()
    finally:
        for account in wanted:
            ctl.delete_user(account.user)
        ctl.delete_vhost(VHOST)
        export = ctl.export()
        assert not [u for u in export["users"] if u["name"].startswith(PREFIX)]
        assert VHOST not in [v["name"] for v in export["vhosts"]]


@pytest.fixture
def connect(broker):
    opened = []

    def open_as(user):
        connection = pika.BlockingConnection(pika.URLParameters(broker.uri[user]))
        opened.append(connection)
        return connection
    yield open_as
    for connection in opened:
        if connection.is_open:
            connection.close()


def refusal(connection, operation) -> int:
    """The reply code the broker closes a fresh channel with when `operation(channel)` is refused."""
    channel = connection.channel()
    channel.confirm_delivery()
    with pytest.raises(ChannelClosedByBroker) as closed:
        operation(channel)
    return closed.value.reply_code


def publish(channel, exchange, key, body=b"{}", **props):
    channel.basic_publish(f"{NS}{exchange}", key, body,
                          pika.BasicProperties(content_type="application/json", delivery_mode=2, **props),
                          mandatory=True)


def inbox(broker):
    """Everything routed to the inbox so far: (routing key, user_id)."""
    got = []
    while True:
        method, props, _ = broker.channel.basic_get(f"{NS}inbox", auto_ack=True)
        if method is None:
            return got
        got.append((method.routing_key, props.user_id))


def test_provisioning_is_idempotent(broker):
    assert len(broker.first.users) == len(broker.wanted) and broker.first.topic_permissions
    again = apply(broker.ctl, VHOST, broker.wanted, broker.credentials, env={})
    assert again.empty, again.notes
    assert oct(broker.credentials.path.stat().st_mode & 0o777) == "0o600"


def test_a_department_may_not_bind_another_departments_call_outs(broker, connect):
    chengguan = connect("dept-chengguan")

    def bind(key, queue=None):
        def operation(channel):
            target = queue or channel.queue_declare("", exclusive=True).method.queue
            channel.queue_bind(target, f"{NS}callouts", key)
        return operation

    for key in ("callout.gongan.*", "callout.gongan.urgent", "callout.#", "#", "callout.*.*"):
        assert refusal(chengguan, bind(key)) == 403, key
    assert refusal(chengguan, bind("callout.gongan.*", f"{NS}department.chengguan.callouts")) == 403
    assert refusal(chengguan, lambda ch: ch.basic_get(f"{NS}department.gongan.callouts")) == 403
    assert refusal(chengguan, lambda ch: ch.queue_bind(ch.queue_declare("", exclusive=True).method.queue,
                                                       f"{NS}checkins", "outcome.gongan.*")) == 403
    own = chengguan.channel()                               # its own keys work
    own.queue_bind(f"{NS}department.chengguan.callouts", f"{NS}callouts", "callout.chengguan.*")
    private = own.queue_declare("", exclusive=True).method.queue
    own.queue_bind(private, f"{NS}callouts", "callout.chengguan.*")
    own.queue_bind(private, f"{NS}checkins", "outcome.chengguan.*")
    assert own.basic_get(f"{NS}department.chengguan.callouts")[0] is None


def test_a_department_may_publish_only_its_own_reports_under_its_own_name(broker, connect):
    chengguan = connect("dept-chengguan")
    inbox(broker)
    for key in ("checkin.gongan", "return.gongan", "outcome.gongan.accepted", "outcome.chengguan.accepted"):
        assert refusal(chengguan, lambda ch, key=key: publish(ch, "checkins", key)) == 403, key
    assert refusal(chengguan, lambda ch: publish(ch, "callouts", "callout.chengguan.urgent")) == 403
    assert refusal(chengguan, lambda ch: publish(ch, "events", "callout.checked_in")) == 403
    assert refusal(chengguan, lambda ch: publish(ch, "deadletters", "")) == 403
    # the broker refuses a user_id that is not the connection's own account
    spoofed = refusal(chengguan,
                      lambda ch: publish(ch, "checkins", "checkin.chengguan", user_id=f"{PREFIX}dept-gongan"))
    assert spoofed == 406
    channel = chengguan.channel()
    channel.confirm_delivery()
    publish(channel, "checkins", "checkin.chengguan", user_id=f"{PREFIX}dept-chengguan")
    assert inbox(broker) == [("checkin.chengguan", f"{PREFIX}dept-chengguan")]


def test_a_department_may_not_declare_or_delete_what_the_services_own(broker, connect):
    chengguan = connect("dept-chengguan")
    assert refusal(chengguan, lambda ch: ch.exchange_declare(f"{NS}checkins", "topic", durable=True)) == 403
    assert refusal(chengguan, lambda ch: ch.exchange_declare(f"{NS}mine", "topic")) == 403
    assert refusal(chengguan, lambda ch: ch.queue_delete(f"{NS}department.chengguan.callouts")) == 403
    assert refusal(chengguan, lambda ch: ch.queue_declare(f"{NS}department.chengguan.extra", durable=True)) == 403


def test_a_street_may_raise_only_for_itself_and_read_only_its_own_outcomes(broker, connect):
    daxigou = connect("street-daxigou")
    inbox(broker)
    assert refusal(daxigou, lambda ch: publish(ch, "whistles", "raise.nanxiashu")) == 403
    assert refusal(daxigou, lambda ch: publish(ch, "whistles", "outcome.daxigou.raised")) == 403
    assert refusal(daxigou, lambda ch: publish(ch, "checkins", "checkin.chengguan")) == 403
    assert refusal(daxigou, lambda ch: ch.basic_get(f"{NS}street.nanxiashu.outcomes")) == 403
    channel = daxigou.channel()
    channel.confirm_delivery()
    publish(channel, "whistles", "raise.daxigou", user_id=f"{PREFIX}street-daxigou")
    assert channel.basic_get(f"{NS}street.daxigou.outcomes")[0] is None
    assert inbox(broker) == [("raise.daxigou", f"{PREFIX}street-daxigou")]


def test_the_operator_reads_dead_letters_and_replays_but_reads_nothing_else(broker, connect):
    operator = connect("ops-duty")
    channel = operator.channel()
    channel.confirm_delivery()
    assert channel.basic_get(f"{NS}deadletters")[0] is None
    inbox(broker)
    publish(channel, "whistles", "raise.nanxiashu")                      # a replay goes where it first went
    assert inbox(broker) == [("raise.nanxiashu", None)]
    assert refusal(operator, lambda ch: ch.basic_get(f"{NS}department.chengguan.callouts")) == 403
    assert refusal(operator, lambda ch: ch.queue_declare("", exclusive=True)) == 403


def test_the_operator_replays_a_dead_letter_under_its_own_name(broker):
    letter_id = f"letter-{RUN}"
    broker.channel.basic_publish(f"{NS}deadletters", "", b'{"replayed": true}', pika.BasicProperties(
        content_type="application/octet-stream", delivery_mode=2, message_id=letter_id,
        headers={"x-original-exchange": f"{NS}whistles", "x-original-routing-key": "raise.nanxiashu",
                 "x-original-content-type": "application/json", "x-original-user-id": f"{PREFIX}street-nanxiashu",
                 "x-dead-reason": "failed 5 times"}))
    inbox(broker)
    queue = DeadLetterQueue(broker.uri["ops-duty"], NS)
    try:
        assert queue.replay({letter_id}) == [letter_id]
    finally:
        queue.close()
    # the broker let the operator's account stamp its own name (and no other: see the spoofing tests)
    assert inbox(broker) == [("raise.nanxiashu", f"{PREFIX}ops-duty")]


def callout(department="chengguan") -> CalloutIssued:
    now = datetime.now(timezone.utc)
    return CalloutIssued(callout_id=str(uuid.uuid4()), whistle_id=str(uuid.uuid4()), department_code=department,
                         department_name_zh="城管", role="lead", category="illegal_construction",
                         category_name_zh="违法建设", urgency="urgent", street_code="daxigou", grid_code=None,
                         place=Place(address="滨江路12号"), description="楼顶加盖", joint_enforcement=False,
                         departments=(department,), issued_at=now, matrix_version="m1",
                         deadlines=Deadlines(check_in_by=now + timedelta(minutes=30),
                                             arrival_by=now + timedelta(hours=1),
                                             completion_by=now + timedelta(days=1)))


def test_the_department_client_works_with_its_confined_account(broker):
    issued = callout()
    publish(broker.channel, "callouts", "callout.chengguan.urgent", encode(issued))
    inbox(broker)
    with DepartmentClient(broker.uri["dept-chengguan"], "chengguan", NS, timeout=1) as client:
        assert client.user == f"{PREFIX}dept-chengguan"
        [received] = list(client.callouts(timeout=2, count=1))
        assert received.callout_id == issued.callout_id
        report = make_report(CheckIn, "chengguan", {"callout_id": issued.callout_id, "officer": "执法队员 王建国"})
        with pytest.raises(ReportTimeout):          # its reply queue was bound: only nobody answers here
            client.send(report)
    assert inbox(broker) == [("checkin.chengguan", f"{PREFIX}dept-chengguan")]


def test_an_invalid_call_out_the_department_may_not_dead_letter_stays_on_its_queue(broker):
    publish(broker.channel, "callouts", "callout.chengguan.urgent", json.dumps({"not": "a call-out"}).encode())
    with DepartmentClient(broker.uri["dept-chengguan"], "chengguan", NS, timeout=1) as client:
        with pytest.raises(DeliveryError, match="stays on the queue"):
            list(client.callouts(timeout=2, count=1))
    method, _, body = broker.channel.basic_get(f"{NS}department.chengguan.callouts", auto_ack=True)
    assert method is not None and json.loads(body) == {"not": "a call-out"}

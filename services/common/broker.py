"""Broker plumbing: connections, the topology every service relies on, and confirmed publishing."""
from __future__ import annotations

import itertools
import logging
import re
import socket
import time
from typing import Iterable

import amqp
from kombu import Connection

from services.common.backoff import reconnect_delay
from services.common.events import ASSIGNMENTS, CALLOUTS, CHECKINS, DEADLETTERS, EXCHANGES, HOTLINE, WHISTLES
from services.common.reference import ReferenceData
from services.common.settings import Settings

log = logging.getLogger(__name__)
QUORUM = {"x-queue-type": "quorum"}
OUTCOME_TTL_MS = 7 * 24 * 3600 * 1000    # a street that never reads its outcomes does not fill the disk

CONNECTION_ERRORS = (OSError, socket.timeout, amqp.exceptions.ConnectionError,
                     amqp.exceptions.ChannelError, amqp.exceptions.RecoverableConnectionError,
                     ConnectionError)


class Unroutable(Exception):
    """The broker returned a mandatory message: no queue is bound for its routing key."""


class NotConfirmed(Exception):
    """The broker nacked a message or did not confirm it in time."""


HEARTBEAT_SECONDS = 10   # a half-open connection (a cut network) is noticed within ~2 beats, both ends


_turns = itertools.count()       # where this process's next connection starts in the list of nodes


def connect(settings: Settings) -> Connection:
    """A connection to the first broker node that answers; raises the last node's error if none does.

    Each call starts one node further along the list (round-robin), so a process's connections
    spread over the cluster's nodes, and the attempt after a failure starts at another node. One
    attempt per node: the callers' reconnect loops do the waiting (services/common/backoff.py)."""
    nodes = settings.amqp_nodes
    start = next(_turns) % len(nodes)
    error: BaseException = ConnectionError(f"no broker node in {len(nodes)} answered")
    for uri in nodes[start:] + nodes[:start]:
        conn = Connection(uri, heartbeat=HEARTBEAT_SECONDS, connect_timeout=5)
        try:
            conn.ensure_connection(max_retries=0, reraise_as_library_errors=False)
            return conn
        except CONNECTION_ERRORS as exc:
            discard(conn)
            error = exc
            if len(nodes) > 1:
                log.warning("broker node %s refused: %s; trying the next", conn.as_uri(), exc)
    raise error


class RedactCredentials(logging.Filter):
    """Masks the password of every URI in a log line. nameko logs AMQP_URI with only its first
    password masked; with several nodes, the others would be written out in full."""

    PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@;\s]*):[^@;\s]*@", re.I)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self.PASSWORD.sub(r"\g<scheme>:***@", message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


_rpc_queues_replicated = False


def replicate_rpc_queues() -> None:
    """Makes nameko declare each service's RPC queue (`rpc-<service>`) as a quorum queue.

    nameko declares it as a classic queue, which lives on one broker node: while that node is down
    no replica can consume it, nor even declare it (the broker answers 404, its home node is down),
    and the service's RPC consumer stops for good. As a quorum queue it is replicated like every
    other queue here. Call once per process, before the service container is set up. A classic
    `rpc-<service>` left by an older release must be deleted once (README, "Production")."""
    from nameko.rpc import RpcConsumer
    global _rpc_queues_replicated
    if _rpc_queues_replicated:
        return
    declared_by_nameko = RpcConsumer.setup

    def setup(self):
        declared_by_nameko(self)
        self.queue.queue_arguments = {**(self.queue.queue_arguments or {}), **QUORUM}
    RpcConsumer.setup = setup
    _rpc_queues_replicated = True


def discard(conn: Connection | None) -> None:
    """Drops a connection without the close handshake, which waits forever on a half-open socket."""
    if conn is None:
        return
    try:
        conn.collect()
    except Exception:  # noqa: BLE001 - it is broken already
        pass


def declare_exchanges(channel, settings: Settings) -> None:
    for name in EXCHANGES:
        channel.exchange_declare(settings.name(name), "topic", durable=True, auto_delete=False)
    channel.exchange_declare(settings.name(DEADLETTERS), "fanout", durable=True, auto_delete=False)
    channel.queue_declare(settings.name(DEADLETTERS), durable=True, auto_delete=False, arguments=QUORUM)
    channel.queue_bind(settings.name(DEADLETTERS), settings.name(DEADLETTERS), "")


def declare_queue(channel, settings: Settings, queue: str, bindings: Iterable[tuple[str, str]],
                  arguments: dict | None = None) -> str:
    """A durable quorum queue bound by (exchange, routing key) pairs; returns its full name."""
    name = settings.name(queue)
    channel.queue_declare(name, durable=True, auto_delete=False, arguments={**QUORUM, **(arguments or {})})
    for exchange, key in bindings:
        channel.queue_bind(name, settings.name(exchange), key)
    return name


def department_queue(department_code: str) -> str:
    return f"department.{department_code}.callouts"


def assignment_queue(department_code: str) -> str:
    """Where a department reads its officers' joint-team assignments, replacements and releases."""
    return f"department.{department_code}.assignments"


def street_queue(street_code: str) -> str:
    return f"street.{street_code}.outcomes"


# where the 12345 hotline system reads its tickets' receipts and answers (no TTL: an answer is its 办结 record)
HOTLINE_ANSWERS = "hotline.answers"
HOTLINE_BINDINGS = ((HOTLINE, "receipt.*.*"), (HOTLINE, "answer.*"))


def declare_outside_parties(channel, settings: Settings, reference: ReferenceData) -> None:
    """A durable queue per department and per street, so their messages wait for them.

    A department's system may bind queues of its own as well; these make sure a call-out issued
    while nobody listens is kept, not returned."""
    for department in reference.departments:
        declare_queue(channel, settings, department_queue(department.code),
                      [(CALLOUTS, f"callout.{department.code}.*")])
        declare_queue(channel, settings, f"department.{department.code}.outcomes",
                      [(CHECKINS, f"outcome.{department.code}.*")], {"x-message-ttl": OUTCOME_TTL_MS})
        declare_queue(channel, settings, assignment_queue(department.code),
                      [(ASSIGNMENTS, f"*.{department.code}.#")])
    for street in reference.streets:
        declare_queue(channel, settings, street_queue(street.code),
                      [(WHISTLES, f"outcome.{street.code}.*")], {"x-message-ttl": OUTCOME_TTL_MS})
    declare_queue(channel, settings, HOTLINE_ANSWERS, HOTLINE_BINDINGS)


STARTUP_PATIENCE_SECONDS = 60.0


def declare_topology(settings: Settings, reference: ReferenceData,
                     patience: float = STARTUP_PATIENCE_SECONDS) -> None:
    """The exchanges, and the queues where departments and streets read: declared before a service runs.

    A service may start while the broker is still coming up or too busy to answer a handshake in time
    (a fleet of replicas declaring their quorum queues at once): the declarations, all idempotent, are
    tried again with back-off for `patience` seconds before the start fails with the broker's error."""
    deadline = time.monotonic() + patience
    failures = 0
    while True:
        try:
            with connect(settings) as conn:
                channel = conn.channel()
                declare_exchanges(channel, settings)
                declare_outside_parties(channel, settings, reference)
            return
        except CONNECTION_ERRORS as exc:
            failures += 1
            if time.monotonic() >= deadline:
                raise
            log.warning("declaring the bus topology failed (%s), trying again: %s", failures, exc)
            time.sleep(reconnect_delay(failures, settings.reconnect_max_seconds))


class ConfirmedPublisher:
    """Publishes persistent messages one at a time, each confirmed by the broker (or an error).

    Not shared between greenthreads without a lock: a confirm is read off the same channel."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._conn: Connection | None = None
        self._channel = None
        self._returned: set[str] = set()
        self._pending: dict[int, str] = {}    # delivery tag -> message id, awaiting the broker's confirm
        self._acked: set[str] = set()
        self._nacked: set[str] = set()
        self._seq = 0

    def _ensure(self):
        if self._channel is None:
            self._conn = connect(self.settings)
            channel = self._conn.channel()
            channel.events["basic_return"].add(self._on_return)
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            declare_exchanges(channel, self.settings)
            channel.confirm_select()
            channel._confirm_selected = True      # py-amqp's own flag: confirm mode is already on
            self._seq = 0
            self._channel = channel
        return self._channel

    def _on_return(self, exc, exchange, routing_key, message):
        self._returned.add(message.properties.get("message_id", ""))

    def keepalive(self) -> None:
        """Sends a heartbeat when one is due; raises a connection error if the broker fell silent."""
        if self._conn is not None:
            try:
                self._conn.heartbeat_check()
            except CONNECTION_ERRORS:
                self.close()
                raise

    def publish(self, exchange: str, routing_key: str, body: bytes, message_id: str,
                headers: dict | None = None, content_type: str = "application/json") -> None:
        """Returns once the broker has confirmed; raises Unroutable, NotConfirmed or a connection error."""
        self.keepalive()
        channel = self._ensure()
        message = amqp.Message(body, content_type=content_type, delivery_mode=2,
                               message_id=message_id, application_headers=headers or {})
        try:
            self._seq += 1    # every publish on a confirm channel takes the next delivery tag
            channel.basic_publish_confirm(message, exchange=self.settings.name(exchange),
                                          routing_key=routing_key, mandatory=True,
                                          confirm_timeout=self.settings.confirm_timeout)
        except amqp.exceptions.MessageNacked as exc:
            raise NotConfirmed(f"broker nacked {message_id}") from exc
        except socket.timeout as exc:
            self.close()
            raise NotConfirmed(f"no confirm for {message_id} within {self.settings.confirm_timeout}s") from exc
        except CONNECTION_ERRORS:
            self.close()
            raise
        if message_id in self._returned:
            self._returned.discard(message_id)
            raise Unroutable(f"no queue bound to {exchange} {routing_key}")

    def publish_batch(self, messages: list[tuple[str, str, bytes, str]]) -> dict[str, Exception | None]:
        """Publishes (exchange, routing key, body, message id) with every confirm in flight at once.

        Returns, per message id, None once the broker confirmed it, or the error (Unroutable,
        NotConfirmed). Waiting for each confirm in turn caps a publisher at one round trip per
        message; this waits once for the whole batch."""
        self.keepalive()
        channel = self._ensure()
        self._pending, self._acked, self._nacked = {}, set(), set()
        results: dict[str, Exception | None] = {}
        try:
            for exchange, routing_key, body, message_id in messages:
                message = amqp.Message(body, content_type="application/json", delivery_mode=2,
                                       message_id=message_id)
                channel._basic_publish(message, exchange=self.settings.name(exchange),
                                       routing_key=routing_key, mandatory=True)
                self._seq += 1
                self._pending[self._seq] = message_id
            deadline = time.monotonic() + self.settings.confirm_timeout
            conn = self._conn
            assert conn is not None           # _ensure() connected it
            while self._pending and time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=max(0.01, deadline - time.monotonic()))
                except socket.timeout:
                    break
        except CONNECTION_ERRORS:
            self.close()
            raise
        for _, _, _, message_id in messages:
            if message_id in self._returned:
                self._returned.discard(message_id)
                results[message_id] = Unroutable(f"no queue bound for {message_id}")
            elif message_id in self._nacked:
                results[message_id] = NotConfirmed(f"broker nacked {message_id}")
            elif message_id in self._acked:
                results[message_id] = None
            else:
                results[message_id] = NotConfirmed(f"no confirm for {message_id} within "
                                                   f"{self.settings.confirm_timeout}s")
        if self._pending:
            self.close()        # confirms may still arrive for tags we no longer track: start afresh
        return results

    def _settle(self, delivery_tag: int, multiple: bool, into: set) -> None:
        tags = [t for t in self._pending if t <= delivery_tag] if multiple else [delivery_tag]
        for tag in tags:
            message_id = self._pending.pop(tag, None)
            if message_id is not None:
                into.add(message_id)

    def _on_ack(self, delivery_tag, multiple):
        self._settle(delivery_tag, multiple, self._acked)

    def _on_nack(self, delivery_tag, multiple):
        self._settle(delivery_tag, multiple, self._nacked)

    def close(self) -> None:
        conn, self._conn, self._channel = self._conn, None, None
        discard(conn)

"""The bus entrypoint: at-least-once delivery handled once, in batches, so no handler has to remember it.

A handler decorated with `@consume(queue, bindings, model)` is called as `handler(self, uow, message)`
for each message that is new to it. The entrypoint takes what has arrived on its queue (up to
`BATCH_MAX` messages), decodes and validates each (a message that fails is dead-lettered at once
with its field errors, and its sender told where it has one), drops what this consumer already
handled (tracking records, one query per batch), runs the handler for the rest inside one unit of
work — the effects, the outbox rows and the tracking records commit together — and acknowledges
the batch with one `multiple` ack after the commit.

If the batch fails, it is rolled back and each message is tried again alone, so one poison message
never holds back or dead-letters its neighbours. A message that fails alone is settled by the error
table (services/common/errors.py): a refusal is rejected at once (outcome to the sender, dead
letter); a fault is redelivered up to MAX_DELIVERY_ATTEMPTS times, then dead-lettered with the
error; a database that is away is waited out far longer. nameko's own @event_handler acks a message
whose handler failed; this entrypoint never does."""
from __future__ import annotations

import functools
import json
import logging
import socket
import traceback
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterable, Optional, Sequence

import eventlet
from eventlet.semaphore import Semaphore
from nameko.extensions import Entrypoint, ProviderCollector, SharedExtension, register_entrypoint
from prometheus_client import Counter
from sqlalchemy.exc import OperationalError

from services.common.attribution import stamp_sender
from services.common.backoff import reconnect_delay
from services.common.broker import (CONNECTION_ERRORS, ConfirmedPublisher, connect, declare_exchanges,
                                    declare_queue, discard)
from services.common.errors import REFUSALS, errors_of
from services.common.events import (DEADLETTERS, MAX_BODY_BYTES, ContractError, Event, FieldError, Message,
                                    decode_event, encode, parse, route_of)
from services.common.uow import Store

log = logging.getLogger(__name__)
STATE = {"consuming": True}   # False while a service with bus entrypoints has not yet bound its queues
CONSUMED = Counter("chuishao_messages_consumed_total", "Messages handled, by outcome",
                   ["service", "consumer", "outcome"])
BATCHES = Counter("chuishao_consumer_batches_total", "Batches a consumer ran, by how they ended",
                  ["service", "consumer", "outcome"])

OUTAGE_PATIENCE = 100    # x max attempts, at up to RECONNECT_MAX_SECONDS apart: ~10 minutes of database outage


def database_unavailable(exc: BaseException) -> bool:
    """True for a database that cannot be reached or is locked, as opposed to a bad statement."""
    if not isinstance(exc, OperationalError):
        return False
    if exc.connection_invalidated or type(exc.orig).__module__.startswith("psycopg2"):
        return True          # psycopg2 raises OperationalError for connection-level trouble only
    return "locked" in str(exc.orig) or "unable to open" in str(exc.orig)


OutcomeBuilder = Callable[[dict, str, tuple[FieldError, ...]], Optional[Event]]


@dataclass(frozen=True)
class Batch:
    """What one worker runs: the consumer's name, its store, and the decoded messages in order."""

    consumer: str
    store: Store
    messages: Sequence[Message]


class BusHub(SharedExtension, ProviderCollector):
    """One consuming connection per service process, a channel per bus entrypoint on it."""

    def __init__(self):
        super().__init__()
        self._closing = False
        self._cancelled = False
        self._live: set[int] = set()      # id() of the channels of the current connection
        self._write = Semaphore(1)
        self._publish = Semaphore(1)
        self._ready = eventlet.Event()

    def setup(self):
        self.settings = self.container.config["SETTINGS"]
        self.publisher = ConfirmedPublisher(self.settings)
        STATE["consuming"] = False

    def start(self):
        self._thread = self.container.spawn_managed_thread(self._run, identifier="bus_hub")

    def wait_ready(self, timeout: float = 30) -> None:
        with eventlet.Timeout(timeout):
            self._ready.wait()

    def unregister_provider(self, provider):
        # the first entrypoint to stop cancels consumption; batches in flight still ack
        self._cancelled = True
        super().unregister_provider(provider)

    def stop(self):
        self._closing = True
        self._thread.wait()
        self.publisher.close()

    def kill(self):
        self._closing = True
        self._thread.kill()

    # ------------------------------------------------------------------ the consuming loop
    def _run(self):
        failures = 0
        while not self._closing:
            try:
                self._consume()
                failures = 0
            except CONNECTION_ERRORS as exc:
                failures += 1
                log.warning("bus connection lost (%s), reconnecting: %s", failures, exc)
                eventlet.sleep(reconnect_delay(failures, self.settings.reconnect_max_seconds))

    def _consume(self):
        conn = connect(self.settings)
        try:
            declare_exchanges(conn.channel(), self.settings)
            consumers = []
            for provider in list(self._providers):
                channel = conn.channel()
                channel.basic_qos(0, self.settings.prefetch, False)
                queue = declare_queue(channel, self.settings, provider.queue, provider.bindings)
                # live before consuming: deliveries can arrive while the next basic_consume waits for
                # its ConsumeOk, and a batch finished by then must find its channel to ack on
                self._live.add(id(channel))
                consumers.append((channel, channel.basic_consume(queue, callback=provider.deliver)))
            STATE["consuming"] = True
            if not self._ready.ready():
                self._ready.send(True)
            cancelled = False
            while not self._closing:
                if self._cancelled and not cancelled:
                    with self._write:
                        for channel, tag in consumers:
                            channel.basic_cancel(tag)
                    cancelled = True
                try:
                    conn.drain_events(timeout=0.5)
                except socket.timeout:
                    pass
                conn.heartbeat_check()
                if self._publish.acquire(blocking=False):
                    try:
                        self.publisher.keepalive()
                    except CONNECTION_ERRORS:
                        pass            # reconnects on its next publish
                    finally:
                        self._publish.release()
        finally:
            self._live.clear()
            STATE["consuming"] = False
            discard(conn)

    # ------------------------------------------------------------------ settling messages
    def ack(self, messages: list, held: set[int]) -> None:
        """Acknowledges a batch after its commit (see ack_plan)."""
        if not messages:
            return
        channel = messages[-1].channel
        if all(m.channel is channel for m in messages):
            multiple, tags = ack_plan([m.delivery_tag for m in messages], held)
            if multiple:
                self._settle(channel, lambda: channel.basic_ack(tags[0], multiple=True))
                return
        for message in messages:
            self._settle(message.channel, lambda m=message: m.channel.basic_ack(m.delivery_tag))

    def requeue(self, message) -> None:
        self._settle(message.channel, lambda: message.channel.basic_reject(message.delivery_tag, requeue=True))

    def _settle(self, channel, action) -> None:
        if id(channel) not in self._live:
            return  # the connection it came on is gone; the broker redelivers it, consumers dedupe
        try:
            with self._write:
                action()
        except CONNECTION_ERRORS as exc:
            log.warning("could not settle a message (it will be redelivered): %s", exc)

    def reject(self, provider: "BusConsumer", message, body: dict, errors: tuple[FieldError, ...], reason: str):
        """A message that will never succeed: tell its sender (if it has one) and dead-letter it."""
        text = f"{reason}: " + "; ".join(f"{e.field}: {e.message}" for e in errors)
        log.warning("%s rejected a message: %s", provider.queue, text)
        try:
            outcome = provider.outcome(body, message.delivery_info.get("routing_key", ""), errors) \
                if provider.outcome else None
            if outcome is not None:
                route = route_of(outcome)
                with self._publish:
                    self.publisher.publish(route.exchange, route.routing_key, encode(outcome),
                                           message_id=outcome.event_id)
        except Exception as exc:  # noqa: BLE001 - the dead letter below still records the message
            log.error("could not publish the rejection outcome: %s", exc)
        if self.dead_letter(provider, message, text, 1):
            CONSUMED.labels(self.settings.service, provider.queue, "rejected").inc()

    def dead_letter(self, provider: "BusConsumer", message, reason: str, attempts: int) -> bool:
        """Publishes the message, untouched, to the dead letters with why; acks it once confirmed."""
        props = message.properties or {}
        headers = dict(props.get("application_headers") or {})
        headers.update({
            "x-dead-reason": reason[:4000],
            "x-dead-consumer": f"{self.settings.service}.{provider.queue}",
            "x-original-exchange": message.delivery_info.get("exchange", ""),
            "x-original-routing-key": message.delivery_info.get("routing_key", ""),
            "x-original-content-type": props.get("content_type") or "",
            "x-dead-lettered-at": datetime.now(timezone.utc).isoformat(),
            "x-attempts": attempts,
        })
        headers.setdefault("x-original-user-id", props.get("user_id") or "")   # who sent it, for a replay
        headers.pop("x-delivery-count", None)
        body = message.body if isinstance(message.body, bytes) else str(message.body).encode()
        try:
            with self._publish:
                self.publisher.publish(DEADLETTERS, "", body, headers=headers,
                                       message_id=props.get("message_id") or f"dl-{uuid.uuid4()}",
                                       content_type=props.get("content_type") or "application/octet-stream")
        except Exception as exc:  # noqa: BLE001 - not dead-lettered means not acked: it comes back
            log.error("could not dead-letter a message, leaving it on its queue: %s", exc)
            self.requeue(message)
            return False
        self._settle(message.channel, lambda: message.channel.basic_ack(message.delivery_tag))
        return True


def ack_plan(tags: list[int], held: set[int]) -> tuple[bool, list[int]]:
    """How to acknowledge one channel's batch of delivery tags: (True, [highest]) for one `multiple` ack,
    or (False, tags) to ack each. A multiple ack takes every unacked delivery up to its tag, so it is
    used only when no message held back for a retry (unsettled, not in this batch) lies below."""
    top = max(tags)
    if any(tag < top for tag in held.difference(tags)):
        return False, sorted(tags)
    return True, [top]


def _loose_json(message) -> dict:
    try:
        value = json.loads(message.body)
        return value if isinstance(value, dict) else {}
    except Exception:  # noqa: BLE001
        return {}


class BusConsumer(Entrypoint):
    """Consumes one durable queue bound by `bindings` ((exchange, routing key) pairs), in batches.

    `model` is a command class (RaiseWhistle, CheckIn) or a tuple of event classes; the handler gets
    validated instances. `verify(model, routing_key)` may add errors (a street raising on another
    street's key); `outcome` builds the reply a rejected sender gets; `sender` ("street", "dept")
    names who must prove themselves by their broker user when SENDER_CHECK=user_id."""

    hub = BusHub()

    def __init__(self, queue: str, bindings: Iterable[tuple[str, str]],
                 model: type[Message] | tuple[type[Event], ...], outcome: OutcomeBuilder | None = None,
                 verify: Callable[[Message, str], tuple[FieldError, ...]] | None = None,
                 sender: str | None = None, **kwargs):
        self.queue = queue
        self.sender = sender
        self.bindings = tuple(bindings)
        self.model = model
        self.outcome = outcome
        self.verify = verify
        kwargs.setdefault("expected_exceptions", REFUSALS)
        super().__init__(**kwargs)

    def setup(self):
        self.settings = self.container.config["SETTINGS"]
        stores = [d for d in self.container.dependencies if isinstance(d, Store)]
        if len(stores) != 1:
            raise RuntimeError(f"{self.container.service_name} needs exactly one Store for its bus "
                               f"entrypoints, has {len(stores)}")
        self.store = stores[0]
        self._buffer: deque = deque()
        self._wake = eventlet.Event()
        self._held: set[int] = set()      # delivery tags waiting out a retry delay, unsettled
        self._stopping = False
        self.hub.register_provider(self)

    def start(self):
        self._thread = self.container.spawn_managed_thread(self._loop, identifier=f"consume {self.queue}")

    def stop(self):
        self.hub.unregister_provider(self)
        self._stopping = True
        self._signal()
        self._thread.wait()

    def kill(self):
        self._stopping = True
        self._thread.kill()

    # ------------------------------------------------------------------ arrival
    def deliver(self, message) -> None:
        """Called by the hub's connection for each delivery: queued for the next batch."""
        self._buffer.append(message)
        self._signal()

    def _signal(self) -> None:
        if not self._wake.ready():
            self._wake.send(True)

    def _loop(self):
        while not self._stopping:
            if not self._buffer:
                self._wake.wait()
                self._wake = eventlet.Event()
                if self.settings.batch_linger_ms > 0 and len(self._buffer) < self.settings.batch_max:
                    # a message just arrived: what comes with it in the next moment shares its transaction
                    eventlet.sleep(self.settings.batch_linger_ms / 1000)
                continue
            taken = [self._buffer.popleft() for _ in range(min(self.settings.batch_max, len(self._buffer)))]
            decoded = []
            for message in taken:
                try:
                    decoded.append((message, self.decode(message)))
                except ContractError as exc:
                    self.hub.reject(self, message, _loose_json(message), exc.errors, "invalid message")
            if decoded:
                self._process(decoded)

    # ------------------------------------------------------------------ running a batch
    def _run(self, messages: list[Message]):
        """Runs the handler over messages in one worker; returns its exc_info, or None."""
        finished = eventlet.Event()

        def handle_result(worker_ctx, result, exc_info):
            finished.send(exc_info)
            return result, None            # settled here: nameko must not log it a second time

        self.container.spawn_worker(self, (Batch(self.queue, self.store, messages),), {},
                                    context_data={}, handle_result=handle_result)
        return finished.wait()

    def _process(self, decoded: list[tuple[object, Message]]) -> None:
        exc_info = self._run([payload for _, payload in decoded])
        service = self.settings.service
        if exc_info is None:
            self.hub.ack([message for message, _ in decoded], self._held)
            CONSUMED.labels(service, self.queue, "ok").inc(len(decoded))
            BATCHES.labels(service, self.queue, "ok").inc()
            return
        exc = exc_info[1]
        if len(decoded) == 1 or database_unavailable(exc):
            BATCHES.labels(service, self.queue, "failed").inc()
            for message, payload in decoded:
                self._settle_failure(message, payload, exc)
            return
        # one of them failed the lot: each alone, so the others go through and the bad one is found
        BATCHES.labels(service, self.queue, "split").inc()
        for item in decoded:
            self._process([item])

    def _settle_failure(self, message, payload: Message, exc: BaseException) -> None:
        service = self.settings.service
        if isinstance(exc, REFUSALS):
            self.hub.reject(self, message, payload.model_dump(mode="json"), errors_of(exc),
                            getattr(exc, "what", "refused"))
            return
        attempts = int((message.headers or {}).get("x-delivery-count", 0)) + 1
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        # a database that is away for a while is no fault of the message: wait it out far longer
        outage = database_unavailable(exc)
        limit = self.settings.max_attempts * (OUTAGE_PATIENCE if outage else 1)
        if attempts >= limit:
            log.error("%s gave up on a message after %s attempts: %s", self.queue, attempts, error)
            if self.hub.dead_letter(self, message, f"failed {attempts} times: {error}", attempts):
                CONSUMED.labels(service, self.queue, "dead_lettered").inc()
            return
        log.warning("%s attempt %s failed, will retry: %s", self.queue, attempts, error)
        # while the database is away, try again soon after it is back; otherwise back off a little.
        # The wait happens aside, so the queue's other messages go on meanwhile.
        delay = (reconnect_delay(attempts, self.settings.reconnect_max_seconds) if outage
                 else min(5.0, 0.1 * 2 ** min(attempts, 6)))
        self._held.add(message.delivery_tag)
        self.container.spawn_managed_thread(functools.partial(self._retry_later, message, delay),
                                            identifier=f"retry {self.queue}")
        CONSUMED.labels(service, self.queue, "retried").inc()

    def _retry_later(self, message, delay: float) -> None:
        try:
            eventlet.sleep(delay)
            self.hub.requeue(message)
        finally:
            self._held.discard(message.delivery_tag)

    # ------------------------------------------------------------------ decoding
    def check_sender(self, message) -> None:
        """With SENDER_CHECK=user_id, a street or department proves itself by the broker-validated user_id.

        RabbitMQ refuses a user_id that is not the publishing connection's user, so a message that
        says `user_id: dept-chengguan` was sent over that department's own account."""
        settings = self.settings
        if self.sender is None or settings.sender_check != "user_id":
            return
        routing_key = message.delivery_info.get("routing_key", "")
        code = routing_key.split(".")[1] if routing_key.count(".") == 1 else ""
        user = (message.properties or {}).get("user_id")
        if not user:
            raise ContractError((FieldError(field="user_id", message="no verifiable sender: publish with "
                                            "the AMQP user_id property set to your broker user"),))
        if user != f"{self.sender}-{code}" and user not in settings.sender_superusers:
            raise ContractError((FieldError(field="user_id",
                                            message=f"broker user {user!r} may not send for {self.sender} {code!r}"),))

    def decode(self, message) -> Message:
        self.check_sender(message)
        props = message.properties or {}
        body = message.body if isinstance(message.body, bytes) else str(message.body).encode("utf-8")
        if len(body) > MAX_BODY_BYTES:
            raise ContractError((FieldError(field="(message)",
                                            message=f"body of {len(body)} bytes exceeds {MAX_BODY_BYTES}"),))
        content_type = (props.get("content_type") or "").split(";")[0].strip()
        if content_type != "application/json":
            raise ContractError((FieldError(field="content_type",
                                            message=f"{content_type or 'none'} is not application/json"),))
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ContractError((FieldError(field="(message)", message=f"invalid JSON: {exc}"),)) from None
        if isinstance(self.model, tuple):
            decoded = decode_event(payload)
            if not isinstance(decoded, self.model):
                raise ContractError((FieldError(field="type",
                                                message=f"{decoded.type} is not consumed here"),))
        else:
            decoded = parse(self.model, payload)
        if self.verify:
            errors = self.verify(decoded, message.delivery_info.get("routing_key", ""))
            if errors:
                raise ContractError(errors)
        # the broker refuses a user_id that is not the publishing account's own: it names the sender
        stamp_sender(decoded, props.get("user_id"))
        return decoded


def consume(queue: str, bindings: Iterable[tuple[str, str]], model, outcome: OutcomeBuilder | None = None,
            verify: Callable[[Message, str], tuple[FieldError, ...]] | None = None, sender: str | None = None,
            batch: bool = False):
    """Makes `handler(self, uow, message)` the consumer of `queue`: called once per new message,
    inside the batch's unit of work (dedupe, outbox, retries and dead letters are the entrypoint's).

    With `batch=True` the handler is `handler(self, uow, messages)`, called once per batch with the
    new messages in arrival order, for handlers that do one statement for many messages."""

    def decorator(handler):
        @functools.wraps(handler)
        def run_batch(self, work: Batch):
            with work.store.unit_of_work() as uow:
                fresh = work.store.first_time(uow, work.consumer, work.messages)
                if batch:
                    if fresh:
                        handler(self, uow, fresh)
                    return
                for message in fresh:
                    handler(self, uow, message)

        register_entrypoint(run_batch, BusConsumer(queue, bindings, model, outcome, verify, sender))
        return run_batch

    return decorator

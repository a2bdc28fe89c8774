"""The bus entrypoint: consume from a durable queue, retry a bounded number of times, dead-letter with the error.

nameko's own @event_handler acks a message whose handler failed, and its consumer dies on a body
it cannot decode; this entrypoint does neither. A message is acked only after its worker finished,
or after it was dead-lettered (with a broker confirm) together with the reason."""
from __future__ import annotations

import json
import logging
import socket
import traceback
import uuid
from datetime import datetime, timezone
from functools import partial
from typing import Callable, Iterable, Optional

import eventlet
from eventlet.semaphore import Semaphore
from nameko.extensions import Entrypoint, ProviderCollector, SharedExtension
from prometheus_client import Counter
from sqlalchemy.exc import OperationalError

from services.common.backoff import reconnect_delay
from services.common.broker import (CONNECTION_ERRORS, ConfirmedPublisher, connect, declare_exchanges,
                                    declare_queue, discard)
from services.common.events import (DEADLETTERS, MAX_BODY_BYTES, ContractError, Event, FieldError,
                                    Message, decode_event, encode, parse, route_of)

log = logging.getLogger(__name__)
STATE = {"consuming": True}   # False while a service with bus entrypoints has not yet bound its queues
CONSUMED = Counter("chuishao_messages_consumed_total", "Messages handled, by outcome",
                   ["service", "consumer", "outcome"])


OUTAGE_PATIENCE = 100    # x max attempts, at up to RECONNECT_MAX_SECONDS apart: ~10 minutes of database outage


def database_unavailable(exc: BaseException) -> bool:
    """True for a database that cannot be reached or is locked, as opposed to a bad statement."""
    if not isinstance(exc, OperationalError):
        return False
    if exc.connection_invalidated or type(exc.orig).__module__.startswith("psycopg2"):
        return True          # psycopg2 raises OperationalError for connection-level trouble only
    return "locked" in str(exc.orig) or "unable to open" in str(exc.orig)


class Rejected(Exception):
    """A message that can never succeed (wrong callout, illegal step...): dead-lettered at once."""

    def __init__(self, reason: str, errors: tuple[FieldError, ...] = ()):
        super().__init__(reason)
        self.reason = reason
        self.errors = errors or (FieldError(field="(message)", message=reason),)


OutcomeBuilder = Callable[[dict, str, tuple[FieldError, ...]], Optional[Event]]


class BusHub(SharedExtension, ProviderCollector):
    """One consuming connection per service process, shared by all its bus entrypoints."""

    def __init__(self):
        super().__init__()
        self._closing = False
        self._cancelled = False
        self._channel = None
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
        # the first entrypoint to stop cancels consumption; in-flight workers still ack
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
                self._channel = None
                eventlet.sleep(reconnect_delay(failures, self.settings.reconnect_max_seconds))

    def _consume(self):
        conn = connect(self.settings)
        try:
            channel = conn.channel()
            channel.basic_qos(0, self.settings.prefetch, False)
            declare_exchanges(channel, self.settings)
            # set before consuming: deliveries can arrive while the next basic_consume waits for its
            # ConsumeOk, and a worker finished by then must find the channel to ack on
            self._channel = channel
            tags = []
            for provider in list(self._providers):
                queue = declare_queue(channel, self.settings, provider.queue, provider.bindings)
                tags.append(channel.basic_consume(queue, callback=partial(self._on_message, provider)))
            STATE["consuming"] = True
            if not self._ready.ready():
                self._ready.send(True)
            cancelled = False
            while not self._closing:
                if self._cancelled and not cancelled:
                    with self._write:
                        for tag in tags:
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
            self._channel = None
            STATE["consuming"] = False
            discard(conn)

    def _on_message(self, provider: "BusConsumer", message):
        try:
            payload = provider.decode(message)
        except ContractError as exc:
            self._reject(provider, message, _loose_json(message), exc.errors, "invalid message")
            return
        self.container.spawn_worker(
            provider, (payload,), {}, context_data={},
            handle_result=partial(self._handle_result, provider, message, payload))

    def _handle_result(self, provider, message, payload, worker_ctx, result, exc_info):
        # nameko kills the whole container if this raises, so nothing may escape it
        try:
            self._settle_result(provider, message, payload, exc_info)
        except Exception:  # noqa: BLE001
            log.exception("%s could not settle a message; it stays unacked and comes back", provider.queue)
        return result, None

    def _settle_result(self, provider, message, payload, exc_info):
        if exc_info is None:
            self._ack(message)
            CONSUMED.labels(self.settings.service, provider.queue, "ok").inc()
            return
        exc = exc_info[1]
        body = payload.model_dump(mode="json") if isinstance(payload, Message) else {}
        if isinstance(exc, Rejected):
            self._reject(provider, message, body, exc.errors, exc.reason)
            return
        attempts = int((message.headers or {}).get("x-delivery-count", 0)) + 1
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        # a database that is away for a while is no fault of the message: wait it out far longer
        outage = database_unavailable(exc)
        limit = self.settings.max_attempts * (OUTAGE_PATIENCE if outage else 1)
        if attempts >= limit:
            log.error("%s gave up on a message after %s attempts: %s", provider.queue, attempts, error)
            self._dead_letter(provider, message, f"failed {attempts} times: {error}", attempts)
            CONSUMED.labels(self.settings.service, provider.queue, "dead_lettered").inc()
        else:
            log.warning("%s attempt %s failed, will retry: %s", provider.queue, attempts, error)
            # while the database is away, try again soon after it is back (the 5 s pause of a failing
            # handler made a 5 s PostgreSQL outage cost up to 8.6 s)
            eventlet.sleep(reconnect_delay(attempts, self.settings.reconnect_max_seconds)
                           if outage else min(5.0, 0.1 * 2 ** min(attempts, 6)))
            self._requeue(message)
            CONSUMED.labels(self.settings.service, provider.queue, "retried").inc()

    # ------------------------------------------------------------------ settling a message
    def _reject(self, provider, message, body: dict, errors: tuple[FieldError, ...], reason: str):
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
        self._dead_letter(provider, message, text, 1)
        CONSUMED.labels(self.settings.service, provider.queue, "rejected").inc()

    def _dead_letter(self, provider, message, reason: str, attempts: int):
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
        headers.pop("x-delivery-count", None)
        body = message.body if isinstance(message.body, bytes) else str(message.body).encode()
        try:
            with self._publish:
                self.publisher.publish(DEADLETTERS, "", body, headers=headers,
                                       message_id=props.get("message_id") or f"dl-{uuid.uuid4()}",
                                       content_type=props.get("content_type") or "application/octet-stream")
        except Exception as exc:  # noqa: BLE001 - not dead-lettered means not acked: it comes back
            log.error("could not dead-letter a message, leaving it on its queue: %s", exc)
            self._requeue(message)
            return
        self._ack(message)

    def _ack(self, message):
        self._settle(message, lambda channel: channel.basic_ack(message.delivery_tag))

    def _requeue(self, message):
        self._settle(message, lambda channel: channel.basic_reject(message.delivery_tag, requeue=True))

    def _settle(self, message, action):
        channel = self._channel
        if channel is None or message.channel is not channel:
            return  # the connection it came on is gone; the broker redelivers it, consumers dedupe
        try:
            with self._write:
                action(channel)
        except CONNECTION_ERRORS as exc:
            log.warning("could not settle a message (it will be redelivered): %s", exc)


def _loose_json(message) -> dict:
    try:
        value = json.loads(message.body)
        return value if isinstance(value, dict) else {}
    except Exception:  # noqa: BLE001
        return {}


class BusConsumer(Entrypoint):
    """Consumes one durable queue bound by `bindings` ((exchange, routing key) pairs).

    `model` is a command class (RaiseWhistle, CheckIn) or a tuple of event classes; the handler is
    called with the validated model instance. `verify(model, routing_key)` may add errors (a
    street raising on another street's key); `outcome` builds the reply a rejected sender gets."""

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
        kwargs.setdefault("expected_exceptions", (Rejected,))
        super().__init__(**kwargs)

    def setup(self):
        self.hub.register_provider(self)

    def stop(self):
        self.hub.unregister_provider(self)

    def check_sender(self, message) -> None:
        """With SENDER_CHECK=user_id, a street or department proves itself by the broker-validated user_id.

        RabbitMQ refuses a user_id that is not the publishing connection's user, so a message that
        says `user_id: dept-chengguan` was sent over that department's own account."""
        settings = self.container.config["SETTINGS"]
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
        return decoded


consume = BusConsumer.decorator

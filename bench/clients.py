"""The outside parties, each a process with one asynchronous pika connection (SelectConnection).

- Pacer: the streets. Publishes RaiseWhistle commands on an open-loop schedule (the send time of
  message i is fixed in advance, whatever the system answers), with publisher confirms kept in
  flight rather than waited for one by one, so a slow confirm never lowers the offered rate. The
  time a whistle was *meant* to be raised travels in its description: latencies are measured from
  the schedule, so a late pacer cannot hide a slow system (no coordinated omission).
- Departments: consume `<ns>department.<code>.callouts`, note when each call-out arrived, check in
  at once over the bus (`<ns>checkins`, `checkin.<code>`, confirmed) and ack the call-out only once
  the check-in is confirmed. They also read their `outcomes` queues so those do not pile up.
- Observer: reads `whistle.all_checked_in` events from a private queue, and the streets' outcome
  queues (raise -> outcome, and which whistle a request became).

Each sends what it saw to the main process in batches over a multiprocessing queue, and stops on
an event or at its own deadline (every loop here is bounded).
"""
from __future__ import annotations

import collections
import json
import re
import time
import traceback
import uuid
from typing import Any

import pika
from pika.spec import Basic

FLUSH_SECONDS = 0.2
STAMP = re.compile(r"\[bench step=(\S+) seq=(\d+) t=(\d+\.\d+)\]")
PERSISTENT_JSON = dict(content_type="application/json", delivery_mode=2)


def stamp(step: str, seq: int, t: float) -> str:
    return f"[bench step={step} seq={seq} t={t:.6f}]"


def schedule(start_at: float, segments: list[tuple[float, float]]):
    """The open-loop send times: segment after segment of (rate per second, seconds)."""
    start = start_at
    for rate, seconds in segments:
        for i in range(int(round(rate * seconds))):
            yield start + i / rate
        start += seconds


def plan(seq: int, workload: dict) -> tuple[str, str, str, str]:
    """(street, grid, category, urgency) of whistle number seq: a fixed rotation."""
    places, categories, urgencies = workload["places"], workload["categories"], workload["urgencies"]
    street, grid = places[(seq // len(categories)) % len(places)]
    return street, grid, categories[seq % len(categories)], urgencies[(seq // 7) % len(urgencies)]


def read_stamp(text: str) -> tuple[str, int, float] | None:
    match = STAMP.search(text or "")
    if not match:
        return None
    return match.group(1), int(match.group(2)), float(match.group(3))


class ConfirmTracker:
    """Publisher confirms on one channel: delivery tags 1, 2, 3... acked or nacked, maybe `multiple`."""

    def __init__(self):
        self.next_tag = 0
        self.pending: collections.OrderedDict[int, Any] = collections.OrderedDict()
        self.acked = 0
        self.nacked = 0

    def published(self, payload: Any = None) -> int:
        self.next_tag += 1
        self.pending[self.next_tag] = payload
        return self.next_tag

    def settle(self, frame) -> tuple[bool, list[Any]]:
        """(acked?, payloads of the publishes this confirm settles)."""
        method = frame.method
        ack = isinstance(method, Basic.Ack)
        settled = []
        if method.multiple:
            while self.pending:
                tag = next(iter(self.pending))
                if tag > method.delivery_tag:
                    break
                settled.append(self.pending.pop(tag))
        elif method.delivery_tag in self.pending:
            settled.append(self.pending.pop(method.delivery_tag))
        if ack:
            self.acked += len(settled)
        else:
            self.nacked += len(settled)
        return ack, settled


class Client:
    """One SelectConnection and channel; subclasses set up consumers/publishing in `setup`."""

    name = "client"

    def __init__(self, amqp_uri: str, namespace: str, out, stop, max_seconds: float, **params):
        self.name = params.pop("name", self.name)
        self.amqp_uri = amqp_uri
        self.ns = namespace
        self.out = out
        self.stop_event = stop
        self.deadline = time.monotonic() + max_seconds
        self.params = params
        self.records: list = []
        self.channel = None
        self.closing = False
        self.returned = 0

    # -------------------------------------------------------------- lifecycle
    def run(self) -> None:
        parameters = pika.URLParameters(self.amqp_uri)
        self.connection = pika.SelectConnection(parameters, on_open_callback=self._on_open,
                                                on_open_error_callback=self._on_open_error,
                                                on_close_callback=self._on_closed)
        self.connection.ioloop.start()

    def _on_open(self, connection) -> None:
        connection.channel(on_open_callback=self._on_channel)

    def _on_open_error(self, _connection, error) -> None:
        self.out.put(("error", self.name, f"could not connect: {error!r}"))
        self.connection.ioloop.stop()

    def _on_closed(self, _connection, reason) -> None:
        if not self.closing:
            self.out.put(("error", self.name, f"connection closed: {reason!r}"))
        self.connection.ioloop.stop()

    def _on_channel(self, channel) -> None:
        self.channel = channel
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(self._on_return)
        self.setup(channel)
        self.connection.ioloop.call_later(FLUSH_SECONDS, self._tick)

    def _on_channel_closed(self, _channel, reason) -> None:
        if not self.closing:
            self.out.put(("error", self.name, f"channel closed: {reason!r}"))
            self.finish()

    def _on_return(self, _channel, _method, _props, _body) -> None:
        self.returned += 1

    def _tick(self) -> None:
        self.flush()
        if self.closing:
            return
        if self.stop_event.is_set() or time.monotonic() > self.deadline or self.done():
            self.finish()
            return
        self.connection.ioloop.call_later(FLUSH_SECONDS, self._tick)

    def ready(self) -> None:
        self.out.put(("ready", self.name, None))

    def flush(self) -> None:
        if self.records:
            batch, self.records = self.records, []
            self.out.put(("records", self.name, batch))

    def finish(self) -> None:
        if self.closing:
            return
        self.closing = True
        self.flush()
        self.out.put(("summary", self.name, self.summary()))
        try:
            self.connection.close()
        except Exception:  # noqa: BLE001 - already closing
            self.connection.ioloop.stop()

    # -------------------------------------------------------------- for subclasses
    def setup(self, channel) -> None:
        raise NotImplementedError

    def done(self) -> bool:
        return False

    def summary(self) -> dict:
        return {"returned": self.returned}


class Pacer(Client):
    """Raises whistles at the scheduled times: segments [(rate per s, seconds)], from `start_at`."""

    name = "pacer"

    def setup(self, channel) -> None:
        p = self.params
        self.step: str = p["step"]
        self.segments: list[tuple[float, float]] = p["segments"]
        self.workload: dict = p["workload"]
        self.confirms = ConfirmTracker()
        self.next_time = None
        self.seq = 0
        self.max_lag = 0.0
        self.late = 0                  # publishes more than 10 ms behind their scheduled time
        self.first_sent = self.last_sent = None
        self.finished_publishing = False
        self.exchange = f"{self.ns}whistles"
        channel.confirm_delivery(self._on_confirm, callback=lambda _frame: self._go())

    def _go(self) -> None:
        # the clock starts a little after the connection is ready; the main process learns when
        self.start_at = time.time() + self.params["start_delay"]
        self.schedule = schedule(self.start_at, self.segments)
        self.next_time = next(self.schedule, None)
        self.out.put(("ready", self.name, self.start_at))
        self.connection.ioloop.call_later(max(0.0, self.start_at - time.time()), self._publish_due)

    def _publish_due(self) -> None:
        if self.closing:
            return
        if self.stop_event.is_set():
            self.next_time = None
        now = time.time()
        burst = 0
        while self.next_time is not None and self.next_time <= now and burst < 1000:
            self._raise(self.next_time, now)
            self.next_time = next(self.schedule, None)
            burst += 1
        if self.next_time is None:
            self.finished_publishing = True
            return
        self.connection.ioloop.call_later(max(0.0, self.next_time - time.time()), self._publish_due)

    def _raise(self, intended: float, now: float) -> None:
        seq = self.seq
        self.seq += 1
        street, grid, category, urgency = plan(seq, self.workload)
        request_id = f"bench-{self.step}-{seq}"
        body = {
            "request_id": request_id, "street_code": street, "grid_code": grid,
            "category": category, "urgency": urgency, "source": "grid_patrol",
            "description": f"{stamp(self.step, seq, intended)} 压测吹哨 load-test whistle {seq}",
            # a distinct address per whistle: no two bench whistles describe the same place
            "place": {"address": f"压测路{seq}号 ({self.step})"},
            "reported_by": "压测网格员 bench",
        }
        self.channel.basic_publish(
            self.exchange, f"raise.{street}", json.dumps(body, ensure_ascii=False).encode(),
            pika.BasicProperties(message_id=str(uuid.uuid4()), **PERSISTENT_JSON), mandatory=True)
        self.confirms.published()
        sent = time.time()
        lag = sent - intended
        self.max_lag = max(self.max_lag, lag)
        self.late += lag > 0.010
        self.first_sent = self.first_sent or sent
        self.last_sent = sent

    def _on_confirm(self, frame) -> None:
        self.confirms.settle(frame)

    def done(self) -> bool:
        # finished once everything is published and confirmed (or the deadline/stop event says so)
        return self.finished_publishing and not self.confirms.pending

    def summary(self) -> dict:
        return {"returned": self.returned, "sent": self.seq, "confirmed": self.confirms.acked,
                "nacked": self.confirms.nacked, "unconfirmed": len(self.confirms.pending),
                "max_lag": self.max_lag, "late": self.late,
                "first_sent": self.first_sent, "last_sent": self.last_sent}


class Departments(Client):
    """Simulated department systems: every call-out is checked in at once, over the bus."""

    name = "departments"

    def setup(self, channel) -> None:
        self.departments: list[str] = self.params["departments"]
        self.confirms = ConfirmTracker()
        self.received = 0
        self.unparsed = 0
        self.outcomes = collections.Counter()
        self.exchange = f"{self.ns}checkins"
        outcome_queues = self.params.get("outcome_queues", [])
        self._consumers_left = len(self.departments) + len(outcome_queues)
        channel.confirm_delivery(self._on_confirm)
        channel.basic_qos(prefetch_count=self.params.get("prefetch", 200))
        for code in self.departments:
            channel.basic_consume(f"{self.ns}department.{code}.callouts", self._on_callout,
                                  callback=self._consuming)
        for queue in outcome_queues:      # read so they do not pile up; only counted
            channel.basic_consume(f"{self.ns}{queue}", self._on_outcome, auto_ack=True,
                                  callback=self._consuming)

    def _consuming(self, _frame) -> None:
        self._consumers_left -= 1
        if self._consumers_left == 0:
            self.ready()

    def _on_callout(self, channel, method, _props, body) -> None:
        received = time.time()
        self.received += 1
        try:
            callout = json.loads(body)
            callout_id, department = callout["callout_id"], callout["department_code"]
        except (ValueError, KeyError, TypeError):
            self.unparsed += 1
            channel.basic_ack(method.delivery_tag)
            return
        checkin = {"request_id": f"ci-{callout_id}", "callout_id": callout_id,
                   "department_code": department, "officer": f"压测执法 bench-{department}"}
        channel.basic_publish(self.exchange, f"checkin.{department}",
                              json.dumps(checkin, ensure_ascii=False).encode(),
                              pika.BasicProperties(message_id=str(uuid.uuid4()), **PERSISTENT_JSON),
                              mandatory=True)
        self.confirms.published(method.delivery_tag)
        stamped = read_stamp(callout.get("description", ""))
        step, seq, raised = stamped if stamped else (None, -1, None)
        self.records.append(("callout", step, seq, raised, received, time.time(), department,
                             callout.get("whistle_id"), callout_id))

    def _on_confirm(self, frame) -> None:
        ack, callout_tags = self.confirms.settle(frame)
        for tag in callout_tags:
            if ack:
                self.channel.basic_ack(tag)
            else:   # the check-in was not taken: the call-out comes back and is checked in again
                self.channel.basic_nack(tag, requeue=True)

    def _on_outcome(self, _channel, method, _props, _body) -> None:
        self.outcomes[method.routing_key.rsplit(".", 1)[-1]] += 1

    def summary(self) -> dict:
        return {"returned": self.returned, "received": self.received, "unparsed": self.unparsed,
                "checkins": self.confirms.next_tag, "confirmed": self.confirms.acked,
                "nacked": self.confirms.nacked, "outcomes": dict(self.outcomes)}


class Observer(Client):
    """Watches `whistle.all_checked_in` events and the streets' outcome queues."""

    name = "observer"

    def setup(self, channel) -> None:
        queues = [(self.params["done_queue"], self._on_done)]
        queues += [(f"{self.ns}{q}", self._on_outcome) for q in self.params["queues"]]
        self._consumers_left = len(queues)
        for queue, handler in queues:
            channel.basic_consume(queue, handler, auto_ack=True, callback=self._consuming)

    def _consuming(self, _frame) -> None:
        self._consumers_left -= 1
        if self._consumers_left == 0:
            self.ready()

    def _on_done(self, _channel, _method, _props, body) -> None:
        received = time.time()
        try:
            self.records.append(("done", json.loads(body)["whistle_id"], received))
        except (ValueError, KeyError, TypeError):
            pass

    def _on_outcome(self, _channel, _method, _props, body) -> None:
        received = time.time()
        try:
            outcome = json.loads(body)
        except ValueError:
            return
        self.records.append(("outcome", outcome.get("request_id"), outcome.get("whistle_id"),
                             outcome.get("outcome"), bool(outcome.get("repeated")), received))


KINDS = {"pacer": Pacer, "departments": Departments, "observer": Observer}


def run_client(kind: str, amqp_uri: str, namespace: str, out, stop, max_seconds: float, params: dict):
    """Process entry point (multiprocessing, spawn)."""
    try:
        KINDS[kind](amqp_uri, namespace, out, stop, max_seconds, **params).run()
    except Exception:  # noqa: BLE001 - reported to the main process, which says so
        out.put(("error", kind, traceback.format_exc()))
    finally:
        out.put(("exited", kind, None))

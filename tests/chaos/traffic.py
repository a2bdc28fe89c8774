"""The outside world of the fault suite: streets raising whistles, departments checking in, and a ledger.

Everything here talks to the private broker directly (not through the proxy the services use) and
retries through faults: a whistle publish is repeated, with the same request id, until the broker
confirms it; a department's check-in is repeated, with the same request id, until dispatch answers
`accepted`. Duplicates on the wire are therefore expected; the suite checks there are none in the data.
"""
from __future__ import annotations

import bisect
import json
import logging
import re
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pika
from pika.exceptions import NackError, UnroutableError

from services.common.backoff import reconnect_delay
from services.common.events import WHISTLES
from services.common.reference import ReferenceData
from services.department_client import DepartmentClient
from tests.support.bus import nodes_of

log = logging.getLogger("chaos")
RID = re.compile(r"\[chaos (\S+)\]")
URGENCIES = ("emergency", "urgent", "normal")


@dataclass(frozen=True)
class Plan:
    index: int
    request_id: str
    street: str
    grid: str
    category: str
    urgency: str
    departments: frozenset[str]

    def body(self) -> bytes:
        return json.dumps({
            "request_id": self.request_id, "street_code": self.street, "grid_code": self.grid,
            "category": self.category, "urgency": self.urgency, "source": "grid_patrol",
            # the request id travels in the description, so a department can tell which whistle it got
            "description": f"[chaos {self.request_id}] 故障演练 fault drill whistle #{self.index}",
            # no coordinates: every whistle is its own case (no duplicate linking, no area lookup)
            "place": {"address": f"演练地址 {self.index} 号"},
            "reported_by": "演练网格员 chaos",
        }, ensure_ascii=False).encode()


def plans(reference: ReferenceData, count: int, run_id: str) -> list[Plan]:
    """`count` whistles spread over every street, grid and category (so every department is called)."""
    grids = [(s.code, g.code) for s in reference.streets for c in s.communities for g in c.grids]
    categories = [c.code for c in reference.categories]
    out = []
    for i in range(count):
        street, grid = grids[(i * 7) % len(grids)]
        category = categories[i % len(categories)]
        lead, support = reference.assignment(street, category)
        out.append(Plan(i, f"chaos-{run_id}-{i:06d}", street, grid, category, URGENCIES[i % len(URGENCIES)],
                        frozenset((lead, *support))))
    return out


def departments_of(all_plans: list[Plan]) -> list[str]:
    return sorted({d for p in all_plans for d in p.departments})


@dataclass
class Received:
    callout_id: str
    request_id: str | None
    whistle_id: str
    department: str
    round: int
    first_at: float
    deliveries: int = 1


@dataclass
class CheckinSent:
    request_id: str
    first_at: float
    last_at: float
    sends: int = 1


class Ledger:
    """What the outside world did and saw, with times (time.monotonic()); shared by every thread."""

    def __init__(self, all_plans: list[Plan]):
        self.lock = threading.Lock()
        self.plans = {p.request_id: p for p in all_plans}
        self.first_attempt: dict[str, float] = {}
        self.attempt_order: list[tuple[float, str]] = []     # (first attempt, request_id), in time order
        self.confirmed: dict[str, float] = {}
        self.publishes = 0                    # publish attempts on the wire, including retries
        self.publish_failures = Counter()     # why a publish was repeated
        self.received: dict[str, Received] = {}                 # callout_id -> first delivery
        self.by_request: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self.completed_at: dict[str, float] = {}                # request_id -> all departments have it
        self.callout_deliveries = 0
        self.strays: list[str] = []                             # call-outs that are not for our whistles
        self.checkins: dict[str, CheckinSent] = {}              # callout_id -> check-in sent
        self.unanswered: dict[str, dict[str, CheckinSent]] = defaultdict(dict)   # department -> not accepted
        self.checkin_failures = Counter()
        self.accepted: dict[str, float] = {}                    # callout_id -> accepted outcome seen
        self.accepted_of: dict[str, int] = defaultdict(int)     # request_id -> call-outs accepted
        self.settled_at: dict[str, float] = {}                  # request_id -> every call-out checked in
        self.accepted_repeated = 0
        self.rejected: dict[str, list] = {}
        self.outcomes_raised: dict[str, str] = {}               # request_id -> whistle_id (street outcome)
        self.outcomes_rejected: dict[str, list] = {}
        self.outcome_messages = 0
        self.department_errors = Counter()

    # ------------------------------------------------------------------ streets
    def attempt(self, request_id: str, now: float) -> None:
        with self.lock:
            if request_id not in self.first_attempt:
                self.first_attempt[request_id] = now
                self.attempt_order.append((now, request_id))
            self.publishes += 1

    def confirm(self, request_id: str, now: float) -> None:
        with self.lock:
            self.confirmed.setdefault(request_id, now)

    def in_flight(self) -> int:
        """Whistles raised whose every call-out has not yet been checked in and accepted."""
        with self.lock:
            return len(self.first_attempt) - len(self.settled_at)

    # ------------------------------------------------------------------ departments
    def callout(self, department: str, callout: dict, now: float) -> bool:
        """Records a delivery; True if this call-out was seen before (a redelivery)."""
        match = RID.search(callout.get("description", ""))
        request_id = match.group(1) if match else None
        with self.lock:
            self.callout_deliveries += 1
            seen = self.received.get(callout["callout_id"])
            if seen:
                seen.deliveries += 1
                return True
            self.received[callout["callout_id"]] = Received(
                callout["callout_id"], request_id, callout["whistle_id"], department,
                int(callout.get("round", 1)), now)
            plan = self.plans.get(request_id or "")
            if plan is None:
                self.strays.append(callout["callout_id"])
                return False
            got = self.by_request[request_id]
            got[department].add(callout["callout_id"])
            if request_id not in self.completed_at and plan.departments <= set(got):
                self.completed_at[request_id] = now
            return False

    def checkin_sent(self, callout_id: str, request_id: str, now: float) -> None:
        with self.lock:
            sent = self.checkins.get(callout_id)
            if sent is None:
                sent = self.checkins[callout_id] = CheckinSent(request_id, now, now)
            else:
                sent.sends += 1
                sent.last_at = now
            if callout_id not in self.accepted:
                self.unanswered[self.received[callout_id].department][callout_id] = sent

    def due_retries(self, department: str, older_than: float, now: float) -> list[tuple[str, str]]:
        """Check-ins unanswered for `older_than` seconds, doubling per re-send (capped at 16 times): a
        department system that re-sends at a fixed pace multiplies the load on a lagging dispatch."""
        with self.lock:
            return [(cid, sent.request_id) for cid, sent in self.unanswered[department].items()
                    if now - sent.last_at >= older_than * 2 ** min(sent.sends - 1, 4)]

    def report_outcome(self, payload: dict, now: float) -> None:
        with self.lock:
            self.outcome_messages += 1
            if payload.get("action") != "checkin" or not payload.get("callout_id"):
                return
            callout_id = payload["callout_id"]
            if payload.get("outcome") == "accepted":
                if payload.get("repeated"):
                    self.accepted_repeated += 1
                if callout_id in self.accepted:
                    return
                self.accepted[callout_id] = now
                received = self.received.get(callout_id)
                if received is not None:
                    self.unanswered[received.department].pop(callout_id, None)
                plan = self.plans.get(received.request_id or "") if received else None
                if plan is not None:
                    self.accepted_of[plan.request_id] += 1
                    if self.accepted_of[plan.request_id] >= len(plan.departments):
                        self.settled_at.setdefault(plan.request_id, now)
            else:
                self.rejected.setdefault(callout_id, []).append(payload.get("errors"))

    def street_outcome(self, payload: dict) -> None:
        with self.lock:
            request_id = payload.get("request_id")
            if request_id not in self.plans:
                return
            if payload.get("outcome") == "raised":
                self.outcomes_raised.setdefault(request_id, payload.get("whistle_id"))
            else:
                self.outcomes_rejected.setdefault(request_id, []).append(payload.get("errors"))

    # ------------------------------------------------------------------ recovery
    def first_attempt_after(self, instant: float) -> str | None:
        with self.lock:
            at = bisect.bisect_left(self.attempt_order, (instant, ""))
            return self.attempt_order[at][1] if at < len(self.attempt_order) else None

    def snapshot(self) -> dict:
        with self.lock:
            return {"attempted": len(self.first_attempt), "confirmed": len(self.confirmed),
                    "complete": len(self.completed_at), "callouts": len(self.received),
                    "checkins": len(self.checkins), "accepted": len(self.accepted)}


def _params(amqp_uri: str, name: str) -> list[pika.URLParameters]:
    """Each node of the (`;`-separated) AMQP_URI, tried in turn by BlockingConnection."""
    nodes = nodes_of(amqp_uri)
    for params in nodes:
        params.client_properties = {"connection_name": name}
        params.socket_timeout = 5
        params.blocked_connection_timeout = 30
        params.connection_attempts = 1
    return nodes


def _close_quietly(connection) -> None:
    try:
        if connection is not None and connection.is_open:
            connection.close()
    except Exception:  # noqa: BLE001 - a broken connection may fail to close
        pass


class Stoppable(threading.Thread):
    def __init__(self, name: str):
        super().__init__(name=name, daemon=True)
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def stop(self) -> None:
        self.stopping.set()

    def pause(self, failures: int) -> None:
        """Waits before reconnecting or repeating, as the services do, unless asked to stop."""
        self.stopping.wait(reconnect_delay(failures, cap=2.0))


class Pacer:
    """When the publisher may send whistle i: a steady rate, a bounded number of whistles in flight,
    and the fault schedule (segment k+1 waits until fault k has ended, so every fault is mid-stream).

    The in-flight bound is back-pressure, not a gate: a system that stopped making progress must not
    stop the stream (that would hide the rest of the schedule), so while the bound holds one whistle
    is let through every `patience` seconds. Not more: a 10,000-whistle run that went on at the full
    rate past the bound offered far more than the services take, and the departments' re-sent
    check-ins then buried dispatch (over 200,000 queued reports, most of them repeats)."""

    def __init__(self, ledger: Ledger, rate: float, window: int, segment: float, faults: int,
                 patience: float = 20.0):
        self.ledger = ledger
        self.rate = rate
        self.window = window
        self.segment = segment
        self.faults = faults
        self.patience = patience
        self.faults_ended = 0
        self.started = time.monotonic()
        self.full_since: float | None = None
        self.cond = threading.Condition()

    def fault_ended(self) -> None:
        with self.cond:
            self.faults_ended += 1
            self.cond.notify_all()

    def may_send(self, index: int, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if now < self.started + index / self.rate:
            return False
        if self.faults_ended < min(self.faults, int(index // self.segment)):
            return False
        if self.ledger.in_flight() >= self.window:
            if self.full_since is None:
                self.full_since = now
            if now - self.full_since < self.patience:
                return False
            self.full_since = now           # one through; the next one waits another `patience`
        else:
            self.full_since = None
        return True

    def wait_turn(self, index: int, stopping: threading.Event) -> bool:
        while not stopping.is_set():
            if self.may_send(index):
                return True
            with self.cond:
                self.cond.wait(0.02)
        return False


class StreetPublisher(Stoppable):
    """Raises every planned whistle on `whistles`, `raise.<street>`, repeating each until it is confirmed."""

    def __init__(self, amqp_uri: str, namespace: str, all_plans: list[Plan], ledger: Ledger, pacer: Pacer):
        super().__init__("street-publisher")
        self.amqp_uri = amqp_uri
        self.exchange = f"{namespace}{WHISTLES}"
        self.plans = all_plans
        self.ledger = ledger
        self.pacer = pacer
        self.sent = 0
        self.connection = None
        self.channel = None

    def _connect(self):
        self.connection = pika.BlockingConnection(_params(self.amqp_uri, "chaos street publisher"))
        self.channel = self.connection.channel()
        self.channel.confirm_delivery()

    def _drop(self):
        connection, self.connection, self.channel = self.connection, None, None
        _close_quietly(connection)

    def run(self):
        try:
            for plan in self.plans:
                if not self.pacer.wait_turn(plan.index, self.stopping):
                    return
                self._publish(plan)
                self.sent += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
            log.exception("street publisher failed")
        finally:
            self._drop()

    def _publish(self, plan: Plan) -> None:
        failures = 0
        body = plan.body()
        while not self.stopping.is_set():
            self.ledger.attempt(plan.request_id, time.monotonic())
            try:
                if self.channel is None:
                    self._connect()
                self.channel.basic_publish(
                    self.exchange, f"raise.{plan.street}", body,
                    pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                         message_id=str(uuid.uuid4()), app_id="chaos-street"),
                    mandatory=True)
                self.ledger.confirm(plan.request_id, time.monotonic())
                return
            except (UnroutableError, NackError) as exc:
                self.ledger.publish_failures[type(exc).__name__] += 1
            except Exception as exc:  # noqa: BLE001 - connection trouble of any kind: reconnect, repeat
                self.ledger.publish_failures[type(exc).__name__] += 1
                self._drop()
            failures += 1
            self.pause(failures)


class Department(Stoppable):
    """One department's system on the department client: takes its call-outs and checks in to each."""

    def __init__(self, amqp_uri: str, namespace: str, code: str, ledger: Ledger, retry_after: float):
        super().__init__(f"department-{code}")
        self.amqp_uri = amqp_uri
        self.namespace = namespace
        self.code = code
        self.ledger = ledger
        self.retry_after = retry_after
        self.last_retry_scan = 0.0

    def run(self):
        failures = 0
        while not self.stopping.is_set():
            try:
                with DepartmentClient(self.amqp_uri, self.code, self.namespace, timeout=5) as client:
                    failures = 0
                    while not self.stopping.is_set():
                        for callout in client.callouts(timeout=0.5):
                            self._handle(client, callout)
                            self._retry(client)
                            if self.stopping.is_set():
                                break
                        self._retry(client)
            except Exception as exc:  # noqa: BLE001 - broker gone, connection cut: reconnect
                failures += 1
                self.ledger.department_errors[type(exc).__name__] += 1
                self.pause(failures)

    def _handle(self, client: DepartmentClient, callout) -> None:
        payload = callout.model_dump(mode="json")
        self.ledger.callout(self.code, payload, time.monotonic())
        if callout.callout_id in self.ledger.accepted:
            return                     # a redelivery of a call-out already checked in: nothing to do
        request_id = f"ci-{callout.callout_id}"
        client.check_in(callout.callout_id, officer=f"演练 {self.code}", request_id=request_id, wait=False)
        self.ledger.checkin_sent(callout.callout_id, request_id, time.monotonic())

    def _retry(self, client: DepartmentClient) -> None:
        now = time.monotonic()
        if now - self.last_retry_scan < 1.0:
            return
        self.last_retry_scan = now
        for callout_id, request_id in self.ledger.due_retries(self.code, self.retry_after, now):
            client.check_in(callout_id, officer=f"演练 {self.code}", request_id=request_id, wait=False)
            self.ledger.checkin_sent(callout_id, request_id, time.monotonic())


class OutcomeReader(Stoppable):
    """Reads the durable outcome queues: the departments' report outcomes and the streets' whistle outcomes."""

    def __init__(self, amqp_uri: str, namespace: str, departments: list[str], streets: list[str],
                 ledger: Ledger):
        super().__init__("outcome-reader")
        self.amqp_uri = amqp_uri
        self.queues = [(f"{namespace}department.{d}.outcomes", ledger.report_outcome) for d in departments]
        self.queues += [(f"{namespace}street.{s}.outcomes", lambda p, _now: ledger.street_outcome(p))
                        for s in streets]
        self.ledger = ledger

    def run(self):
        failures = 0
        while not self.stopping.is_set():
            connection = None
            try:
                connection = pika.BlockingConnection(_params(self.amqp_uri, "chaos outcome reader"))
                channel = connection.channel()
                channel.basic_qos(prefetch_count=200)
                for queue, record in self.queues:
                    channel.queue_declare(queue, passive=True)
                    channel.basic_consume(queue, self._callback(record))
                failures = 0
                while not self.stopping.is_set():
                    connection.process_data_events(time_limit=0.5)
            except Exception:  # noqa: BLE001 - reconnect
                failures += 1
                self.pause(failures)
            finally:
                _close_quietly(connection)

    @staticmethod
    def _callback(record):
        def on_message(channel, method, properties, body):
            try:
                record(json.loads(body), time.monotonic())
            except ValueError:
                pass
            channel.basic_ack(method.delivery_tag)
        return on_message


@dataclass
class Traffic:
    """The streets, the departments and the outcome reader, started and stopped together."""

    amqp_uri: str
    namespace: str
    reference: ReferenceData
    plans: list[Plan]
    ledger: Ledger
    pacer: Pacer
    retry_after: float = 15.0
    threads: list = field(default_factory=list)

    def start(self) -> "Traffic":
        departments = departments_of(self.plans)
        self.departments = [Department(self.amqp_uri, self.namespace, d, self.ledger, self.retry_after)
                            for d in departments]
        self.reader = OutcomeReader(self.amqp_uri, self.namespace, departments,
                                    [s.code for s in self.reference.streets], self.ledger)
        self.publisher = StreetPublisher(self.amqp_uri, self.namespace, self.plans, self.ledger, self.pacer)
        self.threads = [*self.departments, self.reader, self.publisher]
        for thread in self.threads:
            thread.start()
        return self

    def stop(self, timeout: float = 20) -> None:
        for thread in self.threads:
            thread.stop()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.1, deadline - time.monotonic()))

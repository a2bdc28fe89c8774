"""A department's side of 吹哨报到 over AMQP: receive call-outs, report check-in, arrival, completion, return.

Only pika and the message contract (services.common.events: pydantic, no nameko) are needed, so a
department's own system can use this without running anything of ours.

Topology (every name prefixed with the deployment's namespace, BUS_NAMESPACE, "" in production):
- call-outs wait on the durable queue `department.<code>.callouts`, bound by the services to the
  `callouts` exchange with `callout.<code>.*`; `callouts()` consumes it with manual acks;
- reports go to the `checkins` topic exchange with routing key `<action>.<code>`, action being
  checkin, arrival, completion or return, as JSON (application/json, persistent, mandatory, with a
  publisher confirm);
- the dispatch service answers every report with a ReportOutcome on `checkins`,
  `outcome.<code>.accepted` or `outcome.<code>.rejected`, carrying the report's request_id. The
  client reads them from a private exclusive queue bound to `outcome.<code>.*`, declared before
  its first report is published so that no answer can be missed. (The durable
  `department.<code>.outcomes` queue the services declare keeps the same answers, with a TTL, for a
  system that was offline; this client does not read it.)
- joint teams ("城管+N"): the department's officers' assignments, replacements and releases wait on
  the durable queue `department.<code>.assignments` (bound `*.<code>.#` on `assignments`);
  `assignments()` consumes it like `callouts()`. An officer checks in personally, or declines, with
  `member_checkin.<code>` / `member_decline.<code>` on `checkins`; the roster service answers with a
  MemberOutcome on the same `outcome.<code>.*` keys.

Delivery guarantees:
- a call-out is acknowledged only when the caller's loop comes back for the next one, so one that
  was being handled when the process crashed (or the loop raised) stays on the queue and is
  delivered again: at least once. Reports carry a request_id, so re-sending a report after a
  redelivery or a timeout with the same request_id is safe: dispatch answers `accepted` with
  `repeated: true` and changes nothing;
- every report is validated against the contract before anything is sent (InvalidReport, a
  ValueError naming the bad fields), and every wait is bounded (ReportTimeout).

Credentials: the department's own broker account (`dept-<code>`, created by `make provision`), from
the environment (amqp_uri_from_env): CHUISHAO_AMQP_URI, or AMQP_URI's broker with CHUISHAO_AMQP_USER and
CHUISHAO_AMQP_PASSWORD. The URI may name several nodes of one cluster, `;`-separated: the client
connects to the first that answers, so a department system that opens a new client after losing its
node reaches another. Such an account may bind only its own keys and publish only its own reports;
every message the client publishes carries the account as its AMQP `user_id`, which the broker
checks, so the services can tell who sent it (SENDER_CHECK=user_id).

A client owns one blocking pika connection: use it from one thread only. While the caller's loop
body runs, pika does not service the connection; a body running longer than about two heartbeat
intervals (the broker's, 60 s by default) may lose the connection, and the call-out then comes back.
"""
from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from collections import deque
from datetime import datetime, timezone
from typing import Any, Iterator, Mapping, Optional, Sequence, Union
from urllib.parse import quote, urlparse

import pika
from pika.exceptions import AMQPError, ChannelClosedByBroker, NackError, UnroutableError

from services.common.events import (CALLOUTS, CHECKINS, DEADLETTERS, Arrive, CalloutIssued, CheckIn,
                                    CheckInAsMember, Complete, ContractError, DeclineAssignment, DepartmentReport,
                                    FieldError, MemberCommand, MemberOutcome, MemberReplaced, OfficerAssigned,
                                    Place, ReportOutcome, Return, TeamReleased, encode, parse)
from services.common.reference import CODE
from services.common.settings import amqp_uri as services_amqp_uri, broker_nodes

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0          # seconds to wait for the dispatch service's answer to a report
POLL_SECONDS = 0.25             # granularity of the bounded waits
# The services declare the call-out queue as a durable quorum queue (services.common.broker.declare_queue);
# declaring it with other arguments would fail, so the client only declares it if it does not exist yet.
CALLOUT_QUEUE_ARGUMENTS = {"x-queue-type": "quorum"}

Location = Union[Place, Mapping[str, Any], str]
Assignment = Union[OfficerAssigned, MemberReplaced, TeamReleased]
ASSIGNMENT_TYPES = {cls.event_type: cls for cls in (OfficerAssigned, MemberReplaced, TeamReleased)}
Outcome = Union[ReportOutcome, MemberOutcome]


def amqp_uri_from_env(env: Mapping[str, str] = os.environ) -> str:
    """The broker URI with the department's credentials: CHUISHAO_AMQP_URI if set; otherwise the
    services' nodes (AMQP_URIS, or AMQP_URI; default: the local broker) with CHUISHAO_AMQP_USER /
    CHUISHAO_AMQP_PASSWORD as the account of each when set. Several nodes come `;`-separated."""
    if env.get("CHUISHAO_AMQP_URI"):
        return env["CHUISHAO_AMQP_URI"]
    nodes = broker_nodes(services_amqp_uri(env))
    user = env.get("CHUISHAO_AMQP_USER")
    if not user:
        return ";".join(nodes)
    account = quote(user, safe="") + ":" + quote(env.get("CHUISHAO_AMQP_PASSWORD", ""), safe="")
    with_account = []
    for uri in nodes:
        parts = urlparse(uri)
        netloc = f"{account}@{parts.hostname or '127.0.0.1'}" + (f":{parts.port}" if parts.port else "")
        with_account.append(parts._replace(netloc=netloc).geturl())
    return ";".join(with_account)


def redacted(uri: str) -> str:
    """The URI (or `;`-separated URIs) with the password replaced, for messages and logs."""
    shown = []
    for node in uri.split(";"):
        parts = urlparse(node)
        if parts.password is None:
            shown.append(node)
            continue
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        shown.append(parts._replace(netloc=netloc).geturl())
    return ";".join(shown)


def assignment_queue(department_code: str) -> str:
    """The department's durable queue of its officers' joint-team assignments (as services.common.broker
    names it): assignments, replacements and releases, bound `*.<code>.#` on `assignments`."""
    return f"department.{department_code}.assignments"


def callout_queue(department_code: str) -> str:
    """The department's durable call-out queue (without the namespace).

    The same name as services.common.broker.department_queue(); not imported from there because that
    module pulls in kombu and amqp (nameko's broker stack), which a department's system does not have."""
    return f"department.{department_code}.callouts"


class InvalidReport(ContractError):
    """A report that does not meet the contract, found before anything was sent; names every bad field."""

    def __init__(self, action: str, errors: tuple[FieldError, ...]):
        super().__init__(errors)
        self.action = action
        self.args = (f"invalid {action} report: " + "; ".join(f"{e.field}: {e.message}" for e in errors),)


class ReportRejected(Exception):
    """The dispatch service refused the report (an illegal step, another department's call-out...)."""

    def __init__(self, outcome: ReportOutcome):
        self.outcome = outcome
        self.errors: tuple[FieldError, ...] = outcome.errors
        reasons = "; ".join(f"{e.field}: {e.message}" for e in outcome.errors) or "no reason given"
        super().__init__(f"{outcome.action} of call-out {outcome.callout_id} rejected: {reasons}")


class MemberRejected(Exception):
    """The roster refused a member's check-in or decline (not on the team, replaced, team released...)."""

    def __init__(self, outcome: MemberOutcome):
        self.outcome = outcome
        self.errors: tuple[FieldError, ...] = outcome.errors
        reasons = "; ".join(f"{e.field}: {e.message}" for e in outcome.errors) or "no reason given"
        super().__init__(f"{outcome.action} of officer {outcome.officer_code} on team {outcome.team_id} "
                         f"rejected: {reasons}")


class ReportTimeout(TimeoutError):
    """No answer within the timeout. Re-send with the same request_id: dispatch applies a report once.

    Double the wait before each further re-send: every copy is queued and read, so re-sending at a
    fixed pace to a dispatch that is only lagging multiplies its backlog."""

    def __init__(self, action: str, callout_id: str, request_id: str, timeout: float):
        self.action, self.callout_id, self.request_id, self.timeout = action, callout_id, request_id, timeout
        super().__init__(f"no outcome for the {action} of call-out {callout_id} within {timeout:g}s; "
                         f"retry with request_id {request_id}")


class MemberTimeout(ReportTimeout):
    """No answer to a member's command in time. Re-send with the same request_id: it is applied once."""

    def __init__(self, action: str, team_id: str, request_id: str, timeout: float):
        super().__init__(action, team_id, request_id, timeout)
        self.team_id = team_id
        self.args = (f"no outcome for the {action} on team {team_id} within {timeout:g}s; "
                     f"retry with request_id {request_id}",)


class DeliveryError(Exception):
    """The broker did not take the report: no queue bound for its routing key, or a nack."""


class DepartmentClient:
    """One department's connection to the bus. Use as a context manager, or call close()."""

    def __init__(self, amqp_uri: str, department_code: str, namespace: str = "", *,
                 timeout: float = DEFAULT_TIMEOUT):
        if not isinstance(department_code, str) or not re.fullmatch(CODE, department_code):
            raise ValueError(f"department_code: {department_code!r} is not a department code ({CODE})")
        self.department_code = department_code
        self.namespace = namespace or ""
        self.timeout = timeout
        nodes = [pika.URLParameters(uri) for uri in broker_nodes(amqp_uri)]
        # every message carries the account's name as its AMQP user_id: the broker refuses any other,
        # so the services (SENDER_CHECK=user_id) know the report comes from this department's account
        self.user = nodes[0].credentials.username
        for params in nodes:
            params.client_properties = {"connection_name": f"department-client {department_code}"}
            params.blocked_connection_timeout = max(30.0, timeout)  # a broker alarm fails the publish, not hangs it
        self._connection = pika.BlockingConnection(nodes)      # the first node, in order, that answers
        self._outcomes: deque[Outcome] = deque(maxlen=1000)   # answers read, not yet claimed
        self._replies: Optional[str] = None
        try:
            self._channel = self._connection.channel()
            self._channel.confirm_delivery()
            self._ensure_exchange(self.name(CHECKINS), "topic")
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ plumbing
    def name(self, bus_name: str) -> str:
        """An exchange or queue name inside the namespace."""
        return f"{self.namespace}{bus_name}"

    def _ensure_exchange(self, exchange: str, kind: str) -> None:
        """Makes sure an exchange exists: looked up first (which a provisioned department account,
        with no right to declare exchanges, may do), declared only when it is missing."""
        probe = self._connection.channel()
        try:
            probe.exchange_declare(exchange, kind, passive=True)
            probe.close()
            return
        except ChannelClosedByBroker as exc:
            if exc.reply_code != 404:
                raise
        self._channel.exchange_declare(exchange, kind, durable=True)

    def __enter__(self) -> "DepartmentClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Closes the connection; a call-out being handled and not yet acked goes back to its queue."""
        connection = getattr(self, "_connection", None)
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except AMQPError:      # closing a broken connection may fail again
                pass

    # ------------------------------------------------------------------ call-outs
    def callouts(self, timeout: Optional[float] = None, *, count: Optional[int] = None) -> Iterator[CalloutIssued]:
        """Yields this department's call-outs, validated, from `department.<code>.callouts`.

        Each call-out is acknowledged when the generator is resumed, that is after the caller's loop
        body for it has returned. If the body raises, the process dies, or the loop is left with
        `break`, that call-out is not acknowledged: it goes back to the queue and is delivered again.
        To stop after N handled call-outs with every one acknowledged, pass `count=N`.

        `timeout`: stop when no call-out arrives for that many seconds (None: wait for ever).
        A message on the queue that is not a valid call-out is never yielded: it is dead-lettered
        (to `deadletters`, with the reason in `x-dead-reason`) and acknowledged."""
        if count is not None and count <= 0:
            return
        channel = self._connection.channel()
        pending: Optional[int] = None
        try:
            channel.basic_qos(prefetch_count=1)
            queue = self._callout_queue()
            delivered = 0
            for method, properties, body in channel.consume(queue, auto_ack=False, inactivity_timeout=timeout):
                if method is None:
                    return                                   # nothing for `timeout` seconds
                try:
                    callout = _decode_callout(body)
                except ContractError as exc:
                    self._dead_letter(body, properties, method, str(exc))
                    channel.basic_ack(method.delivery_tag)
                    continue
                pending = method.delivery_tag
                yield callout
                channel.basic_ack(pending)                   # the caller's loop body returned
                pending = None
                delivered += 1
                if count is not None and delivered >= count:
                    return
        finally:
            if channel.is_open:
                try:
                    if pending is not None:
                        channel.basic_nack(pending, requeue=True)
                    channel.close()                          # cancels the consumer; nothing unacked is lost
                except AMQPError:
                    pass

    def _callout_queue(self) -> str:
        """The call-out queue; declared (as the services declare it) only if the services have not yet."""
        queue = self.name(callout_queue(self.department_code))
        probe = self._connection.channel()
        try:
            probe.queue_declare(queue, passive=True)
            probe.close()
            return queue
        except ChannelClosedByBroker as exc:
            if exc.reply_code != 404:
                raise
        self._ensure_exchange(self.name(CALLOUTS), "topic")
        self._channel.queue_declare(queue, durable=True, arguments=CALLOUT_QUEUE_ARGUMENTS)
        self._channel.queue_bind(queue, self.name(CALLOUTS), f"callout.{self.department_code}.*")
        return queue

    def _dead_letter(self, body: bytes, properties, method, reason: str) -> None:
        log.error("not a valid call-out on %s, dead-lettering it: %s", method.routing_key, reason)
        headers = dict(properties.headers or {})
        headers.update({"x-dead-reason": f"invalid call-out: {reason}"[:4000],
                        "x-dead-consumer": f"department-client.{self.department_code}",
                        "x-original-exchange": method.exchange, "x-original-routing-key": method.routing_key,
                        "x-original-content-type": properties.content_type or "",
                        "x-dead-lettered-at": datetime.now(timezone.utc).isoformat(), "x-attempts": 1})
        self._ensure_exchange(self.name(DEADLETTERS), "fanout")      # as the services declare it
        channel = self._connection.channel()    # its own: a refusal closes the channel it happens on
        try:
            channel.confirm_delivery()
            channel.basic_publish(
                self.name(DEADLETTERS), "", body,
                pika.BasicProperties(content_type=properties.content_type or "application/octet-stream",
                                     delivery_mode=2, headers=headers, user_id=self.user,
                                     message_id=properties.message_id or f"dl-{uuid.uuid4()}"),
                mandatory=True)
        except (UnroutableError, NackError) as exc:
            raise DeliveryError(f"could not dead-letter an invalid call-out (left on the queue): {exc}") from exc
        except ChannelClosedByBroker as exc:
            if exc.reply_code != 403:
                raise
            # a provisioned department account may not write to `deadletters` (what lands there is
            # replayed by operators): the call-out stays on the queue for the platform to fix
            raise DeliveryError("an invalid call-out arrived and this account may not dead-letter it; it stays "
                                f"on the queue: tell the platform's operator ({reason})") from exc
        finally:
            if channel.is_open:
                channel.close()

    # ------------------------------------------------------------------ reports
    def check_in(self, callout_id: str, officer: str, note: Optional[str] = None,
                 request_id: Optional[str] = None, *, wait: bool = True,
                 timeout: Optional[float] = None) -> Optional[ReportOutcome]:
        """报到: the department takes the call-out and names who comes."""
        return self._report(CheckIn, {"callout_id": callout_id, "officer": officer, "note": note},
                            request_id, wait, timeout)

    def arrive(self, callout_id: str, officer: str, location: Location, evidence_ref: str,
               request_id: Optional[str] = None, *, wait: bool = True,
               timeout: Optional[float] = None) -> Optional[ReportOutcome]:
        """到场: on site; `location` is a Place, a dict (address, optional lon/lat) or an address."""
        return self._report(Arrive, {"callout_id": callout_id, "officer": officer,
                                     "location": _place(location), "evidence_ref": evidence_ref},
                            request_id, wait, timeout)

    def complete(self, callout_id: str, summary: str, evidence_refs: Union[Sequence[str], str],
                 request_id: Optional[str] = None, *, wait: bool = True,
                 timeout: Optional[float] = None) -> Optional[ReportOutcome]:
        """处置完成: the department's part is done, with what was done and its evidence (one or more refs)."""
        refs = (evidence_refs,) if isinstance(evidence_refs, str) else \
            tuple(evidence_refs) if isinstance(evidence_refs, (list, tuple)) else evidence_refs
        return self._report(Complete, {"callout_id": callout_id, "summary": summary, "evidence_refs": refs},
                            request_id, wait, timeout)

    def return_callout(self, callout_id: str, reason: str, request_id: Optional[str] = None, *,
                       wait: bool = True, timeout: Optional[float] = None) -> Optional[ReportOutcome]:
        """退单: not this department's; the reason is mandatory. Dispatch re-routes it or opens arbitration."""
        return self._report(Return, {"callout_id": callout_id, "reason": reason}, request_id, wait, timeout)

    def _report(self, model: type[DepartmentReport], fields: dict, request_id: Optional[str],
                wait: bool, timeout: Optional[float]) -> Optional[ReportOutcome]:
        return self.send(make_report(model, self.department_code, fields, request_id), wait=wait, timeout=timeout)

    def send(self, report: DepartmentReport, *, wait: bool = True,
             timeout: Optional[float] = None) -> Optional[ReportOutcome]:
        """Publishes a report (from make_report) with a confirm and, with `wait`, returns the accepted outcome.

        Raises DeliveryError if the broker did not take it, ReportRejected on a rejected outcome,
        ReportTimeout if no outcome came within `timeout` (default: the client's)."""
        action = type(report).action
        if report.department_code != self.department_code:
            raise InvalidReport(action, (FieldError(field="department_code", message=(
                f"{report.department_code!r} is not this client's department {self.department_code!r}")),))
        if report.request_id is None:
            report = report.model_copy(update={"request_id": str(uuid.uuid4())})
        self._publish(report, action, wait, "dispatch")
        if not wait:
            return None
        limit = self.timeout if timeout is None else timeout
        outcome = self._await_outcome(action, report.request_id, limit,
                                      lambda: ReportTimeout(action, report.callout_id, report.request_id, limit))
        if outcome.outcome == "rejected":
            raise ReportRejected(outcome)
        return outcome

    def _publish(self, command, action: str, wait: bool, service: str) -> None:
        """Publishes a command on `checkins` with `<action>.<department>`, confirmed and mandatory."""
        if wait:
            self._listen_for_outcomes()      # bound before publishing: the answer cannot be missed
        routing_key = f"{action}.{self.department_code}"
        properties = pika.BasicProperties(content_type="application/json", content_encoding="utf-8",
                                          delivery_mode=2, message_id=str(uuid.uuid4()),
                                          correlation_id=command.request_id, timestamp=int(time.time()),
                                          app_id="chuishao-department-client", user_id=self.user)
        try:
            self._channel.basic_publish(self.name(CHECKINS), routing_key, encode(command), properties,
                                        mandatory=True)
        except UnroutableError as exc:
            raise DeliveryError(f"no queue is bound to {self.name(CHECKINS)} {routing_key}: "
                                f"is the {service} service running in namespace {self.namespace!r}?") from exc
        except NackError as exc:
            raise DeliveryError(f"the broker refused the {action} (nack)") from exc

    # ------------------------------------------------------------------ joint teams: assignments and members
    def assignments(self, timeout: Optional[float] = None, *, count: Optional[int] = None) -> Iterator[Assignment]:
        """Yields this department's officers' team assignments (OfficerAssigned), replacements
        (MemberReplaced) and releases (TeamReleased), validated, from `department.<code>.assignments`.

        Acknowledged as call-outs are (see callouts()): when the caller's loop comes back for the next
        one; `timeout` stops after that many quiet seconds, `count` after N. A message that is none of
        them is dead-lettered and acknowledged."""
        if count is not None and count <= 0:
            return
        channel = self._connection.channel()
        pending: Optional[int] = None
        try:
            channel.basic_qos(prefetch_count=1)
            delivered = 0
            for method, properties, body in channel.consume(self.name(assignment_queue(self.department_code)),
                                                            auto_ack=False, inactivity_timeout=timeout):
                if method is None:
                    return
                try:
                    assignment = _decode_assignment(body)
                except ContractError as exc:
                    self._dead_letter(body, properties, method, str(exc))
                    channel.basic_ack(method.delivery_tag)
                    continue
                pending = method.delivery_tag
                yield assignment
                channel.basic_ack(pending)
                pending = None
                delivered += 1
                if count is not None and delivered >= count:
                    return
        finally:
            if channel.is_open:
                try:
                    if pending is not None:
                        channel.basic_nack(pending, requeue=True)
                    channel.close()
                except AMQPError:
                    pass

    def member_check_in(self, team_id: str, officer_code: str, location: Optional[Location] = None,
                        note: Optional[str] = None, request_id: Optional[str] = None, *, wait: bool = True,
                        timeout: Optional[float] = None) -> Optional[MemberOutcome]:
        """报到 as a team member: the officer named in the assignment is present."""
        fields = {"team_id": team_id, "officer_code": officer_code, "note": note,
                  **({"location": _place(location)} if location is not None else {})}
        return self.send_member(make_member_command(CheckInAsMember, self.department_code, fields, request_id),
                                wait=wait, timeout=timeout)

    def decline_assignment(self, team_id: str, officer_code: str, reason: str, request_id: Optional[str] = None,
                           *, wait: bool = True, timeout: Optional[float] = None) -> Optional[MemberOutcome]:
        """The officer cannot come: the roster assigns the next eligible officer of the department."""
        fields = {"team_id": team_id, "officer_code": officer_code, "reason": reason}
        return self.send_member(make_member_command(DeclineAssignment, self.department_code, fields, request_id),
                                wait=wait, timeout=timeout)

    def send_member(self, command: MemberCommand, *, wait: bool = True,
                    timeout: Optional[float] = None) -> Optional[MemberOutcome]:
        """Publishes a member command and, with `wait`, returns the accepted MemberOutcome; raises
        DeliveryError, MemberRejected or MemberTimeout (a ReportTimeout) otherwise."""
        action = type(command).action
        if command.department_code != self.department_code:
            raise InvalidReport(action, (FieldError(field="department_code", message=(
                f"{command.department_code!r} is not this client's department {self.department_code!r}")),))
        if command.request_id is None:
            command = command.model_copy(update={"request_id": str(uuid.uuid4())})
        self._publish(command, action, wait, "roster")
        if not wait:
            return None
        limit = self.timeout if timeout is None else timeout
        outcome = self._await_outcome(action, command.request_id, limit,
                                      lambda: MemberTimeout(action, command.team_id, command.request_id, limit))
        if outcome.outcome == "rejected":
            raise MemberRejected(outcome)
        return outcome

    def _listen_for_outcomes(self) -> None:
        if self._replies is not None:
            return
        result = self._channel.queue_declare("", exclusive=True, auto_delete=True)
        queue = result.method.queue
        self._channel.queue_bind(queue, self.name(CHECKINS), f"outcome.{self.department_code}.*")
        self._channel.basic_consume(queue, self._on_outcome, auto_ack=True)
        self._replies = queue

    def _on_outcome(self, channel, method, properties, body: bytes) -> None:
        try:
            payload = json.loads(body)
            model = MemberOutcome if isinstance(payload, dict) and payload.get("type") == MemberOutcome.event_type \
                else ReportOutcome
            self._outcomes.append(parse(model, payload))
        except ValueError as exc:        # not JSON, not UTF-8, or not an outcome
            log.warning("ignoring a message on %s that is not an outcome: %s", method.routing_key, exc)

    def _await_outcome(self, action: str, request_id: str, timeout: float, timed_out) -> Outcome:
        deadline = time.monotonic() + timeout
        while True:
            for outcome in self._outcomes:
                if outcome.request_id == request_id and outcome.action == action:
                    self._outcomes.remove(outcome)
                    return outcome
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise timed_out()
            self._connection.process_data_events(time_limit=min(remaining, POLL_SECONDS))


def make_report(model: type[DepartmentReport], department_code: str, fields: Mapping[str, Any],
                request_id: Optional[str] = None) -> DepartmentReport:
    """A validated report (CheckIn, Arrive, Complete or Return) with a request_id (a fresh uuid4 if none).

    Raises InvalidReport (a ValueError) naming every bad field; nothing is sent."""
    payload = {**fields, "request_id": request_id if request_id is not None else str(uuid.uuid4()),
               "department_code": department_code}
    try:
        return parse(model, payload)
    except ContractError as exc:
        raise InvalidReport(model.action, exc.errors) from None


def make_member_command(model: type[MemberCommand], department_code: str, fields: Mapping[str, Any],
                        request_id: Optional[str] = None) -> MemberCommand:
    """A validated member command (CheckInAsMember or DeclineAssignment) with a request_id; InvalidReport
    (a ValueError) naming every bad field otherwise, and nothing is sent."""
    payload = {**{k: v for k, v in fields.items() if v is not None},
               "request_id": request_id if request_id is not None else str(uuid.uuid4()),
               "department_code": department_code}
    try:
        return parse(model, payload)
    except ContractError as exc:
        raise InvalidReport(model.action, exc.errors) from None


def _decode_assignment(body: bytes) -> Assignment:
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ContractError((FieldError(field="(message)", message=f"not JSON: {exc}"),)) from None
    kind = payload.get("type") if isinstance(payload, dict) else None
    model = ASSIGNMENT_TYPES.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ContractError((FieldError(field="type", message=f"{kind!r} is not an assignment, replacement "
                                                              "or release"),))
    return parse(model, payload)


def _decode_callout(body: bytes) -> CalloutIssued:
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ContractError((FieldError(field="(message)", message=f"not JSON: {exc}"),)) from None
    return parse(CalloutIssued, payload)


def _place(location: Location):
    if isinstance(location, Place):
        return location.model_dump()
    if isinstance(location, str):
        return {"address": location}
    return location          # a dict, or something the contract will name as wrong

"""The dispatch service's nameko entrypoints: whistles in, call-outs out, department reports, arbitration, the sweep."""
from __future__ import annotations

import logging
import os
from datetime import datetime, timezone

import eventlet
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from nameko.web.handlers import http
from prometheus_client import Counter
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from services.common.consumer import Rejected, consume
from services.common.db import create_schema
from services.common.events import (CHECKINS, EVENTS, REPORTS, AddDepartment, ContractError,
                                    DecideArbitration, FieldError, ReportOutcome, WhistleClosed,
                                    WhistleRaised, WhistleReopened, WhistleSentBack, parse)
from services.common.reference import load_reference
from services.common.outbox import OutboxRelay
from services.common.web import HttpError, OpsEndpoints, json_api, read_json
from services.dispatch.areas import load_area_map
from services.dispatch.deadlines import chinese_workdays
from services.dispatch.domain import IllegalStep, department_in_routing_key
from services.dispatch.handlers import Dispatcher
from services.dispatch.orm import metadata, platform

log = logging.getLogger(__name__)
FIRED = Counter("chuishao_dispatch_escalations_fired_total",
                "Escalations this dispatch process emitted (replicas share the work)")
SWEEPS = Counter("chuishao_dispatch_sweeps_total", "Deadline sweeps this dispatch process ran")


def now() -> datetime:
    return datetime.now(timezone.utc)


_dispatchers: dict[str, Dispatcher] = {}


def build_dispatcher(settings) -> Dispatcher:
    """One Dispatcher per process and database: the entrypoints and the sweeper share it."""
    if settings.database_url in _dispatchers:
        return _dispatchers[settings.database_url]
    engine = create_schema(settings.database_url, metadata)
    reference = load_reference()
    dispatcher = Dispatcher(sessionmaker(bind=engine, expire_on_commit=False), reference,
                            chinese_workdays(), load_area_map(reference))
    dispatcher.store_matrix(now())
    _dispatchers[settings.database_url] = dispatcher
    return dispatcher


class DispatcherProvider(DependencyProvider):
    def setup(self):
        self.dispatcher = build_dispatcher(self.container.config["SETTINGS"])

    def get_dependency(self, worker_ctx):
        return self.dispatcher


class DeadlineSweeper(DependencyProvider):
    """Escalates overdue steps every few seconds; deadlines live in the database, so a restart loses none."""

    def setup(self):
        self.interval = float(os.environ.get("ESCALATION_SWEEP_SECONDS", "5"))
        self.dispatcher = build_dispatcher(self.container.config["SETTINGS"])
        self._running = False

    def start(self):
        self._running = True
        self._thread = self.container.spawn_managed_thread(self._loop, identifier="deadline_sweeper")

    def stop(self):
        self._running = False
        self._thread.kill()

    def _loop(self):
        while self._running:
            try:
                while True:
                    fired = self.dispatcher.sweep(now())
                    SWEEPS.inc()
                    FIRED.inc(fired)
                    if not fired:
                        break
            except SQLAlchemyError as exc:
                log.warning("deadline sweep failed, will retry: %s", exc)
            eventlet.sleep(self.interval)


def verify_department(report, routing_key: str) -> tuple[FieldError, ...]:
    """A department reports on its own routing key only."""
    if department_in_routing_key(routing_key) != report.department_code:
        return (FieldError(field="department_code",
                           message=f"{report.department_code!r} does not match routing key {routing_key!r}"),)
    return ()


def rejected_report(action: str):
    def build(payload: dict, routing_key: str, errors) -> ReportOutcome:
        department = department_in_routing_key(routing_key) or "unknown"
        text = lambda key, size: (payload.get(key)[:size] or None) if isinstance(payload.get(key), str) else None  # noqa: E731
        return ReportOutcome(action=action, request_id=text("request_id", 128), callout_id=text("callout_id", 64),
                             department_code=department, outcome="rejected", errors=errors)
    return build


def _parse(model, request):
    try:
        return parse(model, request)
    except ContractError as exc:
        raise IllegalStep(exc.errors[0].field, str(exc)) from None


class DispatchService(OpsEndpoints):
    name = "dispatch"
    dispatcher = DispatcherProvider()
    sweeper = DeadlineSweeper()
    relay = OutboxRelay(platform)

    # ------------------------------------------------------------------ events from the whistle service
    @consume("dispatch.whistles", [(EVENTS, "whistle.raised")], (WhistleRaised,))
    def on_whistle_raised(self, event: WhistleRaised):
        try:
            self.dispatcher.on_whistle_raised(event, now(), "dispatch.whistles")
        except IllegalStep as exc:
            raise Rejected(str(exc), exc.errors) from None

    @consume("dispatch.rounds", [(EVENTS, "whistle.sent_back"), (EVENTS, "whistle.reopened"),
                                 (EVENTS, "whistle.closed")], (WhistleSentBack, WhistleReopened, WhistleClosed))
    def on_whistle_round(self, event):
        try:
            if isinstance(event, WhistleClosed):
                self.dispatcher.on_whistle_closed(event, now(), "dispatch.rounds")
            else:
                self.dispatcher.new_round(event, now(), "dispatch.rounds")
        except IllegalStep as exc:
            raise Rejected(str(exc), exc.errors) from None

    # ------------------------------------------------------------------ department reports over the bus
    def _report(self, report):
        try:
            self.dispatcher.report(report, now())
        except IllegalStep as exc:
            raise Rejected(str(exc), exc.errors) from None

    @consume("dispatch.checkins", [(CHECKINS, "checkin.*")], REPORTS["checkin"],
             outcome=rejected_report("checkin"), verify=verify_department, sender="dept")
    def on_check_in(self, report):
        self._report(report)

    @consume("dispatch.arrivals", [(CHECKINS, "arrival.*")], REPORTS["arrival"],
             outcome=rejected_report("arrival"), verify=verify_department, sender="dept")
    def on_arrival(self, report):
        self._report(report)

    @consume("dispatch.completions", [(CHECKINS, "completion.*")], REPORTS["completion"],
             outcome=rejected_report("completion"), verify=verify_department, sender="dept")
    def on_completion(self, report):
        self._report(report)

    @consume("dispatch.returns", [(CHECKINS, "return.*")], REPORTS["return"],
             outcome=rejected_report("return"), verify=verify_department, sender="dept")
    def on_return(self, report):
        self._report(report)

    # ------------------------------------------------------------------ RPC
    @rpc(expected_exceptions=(IllegalStep,))
    def check_in(self, request: dict) -> dict:
        return self.report("checkin", request)

    @rpc(expected_exceptions=(IllegalStep,))
    def report(self, action: str, request: dict) -> dict:
        """A department report: action is checkin, arrival, completion or return."""
        if action not in REPORTS:
            raise IllegalStep("action", f"unknown action {action!r}; use one of {', '.join(REPORTS)}")
        return self.dispatcher.report(_parse(REPORTS[action], request), now()).model_dump(mode="json")

    @rpc(expected_exceptions=(IllegalStep,))
    def add_department(self, request: dict) -> dict:
        callout_id = self.dispatcher.add_department(_parse(AddDepartment, request), now())
        return {"callout_id": callout_id}

    @rpc(expected_exceptions=(IllegalStep,))
    def decide_arbitration(self, request: dict) -> dict:
        return self.dispatcher.decide_arbitration(_parse(DecideArbitration, request), now())

    @rpc
    def callouts_of(self, whistle_id: str) -> list[dict]:
        return self.dispatcher.callouts_of(whistle_id)

    @rpc
    def case_of(self, whistle_id: str) -> dict | None:
        return self.dispatcher.case_of(whistle_id)

    @rpc
    def open_arbitrations(self) -> list[dict]:
        return self.dispatcher.open_arbitrations()

    @rpc
    def overdue(self) -> list[dict]:
        return self.dispatcher.overdue(now())

    # ------------------------------------------------------------------ HTTP
    @http("GET", "/api/v1/whistles/<string:whistle_id>/callouts")
    @json_api
    def http_callouts(self, request, whistle_id):
        return 200, {"whistle_id": whistle_id, "callouts": self.dispatcher.callouts_of(whistle_id)}

    @http("POST", "/api/v1/reports/<string:action>")
    @json_api
    def http_report(self, request, action):
        if action not in REPORTS:
            raise HttpError(404, f"unknown action {action!r}; use one of {', '.join(REPORTS)}")
        report = read_json(request, REPORTS[action])
        try:
            return 200, self.dispatcher.report(report, now()).model_dump(mode="json")
        except IllegalStep as exc:
            raise HttpError(409, str(exc), exc.errors) from None

    @http("POST", "/api/v1/checkins")
    @json_api
    def http_check_in(self, request):
        report = read_json(request, REPORTS["checkin"])
        try:
            return 200, self.dispatcher.report(report, now()).model_dump(mode="json")
        except IllegalStep as exc:
            raise HttpError(409, str(exc), exc.errors) from None

    @http("POST", "/api/v1/whistles/<string:whistle_id>/departments")
    @json_api
    def http_add_department(self, request, whistle_id):
        command = read_json(request, AddDepartment)
        if command.whistle_id != whistle_id:
            raise HttpError(422, "whistle_id in the body differs from the path")
        try:
            return 201, {"callout_id": self.dispatcher.add_department(command, now())}
        except IllegalStep as exc:
            raise HttpError(409, str(exc), exc.errors) from None

    @http("GET", "/api/v1/arbitrations")
    @json_api
    def http_arbitrations(self, request):
        return 200, {"arbitrations": self.dispatcher.open_arbitrations()}

    @http("POST", "/api/v1/arbitrations/<string:arbitration_id>/decision")
    @json_api
    def http_decide(self, request, arbitration_id):
        command = read_json(request, DecideArbitration)
        if command.arbitration_id != arbitration_id:
            raise HttpError(422, "arbitration_id in the body differs from the path")
        try:
            return 200, self.dispatcher.decide_arbitration(command, now())
        except IllegalStep as exc:
            raise HttpError(409, str(exc), exc.errors) from None

    @http("GET", "/api/v1/overdue")
    @json_api
    def http_overdue(self, request):
        return 200, {"overdue": self.dispatcher.overdue(now())}


SERVICE = DispatchService


def prepare(settings) -> None:
    """Creates the database, records the matrix version, and declares every department's queue."""
    from services.common.broker import declare_topology
    build_dispatcher(settings)
    declare_topology(settings, load_reference())

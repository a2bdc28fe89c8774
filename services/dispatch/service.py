"""The dispatch service's nameko entrypoints: whistles in, call-outs out, department reports, arbitration, the sweep."""
from __future__ import annotations

import logging

from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from nameko.web.handlers import http
from prometheus_client import Counter

from services.common.consumer import consume
from services.common.errors import REFUSALS
from services.common.events import (CHECKINS, EVENTS, REPORTS, AddDepartment, ContractError,
                                    DecideArbitration, DepartmentReport, FieldError, ReportOutcome, WhistleClosed,
                                    WhistleRaised, WhistleReopened, WhistleSentBack, parse)
from services.common.periodic import every
from services.common.reference import load_reference
from services.common.uow import Store
from services.common.web import HttpError, OpsEndpoints, json_api, read_json
from services.dispatch import handlers
from services.dispatch import repository as repo
from services.dispatch.areas import load_area_map
from services.dispatch.deadlines import chinese_workdays
from services.dispatch.domain import IllegalStep, department_in_routing_key
from services.dispatch.orm import metadata, platform
from services.dispatch.roster_gap_entrypoints import RosterGapEndpoints
from services.dispatch.rules import Rules

log = logging.getLogger(__name__)
FIRED = Counter("chuishao_dispatch_escalations_fired_total",
                "Escalations this dispatch process emitted (replicas share the work)")
SWEEPS = Counter("chuishao_dispatch_sweeps_total", "Deadline sweeps this dispatch process ran")

_rules: list[Rules] = []


def process_rules() -> Rules:
    """One Rules per process, built from the reference data on first use."""
    if not _rules:
        reference = load_reference()
        _rules.append(Rules(reference, chinese_workdays(), load_area_map(reference)))
    return _rules[0]


class RulesProvider(DependencyProvider):
    def setup(self):
        self.rules = process_rules()

    def get_dependency(self, worker_ctx):
        return self.rules


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


REPORT_QUEUES = {"checkin": "dispatch.checkins", "arrival": "dispatch.arrivals",
                 "completion": "dispatch.completions", "return": "dispatch.returns"}


def report_consumer(action: str):
    """The bus entrypoint of one department action: `<action>.<department>` on `checkins`."""
    return consume(REPORT_QUEUES[action], [(CHECKINS, f"{action}.*")], REPORTS[action],
                   outcome=rejected_report(action), verify=verify_department, sender="dept")


class DispatchService(OpsEndpoints, RosterGapEndpoints):
    name = "dispatch"
    store = Store(platform)
    rules = RulesProvider()

    # ------------------------------------------------------------------ use cases, whatever the channel
    def _run(self, use_case, *args):
        with self.store.unit_of_work() as uow:
            return use_case(uow, self.rules, *args)

    def _read(self, query, *args):
        with self.store.unit_of_work() as uow:
            return query(uow.conn, *args)

    def _report(self, report: DepartmentReport) -> dict:
        return self._run(handlers.report, report).model_dump(mode="json")

    # ------------------------------------------------------------------ events from the whistle service
    @consume("dispatch.whistles", [(EVENTS, "whistle.raised")], (WhistleRaised,))
    def on_whistle_raised(self, uow, event: WhistleRaised):
        handlers.on_whistle_raised(uow, self.rules, event)

    @consume("dispatch.rounds", [(EVENTS, "whistle.sent_back"), (EVENTS, "whistle.reopened"),
                                 (EVENTS, "whistle.closed")], (WhistleSentBack, WhistleReopened, WhistleClosed))
    def on_whistle_round(self, uow, event):
        if isinstance(event, WhistleClosed):
            handlers.on_whistle_closed(uow, event)
        else:
            handlers.new_round(uow, self.rules, event)

    # ------------------------------------------------------------------ department reports over the bus
    @report_consumer("checkin")
    def on_check_in(self, uow, report):
        handlers.report(uow, self.rules, report)

    @report_consumer("arrival")
    def on_arrival(self, uow, report):
        handlers.report(uow, self.rules, report)

    @report_consumer("completion")
    def on_completion(self, uow, report):
        handlers.report(uow, self.rules, report)

    @report_consumer("return")
    def on_return(self, uow, report):
        handlers.report(uow, self.rules, report)

    # ------------------------------------------------------------------ the deadline sweep
    @every("escalation_sweep_seconds")
    def sweep_deadlines(self):
        """Escalates overdue steps; deadlines live in the database, so a restart loses none."""
        while True:
            fired = self._run(handlers.sweep)
            SWEEPS.inc()
            FIRED.inc(fired)
            if not fired:
                return

    # ------------------------------------------------------------------ RPC
    @rpc(expected_exceptions=REFUSALS)
    def check_in(self, request: dict) -> dict:
        return self.report("checkin", request)

    @rpc(expected_exceptions=REFUSALS)
    def report(self, action: str, request: dict) -> dict:
        """A department report: action is checkin, arrival, completion or return."""
        if action not in REPORTS:
            raise IllegalStep("action", f"unknown action {action!r}; use one of {', '.join(REPORTS)}")
        return self._report(_parse(REPORTS[action], request))

    @rpc(expected_exceptions=REFUSALS)
    def add_department(self, request: dict) -> dict:
        return {"callout_id": self._run(handlers.add_department, _parse(AddDepartment, request))}

    @rpc(expected_exceptions=REFUSALS)
    def decide_arbitration(self, request: dict) -> dict:
        return self._run(handlers.decide_arbitration, _parse(DecideArbitration, request))

    @rpc
    def callouts_of(self, whistle_id: str) -> list[dict]:
        return self._read(handlers.callouts_of, whistle_id)

    @rpc
    def case_of(self, whistle_id: str) -> dict | None:
        return self._read(repo.case_dict, whistle_id)

    @rpc
    def open_arbitrations(self) -> list[dict]:
        return self._read(repo.open_arbitrations)

    def _overdue(self) -> list[dict]:
        with self.store.unit_of_work() as uow:
            return repo.overdue(uow.conn, uow.now)

    @rpc
    def overdue(self) -> list[dict]:
        return self._overdue()

    # ------------------------------------------------------------------ HTTP
    @http("GET", "/api/v1/whistles/<string:whistle_id>/callouts")
    @json_api
    def http_callouts(self, request, whistle_id):
        return 200, {"whistle_id": whistle_id, "callouts": self._read(handlers.callouts_of, whistle_id)}

    @http("POST", "/api/v1/reports/<string:action>")
    @json_api
    def http_report(self, request, action):
        if action not in REPORTS:
            raise HttpError(404, f"unknown action {action!r}; use one of {', '.join(REPORTS)}")
        return 200, self._report(read_json(request, REPORTS[action]))

    @http("POST", "/api/v1/checkins")
    @json_api
    def http_check_in(self, request):
        return 200, self._report(read_json(request, REPORTS["checkin"]))

    @http("POST", "/api/v1/whistles/<string:whistle_id>/departments")
    @json_api
    def http_add_department(self, request, whistle_id):
        command = read_json(request, AddDepartment)
        if command.whistle_id != whistle_id:
            raise HttpError(422, "whistle_id in the body differs from the path")
        return 201, {"callout_id": self._run(handlers.add_department, command)}

    @http("GET", "/api/v1/arbitrations")
    @json_api
    def http_arbitrations(self, request):
        return 200, {"arbitrations": self._read(repo.open_arbitrations)}

    @http("POST", "/api/v1/arbitrations/<string:arbitration_id>/decision")
    @json_api
    def http_decide(self, request, arbitration_id):
        command = read_json(request, DecideArbitration)
        if command.arbitration_id != arbitration_id:
            raise HttpError(422, "arbitration_id in the body differs from the path")
        return 200, self._run(handlers.decide_arbitration, command)

    @http("GET", "/api/v1/overdue")
    @json_api
    def http_overdue(self, request):
        return 200, {"overdue": self._overdue()}


SERVICE = DispatchService


def prepare(settings) -> None:
    """Creates the database, records the matrix version, and declares every department's queue."""
    from datetime import datetime, timezone


    from services.common.broker import declare_topology
    from services.common.db import create_schema
    engine = create_schema(settings.database_url, metadata)
    with engine.begin() as conn:
        repo.store_matrix(conn, process_rules().matrix, datetime.now(timezone.utc))
    declare_topology(settings, load_reference())

"""The dispatch service's nameko entrypoints: whistles in, call-outs out, department reports, arbitration, the sweep."""
from __future__ import annotations

import logging

from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from nameko.web.handlers import http
from prometheus_client import Counter

from services.common.attribution import BusSenders, actor
from services.common.auth.pagination import paginate
from services.common.auth.principals import Kind
from services.common.authweb import request_page
from services.common.consumer import consume
from services.common.errors import REFUSALS
from services.common.guard import Auth, guarded, guarded_rpc
from services.common.events import (CHECKINS, EVENTS, REPORTS, AddDepartment, ContractError,
                                    DecideArbitration, DepartmentReport, FieldError, ReportOutcome, WhistleClosed,
                                    WhistleRaised, WhistleReopened, WhistleSentBack, parse)
from services.common.outbox_age import OutboxAgeProbe
from services.common.periodic import every
from services.common.reference import load_reference
from services.common.uow import Store
from services.common.web import HttpError, OpsEndpoints, json_api, read_json
from services.dispatch import handlers
from services.dispatch import repository as repo
from services.common.areas import load_area_map
from services.dispatch.deadlines import chinese_workdays
from services.dispatch.domain import IllegalStep, department_in_routing_key
from services.dispatch.orm import platform
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


class JsonObject:
    """For read_json: any JSON object, claimed for the caller's department before it is checked as a report."""

    @staticmethod
    def model_validate(payload: dict) -> dict:
        return payload


def arbitration_key(row: dict) -> str:
    return f"{row['decide_by']}|{row['arbitration_id']}"


def overdue_key(row: dict) -> str:
    return f"{row['due_at']}|{row['callout_id']}|{row['step']}"


class DispatchService(OutboxAgeProbe, RosterGapEndpoints, OpsEndpoints):
    name = "dispatch"
    store = Store(platform)
    rules = RulesProvider()
    auth = Auth()
    senders = BusSenders()

    # ------------------------------------------------------------------ use cases, whatever the channel
    def _run(self, use_case, *args):
        with self.store.unit_of_work() as uow:
            return use_case(uow, self.rules, *args)

    def _read(self, query, *args):
        with self.store.unit_of_work() as uow:
            return query(uow.conn, *args)

    def _report(self, report: DepartmentReport) -> dict:
        """A report from HTTP or RPC: only on the caller's own call-out (403 otherwise, before its state
        is looked at); the step's event names the caller."""
        with self.store.unit_of_work() as uow:
            whistle_id = repo.whistle_of_callout(uow.conn, report.callout_id)
            if whistle_id is not None:        # no such call-out: the use case says so, there is nothing to guard
                callout = next(c for c in repo.callouts_of(uow.conn, whistle_id) if c.callout_id == report.callout_id)
                self.auth.require({"department_code": callout.department_code})
            return handlers.report(uow, self.rules, report, actor(self.auth.record())).model_dump(mode="json")

    def _callouts(self, whistle_id: str) -> list[dict]:
        """A whistle's call-outs as the caller may see them: its street and district staff all, a department
        called on it only its own (403 for a whistle of another street, or one it is not called on)."""
        with self.store.unit_of_work() as uow:
            case = repo.case_dict(uow.conn, whistle_id)
            rows = handlers.callouts_of(uow.conn, whistle_id)
        if case is None:            # dispatch has not seen this whistle (yet): no call-outs, nothing to guard
            return []
        self.auth.require(self._whistle_object(case, rows))
        return self.auth.visible(rows, lambda row: {"street_code": case["street_code"],
                                                    "department_code": row["department_code"]})

    @staticmethod
    def _whistle_object(case: dict, rows: list[dict]) -> dict:
        return {"street_code": case["street_code"],
                "department_codes": tuple(dict.fromkeys(row["department_code"] for row in rows))}

    def _case(self, whistle_id: str) -> dict | None:
        with self.store.unit_of_work() as uow:
            case = repo.case_dict(uow.conn, whistle_id)
            if case is None:
                return None
            rows = handlers.callouts_of(uow.conn, whistle_id)
        self.auth.require(self._whistle_object(case, rows))
        return case

    def _overdue(self) -> list[dict]:
        with self.store.unit_of_work() as uow:
            return repo.overdue(uow.conn, uow.now)

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
    def _bus_report(self, uow, report):
        sender = self.senders(Kind.DEPARTMENT, report.department_code, report)
        handlers.report(uow, self.rules, report, actor(sender))

    @report_consumer("checkin")
    def on_check_in(self, uow, report):
        self._bus_report(uow, report)

    @report_consumer("arrival")
    def on_arrival(self, uow, report):
        self._bus_report(uow, report)

    @report_consumer("completion")
    def on_completion(self, uow, report):
        self._bus_report(uow, report)

    @report_consumer("return")
    def on_return(self, uow, report):
        self._bus_report(uow, report)

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
    @guarded_rpc("callout.report", obj="callout")
    def check_in(self, request: dict) -> dict:
        return self._report(_parse(REPORTS["checkin"], self.auth.claim(request)))

    @rpc(expected_exceptions=REFUSALS)
    @guarded_rpc("callout.report", obj="callout")
    def report(self, action: str, request: dict) -> dict:
        """A department report: action is checkin, arrival, completion or return."""
        if action not in REPORTS:
            raise IllegalStep("action", f"unknown action {action!r}; use one of {', '.join(REPORTS)}")
        return self._report(_parse(REPORTS[action], self.auth.claim(request)))

    @rpc(expected_exceptions=REFUSALS)
    @guarded_rpc("department.add", obj="whistle")
    def add_department(self, request: dict) -> dict:
        command = _parse(AddDepartment, request)
        return {"callout_id": self._run(handlers.add_department, command, actor(self.auth.record()))}

    @rpc(expected_exceptions=REFUSALS)
    @guarded_rpc("arbitration.decide", obj="arbitration")
    def decide_arbitration(self, request: dict) -> dict:
        return self._run(handlers.decide_arbitration, _parse(DecideArbitration, request), actor(self.auth.record()))

    @rpc(expected_exceptions=REFUSALS)
    @guarded_rpc("callout.read", obj="whistle")
    def callouts_of(self, whistle_id: str) -> list[dict]:
        return self._callouts(whistle_id)

    @rpc(expected_exceptions=REFUSALS)
    @guarded_rpc("callout.read", obj="whistle")
    def case_of(self, whistle_id: str) -> dict | None:
        return self._case(whistle_id)

    @rpc(expected_exceptions=REFUSALS)
    @guarded_rpc("arbitration.read")
    def open_arbitrations(self) -> list[dict]:
        return self.auth.visible(self._read(repo.open_arbitrations))

    @rpc(expected_exceptions=REFUSALS)
    @guarded_rpc("overdue.read")
    def overdue(self) -> list[dict]:
        return self.auth.visible(self._overdue())

    # ------------------------------------------------------------------ HTTP
    @http("GET", "/api/v1/whistles/<string:whistle_id>/callouts")
    @guarded("callout.read", obj="whistle")
    @json_api
    def http_callouts(self, request, whistle_id):
        return 200, {"whistle_id": whistle_id, "callouts": self._callouts(whistle_id)}

    @http("POST", "/api/v1/reports/<string:action>")
    @guarded("callout.report", obj="callout")
    @json_api
    def http_report(self, request, action):
        if action not in REPORTS:
            raise HttpError(404, f"unknown action {action!r}; use one of {', '.join(REPORTS)}")
        return 200, self._report(parse(REPORTS[action], self.auth.claim(read_json(request, JsonObject))))

    @http("POST", "/api/v1/checkins")
    @guarded("callout.report", obj="callout")
    @json_api
    def http_check_in(self, request):
        return 200, self._report(parse(REPORTS["checkin"], self.auth.claim(read_json(request, JsonObject))))

    @http("POST", "/api/v1/whistles/<string:whistle_id>/departments")
    @guarded("department.add", obj="whistle")
    @json_api
    def http_add_department(self, request, whistle_id):
        command = read_json(request, AddDepartment)
        if command.whistle_id != whistle_id:
            raise HttpError(422, "whistle_id in the body differs from the path")
        return 201, {"callout_id": self._run(handlers.add_department, command, actor(self.auth.record()))}

    @http("GET", "/api/v1/arbitrations")
    @guarded("arbitration.read")
    @json_api
    def http_arbitrations(self, request):
        """?limit=&cursor=: open arbitrations, soonest deadline first."""
        page = request_page(request)
        rows = self.auth.visible(self._read(repo.open_arbitrations))
        return 200, paginate(rows, arbitration_key, page).body("arbitrations")

    @http("POST", "/api/v1/arbitrations/<string:arbitration_id>/decision")
    @guarded("arbitration.decide", obj="arbitration")
    @json_api
    def http_decide(self, request, arbitration_id):
        command = read_json(request, DecideArbitration)
        if command.arbitration_id != arbitration_id:
            raise HttpError(422, "arbitration_id in the body differs from the path")
        return 200, self._run(handlers.decide_arbitration, command, actor(self.auth.record()))

    @http("GET", "/api/v1/overdue")
    @guarded("overdue.read")
    @json_api
    def http_overdue(self, request):
        """?limit=&cursor=: steps past their deadline, oldest deadline first."""
        page = request_page(request)
        return 200, paginate(self.auth.visible(self._overdue()), overdue_key, page).body("overdue")


SERVICE = DispatchService


def prepare(settings) -> None:
    """Creates the database, records the matrix version, and declares every department's queue."""
    from datetime import datetime, timezone

    from services.common.broker import declare_topology
    from services.common.db import create_schema
    from sqlalchemy.exc import IntegrityError
    engine = create_schema(settings.database_url, settings.service)
    try:
        with engine.begin() as conn:
            repo.store_matrix(conn, process_rules().matrix, datetime.now(timezone.utc))
    except IntegrityError:
        pass                    # a replica starting at the same moment recorded the same version first
    declare_topology(settings, load_reference())

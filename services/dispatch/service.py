"""The dispatch service's nameko entrypoints: raised whistles in, call-outs out, check-ins by bus, RPC and HTTP."""
from __future__ import annotations

from datetime import datetime, timezone

from nameko.rpc import rpc
from nameko.web.handlers import http

from services.common.consumer import Rejected, consume
from services.common.db import Database
from services.common.events import (CHECKINS, EVENTS, CheckIn, CheckInOutcome, ContractError,
                                    FieldError, WhistleRaised, parse)
from services.common.outbox import OutboxRelay
from services.common.reference import load_reference
from services.common.web import HttpError, OpsEndpoints, json_api, read_json
from services.dispatch import handlers
from services.dispatch.deadlines import chinese_workdays
from services.dispatch.domain import IllegalStep, department_in_routing_key
from services.dispatch.orm import metadata, platform


def now() -> datetime:
    return datetime.now(timezone.utc)


def verify_department(command: CheckIn, routing_key: str) -> tuple[FieldError, ...]:
    """A department checks in on its own routing key only."""
    if department_in_routing_key(routing_key) != command.department_code:
        return (FieldError(field="department_code",
                           message=f"{command.department_code!r} does not match routing key {routing_key!r}"),)
    return ()


def rejected_checkin(payload: dict, routing_key: str, errors) -> CheckInOutcome:
    department = department_in_routing_key(routing_key) or "unknown"
    request_id = payload.get("request_id") if isinstance(payload.get("request_id"), str) else None
    callout_id = payload.get("callout_id") if isinstance(payload.get("callout_id"), str) else None
    return CheckInOutcome(request_id=(request_id or None) and request_id[:128],
                          callout_id=(callout_id or None) and callout_id[:64],
                          department_code=department, outcome="rejected", errors=errors)


class DispatchService(OpsEndpoints):
    name = "dispatch"
    db = Database(metadata)
    relay = OutboxRelay(platform)
    reference = load_reference()
    is_workday = staticmethod(chinese_workdays())

    @consume("dispatch.whistles", [(EVENTS, "whistle.raised")], (WhistleRaised,))
    def on_whistle_raised(self, event: WhistleRaised):
        try:
            handlers.dispatch_whistle(self.db, self.reference, self.is_workday, event, now())
        except IllegalStep as exc:
            raise Rejected(str(exc), exc.errors) from None

    @consume("dispatch.checkins", [(CHECKINS, "checkin.*")], CheckIn,
             outcome=rejected_checkin, verify=verify_department)
    def on_check_in(self, command: CheckIn):
        try:
            handlers.take_check_in(self.db, command, now())
        except IllegalStep as exc:
            raise Rejected(str(exc), exc.errors) from None

    @rpc(expected_exceptions=(IllegalStep,))
    def check_in(self, request: dict) -> dict:
        """A department's check-in; returns the outcome. IllegalStep names what is wrong."""
        try:
            command = parse(CheckIn, request)
        except ContractError as exc:
            raise IllegalStep(exc.errors[0].field, str(exc)) from None
        return handlers.take_check_in(self.db, command, now()).model_dump(mode="json")

    @rpc
    def callouts_of(self, whistle_id: str) -> list[dict]:
        return handlers.callouts_of(self.db, whistle_id)

    @http("GET", "/api/v1/whistles/<string:whistle_id>/callouts")
    @json_api
    def http_callouts(self, request, whistle_id):
        return 200, {"whistle_id": whistle_id, "callouts": handlers.callouts_of(self.db, whistle_id)}

    @http("POST", "/api/v1/checkins")
    @json_api
    def http_check_in(self, request):
        command = read_json(request, CheckIn)
        try:
            outcome = handlers.take_check_in(self.db, command, now())
        except IllegalStep as exc:
            raise HttpError(409, str(exc), exc.errors) from None
        return 200, outcome.model_dump(mode="json")


SERVICE = DispatchService


def prepare(settings) -> None:
    """Creates the database and every department's call-out queue."""
    from services.common.broker import connect, declare_exchanges, declare_outside_parties
    from services.common.db import create_schema
    create_schema(settings.database_url, metadata)
    with connect(settings) as conn:
        channel = conn.channel()
        declare_exchanges(channel, settings)
        declare_outside_parties(channel, settings, load_reference())

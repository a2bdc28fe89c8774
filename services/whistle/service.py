"""The whistle service's nameko entrypoints: RPC, the `whistles` exchange, HTTP, and progress events."""
from __future__ import annotations

from datetime import datetime, timezone

from nameko.rpc import rpc
from nameko.web.handlers import http

from services.common.consumer import Rejected, consume
from services.common.db import Database
from services.common.events import (CALLOUTS, DISPATCH_PROGRESS, EVENTS, WHISTLES, CalloutIssued, CloseWhistle,
                                    ContractError, FollowUp, RaiseWhistle, SendBack, TeamAssembled,
                                    WhistleOutcome, parse)
from services.common.outbox import OutboxRelay
from services.common.reference import load_reference
from services.common.web import HttpError, OpsEndpoints, json_api, read_json
from services.whistle import handlers
from services.whistle.domain import (IllegalAction, InvalidRequest, InvalidWhistle, NoSuchWhistle, Refused,
                                     WhistleState, rejected_outcome, verify_sender)
from services.whistle.orm import metadata, platform

PROGRESS = (*DISPATCH_PROGRESS, TeamAssembled)
# exact keys, not `events.#`: an event type added later must not reach this queue and be dead-lettered
PROGRESS_BINDINGS = ((CALLOUTS, "callout.#"),
                     *((EVENTS, cls.event_type) for cls in PROGRESS if cls is not CalloutIssued))
HTTP_STATUS = {InvalidRequest: 422, InvalidWhistle: 422, NoSuchWhistle: 404, IllegalAction: 409}
REFUSALS = (InvalidRequest, InvalidWhistle, NoSuchWhistle, IllegalAction)


def now() -> datetime:
    return datetime.now(timezone.utc)


def raised_body(outcome: WhistleOutcome) -> dict:
    return {"whistle_id": outcome.whistle_id, "repeated": outcome.repeated, "linked_to": outcome.linked_to}


def state_body(state: WhistleState) -> dict:
    return {"whistle_id": state.whistle_id, "status": state.status, "round": state.round}


def street_command(model, request, whistle_id: str | None = None):
    """A street's command from RPC or HTTP; HTTP names the whistle in its path, so the body may leave it out."""
    if whistle_id is not None and isinstance(request, dict):
        if request.setdefault("whistle_id", whistle_id) != whistle_id:
            raise InvalidRequest.one("whistle_id", "the body names another whistle than the path")
    try:
        return parse(model, request)
    except ContractError as exc:
        raise InvalidRequest(exc.errors) from None


class JsonObject:
    """For read_json: any JSON object, checked against its command once the path's whistle_id is in."""

    @staticmethod
    def model_validate(payload: dict) -> dict:
        return payload


def http_refusal(exc: Refused) -> HttpError:
    return HttpError(HTTP_STATUS[type(exc)], str(exc), exc.errors)


class WhistleService(OpsEndpoints):
    name = "whistle"
    db = Database(metadata)
    relay = OutboxRelay(platform)
    reference = load_reference()

    @rpc(expected_exceptions=(InvalidWhistle,))
    def raise_whistle(self, request: dict) -> dict:
        """Raises a whistle; returns {whistle_id, repeated, linked_to}. Invalid input raises InvalidWhistle."""
        try:
            raise_command = parse(RaiseWhistle, request)
        except ContractError as exc:
            raise InvalidWhistle(exc.errors) from None
        return raised_body(handlers.raise_whistle(self.db, self.reference, raise_command, now()))

    @rpc(expected_exceptions=REFUSALS)
    def close_whistle(self, request: dict) -> dict:
        """销号 (CloseWhistle with 两图一表); IllegalAction unless all_completed and the street's own."""
        return state_body(handlers.close_whistle(self.db, street_command(CloseWhistle, request), now()))

    @rpc(expected_exceptions=REFUSALS)
    def send_back(self, request: dict) -> dict:
        """SendBack: the named departments (or all) redo their work in a new round."""
        return state_body(handlers.send_back(self.db, self.reference, street_command(SendBack, request), now()))

    @rpc(expected_exceptions=REFUSALS)
    def record_follow_up(self, request: dict) -> dict:
        """回访 (FollowUp) of a closed whistle; unsatisfied with reopen starts a new round."""
        return state_body(handlers.record_follow_up(self.db, street_command(FollowUp, request), now()))

    @rpc
    def get_whistle(self, whistle_id: str) -> dict | None:
        whistle = handlers.get_whistle(self.db, whistle_id)
        if whistle is not None:
            whistle["timeline"] = handlers.get_timeline(self.db, whistle_id)
        return whistle

    @consume("whistle.raise_requests", [(WHISTLES, "raise.*")], RaiseWhistle,
             outcome=rejected_outcome, verify=verify_sender, sender="street")
    def on_raise_request(self, command: RaiseWhistle):
        try:
            handlers.raise_whistle(self.db, self.reference, command, now())
        except InvalidWhistle as exc:
            raise Rejected("invalid whistle", exc.errors) from None

    @consume("whistle.progress", PROGRESS_BINDINGS, PROGRESS)
    def on_progress(self, event):
        handlers.record_progress(self.db, event, now())

    @http("POST", "/api/v1/whistles")
    @json_api
    def post_whistle(self, request):
        raise_command = read_json(request, RaiseWhistle)
        try:
            outcome = handlers.raise_whistle(self.db, self.reference, raise_command, now())
        except InvalidWhistle as exc:
            raise HttpError(422, "invalid whistle", exc.errors) from None
        return (200 if outcome.repeated else 201), raised_body(outcome)

    def _street_action(self, request, whistle_id, model, act):
        body = read_json(request, JsonObject)
        try:
            return 200, state_body(act(street_command(model, body, whistle_id)))
        except Refused as exc:
            raise http_refusal(exc) from None

    @http("POST", "/api/v1/whistles/<string:whistle_id>/closure")
    @json_api
    def http_close(self, request, whistle_id):
        return self._street_action(request, whistle_id, CloseWhistle,
                                   lambda c: handlers.close_whistle(self.db, c, now()))

    @http("POST", "/api/v1/whistles/<string:whistle_id>/send-back")
    @json_api
    def http_send_back(self, request, whistle_id):
        return self._street_action(request, whistle_id, SendBack,
                                   lambda c: handlers.send_back(self.db, self.reference, c, now()))

    @http("POST", "/api/v1/whistles/<string:whistle_id>/follow-up")
    @json_api
    def http_follow_up(self, request, whistle_id):
        return self._street_action(request, whistle_id, FollowUp,
                                   lambda c: handlers.record_follow_up(self.db, c, now()))

    @http("GET", "/api/v1/whistles/<string:whistle_id>")
    @json_api
    def http_get_whistle(self, request, whistle_id):
        whistle = handlers.get_whistle(self.db, whistle_id)
        if whistle is None:
            raise HttpError(404, f"no whistle {whistle_id}")
        return 200, whistle

    @http("GET", "/api/v1/whistles/<string:whistle_id>/timeline")
    @json_api
    def http_get_timeline(self, request, whistle_id):
        entries = handlers.get_timeline(self.db, whistle_id)
        if entries is None:
            raise HttpError(404, f"no whistle {whistle_id}")
        return 200, {"whistle_id": whistle_id, "timeline": entries}


SERVICE = WhistleService


def prepare(settings) -> None:
    """Creates the database and the queues where streets read their outcomes."""
    from services.common.broker import declare_topology
    from services.common.db import create_schema
    create_schema(settings.database_url, metadata)
    declare_topology(settings, load_reference())

"""The whistle service's nameko entrypoints: RPC, the `whistles` exchange, HTTP, and progress events."""
from __future__ import annotations

from nameko.rpc import rpc
from nameko.web.handlers import http
from sqlalchemy.exc import IntegrityError

from services.common.consumer import consume
from services.common.errors import REFUSALS
from services.common.i18n import accept_language, choose_language
from services.common.events import (DISPATCH_PROGRESS, EVENTS, WHISTLES, CloseWhistle,
                                    ContractError, FieldError, FollowUp, MemberCheckedIn, RaiseWhistle, SendBack,
                                    TeamAssembled,
                                    WhistleOutcome, parse)
from services.common.reference import load_reference
from services.common.uow import Store
from services.common.web import HttpError, OpsEndpoints, json_api, read_json
from services.whistle import handlers
from services.whistle.domain import (STATUSES, InvalidRequest, InvalidWhistle, WhistleState, rejected_outcome,
                                     verify_sender)
from services.whistle.orm import metadata, platform

LIST_LIMIT = 200
PROGRESS = (*DISPATCH_PROGRESS, MemberCheckedIn, TeamAssembled)
# exact keys, not `events.#`: an event type added later must not reach this queue and be dead-lettered
PROGRESS_BINDINGS = tuple((EVENTS, cls.event_type) for cls in PROGRESS)


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


def request_language(request) -> str:
    """The language an HTTP request asks for: ?lang=, then Accept-Language, then zh-CN."""
    return choose_language(request.args.get("lang"), accept_language(request.headers.get("Accept-Language")))


class JsonObject:
    """For read_json: any JSON object, checked against its command once the path's whistle_id is in."""

    @staticmethod
    def model_validate(payload: dict) -> dict:
        return payload


class WhistleService(OpsEndpoints):
    name = "whistle"
    store = Store(platform)
    reference = load_reference()

    # ------------------------------------------------------------------ use cases, whatever the channel
    def _raise(self, command: RaiseWhistle) -> WhistleOutcome:
        for _ in range(2):  # a concurrent twin of this request may win the unique key: then read its result
            try:
                with self.store.unit_of_work() as uow:
                    return handlers.raise_whistle(uow, self.reference, command)
            except IntegrityError:
                continue
        raise RuntimeError(f"request {command.request_id} neither stored nor found")

    def _act(self, use_case, command) -> dict:
        with self.store.unit_of_work() as uow:
            return state_body(use_case(uow, self.reference, command))

    def _close(self, command: CloseWhistle) -> dict:
        return self._act(handlers.close_whistle, command)

    def _send_back(self, command: SendBack) -> dict:
        return self._act(handlers.send_back, command)

    def _follow_up(self, command: FollowUp) -> dict:
        return self._act(handlers.record_follow_up, command)

    def _timeline(self, whistle_id: str, lang: str) -> list[dict] | None:
        with self.store.unit_of_work() as uow:
            return handlers.get_timeline(uow.conn, whistle_id, self.reference, lang)

    def _whistle(self, whistle_id: str, lang: str | None = None) -> dict | None:
        """The whistle; with its timeline in `lang` when a language is asked for."""
        with self.store.unit_of_work() as uow:
            whistle = handlers.get_whistle(uow.conn, whistle_id)
            if whistle is not None and lang is not None:
                whistle["timeline"] = handlers.get_timeline(uow.conn, whistle_id, self.reference, lang)
            return whistle

    # ------------------------------------------------------------------ RPC
    @rpc(expected_exceptions=REFUSALS)
    def raise_whistle(self, request: dict) -> dict:
        """Raises a whistle; returns {whistle_id, repeated, linked_to}. Invalid input raises InvalidWhistle."""
        try:
            command = parse(RaiseWhistle, request)
        except ContractError as exc:
            raise InvalidWhistle(exc.errors) from None
        return raised_body(self._raise(command))

    @rpc(expected_exceptions=REFUSALS)
    def close_whistle(self, request: dict) -> dict:
        """销号 (CloseWhistle with 两图一表); IllegalAction unless all_completed and the street's own."""
        return self._close(street_command(CloseWhistle, request))

    @rpc(expected_exceptions=REFUSALS)
    def send_back(self, request: dict) -> dict:
        """SendBack: the named departments (or all) redo their work in a new round."""
        return self._send_back(street_command(SendBack, request))

    @rpc(expected_exceptions=REFUSALS)
    def record_follow_up(self, request: dict) -> dict:
        """回访 (FollowUp) of a closed whistle; unsatisfied with reopen starts a new round."""
        return self._follow_up(street_command(FollowUp, request))

    @rpc
    def get_whistle(self, whistle_id: str, lang: str | None = None) -> dict | None:
        """The whistle with its timeline (zh-CN unless `lang` names another supported language)."""
        return self._whistle(whistle_id, choose_language(lang))

    # ------------------------------------------------------------------ the bus
    @consume("whistle.raise_requests", [(WHISTLES, "raise.*")], RaiseWhistle,
             outcome=rejected_outcome, verify=verify_sender, sender="street")
    def on_raise_request(self, uow, command: RaiseWhistle):
        handlers.raise_whistle(uow, self.reference, command)

    @consume("whistle.progress", PROGRESS_BINDINGS, PROGRESS, batch=True)
    def on_progress(self, uow, events):
        handlers.record_progress(uow, self.reference, events)

    # ------------------------------------------------------------------ HTTP
    @http("POST", "/api/v1/whistles")
    @json_api
    def post_whistle(self, request):
        outcome = self._raise(read_json(request, RaiseWhistle))
        return (200 if outcome.repeated else 201), raised_body(outcome)

    @http("POST", "/api/v1/whistles/<string:whistle_id>/closure")
    @json_api
    def http_close(self, request, whistle_id):
        return 200, self._close(street_command(CloseWhistle, read_json(request, JsonObject), whistle_id))

    @http("POST", "/api/v1/whistles/<string:whistle_id>/send-back")
    @json_api
    def http_send_back(self, request, whistle_id):
        return 200, self._send_back(street_command(SendBack, read_json(request, JsonObject), whistle_id))

    @http("POST", "/api/v1/whistles/<string:whistle_id>/follow-up")
    @json_api
    def http_follow_up(self, request, whistle_id):
        return 200, self._follow_up(street_command(FollowUp, read_json(request, JsonObject), whistle_id))

    @http("GET", "/api/v1/whistles")
    @json_api
    def http_list_whistles(self, request):
        """?street=<code>&status=<status>&limit=<n ≤ 200>: whistles newest first."""
        street, status = request.args.get("street"), request.args.get("status")
        errors = []
        if street is not None and self.reference.street(street) is None:
            errors.append(FieldError(field="street", message=f"unknown street {street!r}"))
        if status is not None and status not in STATUSES:
            errors.append(FieldError(field="status", message=f"unknown status {status!r}; one of {', '.join(STATUSES)}"))
        limit = request.args.get("limit", "50")
        if not limit.isdigit() or not 1 <= int(limit) <= LIST_LIMIT:
            errors.append(FieldError(field="limit", message=f"limit must be a whole number from 1 to {LIST_LIMIT}"))
        if errors:
            raise InvalidRequest(errors)
        with self.store.unit_of_work() as uow:
            return 200, {"whistles": handlers.list_whistles(uow.conn, street, status, int(limit))}

    @http("GET", "/api/v1/whistles/<string:whistle_id>")
    @json_api
    def http_get_whistle(self, request, whistle_id):
        whistle = self._whistle(whistle_id)
        if whistle is None:
            raise HttpError(404, f"no whistle {whistle_id}")
        return 200, whistle

    @http("GET", "/api/v1/whistles/<string:whistle_id>/timeline")
    @json_api
    def http_get_timeline(self, request, whistle_id):
        """?lang= or Accept-Language chooses the summaries' language (zh-CN by default)."""
        entries = self._timeline(whistle_id, request_language(request))
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

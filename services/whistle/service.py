"""The whistle service's nameko entrypoints: RPC, the `whistles` exchange, HTTP, and progress events."""
from __future__ import annotations

from datetime import datetime

from nameko.rpc import rpc
from nameko.web.handlers import http
from sqlalchemy.exc import IntegrityError

from services.common.attribution import BusSenders
from services.common.auth.pagination import page_of
from services.common.auth.principals import Kind
from services.common.authweb import request_page
from services.common.consumer import consume
from services.common.guard import Auth, guarded, guarded_rpc
from services.common.errors import REFUSALS
from services.common.i18n import accept_language, choose_language
from services.common.events import (DISPATCH_PROGRESS, EVENTS, WHISTLES, CloseWhistle,
                                    ContractError, FieldError, FollowUp, MemberCheckedIn, RaiseWhistle, SendBack,
                                    TeamAssembled,
                                    WhistleOutcome, parse)
from services.common.outbox_age import OutboxAgeProbe
from services.common.reference import load_reference
from services.common.uow import Store
from services.common.web import HttpError, OpsEndpoints, json_api, read_json
from services.whistle import handlers
from services.whistle.board import BoardEndpoints
from services.whistle.domain import (STATUSES, InvalidRequest, InvalidWhistle, NoSuchWhistle, WhistleState,
                                     rejected_outcome, verify_sender)
from services.whistle.grid_service import GridEndpoints
from services.whistle.orm import platform

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


def whistle_key(whistle: dict) -> str:
    """The keyset cursor's key of a listed whistle: when it was raised, then its id (newest first)."""
    return f"{whistle['raised_at']}|{whistle['id']}"


def after_key(after: str | None) -> tuple[datetime, str] | None:
    """The (raised_at, id) a cursor names; HttpError 400 naming `cursor` for one this API did not give out."""
    if after is None:
        return None
    raised_at, _, whistle_id = after.partition("|")
    try:
        return datetime.fromisoformat(raised_at.replace("Z", "+00:00")), whistle_id
    except ValueError:
        raise HttpError(400, "invalid cursor",
                        (FieldError(field="cursor", message="not a cursor this API gave out"),)) from None


class WhistleService(OutboxAgeProbe, BoardEndpoints, GridEndpoints, OpsEndpoints):
    name = "whistle"
    store = Store(platform)
    auth = Auth()
    senders = BusSenders()
    reference = load_reference()

    # ------------------------------------------------------------------ use cases, whatever the channel
    def _raise(self, command: RaiseWhistle, by: dict | None) -> WhistleOutcome:
        for _ in range(2):  # a concurrent twin of this request may win the unique key: then read its result
            try:
                with self.store.unit_of_work() as uow:
                    return handlers.raise_whistle(uow, self.reference, command, by)
            except IntegrityError:
                continue
        raise RuntimeError(f"request {command.request_id} neither stored nor found")

    def _raise_as_caller(self, request, invalid=InvalidRequest) -> WhistleOutcome:
        """A raise from HTTP or RPC: the body's street is the token's (filled in for a street), then raised."""
        try:
            command = parse(RaiseWhistle, self.auth.claim(request))
        except ContractError as exc:
            raise invalid(exc.errors) from None
        self.auth.require({"street_code": command.street_code})
        return self._raise(command, self.auth.record())

    def _act(self, use_case, model, request, whistle_id: str | None = None) -> dict:
        """A street's action on its whistle (closure, send-back, follow-up) from HTTP or RPC: the body is
        claimed for the token's street where the command names one, the whistle must be that street's
        (403 otherwise, before its status is looked at), and the timeline records who acted."""
        if "street_code" in model.model_fields:
            request = self.auth.claim(request)
        command = street_command(model, request, whistle_id)
        with self.store.unit_of_work() as uow:
            self._require_street(handlers.street_of(uow.conn, command.whistle_id), command.whistle_id)
            return state_body(use_case(uow, self.reference, command, self.auth.record()))

    def _require_street(self, street_code: str | None, whistle_id: str) -> None:
        """The object-level check: 404 for no such whistle, 403 for another street's."""
        if street_code is None:
            raise NoSuchWhistle.one("whistle_id", f"no whistle {whistle_id}")
        self.auth.require({"street_code": street_code})

    def _whistle(self, whistle_id: str, lang: str | None = None) -> dict | None:
        """The whistle if the caller may read it (403 otherwise); with its timeline in `lang` when asked."""
        with self.store.unit_of_work() as uow:
            whistle = handlers.get_whistle(uow.conn, whistle_id)
            if whistle is None:
                return None
            self.auth.require({"street_code": whistle["street_code"]})
            if lang is not None:
                whistle["timeline"] = handlers.get_timeline(uow.conn, whistle_id, self.reference, lang)
            return whistle

    # ------------------------------------------------------------------ RPC
    @rpc(expected_exceptions=REFUSALS)
    @guarded_rpc("whistle.raise", obj="whistle")
    def raise_whistle(self, request: dict) -> dict:
        """Raises a whistle; returns {whistle_id, repeated, linked_to}. Invalid input raises InvalidWhistle."""
        return raised_body(self._raise_as_caller(request, InvalidWhistle))

    @rpc(expected_exceptions=REFUSALS)
    @guarded_rpc("whistle.close", obj="whistle")
    def close_whistle(self, request: dict) -> dict:
        """销号 (CloseWhistle with 两图一表); IllegalAction unless all_completed and the street's own."""
        return self._act(handlers.close_whistle, CloseWhistle, request)

    @rpc(expected_exceptions=REFUSALS)
    @guarded_rpc("whistle.send_back", obj="whistle")
    def send_back(self, request: dict) -> dict:
        """SendBack: the named departments (or all) redo their work in a new round."""
        return self._act(handlers.send_back, SendBack, request)

    @rpc(expected_exceptions=REFUSALS)
    @guarded_rpc("whistle.follow_up", obj="whistle")
    def record_follow_up(self, request: dict) -> dict:
        """回访 (FollowUp) of a closed whistle; unsatisfied with reopen starts a new round."""
        return self._act(handlers.record_follow_up, FollowUp, request)

    @rpc(expected_exceptions=REFUSALS)
    @guarded_rpc("whistle.read", obj="whistle")
    def get_whistle(self, whistle_id: str, lang: str | None = None) -> dict | None:
        """The whistle with its timeline (zh-CN unless `lang` names another supported language)."""
        return self._whistle(whistle_id, choose_language(lang))

    # ------------------------------------------------------------------ the bus
    @consume("whistle.raise_requests", [(WHISTLES, "raise.*")], RaiseWhistle,
             outcome=rejected_outcome, verify=verify_sender, sender="street")
    def on_raise_request(self, uow, command: RaiseWhistle):
        handlers.raise_whistle(uow, self.reference, command, self.senders(Kind.STREET, command.street_code, command))

    @consume("whistle.progress", PROGRESS_BINDINGS, PROGRESS, batch=True)
    def on_progress(self, uow, events):
        handlers.record_progress(uow, self.reference, events)

    # ------------------------------------------------------------------ HTTP
    @http("POST", "/api/v1/whistles")
    @guarded("whistle.raise", obj="whistle")
    @json_api
    def post_whistle(self, request):
        outcome = self._raise_as_caller(read_json(request, JsonObject))
        return (200 if outcome.repeated else 201), raised_body(outcome)

    @http("POST", "/api/v1/whistles/<string:whistle_id>/closure")
    @guarded("whistle.close", obj="whistle")
    @json_api
    def http_close(self, request, whistle_id):
        return 200, self._act(handlers.close_whistle, CloseWhistle, read_json(request, JsonObject), whistle_id)

    @http("POST", "/api/v1/whistles/<string:whistle_id>/send-back")
    @guarded("whistle.send_back", obj="whistle")
    @json_api
    def http_send_back(self, request, whistle_id):
        return 200, self._act(handlers.send_back, SendBack, read_json(request, JsonObject), whistle_id)

    @http("POST", "/api/v1/whistles/<string:whistle_id>/follow-up")
    @guarded("whistle.follow_up", obj="whistle")
    @json_api
    def http_follow_up(self, request, whistle_id):
        return 200, self._act(handlers.record_follow_up, FollowUp, read_json(request, JsonObject), whistle_id)

    @http("GET", "/api/v1/whistles")
    @guarded("whistle.read")
    @json_api
    def http_list_whistles(self, request):
        """?street=<code>&status=<status>&limit=<1..200, default 50>&cursor=<next_cursor>: whistles newest
        first. A street's token lists its own street's (?street= may name only it); district staff and
        services list any street's, or every street's."""
        page = request_page(request)
        street, status = request.args.get("street"), request.args.get("status")
        if self.auth.principal.kind is Kind.STREET and street is None:
            street = self.auth.principal.code
        errors = []
        if street is not None and self.reference.street(street) is None:
            errors.append(FieldError(field="street", message=f"unknown street {street!r}"))
        if status is not None and status not in STATUSES:
            errors.append(FieldError(field="status",
                                     message=f"unknown status {status!r}; one of {', '.join(STATUSES)}"))
        if errors:
            raise InvalidRequest(errors)
        self.auth.require(None if street is None else {"street_code": street})     # a street: only its own
        with self.store.unit_of_work() as uow:
            rows = handlers.list_whistles(uow.conn, street, status, page.limit + 1, after_key(page.after))
        return 200, page_of(self.auth.visible(rows), whistle_key, page).body("whistles")

    @http("GET", "/api/v1/whistles/<string:whistle_id>")
    @guarded("whistle.read", obj="whistle")
    @json_api
    def http_get_whistle(self, request, whistle_id):
        whistle = self._whistle(whistle_id)
        if whistle is None:
            raise HttpError(404, f"no whistle {whistle_id}")
        return 200, whistle

    @http("GET", "/api/v1/whistles/<string:whistle_id>/timeline")
    @guarded("whistle.read", obj="whistle")
    @json_api
    def http_get_timeline(self, request, whistle_id):
        """?lang= or Accept-Language chooses the summaries' language (zh-CN by default)."""
        whistle = self._whistle(whistle_id, request_language(request))
        if whistle is None:
            raise HttpError(404, f"no whistle {whistle_id}")
        return 200, {"whistle_id": whistle_id, "timeline": whistle["timeline"]}


SERVICE = WhistleService


def prepare(settings) -> None:
    """Creates the database and the queues where streets read their outcomes."""
    from services.common.broker import declare_topology
    from services.common.db import create_schema
    create_schema(settings.database_url, settings.service)
    declare_topology(settings, load_reference())

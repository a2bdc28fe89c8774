"""The whistle service's nameko entrypoints: RPC, the `whistles` exchange, HTTP, and progress events."""
from __future__ import annotations

from datetime import datetime, timezone

from nameko.rpc import rpc
from nameko.web.handlers import http

from services.common.consumer import Rejected, consume
from services.common.db import Database
from services.common.events import (CALLOUTS, EVENTS, WHISTLES, AllCheckedIn, CalloutCheckedIn,
                                    CalloutIssued, ContractError, RaiseWhistle, TeamAssembled, parse)
from services.common.outbox import OutboxRelay
from services.common.reference import load_reference
from services.common.web import HttpError, OpsEndpoints, json_api, read_json
from services.whistle import handlers
from services.whistle.domain import InvalidWhistle, rejected_outcome, verify_sender
from services.whistle.orm import metadata, platform


def now() -> datetime:
    return datetime.now(timezone.utc)


class WhistleService(OpsEndpoints):
    name = "whistle"
    db = Database(metadata)
    relay = OutboxRelay(platform)
    reference = load_reference()

    @rpc(expected_exceptions=(InvalidWhistle,))
    def raise_whistle(self, request: dict) -> dict:
        """Raises a whistle; returns {whistle_id, repeated}. Invalid input raises InvalidWhistle."""
        try:
            command = parse(RaiseWhistle, request)
        except ContractError as exc:
            raise InvalidWhistle(exc.errors) from None
        outcome = handlers.raise_whistle(self.db, self.reference, command, now())
        return {"whistle_id": outcome.whistle_id, "repeated": outcome.repeated}

    @rpc
    def get_whistle(self, whistle_id: str) -> dict | None:
        whistle = handlers.get_whistle(self.db, whistle_id)
        if whistle is not None:
            whistle["timeline"] = handlers.get_timeline(self.db, whistle_id)
        return whistle

    @consume("whistle.raise_requests", [(WHISTLES, "raise.*")], RaiseWhistle,
             outcome=rejected_outcome, verify=verify_sender)
    def on_raise_request(self, command: RaiseWhistle):
        try:
            handlers.raise_whistle(self.db, self.reference, command, now())
        except InvalidWhistle as exc:
            raise Rejected("invalid whistle", exc.errors) from None

    @consume("whistle.progress",
             [(CALLOUTS, "callout.#"), (EVENTS, "callout.checked_in"),
              (EVENTS, "whistle.all_checked_in"), (EVENTS, "team.assembled")],
             (CalloutIssued, CalloutCheckedIn, AllCheckedIn, TeamAssembled))
    def on_progress(self, event):
        handlers.record_progress(self.db, event, now())

    @http("POST", "/api/v1/whistles")
    @json_api
    def post_whistle(self, request):
        command = read_json(request, RaiseWhistle)
        try:
            outcome = handlers.raise_whistle(self.db, self.reference, command, now())
        except InvalidWhistle as exc:
            raise HttpError(422, "invalid whistle", exc.errors) from None
        return (200 if outcome.repeated else 201), {"whistle_id": outcome.whistle_id,
                                                   "repeated": outcome.repeated}

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
    from services.common.broker import connect, declare_exchanges, declare_outside_parties
    from services.common.db import create_schema
    create_schema(settings.database_url, metadata)
    with connect(settings) as conn:
        channel = conn.channel()
        declare_exchanges(channel, settings)
        declare_outside_parties(channel, settings, load_reference())

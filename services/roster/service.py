"""The roster service's nameko entrypoints: joint teams for call-outs that need joint enforcement."""
from __future__ import annotations

from nameko.rpc import rpc
from nameko.web.handlers import http

from services.common.consumer import consume
from services.common.errors import REFUSALS
from services.common.events import EVENTS, CalloutsIssued
from services.common.guard import Auth, guarded, guarded_rpc
from services.common.outbox_age import OutboxAgeProbe
from services.common.uow import Store
from services.common.web import HttpError, OpsEndpoints, json_api
from services.roster import handlers
from services.roster.orm import platform


class RosterService(OutboxAgeProbe, OpsEndpoints):
    name = "roster"
    store = Store(platform)
    auth = Auth()

    @consume("roster.callouts", [(EVENTS, CalloutsIssued.event_type)], (CalloutsIssued,))
    def on_callouts_issued(self, uow, event: CalloutsIssued):
        handlers.on_callouts_issued(uow, event)

    def _team(self, whistle_id: str) -> dict | None:
        """The whistle's joint team if the caller may see it: its street's, district staff, a department
        called on it (403 otherwise); a team stored before its street was recorded, only district staff and services."""
        with self.store.unit_of_work() as uow:
            team = handlers.team_of(uow.conn, whistle_id)
        if team is not None:
            self.auth.require({"street_code": team["street_code"], "department_codes": tuple(team["departments"] or ())})
        return team

    @rpc(expected_exceptions=REFUSALS)
    @guarded_rpc("team.read", obj="whistle")
    def team_of(self, whistle_id: str) -> dict | None:
        return self._team(whistle_id)

    @http("GET", "/api/v1/whistles/<string:whistle_id>/team")
    @guarded("team.read", obj="whistle")
    @json_api
    def http_team(self, request, whistle_id):
        team = self._team(whistle_id)
        if team is None:
            raise HttpError(404, f"no joint team for whistle {whistle_id}")
        return 200, team


SERVICE = RosterService


def prepare(settings) -> None:
    """Creates the database and loads the officers from the reference data."""

    from services.common.db import create_schema
    from services.common.reference import load_reference
    engine = create_schema(settings.database_url, settings.service)
    with engine.begin() as conn:
        handlers.load_officers(conn, load_reference())

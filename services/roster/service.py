"""The roster service's nameko entrypoints: joint teams for the call-outs that need joint enforcement
and for planned operations, members checking in over the bus, the deadline sweep; HTTP and RPC are
in endpoints.py."""
from __future__ import annotations

import logging
import os
from datetime import datetime, timezone
from pathlib import Path

import yaml
from nameko.extensions import DependencyProvider

from services.common.consumer import consume
from services.common.events import (CHECKINS, EVENTS, MEMBER_COMMANDS, CalloutReturned, CalloutsIssued,
                                    FieldError, WhistleClosed)
from services.common.outbox_age import OutboxAgeProbe
from services.common.periodic import every
from services.common.reference import DEFAULT_PATH, load_reference
from services.common.uow import Store
from services.common.web import OpsEndpoints
from services.roster import handlers
from services.roster.endpoints import RosterEndpoints
from services.roster.orm import platform
from services.roster.rules import RosterRules, TeamSettings

log = logging.getLogger(__name__)
CASE_EVENTS = (CalloutsIssued, CalloutReturned, WhistleClosed)


def roster_path(env=os.environ) -> Path:
    """ROSTER_DATA; else roster.yaml beside REFERENCE_DATA's file when there is one; else the shipped one."""
    if env.get("ROSTER_DATA"):
        return Path(env["ROSTER_DATA"])
    beside = Path(env.get("REFERENCE_DATA") or DEFAULT_PATH).with_name("roster.yaml")
    return beside if beside.exists() else DEFAULT_PATH.with_name("roster.yaml")


_rules: list[RosterRules] = []


def process_rules() -> RosterRules:
    """One RosterRules per process: the reference data, and the roster file's `teams:` and `check_weeks`
    (the whole file was checked by prepare() before the service started)."""
    if not _rules:
        data = yaml.safe_load(roster_path().read_text(encoding="utf-8")) or {}
        _rules.append(RosterRules.build(load_reference(), TeamSettings.model_validate(data.get("teams") or {}),
                                        data.get("check_weeks", 8)))
    return _rules[0]


class RulesProvider(DependencyProvider):
    def setup(self):
        self.rules = process_rules()

    def get_dependency(self, worker_ctx):
        return self.rules


def department_of(routing_key: str) -> str | None:
    """`member_checkin.chengguan` -> chengguan."""
    head, _, code = routing_key.partition(".")
    return code if head in MEMBER_COMMANDS and code and "." not in code else None


def verify_member(command, routing_key: str) -> tuple[FieldError, ...]:
    """A department sends its own members' commands only, on its own routing key."""
    if department_of(routing_key) != command.department_code:
        return (FieldError(field="department_code",
                           message=f"{command.department_code!r} does not match routing key {routing_key!r}"),)
    return ()


def rejected(action: str):
    def build(payload: dict, routing_key: str, errors):
        return handlers.rejected_member_outcome(action, payload, department_of(routing_key) or "unknown", errors)
    return build


def member_consumer(action: str):
    """The bus entrypoint of a member command: `<action>.<department>` on `checkins`."""
    queue = {"member_checkin": "roster.member_checkins", "member_decline": "roster.member_declines"}[action]
    return consume(queue, [(CHECKINS, f"{action}.*")], MEMBER_COMMANDS[action], outcome=rejected(action),
                   verify=verify_member, sender="dept")


class RosterService(OutboxAgeProbe, RosterEndpoints, OpsEndpoints):
    name = "roster"
    store = Store(platform)
    rules = RulesProvider()

    @consume("roster.callouts", [(EVENTS, e.event_type) for e in CASE_EVENTS], CASE_EVENTS, batch=True)
    def on_case_events(self, uow, events):
        handlers.on_case_events(uow, self.rules, events)

    @member_consumer("member_checkin")
    def on_member_check_in(self, uow, command):
        handlers.member_command(uow, self.rules, command)

    @member_consumer("member_decline")
    def on_member_decline(self, uow, command):
        handlers.member_command(uow, self.rules, command)

    @every("roster_sweep_seconds")
    def sweep_teams(self):
        """Replaces no-shows and retries gaps; the deadlines live in the database, so a restart loses none."""
        while True:
            with self.store.unit_of_work() as uow:
                looked_at = handlers.sweep_teams(uow, self.rules)
            if looked_at < handlers.SWEEP_LIMIT:
                return

    @every("roster_sweep_seconds")
    def plan_operations(self):
        """Forms the teams of planned operations about to start, and releases those that are over."""
        with self.store.unit_of_work() as uow:
            handlers.plan_operations(uow, self.rules)


SERVICE = RosterService


def prepare(settings) -> None:
    """Creates the database, loads the roster file (checked as a whole: a bad file stops the start,
    naming each bad field), and declares the queues where departments read their assignments."""
    from services.common.broker import declare_topology
    from services.common.db import create_schema
    from services.roster.codes import Codes
    from services.roster.importing import parse_roster
    from services.roster.management import load_roster_file
    from services.roster.officers import CHINA

    from services.roster.errors import InvalidRoster

    reference = load_reference()
    now = datetime.now(timezone.utc)
    path = roster_path()
    try:
        roster = parse_roster(path.read_text(encoding="utf-8"), Codes.from_reference(reference), now,
                              now.astimezone(CHINA).date())
    except InvalidRoster as exc:
        raise SystemExit(f"the roster file {path} is not valid, nothing was loaded:\n"
                         + "\n".join(f"  {e.field}: {e.message}" for e in exc.errors)) from None
    engine = create_schema(settings.database_url, settings.service)
    with engine.begin() as conn:
        loaded = load_roster_file(conn, roster, now)
    log.info("roster file %s: %s", path, loaded)
    declare_topology(settings, reference)

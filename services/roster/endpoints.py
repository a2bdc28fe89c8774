"""The roster's HTTP and RPC entrypoints, mixed into RosterService: teams, members checking in or
declining, a department's officers and duty schedule, who is on duty, iCal feeds, the service
history and the 双长制 pairs. Every route takes an action of the rule table (services/common/auth):
a department reads and manages only its own roster, and checks in only its own members."""
from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta, timezone

from nameko.rpc import rpc
from nameko.web.handlers import http
from werkzeug.wrappers import Response

from services.common.errors import AUTH_ERRORS
from services.common.errors import REFUSALS, Invalid, NotFound
from services.common.events import CheckInAsMember, DeclineAssignment, MemberCommand, parse
from services.common.guard import Auth, guarded, guarded_rpc
from services.common.web import HttpError, json_api, read_json
from services.roster import handlers, management
from services.roster import repository as repo
from services.roster.officers import CHINA, Officer
from services.roster.schedule import Leave, Override, RotationSet, Swap

EXPECTED = (*REFUSALS, *AUTH_ERRORS)
DEFAULT_WINDOW = timedelta(days=14)
MAX_WINDOW = timedelta(days=92)
IMPORT_LIMIT = 1024 * 1024
IMPORT_TYPES = {"text/csv": "csv", "application/yaml": "yaml", "application/x-yaml": "yaml", "text/yaml": "yaml"}
MONTH = re.compile(r"(\d{4})-(\d{2})")


class JsonObject:
    """For read_json: any JSON object, checked against its model once the path's values are in."""

    @staticmethod
    def model_validate(payload):
        if not isinstance(payload, dict):
            raise Invalid.one("(body)", "must be a JSON object")
        return payload


def calendar_api(fn):
    """Like json_api, for a route answering text/calendar: refusals still answer JSON with their status."""

    @functools.wraps(fn)
    def wrapper(self, request, *args, **kwargs):
        produced: list[bytes] = []

        def run(self, request, *args, **kwargs):
            produced.append(fn(self, request, *args, **kwargs))
            return 200, None

        answer = json_api(run)(self, request, *args, **kwargs)
        if not produced:
            return answer
        return Response(produced[0], status=200, content_type="text/calendar; charset=utf-8",
                        headers={"Content-Disposition": "inline; filename=duty.ics"})

    return wrapper


def instant(value: str | None, name: str, default: datetime) -> datetime:
    """A query parameter as an aware instant (ISO 8601 with an offset or Z), or `default`."""
    if value is None or value == "":
        return default
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid.one(name, f"{value!r} is not an ISO 8601 date-time, e.g. 2025-03-14T09:00:00+08:00") from None
    if parsed.tzinfo is None:
        raise Invalid.one(name, f"{value!r} has no time zone: add +08:00 or Z")
    return parsed.astimezone(timezone.utc)


def window(args, now: datetime) -> tuple[datetime, datetime]:
    """?from=&to= (default: the next two weeks), at most MAX_WINDOW long."""
    start = instant(args.get("from"), "from", now)
    end = instant(args.get("to"), "to", start + DEFAULT_WINDOW)
    if end <= start:
        raise Invalid.one("to", "must be after from")
    if end - start > MAX_WINDOW:
        raise Invalid.one("to", f"a window is at most {MAX_WINDOW.days} days")
    return start, end


def month_of(value: str | None, now: datetime) -> tuple[int, int]:
    """?month=YYYY-MM (default: this month on China's calendar)."""
    if not value:
        local = now.astimezone(CHINA)
        return local.year, local.month
    match = MONTH.fullmatch(value)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise Invalid.one("month", f"{value!r} is not a month: use YYYY-MM, e.g. 2025-03")
    return int(match.group(1)), int(match.group(2))


def language(value: str | None) -> str:
    return "en" if (value or "").lower().startswith("en") else "zh"


def member_command(model: type[MemberCommand], body: dict, team_id: str) -> MemberCommand:
    if body.setdefault("team_id", team_id) != team_id:
        raise Invalid.one("team_id", "the body names another team than the path")
    return parse(model, body)


def edited_body(department: str, edited) -> dict:
    return {"department_code": department, "gaps": management.gaps_view(edited.gaps)}


def import_body(report) -> dict:
    return {"rows": report.rows, "imported": [o.code for o in report.officers],
            "rejected_rows": list(report.rejected_rows),
            "errors": [{"row": e.row, "field": e.field, "message": e.message} for e in report.errors]}


class RosterEndpoints:
    """Needs the service's `store` and `rules`."""

    auth = Auth()

    # ------------------------------------------------------------------ running use cases
    def _edit(self, use_case, *args):
        with self.store.unit_of_work() as uow:
            return use_case(uow, self.rules, *args)

    def _department(self, code: str) -> None:
        """The object check of a department route: a department only its own."""
        self.auth.require({"department_code": code})

    def _team(self, conn, *, team_id: str | None = None, whistle_id: str | None = None) -> dict:
        stored = repo.load_team(conn, team_id=team_id, whistle_id=whistle_id)
        if stored is None:
            raise NotFound.one("team_id" if team_id else "whistle_id",
                               f"no joint team for {'team ' + team_id if team_id else 'whistle ' + whistle_id}")
        team = stored.team
        self.auth.require({"street_code": team.case.street, "department_codes": [s.department for s in team.slots]})
        return handlers.team_view(stored, repo.officers(conn), self.rules)

    def _read_team(self, **key) -> dict:
        with self.store.unit_of_work() as uow:
            return self._team(uow.conn, **key)

    def _member(self, command: MemberCommand) -> dict:
        self.auth.require({"department_code": command.department_code})
        return self._edit(handlers.member_command, command).model_dump(mode="json")

    def _register(self, officer: Officer) -> dict:
        self._department(officer.department)
        return self._edit(management.register_officer, officer).model_dump(mode="json")

    def _update(self, officer: Officer) -> dict:
        self._department(officer.department)
        return self._edit(management.update_officer, officer).model_dump(mode="json")

    def _rotations(self, department: str, request: RotationSet) -> dict:
        self._department(department)
        return edited_body(department, self._edit(management.replace_rotations, department, request.rotations,
                                                  request.time_zone))

    def _change(self, department: str, change) -> dict:
        self._department(department)
        by = str(self.auth.principal)
        if isinstance(change, Override):
            edited = self._edit(management.add_override, department, change, by)
        elif isinstance(change, Swap):
            edited = self._edit(management.add_swap, department, change, by)
        else:
            edited = self._edit(management.add_leave, department, change)
        return edited_body(department, edited)

    def _history(self, month: str | None, officer: str | None = None, department: str | None = None) -> dict:
        with self.store.unit_of_work() as uow:
            if officer is not None:
                department = management.officer_of(uow.conn, officer).department
                self._department(department)
                department = None
            else:
                self._department(department)
            year, number = month_of(month, uow.now)
            return management.history(uow.conn, year, number, uow.now, officer, department)

    # ------------------------------------------------------------------ teams and members
    @http("GET", "/api/v1/whistles/<string:whistle_id>/team")
    @guarded("team.read", obj="whistle")
    @json_api
    def http_team(self, request, whistle_id):
        return 200, self._read_team(whistle_id=whistle_id)

    @http("GET", "/api/v1/teams/<string:team_id>")
    @guarded("team.read", obj="team")
    @json_api
    def http_team_by_id(self, request, team_id):
        return 200, self._read_team(team_id=team_id)

    @http("POST", "/api/v1/teams/<string:team_id>/checkins")
    @guarded("team.member_report", obj="team_member")
    @json_api
    def http_member_check_in(self, request, team_id):
        body = self.auth.claim(read_json(request, JsonObject))
        return 200, self._member(member_command(CheckInAsMember, body, team_id))

    @http("POST", "/api/v1/teams/<string:team_id>/declines")
    @guarded("team.member_report", obj="team_member")
    @json_api
    def http_member_decline(self, request, team_id):
        body = self.auth.claim(read_json(request, JsonObject))
        return 200, self._member(member_command(DeclineAssignment, body, team_id))

    @rpc(expected_exceptions=EXPECTED)
    @guarded_rpc("team.read", obj="whistle")
    def team_of(self, whistle_id: str) -> dict | None:
        """The whistle's joint team, or None when it has none."""
        with self.store.unit_of_work() as uow:
            if repo.load_team(uow.conn, whistle_id=whistle_id) is None:
                return None
            return self._team(uow.conn, whistle_id=whistle_id)

    @rpc(expected_exceptions=EXPECTED)
    @guarded_rpc("team.member_report", obj="team_member")
    def check_in_as_member(self, request: dict) -> dict:
        return self._member(parse(CheckInAsMember, self.auth.claim(request)))

    @rpc(expected_exceptions=EXPECTED)
    @guarded_rpc("team.member_report", obj="team_member")
    def decline_assignment(self, request: dict) -> dict:
        return self._member(parse(DeclineAssignment, self.auth.claim(request)))

    # ------------------------------------------------------------------ officers
    @http("GET", "/api/v1/departments/<string:code>/officers")
    @guarded("roster.read", obj="department")
    @json_api
    def http_officers(self, request, code):
        self._department(code)
        with self.store.unit_of_work() as uow:
            return 200, {"department_code": code, "officers": management.officers_of(uow.conn, code)}

    @http("POST", "/api/v1/departments/<string:code>/officers")
    @guarded("roster.manage", obj="department")
    @json_api
    def http_register(self, request, code):
        officer = read_json(request, Officer)
        if officer.department != code:
            raise Invalid.one("department", "the body names another department than the path")
        return 201, self._register(officer)

    @http("PUT", "/api/v1/departments/<string:code>/officers/<string:officer_code>")
    @guarded("roster.manage", obj="department")
    @json_api
    def http_update(self, request, code, officer_code):
        officer = read_json(request, Officer)
        if (officer.department, officer.code) != (code, officer_code):
            raise Invalid.one("code", "the body names another officer or department than the path")
        return 200, self._update(officer)

    @http("POST", "/api/v1/departments/<string:code>/officers/import")
    @guarded("roster.manage", obj="department")
    @json_api
    def http_import(self, request, code):
        self._department(code)
        fmt = IMPORT_TYPES.get(request.mimetype)
        if fmt is None:
            raise HttpError(415, f"content type must be text/csv or application/yaml, not {request.mimetype or 'none'}")
        if (request.content_length or 0) > IMPORT_LIMIT:
            raise HttpError(413, f"an import is at most {IMPORT_LIMIT} bytes")
        raw = request.stream.read(IMPORT_LIMIT + 1)
        if len(raw) > IMPORT_LIMIT:
            raise HttpError(413, f"an import is at most {IMPORT_LIMIT} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid.one("(file)", "not UTF-8 text") from None
        report = self._edit(management.import_officers, code, text, fmt)
        return (422 if report.errors and not report.officers else 200), import_body(report)

    @rpc(expected_exceptions=EXPECTED)
    @guarded_rpc("roster.manage", obj="department")
    def register_officer(self, request: dict) -> dict:
        return self._register(parse(Officer, request))

    @rpc(expected_exceptions=EXPECTED)
    @guarded_rpc("roster.manage", obj="department")
    def update_officer(self, request: dict) -> dict:
        return self._update(parse(Officer, request))

    @rpc(expected_exceptions=EXPECTED)
    @guarded_rpc("roster.manage", obj="department")
    def import_officers(self, department_code: str, text: str, fmt: str = "csv") -> dict:
        """Officers from a CSV or YAML text (fmt csv or yaml): the good rows stored, each bad row reported."""
        self._department(department_code)
        if fmt not in ("csv", "yaml"):
            raise Invalid.one("fmt", f"{fmt!r} is neither csv nor yaml")
        return import_body(self._edit(management.import_officers, department_code, text, fmt))

    # ------------------------------------------------------------------ duty schedules
    @http("GET", "/api/v1/departments/<string:code>/schedule")
    @guarded("roster.read", obj="department")
    @json_api
    def http_schedule(self, request, code):
        self._department(code)
        with self.store.unit_of_work() as uow:
            return 200, management.schedule_of(uow.conn, self.rules, code, uow.now)

    @http("PUT", "/api/v1/departments/<string:code>/schedule/rotations")
    @guarded("roster.manage", obj="department")
    @json_api
    def http_rotations(self, request, code):
        return 200, self._rotations(code, read_json(request, RotationSet))

    @http("POST", "/api/v1/departments/<string:code>/schedule/overrides")
    @guarded("roster.manage", obj="department")
    @json_api
    def http_override(self, request, code):
        return 201, self._change(code, read_json(request, Override))

    @http("POST", "/api/v1/departments/<string:code>/schedule/swaps")
    @guarded("roster.manage", obj="department")
    @json_api
    def http_swap(self, request, code):
        return 201, self._change(code, read_json(request, Swap))

    @http("POST", "/api/v1/departments/<string:code>/schedule/leave")
    @guarded("roster.manage", obj="department")
    @json_api
    def http_leave(self, request, code):
        return 201, self._change(code, read_json(request, Leave))

    @rpc(expected_exceptions=EXPECTED)
    @guarded_rpc("roster.manage", obj="department")
    def replace_rotations(self, department_code: str, request: dict) -> dict:
        return self._rotations(department_code, parse(RotationSet, request))

    @rpc(expected_exceptions=EXPECTED)
    @guarded_rpc("roster.manage", obj="department")
    def add_override(self, department_code: str, request: dict) -> dict:
        return self._change(department_code, parse(Override, request))

    @rpc(expected_exceptions=EXPECTED)
    @guarded_rpc("roster.manage", obj="department")
    def add_swap(self, department_code: str, request: dict) -> dict:
        return self._change(department_code, parse(Swap, request))

    @rpc(expected_exceptions=EXPECTED)
    @guarded_rpc("roster.manage", obj="department")
    def add_leave(self, department_code: str, request: dict) -> dict:
        return self._change(department_code, parse(Leave, request))

    # ------------------------------------------------------------------ who is on duty, when
    @http("GET", "/api/v1/departments/<string:code>/on-duty")
    @guarded("roster.read", obj="department")
    @json_api
    def http_on_duty(self, request, code):
        self._department(code)
        with self.store.unit_of_work() as uow:
            at = instant(request.args.get("at"), "at", uow.now)
            return 200, management.on_duty(uow.conn, self.rules, code, at)

    @http("GET", "/api/v1/departments/<string:code>/preview")
    @guarded("roster.read", obj="department")
    @json_api
    def http_preview(self, request, code):
        self._department(code)
        with self.store.unit_of_work() as uow:
            return 200, management.preview(uow.conn, self.rules, code, *window(request.args, uow.now))

    @http("GET", "/api/v1/departments/<string:code>/duty.ics")
    @guarded("roster.read", obj="department")
    @calendar_api
    def http_department_feed(self, request, code):
        self._department(code)
        with self.store.unit_of_work() as uow:
            return management.department_feed(uow.conn, self.rules, code, *window(request.args, uow.now), uow.now,
                                              language(request.args.get("lang")))

    @http("GET", "/api/v1/officers/<string:officer_code>/duty.ics")
    @guarded("roster.read", obj="department")
    @calendar_api
    def http_officer_feed(self, request, officer_code):
        with self.store.unit_of_work() as uow:
            officer = management.officer_of(uow.conn, officer_code)
            self._department(officer.department)
            return management.officer_feed(uow.conn, self.rules, officer, *window(request.args, uow.now), uow.now,
                                           language(request.args.get("lang")))

    @rpc(expected_exceptions=EXPECTED)
    @guarded_rpc("roster.read", obj="department")
    def on_duty(self, department_code: str, at: str | None = None) -> dict:
        self._department(department_code)
        with self.store.unit_of_work() as uow:
            return management.on_duty(uow.conn, self.rules, department_code, instant(at, "at", uow.now))

    @rpc(expected_exceptions=EXPECTED)
    @guarded_rpc("roster.read", obj="department")
    def preview(self, department_code: str, start: str | None = None, end: str | None = None) -> dict:
        self._department(department_code)
        with self.store.unit_of_work() as uow:
            return management.preview(uow.conn, self.rules, department_code,
                                      *window({"from": start, "to": end}, uow.now))

    # ------------------------------------------------------------------ history and pairs
    @http("GET", "/api/v1/departments/<string:code>/history")
    @guarded("roster.history", obj="department")
    @json_api
    def http_department_history(self, request, code):
        return 200, self._history(request.args.get("month"), department=code)

    @http("GET", "/api/v1/officers/<string:officer_code>/history")
    @guarded("roster.history", obj="department")
    @json_api
    def http_officer_history(self, request, officer_code):
        return 200, self._history(request.args.get("month"), officer=officer_code)

    @rpc(expected_exceptions=EXPECTED)
    @guarded_rpc("roster.history", obj="department")
    def history(self, month: str | None = None, department_code: str | None = None,
                officer_code: str | None = None) -> dict:
        """One month's service on joint teams, of a department or of one officer (name one of them)."""
        if (department_code is None) == (officer_code is None):
            raise Invalid.one("department_code", "name a department_code or an officer_code")
        return self._history(month, officer_code, department_code)

    @http("GET", "/api/v1/streets/<string:street_code>/chiefs")
    @guarded("chiefs.read", obj="street")
    @json_api
    def http_chiefs(self, request, street_code):
        self.auth.require({"street_code": street_code})
        with self.store.unit_of_work() as uow:
            return 200, management.chiefs(uow.conn, self.rules, street_code)

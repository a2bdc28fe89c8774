"""chuishao dept: a department's duty desk. Receive call-outs, check in (报到), arrive, complete, return (退单);
and for its officers on joint teams ("城管+N"): their assignments, each member's own check-in, or declining.

Over the bus by default, with the pika department client (services.department_client): call-outs from
the durable queue `department.<code>.callouts`, assignments from `department.<code>.assignments`,
reports and member commands to the `checkins` exchange, the answer read back from `outcome.<code>.*`.
`--via http` sends them to dispatch's (reports) or the roster's (members) HTTP API instead, with the
bearer token. `python -m services.department_client` runs this same group.
"""
from __future__ import annotations

import click

from services.cli.failures import Invalid, NoAnswer, Refused, Unreachable
from services.cli.output import emit_json, out
from services.cli.running import json_option, reporting
from services.cli.session import Session
from services.common.events import (Arrive, CalloutIssued, CheckIn, CheckInAsMember, Complete, DeclineAssignment,
                                    DepartmentReport, MemberCommand, OfficerAssigned, Return)
from services.common.i18n import Text
from services.common.vocabulary import label
from services.department_client.client import (DEFAULT_TIMEOUT, Assignment, DeliveryError, DepartmentClient,
                                               InvalidReport, MemberRejected, ReportRejected, ReportTimeout,
                                               make_member_command, make_report)

REPORT_OPTIONS = {"callout_id": "CALLOUT_ID", "department_code": "--department", "request_id": "--request-id",
                  "officer": "--officer", "note": "--note", "location": "--address", "location.address": "--address",
                  "location.lon": "--lon", "location.lat": "--lat", "evidence_ref": "--evidence",
                  "evidence_refs": "--evidence", "summary": "--summary", "reason": "--reason",
                  "team_id": "TEAM_ID", "officer_code": "--officer-code"}


def _bus_options(t: Text, top: bool):
    """--department, --amqp, --namespace: on the group, and again on each command (the command's wins)."""
    def decorate(fn):
        for option in reversed((
                click.option("--department", envvar="CHUISHAO_DEPARTMENT" if top else None, metavar="CODE",
                             help=t.gettext("the department's code, e.g. chengguan (also CHUISHAO_DEPARTMENT)")),
                click.option("--amqp", metavar="URI", help=t.gettext("the broker (default: $AMQP_URI)")),
                click.option("--namespace", help=t.gettext("prefix of exchange and queue names "
                                                           "(default: $BUS_NAMESPACE)")))):
            fn = option(fn)
        return fn
    return decorate


class Desk:
    """The department and the broker a command works with."""

    def __init__(self, session: Session, department, amqp, namespace):
        self.session, self.department = session, department
        self.amqp = amqp or session.amqp_uri
        self.namespace = session.namespace if namespace is None else namespace

    def client(self, timeout: float = DEFAULT_TIMEOUT) -> DepartmentClient:
        try:
            return DepartmentClient(self.amqp, self.department, self.namespace, timeout=timeout)
        except ValueError as exc:
            raise Invalid(str(exc)) from None


def _desk(ctx: click.Context, department, amqp, namespace) -> Desk:
    top = ctx.meta["dept"]
    department = department or top["department"]
    if not department:
        raise click.UsageError(ctx.obj.text.gettext("--department is required (or CHUISHAO_DEPARTMENT)"), ctx)
    return Desk(ctx.obj, department, amqp or top["amqp"], namespace if namespace is not None else top["namespace"])


def _follow(ctx: click.Context, department, amqp, namespace, messages, line, count, idle, as_json,
            too_few: str) -> None:
    """Prints what `messages(client)` yields as it comes (a table line each, or JSON); NoAnswer, worded by
    `too_few`, when `--count` asked for more than came before `--idle` ran out."""
    session: Session = ctx.obj
    with reporting(session, REPORT_OPTIONS):
        desk = _desk(ctx, department, amqp, namespace)
        seen = 0
        with desk.client() as client:
            for message in messages(client):
                if as_json:
                    click.echo(message.model_dump_json())
                else:
                    out.print(line(session, message))
                seen += 1
        if count is not None and seen < count:
            raise NoAnswer(too_few % {"seen": seen, "count": count, "idle": f"{idle:g}"})


def build(t: Text) -> click.Group:
    @click.group(help=t.gettext("A department: receive call-outs and report check-in (报到), arrival, "
                                "completion, or return (退单)."))
    @_bus_options(t, top=True)
    @click.pass_context
    def dept(ctx, department, amqp, namespace):
        ctx.meta["dept"] = {"department": department, "amqp": amqp, "namespace": namespace}

    @dept.command("listen", help=t.gettext("Print call-outs as they come, acknowledging each."))
    @_bus_options(t, top=False)
    @click.option("--count", type=click.IntRange(min=1), help=t.gettext("stop after N call-outs"))
    @click.option("--idle", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
                  help=t.gettext("stop when no call-out comes for this long"))
    @click.option("--json", "as_json", is_flag=True, help=t.gettext("one JSON call-out per line"))
    @click.pass_context
    def listen(ctx, department, amqp, namespace, count, idle, as_json):
        session: Session = ctx.obj
        _follow(ctx, department, amqp, namespace, lambda client: client.callouts(timeout=idle, count=count),
                callout_line, count, idle, as_json,
                session.text.gettext("%(seen)s of %(count)s call-outs came within %(idle)s s"))

    report_options = (
        click.argument("callout_id"),
        _bus_options(t, top=False),
        click.option("--request-id", help=t.gettext("idempotency key; re-use it to retry (default: a fresh one)")),
        click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_TIMEOUT,
                     show_default=True, help=t.gettext("seconds to wait for the answer")),
        click.option("--via", type=click.Choice(("bus", "http")), default="bus", show_default=True,
                     help=t.gettext("send over the bus (the department's contract) or dispatch's HTTP API")),
        json_option(t),
    )

    def report_command(name: str, help_text: str, *options):
        def decorate(fn):
            for option in reversed((*report_options, *options)):
                fn = option(fn)
            return dept.command(name, help=help_text)(click.pass_context(fn))
        return decorate

    @report_command("checkin", t.gettext("报到: take the call-out and name who comes."),
                    click.option("--officer", required=True, help=t.gettext("who comes")),
                    click.option("--note", help=t.gettext("a note for the street")))
    def checkin(ctx, callout_id, officer, note, **common):
        send(ctx, CheckIn, {"callout_id": callout_id, "officer": officer, "note": note}, **common)

    @report_command("arrive", t.gettext("到场: on site, with the place and a photo."),
                    click.option("--officer", required=True, help=t.gettext("who is on site")),
                    click.option("--address", required=True, help=t.gettext("where")),
                    click.option("--lon", help=t.gettext("longitude (WGS-84)")),
                    click.option("--lat", help=t.gettext("latitude (WGS-84)")),
                    click.option("--evidence", required=True, metavar="REF", help=t.gettext("photo id or URL")))
    def arrive(ctx, callout_id, officer, address, lon, lat, evidence, **common):
        location = {"address": address, **({"lon": lon} if lon else {}), **({"lat": lat} if lat else {})}
        send(ctx, Arrive, {"callout_id": callout_id, "officer": officer, "location": location,
                           "evidence_ref": evidence}, **common)

    @report_command("complete", t.gettext("处置完成: the department's part is done, with evidence."),
                    click.option("--summary", required=True, help=t.gettext("what was done")),
                    click.option("--evidence", required=True, multiple=True, metavar="REF",
                                 help=t.gettext("photo id or URL; repeat for several")))
    def complete(ctx, callout_id, summary, evidence, **common):
        send(ctx, Complete, {"callout_id": callout_id, "summary": summary, "evidence_refs": tuple(evidence)},
             **common)

    @report_command("return", t.gettext("退单: not ours, with the reason; dispatch re-routes or arbitrates."),
                    click.option("--reason", required=True, help=t.gettext("why it is not this department's")))
    def return_(ctx, callout_id, reason, **common):
        send(ctx, Return, {"callout_id": callout_id, "reason": reason}, **common)

    @dept.command("assignments", help=t.gettext("Print the department's officers' joint-team assignments, "
                                               "replacements and releases as they come, acknowledging each."))
    @_bus_options(t, top=False)
    @click.option("--count", type=click.IntRange(min=1), help=t.gettext("stop after N messages"))
    @click.option("--idle", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
                  help=t.gettext("stop when nothing comes for this long"))
    @click.option("--json", "as_json", is_flag=True, help=t.gettext("one JSON message per line"))
    @click.pass_context
    def assignments(ctx, department, amqp, namespace, count, idle, as_json):
        session: Session = ctx.obj
        _follow(ctx, department, amqp, namespace, lambda client: client.assignments(timeout=idle, count=count),
                assignment_line, count, idle, as_json,
                session.text.gettext("%(seen)s of %(count)s messages came within %(idle)s s"))

    member_options = (
        click.argument("team_id"),
        _bus_options(t, top=False),
        click.option("--officer-code", required=True, metavar="CODE",
                     help=t.gettext("the officer named in the assignment, e.g. chengguan-01")),
        click.option("--request-id", help=t.gettext("idempotency key; re-use it to retry (default: a fresh one)")),
        click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_TIMEOUT,
                     show_default=True, help=t.gettext("seconds to wait for the answer")),
        click.option("--via", type=click.Choice(("bus", "http")), default="bus", show_default=True,
                     help=t.gettext("send over the bus (the department's contract) or the roster's HTTP API")),
        json_option(t),
    )

    def member_command_of(name: str, help_text: str, *options):
        def decorate(fn):
            for option in reversed((*member_options, *options)):
                fn = option(fn)
            return dept.command(name, help=help_text)(click.pass_context(fn))
        return decorate

    @member_command_of("member-checkin", t.gettext("报到 as a joint team's member: the officer is present."),
                       click.option("--note", help=t.gettext("a note for the team")),
                       click.option("--address", help=t.gettext("where")),
                       click.option("--lon", help=t.gettext("longitude (WGS-84)")),
                       click.option("--lat", help=t.gettext("latitude (WGS-84)")))
    def member_checkin(ctx, team_id, officer_code, note, address, lon, lat, **common):
        location = {"address": address, **({"lon": lon} if lon else {}), **({"lat": lat} if lat else {})} \
            if address else None
        send_member(ctx, CheckInAsMember, {"team_id": team_id, "officer_code": officer_code, "note": note,
                                           "location": location}, **common)

    @member_command_of("decline", t.gettext("The officer cannot come: the next officer on duty is assigned."),
                       click.option("--reason", required=True, help=t.gettext("why the officer cannot come")))
    def decline(ctx, team_id, officer_code, reason, **common):
        send_member(ctx, DeclineAssignment, {"team_id": team_id, "officer_code": officer_code, "reason": reason},
                    **common)

    return dept


def send_member(ctx: click.Context, model: type[MemberCommand], fields: dict, department, amqp, namespace,
                request_id, timeout, via, as_json) -> None:
    session: Session = ctx.obj
    t = session.text
    with reporting(session, REPORT_OPTIONS, as_json):
        desk = _desk(ctx, department, amqp, namespace)
        try:
            command = make_member_command(model, desk.department, fields, request_id)
        except InvalidReport as exc:
            raise Invalid(t.gettext("not sent: the input is not valid"), exc.errors) from None
        if via == "http":
            path = "checkins" if model is CheckInAsMember else "declines"
            outcome = session.api("roster").post(f"/api/v1/teams/{command.team_id}/{path}",
                                                 command.model_dump(mode="json"))[1]
        else:
            outcome = _member_over_the_bus(desk, command, timeout)
        if as_json:
            emit_json(outcome)
            return
        said = t.gettext("accepted: %(action)s of officer %(officer)s on team %(team)s") % {
            "action": label(session.lang, "action", outcome["action"]), "officer": outcome["officer_code"],
            "team": outcome["team_id"]}
        out.print(said + (t.gettext("; it had been applied before") if outcome.get("repeated") else ""))


def _member_over_the_bus(desk: Desk, command: MemberCommand, timeout: float) -> dict:
    t = desk.session.text
    with desk.client(timeout) as client:
        try:
            return client.send_member(command, timeout=timeout).model_dump(mode="json")
        except MemberRejected as exc:
            raise Refused(t.gettext("rejected: %(action)s of officer %(officer)s on team %(team)s") % {
                "action": label(t.lang, "action", exc.outcome.action), "officer": exc.outcome.officer_code,
                "team": exc.outcome.team_id}, exc.errors, body=exc.outcome.model_dump(mode="json")) from None
        except ReportTimeout as exc:
            raise NoAnswer(t.gettext("no answer within %(seconds)s s") % {"seconds": f"{timeout:g}"},
                           hint=t.gettext("re-send with --request-id %(request)s: it is applied once")
                           % {"request": exc.request_id}) from None
        except DeliveryError as exc:
            raise Unreachable(t.gettext("the broker did not take it: %(why)s") % {"why": str(exc)},
                              hint=t.gettext("is the roster service running, in this BUS_NAMESPACE?")) from None


def assignment_line(session: Session, message: Assignment) -> str:
    """One readable line per assignment, replacement or release, with the team and officer to answer for."""
    t, n = session.text, session.names
    values = {"team": message.team_id, "officer": message.officer.name if message.officer else "-",
              "code": message.officer.officer_code if message.officer else "-",
              "category": n.category(message.category)}
    if isinstance(message, OfficerAssigned):
        lead = message.lead.name if message.lead else "-"
        return t.gettext("[%(urgency)s] %(category)s | %(officer)s (%(code)s) joins team %(team)s as %(role)s, "
                         "led by %(lead)s | check in by %(check_in_by)s%(where)s") % {
            **values, "urgency": n.urgency(message.urgency) if message.urgency != "planned" else
            t.gettext("planned"), "role": label(t.lang, "role", message.role), "lead": lead,
            "check_in_by": t.time(message.check_in_by),
            "where": f" @ {message.place.address}" if message.place else ""}
    if message.type == "team.member_replaced":
        return t.gettext("%(officer)s (%(code)s) is replaced on team %(team)s (%(reason)s)") % {
            **values, "reason": label(t.lang, "replaced_because", message.reason)}
    return t.gettext("%(officer)s (%(code)s) is released from team %(team)s") % values


def send(ctx: click.Context, model: type[DepartmentReport], fields: dict, department, amqp, namespace,
         request_id, timeout, via, as_json) -> None:
    session: Session = ctx.obj
    t = session.text
    with reporting(session, REPORT_OPTIONS, as_json):
        desk = _desk(ctx, department, amqp, namespace)
        try:
            report = make_report(model, desk.department, fields, request_id)
        except InvalidReport as exc:
            raise Invalid(t.gettext("not sent: the input is not valid"), exc.errors) from None
        if via == "http":
            outcome = session.api("dispatch").post(f"/api/v1/reports/{model.action}",
                                                   report.model_dump(mode="json"))[1]
        else:
            outcome = _over_the_bus(desk, report, timeout)
        if as_json:
            emit_json(outcome)
            return
        said = t.gettext("accepted: %(action)s of call-out %(callout)s (request %(request)s)") % {
            "action": label(session.lang, "action", outcome["action"]), "callout": outcome["callout_id"],
            "request": outcome["request_id"]}
        out.print(said + (t.gettext("; it had been applied before") if outcome.get("repeated") else ""))


def _over_the_bus(desk: Desk, report: DepartmentReport, timeout: float) -> dict:
    t = desk.session.text
    with desk.client(timeout) as client:
        try:
            return client.send(report, timeout=timeout).model_dump(mode="json")
        except ReportRejected as exc:
            raise Refused(t.gettext("rejected: %(action)s of call-out %(callout)s") % {
                "action": label(t.lang, "action", exc.outcome.action), "callout": exc.outcome.callout_id},
                exc.errors, body=exc.outcome.model_dump(mode="json")) from None
        except ReportTimeout as exc:
            raise NoAnswer(t.gettext("no answer within %(seconds)s s") % {"seconds": f"{timeout:g}"},
                           hint=t.gettext("re-send with --request-id %(request)s: it is applied once")
                           % {"request": exc.request_id}) from None
        except DeliveryError as exc:
            raise Unreachable(t.gettext("the broker did not take the report: %(why)s") % {"why": str(exc)},
                              hint=t.gettext("is the dispatch service running, in this BUS_NAMESPACE?")) from None


def callout_line(session: Session, c: CalloutIssued) -> str:
    """One readable line per call-out: urgency, category, place, deadlines, and the id to report on."""
    t, n = session.text, session.names
    category = n.category(c.category)
    d = c.deadlines
    return t.gettext("[%(urgency)s] %(category)s @ %(address)s | check in by %(check_in_by)s, on site by "
                     "%(arrival_by)s, complete by %(completion_by)s | call-out %(callout)s (%(role)s, whistle "
                     "%(whistle)s, round %(round)s)") % {
        "urgency": n.urgency(c.urgency), "category": c.category_name_zh if category == c.category else category,
        "address": c.place.address, "check_in_by": t.time(d.check_in_by), "arrival_by": t.time(d.arrival_by),
        "completion_by": t.time(d.completion_by), "callout": c.callout_id, "role": label(t.lang, "role", c.role),
        "whistle": c.whistle_id, "round": c.round}

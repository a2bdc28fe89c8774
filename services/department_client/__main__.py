"""The department client on the command line.

    python -m services.department_client --department shichang listen [--json] [--count N] [--idle S]
    python -m services.department_client --department shichang checkin CALLOUT_ID --officer NAME [--note TEXT]
    python -m services.department_client --department shichang arrive CALLOUT_ID --officer NAME \\
        --address TEXT [--lon X --lat Y] --evidence REF
    python -m services.department_client --department shichang complete CALLOUT_ID --summary TEXT \\
        --evidence REF [--evidence REF ...]
    python -m services.department_client --department shichang return CALLOUT_ID --reason TEXT

The broker account comes from the environment: CHUISHAO_AMQP_URI, or AMQP_URI with CHUISHAO_AMQP_USER and
CHUISHAO_AMQP_PASSWORD (--amqp overrides it, but shows the password to every `ps`); --namespace defaults
to $BUS_NAMESPACE. Every report takes --request-id (re-use
it to retry safely), --timeout and --json (print the outcome as JSON).

Exit status: 0 accepted (or `listen` done), 1 rejected (the reasons are printed), 2 bad arguments or
invalid input (the message names the field), 3 no answer within the timeout (or `listen --idle`
ran out before --count call-outs), 4 broker unreachable or the report not taken by the broker.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from pika.exceptions import AMQPError

from services.common.events import Arrive, CalloutIssued, CheckIn, Complete, DepartmentReport, Return, iso
from services.department_client.client import (DEFAULT_TIMEOUT, DeliveryError, DepartmentClient,
                                               ReportRejected, ReportTimeout, amqp_uri_from_env, make_report,
                                               redacted)

ACCEPTED, REJECTED, INVALID, TIMED_OUT, UNAVAILABLE = 0, 1, 2, 3, 4


def callout_line(callout: CalloutIssued) -> str:
    """One readable line: urgency, category, place, deadlines, and the id to report on."""
    d = callout.deadlines
    return (f"[{callout.urgency}] {callout.category_name_zh} @ {callout.place.address} | "
            f"check in by {iso(d.check_in_by)}, on site by {iso(d.arrival_by)}, "
            f"complete by {iso(d.completion_by)} | callout {callout.callout_id} "
            f"({callout.role}, whistle {callout.whistle_id}, round {callout.round})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.department_client",
        description="A department's side of 吹哨报到: receive call-outs and report back over AMQP.",
        epilog="exit status: 0 accepted, 1 rejected, 2 invalid input, 3 timeout, 4 broker unavailable")
    _connection_options(parser, top=True)
    # the same options are accepted after the command too (`... checkin ID --officer X --namespace t1.`)
    connection = argparse.ArgumentParser(add_help=False)
    _connection_options(connection, top=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    listen = commands.add_parser("listen", parents=[connection],
                                 help="print call-outs as they come, acknowledging each")
    listen.add_argument("--json", action="store_true", help="one JSON call-out per line")
    listen.add_argument("--count", type=_positive_int, help="stop after N call-outs")
    listen.add_argument("--idle", type=_positive_float, metavar="SECONDS",
                        help="stop when no call-out comes for this long")

    report = argparse.ArgumentParser(add_help=False, parents=[connection])
    report.add_argument("callout_id", metavar="CALLOUT_ID")
    report.add_argument("--request-id", help="idempotency key; re-use it to retry (default: a fresh uuid)")
    report.add_argument("--timeout", type=_positive_float, default=DEFAULT_TIMEOUT,
                        help="seconds to wait for the answer (default: %(default)s)")
    report.add_argument("--json", action="store_true", help="print the outcome as JSON")

    checkin = commands.add_parser("checkin", parents=[report], help="报到: take the call-out, name who comes")
    checkin.add_argument("--officer", required=True)
    checkin.add_argument("--note")

    arrive = commands.add_parser("arrive", parents=[report], help="到场: on site, with location and evidence")
    arrive.add_argument("--officer", required=True)
    arrive.add_argument("--address", required=True)
    arrive.add_argument("--lon", type=float)
    arrive.add_argument("--lat", type=float)
    arrive.add_argument("--evidence", required=True, metavar="REF", help="photo id or URL")

    complete = commands.add_parser("complete", parents=[report], help="处置完成: done, with evidence")
    complete.add_argument("--summary", required=True)
    complete.add_argument("--evidence", required=True, action="append", metavar="REF",
                          help="photo id or URL; repeat for several")

    give_back = commands.add_parser("return", parents=[report], help="退单: not ours, with the reason")
    give_back.add_argument("--reason", required=True)
    return parser


def _connection_options(parser: argparse.ArgumentParser, top: bool) -> None:
    """--department, --amqp, --namespace; a command's copy defaults to SUPPRESS so it does not hide the global one."""
    default = argparse.SUPPRESS
    parser.add_argument("--department", default=None if top else default,
                        help="the department's code, e.g. chengguan (required)")
    parser.add_argument("--amqp", default=amqp_uri_from_env() if top else default,
                        help="broker URI (default: $CHUISHAO_AMQP_URI, or $AMQP_URI with $CHUISHAO_AMQP_USER "
                             "and $CHUISHAO_AMQP_PASSWORD)")
    parser.add_argument("--namespace", default=os.environ.get("BUS_NAMESPACE", "") if top else default,
                        help="prefix of exchange and queue names (default: $BUS_NAMESPACE)")


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return value


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.department:
        parser.error("--department is required")
    if args.command == "arrive" and (args.lon is None) != (args.lat is None):
        parser.error("--lon and --lat go together")
    try:
        to_send = None if args.command == "listen" else make_report(*_report_of(args), args.request_id)
    except ValueError as exc:                    # InvalidReport: checked before connecting
        print(str(exc), file=sys.stderr)
        return INVALID
    try:
        client = DepartmentClient(args.amqp, args.department, args.namespace)
    except ValueError as exc:
        print(f"invalid input: {exc}", file=sys.stderr)
        return INVALID
    except AMQPError as exc:
        print(f"cannot reach the broker at {redacted(args.amqp)}: {exc!r}", file=sys.stderr)
        return UNAVAILABLE
    try:
        with client:
            return listen(client, args) if to_send is None else report(client, to_send, args)
    except KeyboardInterrupt:
        return 130
    except DeliveryError as exc:
        print(f"not delivered: {exc}", file=sys.stderr)
        return UNAVAILABLE
    except AMQPError as exc:
        print(f"broker problem: {exc!r}", file=sys.stderr)
        return UNAVAILABLE


def _report_of(args) -> tuple[type[DepartmentReport], str, dict]:
    common = {"callout_id": args.callout_id}
    if args.command == "checkin":
        return CheckIn, args.department, {**common, "officer": args.officer, "note": args.note}
    if args.command == "arrive":
        return Arrive, args.department, {**common, "officer": args.officer, "evidence_ref": args.evidence,
                                         "location": {"address": args.address, "lon": args.lon, "lat": args.lat}}
    if args.command == "complete":
        return Complete, args.department, {**common, "summary": args.summary, "evidence_refs": tuple(args.evidence)}
    return Return, args.department, {**common, "reason": args.reason}


def listen(client: DepartmentClient, args) -> int:
    seen = 0
    for callout in client.callouts(timeout=args.idle, count=args.count):
        print(callout.model_dump_json() if args.json else callout_line(callout), flush=True)
        seen += 1
    return TIMED_OUT if args.count is not None and seen < args.count else ACCEPTED


def report(client: DepartmentClient, to_send: DepartmentReport, args) -> int:
    try:
        outcome = client.send(to_send, timeout=args.timeout)
    except ReportRejected as exc:
        if args.json:
            print(exc.outcome.model_dump_json(), flush=True)
        print(f"rejected: {exc.outcome.action} of call-out {exc.outcome.callout_id}", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error.field}: {error.message}", file=sys.stderr)
        return REJECTED
    except ReportTimeout as exc:
        print(str(exc), file=sys.stderr)
        return TIMED_OUT
    if args.json:
        print(outcome.model_dump_json(), flush=True)
    else:
        print(f"accepted: {outcome.action} of call-out {outcome.callout_id} (request {outcome.request_id})"
              + (", already applied before" if outcome.repeated else ""), flush=True)
    return ACCEPTED


if __name__ == "__main__":
    sys.exit(main())

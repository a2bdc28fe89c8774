"""chuishao street: raise, list, show, close, send back and follow up whistles (the whistle service's HTTP API)."""
from __future__ import annotations

import uuid

import click

from services.cli.output import emit_json, fields, out, table
from services.cli.running import json_option, reporting
from services.cli.session import Session, checked
from services.common.events import CloseWhistle, FollowUp, RaiseWhistle, SendBack
from services.common.i18n import Text
from services.common.reference import URGENCIES
from services.common.vocabulary import label

RAISE_OPTIONS = {"request_id": "--request-id", "street_code": "--street", "grid_code": "--grid",
                 "category": "--category", "urgency": "--urgency", "source": "--source",
                 "description": "--description", "place": "--address", "place.address": "--address",
                 "place.lon": "--lon", "place.lat": "--lat", "reported_by": "--reported-by"}
CLOSE_OPTIONS = {"whistle_id": "WHISTLE_ID", "street_code": "--street", "confirmed_by": "--by",
                 "evidence.before_photo": "--before", "evidence.after_photo": "--after",
                 "evidence.checklist": "--check"}
SEND_BACK_OPTIONS = {"whistle_id": "WHISTLE_ID", "street_code": "--street", "by": "--by", "reason": "--reason",
                     "departments": "--department"}
FOLLOW_UP_OPTIONS = {"whistle_id": "WHISTLE_ID", "rating": "--rating", "comment": "--comment",
                     "reopen": "--reopen", "recorded_by": "--by"}
SOURCES = ("hotline_12345", "grid_patrol", "road_office", "street_office")
RATINGS = ("satisfied", "basically_satisfied", "unsatisfied")


def build(t: Text) -> click.Group:
    street_option = click.option("--street", envvar="CHUISHAO_STREET", required=True, metavar="CODE",
                                 help=t.gettext("your street's code, e.g. daxigou (also CHUISHAO_STREET)"))

    @click.group(help=t.gettext("A street office: raise whistles (吹哨), follow them, close them (销号)."))
    def street():
        pass

    @street.command("raise", help=t.gettext("Raise a whistle: call the departments to a problem at a place."))
    @street_option
    @click.option("--category", required=True, metavar="CODE", help=t.gettext("what kind of problem, e.g. "
                                                                              "illegal_construction"))
    @click.option("--urgency", required=True, metavar="|".join(URGENCIES),
                  help=t.gettext("sets every deadline"))
    @click.option("--source", required=True, metavar="|".join(SOURCES), help=t.gettext("where it came from"))
    @click.option("--description", required=True, help=t.gettext("what is wrong"))
    @click.option("--address", required=True, help=t.gettext("where it is"))
    @click.option("--lon", help=t.gettext("longitude (WGS-84), with --lat: the map finds the grid"))
    @click.option("--lat", help=t.gettext("latitude (WGS-84)"))
    @click.option("--grid", metavar="CODE", help=t.gettext("the grid, if known"))
    @click.option("--reported-by", required=True, help=t.gettext("who reports it, e.g. 网格员 王芳"))
    @click.option("--request-id", help=t.gettext("idempotency key: the same one again raises nothing new "
                                                 "(default: a fresh one)"))
    @json_option(t)
    @click.pass_obj
    def raise_(session: Session, street, category, urgency, source, description, address, lon, lat, grid,
               reported_by, request_id, as_json):
        with reporting(session, RAISE_OPTIONS, as_json):
            place = {"address": address, **({"lon": lon} if lon else {}), **({"lat": lat} if lat else {})}
            command = checked(RaiseWhistle, {
                "request_id": request_id or f"{street}-cli-{uuid.uuid4().hex[:12]}", "street_code": street,
                "grid_code": grid, "category": category, "urgency": urgency, "source": source,
                "description": description, "place": place, "reported_by": reported_by}, session.text)
            _, answer = session.api("whistle").post("/api/v1/whistles", command.model_dump(mode="json"))
            if as_json:
                emit_json(answer)
            elif answer.get("linked_to"):
                out.print(session.text.gettext("joined open whistle %(linked_to)s (this report: %(whistle)s); "
                                               "no department is called twice")
                          % {"linked_to": answer["linked_to"], "whistle": answer["whistle_id"]})
            elif answer.get("repeated"):
                out.print(session.text.gettext("already raised as %(whistle)s (request %(request)s); nothing new")
                          % {"whistle": answer["whistle_id"], "request": command.request_id})
            else:
                out.print(session.text.gettext("whistle raised: %(whistle)s") % {"whistle": answer["whistle_id"]})

    @street.command("list", help=t.gettext("Your street's whistles, the newest first."))
    @street_option
    @click.option("--status", metavar="STATUS", help=t.gettext("only whistles in this status, e.g. dispatched"))
    @json_option(t)
    @click.pass_obj
    def list_(session: Session, street, status, as_json):
        with reporting(session, {"street": "--street", "status": "--status"}, as_json):
            params = {"street": street, **({"status": status} if status else {})}
            answer = session.api("whistle").get("/api/v1/whistles", params)
            if as_json:
                emit_json(answer)
                return
            out.print(whistles_table(session, answer["whistles"], street))

    @street.command("show", help=t.gettext("One whistle: its status, its call-outs and its timeline."))
    @click.argument("whistle_id")
    @json_option(t)
    @click.pass_obj
    def show(session: Session, whistle_id, as_json):
        with reporting(session, {"whistle_id": "WHISTLE_ID"}, as_json):
            whistle = session.api("whistle").get(f"/api/v1/whistles/{whistle_id}")
            timeline = session.api("whistle").get(f"/api/v1/whistles/{whistle_id}/timeline")["timeline"]
            callouts = session.api("dispatch").get(f"/api/v1/whistles/{whistle_id}/callouts")["callouts"]
            if as_json:
                emit_json({"whistle": whistle, "callouts": callouts, "timeline": timeline})
                return
            out.print(whistle_fields(session, whistle))
            out.print(callouts_table(session, callouts))
            out.print(timeline_table(session, timeline))

    @street.command("close", help=t.gettext("Close a whistle (销号) with 两图一表, once every department "
                                            "has completed."))
    @click.argument("whistle_id")
    @street_option
    @click.option("--by", "confirmed_by", required=True, help=t.gettext("who confirms, e.g. 大溪沟街道 李主任"))
    @click.option("--before", required=True, help=t.gettext("the problem photo (a reference)"))
    @click.option("--after", required=True, help=t.gettext("the closure photo (a reference)"))
    @click.option("--check", "checklist", multiple=True, required=True,
                  help=t.gettext("one checklist item; repeat for each"))
    @json_option(t)
    @click.pass_obj
    def close(session: Session, whistle_id, street, confirmed_by, before, after, checklist, as_json):
        body = {"whistle_id": whistle_id, "street_code": street, "confirmed_by": confirmed_by,
                "evidence": {"before_photo": before, "after_photo": after, "checklist": list(checklist)}}
        act(session, CloseWhistle, body, "closure", CLOSE_OPTIONS, as_json)

    @street.command("send-back", help=t.gettext("Do not accept the work: the departments named (or all) "
                                                "do it again."))
    @click.argument("whistle_id")
    @street_option
    @click.option("--by", required=True, help=t.gettext("who sends it back"))
    @click.option("--reason", required=True, help=t.gettext("why the work is not accepted"))
    @click.option("--department", "departments", multiple=True, metavar="CODE",
                  help=t.gettext("a department to do it again; repeat for several (default: all)"))
    @json_option(t)
    @click.pass_obj
    def send_back(session: Session, whistle_id, street, by, reason, departments, as_json):
        body = {"whistle_id": whistle_id, "street_code": street, "by": by, "reason": reason,
                "departments": list(departments)}
        act(session, SendBack, body, "send-back", SEND_BACK_OPTIONS, as_json)

    @street.command("follow-up", help=t.gettext("Record the complainant's follow-up (回访) of a closed whistle."))
    @click.argument("whistle_id")
    @click.option("--rating", required=True, metavar="|".join(RATINGS), help=t.gettext("how satisfied"))
    @click.option("--by", "recorded_by", required=True, help=t.gettext("who asked, e.g. 12345 回访员"))
    @click.option("--comment", help=t.gettext("what the complainant said"))
    @click.option("--reopen", is_flag=True, help=t.gettext("reopen the case (only when unsatisfied)"))
    @json_option(t)
    @click.pass_obj
    def follow_up(session: Session, whistle_id, rating, recorded_by, comment, reopen, as_json):
        body = {"whistle_id": whistle_id, "rating": rating, "recorded_by": recorded_by, "comment": comment,
                "reopen": reopen}
        act(session, FollowUp, body, "follow-up", FOLLOW_UP_OPTIONS, as_json)

    return street


def act(session: Session, model, body: dict, path: str, options: dict, as_json: bool) -> None:
    """One of the street's decisions on a whistle; prints its status afterwards."""
    with reporting(session, options, as_json):
        command = checked(model, body, session.text)
        _, answer = session.api("whistle").post(f"/api/v1/whistles/{command.whistle_id}/{path}",
                                                command.model_dump(mode="json"))
        if as_json:
            emit_json(answer)
            return
        out.print(session.text.gettext("whistle %(whistle)s is now %(status)s (round %(round)s)") % {
            "whistle": answer["whistle_id"], "status": label(session.lang, "status", answer["status"]),
            "round": answer["round"]})


def whistles_table(session: Session, whistles: list[dict], street: str):
    t, n = session.text, session.names
    return table(t.gettext("Whistles of %(street)s") % {"street": n.street(street)},
                 [t.gettext("whistle"), t.gettext("raised at"), t.gettext("category"), t.gettext("urgency"),
                  t.gettext("status"), t.gettext("round"), t.gettext("address")],
                 [(w["id"], t.time(w["raised_at"]), n.category(w["category"]), n.urgency(w["urgency"]),
                   label(session.lang, "status", w["status"]), w["round"], w["place"]["address"])
                  for w in whistles], whole=(0, 1))


def whistle_fields(session: Session, w: dict):
    t, n = session.text, session.names
    rows = [(t.gettext("whistle"), w["id"]), (t.gettext("street"), n.street(w["street_code"])),
            (t.gettext("grid"), n.grid(w.get("grid_code"))), (t.gettext("category"), n.category(w["category"])),
            (t.gettext("urgency"), n.urgency(w["urgency"])), (t.gettext("source"), label(session.lang, "source",
                                                                                        w["source"])),
            (t.gettext("status"), label(session.lang, "status", w["status"])), (t.gettext("round"), w["round"]),
            (t.gettext("address"), w["place"]["address"]), (t.gettext("reported by"), w["reported_by"]),
            (t.gettext("description"), w["description"]), (t.gettext("raised at"), t.time(w["raised_at"]))]
    if w.get("linked_to"):
        rows.append((t.gettext("joined"), w["linked_to"]))
    if w.get("linked"):
        rows.append((t.gettext("reports joined"), ", ".join(w["linked"])))
    return fields(rows)


def callouts_table(session: Session, callouts: list[dict]):
    """Who is called and how far each is (the call-out ids, for departments, are in --json)."""
    t, n = session.text, session.names
    return table(t.gettext("Call-outs"),
                 [t.gettext("department"), t.gettext("role"), t.gettext("round"), t.gettext("status"),
                  t.gettext("check in by"), t.gettext("complete by"), t.gettext("officer")],
                 [(n.department(c["department_code"]), label(session.lang, "role", c["role"]), c["round"],
                   label(session.lang, "callout_status", c["status"]), t.time(c["check_in_by"]),
                   t.time(c["completion_by"]), c.get("officer")) for c in callouts], whole=(4, 5))


def timeline_table(session: Session, timeline: list[dict]):
    t, n = session.text, session.names
    return table(t.gettext("Timeline"), [t.gettext("at"), t.gettext("who"), t.gettext("what")],
                 [(t.time(e["at"]), actor(n, e["actor"]), e["summary"]) for e in timeline], whole=(0,))


def actor(names, code: str) -> str:
    """Who acted, by name when the code is a department or a street's (else as recorded)."""
    for kind in ("department", "street", "chaser"):
        named = names.name(kind, code)
        if named != code:
            return named
    return code

"""chuishao district: what is overdue (督办), open arbitrations (确权) and deciding them (dispatch's HTTP API)."""
from __future__ import annotations

import click

from services.cli.output import emit_json, out, table
from services.cli.running import json_option, reporting
from services.cli.session import Session, checked
from services.common.events import DecideArbitration
from services.common.i18n import Text
from services.common.vocabulary import label

DECIDE_OPTIONS = {"arbitration_id": "ARBITRATION_ID", "decided_by": "--by", "grid_code": "--grid",
                  "department_code": "--department", "note": "--note"}
PLACE_DISPUTES = ("unowned_place", "disputed_place")


def build(t: Text) -> click.Group:
    @click.group(help=t.gettext("The district: supervise what is overdue (督办), decide arbitrations (确权)."))
    def district():
        pass

    @district.command("overdue", help=t.gettext("Every step past its deadline and not done, the oldest first."))
    @json_option(t)
    @click.pass_obj
    def overdue(session: Session, as_json):
        with reporting(session, as_json=as_json):
            answer = session.api("dispatch").get_every("/api/v1/overdue", "overdue")
            if as_json:
                emit_json(answer)
                return
            t, n = session.text, session.names
            out.print(table(t.gettext("Overdue (%(count)s)") % {"count": len(answer["overdue"])},
                            [t.gettext("due at"), t.gettext("step"), t.gettext("department"), t.gettext("street"),
                             t.gettext("escalations"), t.gettext("whistle")],
                            [(t.time(o["due_at"]), label(session.lang, "step", o["step"]),
                              n.department(o["department_code"]), n.street(o["street_code"]), o["level"],
                              o["whistle_id"]) for o in answer["overdue"]], whole=(5,)))

    @district.command("arbitrations", help=t.gettext("Open arbitrations, the soonest deadline first."))
    @json_option(t)
    @click.pass_obj
    def arbitrations(session: Session, as_json):
        with reporting(session, as_json=as_json):
            answer = session.api("dispatch").get_every("/api/v1/arbitrations", "arbitrations")
            if as_json:
                emit_json(answer)
                return
            t, n = session.text, session.names

            def candidates(a):
                kind = n.grid if a["reason"] in PLACE_DISPUTES else n.department
                return t.join(kind(code) for code in a["candidates"])

            out.print(table(t.gettext("Open arbitrations (%(count)s)") % {"count": len(answer["arbitrations"])},
                            [t.gettext("arbitration"), t.gettext("decide by"), t.gettext("reason"),
                             t.gettext("candidates"), t.gettext("whistle")],
                            [(a["arbitration_id"], t.time(a["decide_by"]),
                              label(session.lang, "arbitration_reason", a["reason"]), candidates(a), a["whistle_id"])
                             for a in answer["arbitrations"]], whole=(0,)))

    @district.command("decide", help=t.gettext("Decide an arbitration: the grid that owns the place, or the "
                                               "department that acts."))
    @click.argument("arbitration_id")
    @click.option("--by", "decided_by", required=True, help=t.gettext("who decides, e.g. 区城管委 张科长"))
    @click.option("--grid", metavar="CODE", help=t.gettext("the grid that owns the place (a place dispute)"))
    @click.option("--department", metavar="CODE", help=t.gettext("the department that acts (a return)"))
    @click.option("--note", help=t.gettext("why"))
    @json_option(t)
    @click.pass_obj
    def decide(session: Session, arbitration_id, decided_by, grid, department, note, as_json):
        with reporting(session, DECIDE_OPTIONS, as_json):
            command = checked(DecideArbitration, {"arbitration_id": arbitration_id, "decided_by": decided_by,
                                                  "grid_code": grid, "department_code": department, "note": note},
                              session.text)
            _, answer = session.api("dispatch").post(f"/api/v1/arbitrations/{arbitration_id}/decision",
                                                     command.model_dump(mode="json"))
            if as_json:
                emit_json(answer)
                return
            out.print(session.text.gettext("arbitration %(arbitration)s decided (whistle %(whistle)s)")
                      % {"arbitration": answer["arbitration_id"], "whistle": answer["whistle_id"]})

    return district

"""Every text of the command-centre page, as message ids for the catalogs (services/locale/), and the
JSON the page reads them from: GET /board/texts/<lang> (services/whistle/board.py).

The page's scripts hold no text of their own: they ask for a key of UI below (`t("street.raise")`),
for a name of the reference data (`name("department", "chengguan")`) or for a label of an
enumeration (`label("callout_status", "checked_in")`). `make catalogs` extracts the N_() ids here
like every other message; tests/unit/test_catalogs.py fails until each is translated."""
from __future__ import annotations

from typing import get_args

from services.common.events import Rating, Source
from services.common.i18n import N_, translations
from services.common.reference import ReferenceData
from services.common.vocabulary import labels

UI = {
    "app.title": N_("Street command centre"),
    "lang.switch": N_("中文"),
    "list.separator": N_(", "),
    "span.days": N_("%(days)sd %(hours)sh"),
    "dialog.close": N_("Close"),
    "form.choose": N_("— choose —"),
    # login
    "login.title": N_("Sign in to the command centre"),
    "login.intro": N_("Paste the bearer token your administrator issued for your street office or for the district."),
    "login.token": N_("Bearer token"),
    "login.submit": N_("Sign in"),
    "login.empty": N_("Paste a token first."),
    "login.how": N_("An administrator issues one with: make token ARGS='issue --street daxigou' "
                    "(or --district for the district's supervision office)."),
    "login.storage": N_("The token is kept in this browser tab only, and forgotten when the tab is closed."),
    "login.unauthenticated": N_("Your token was not accepted (%(reason)s). Sign in again with a valid token."),
    "login.forbidden": N_("This token may not open the command centre: %(reason)s"),
    "login.logged_out": N_("Signed out."),
    # the bar at the top
    "nav.board": N_("Street board"),
    "nav.district": N_("District view"),
    "nav.logout": N_("Sign out"),
    "who.other": N_("%(kind)s %(code)s"),
    "conn.connecting": N_("connecting…"),
    "conn.updated": N_("updated %(time)s"),
    "conn.down": N_("connection lost"),
    "conn.retrying": N_("Retrying every few seconds; what is shown may be out of date."),
    # refusals and failures
    "error.forbidden": N_("Not allowed: %(reason)s"),
    "error.unreachable": N_("The %(service)s cannot be reached. Is it running? Retrying…"),
    "error.refused": N_("Refused: %(reason)s"),
    "error.fields": N_("Please correct the fields marked in red."),
    "error.part_failed": N_("This part could not be loaded: %(reason)s"),
    "error.unexpected": N_("Something unexpected went wrong; the page's console has the details."),
    # countdowns and badges
    "countdown.left": N_("%(step)s due in %(span)s"),
    "countdown.overdue": N_("%(step)s overdue by %(span)s"),
    "badge.escalated": N_("escalated ×%(count)s"),
    "badge.returns_waiting": N_("returns awaiting arbitration: %(count)s"),
    "badge.awaiting_arbitration": N_("awaiting arbitration"),
    # a street's board
    "street.raise": N_("Blow the whistle"),
    "street.map": N_("Responsibility map"),
    "street.escalations": N_("Escalations (督办)"),
    "street.returns": N_("Returns awaiting arbitration (退单)"),
    "street.closed": N_("Closed lately"),
    "street.count_open": N_("open: %(count)s"),
    "street.count_overdue": N_("overdue: %(count)s"),
    "street.count_escalations": N_("escalations: %(count)s"),
    "street.none_open": N_("No open whistles."),
    "street.no_escalations": N_("No escalations."),
    "street.no_returns": N_("No returns waiting."),
    "street.none_closed": N_("Nothing closed yet."),
    "street.follow_up_due": N_("follow-up due"),
    "street.waiting_dispatch": N_("Waiting for dispatch…"),
    "street.raised_at": N_("raised %(time)s by %(by)s"),
    "street.details": N_("Details"),
    # raising a whistle
    "raise.title": N_("Blow the whistle: %(street)s"),
    "raise.category": N_("Category"),
    "raise.urgency": N_("Urgency"),
    "raise.source": N_("Source"),
    "raise.grid": N_("Grid"),
    "raise.grid_unknown": N_("— not known (located from the map) —"),
    "raise.description": N_("What is the problem?"),
    "raise.address": N_("Address"),
    "raise.lon": N_("Longitude"),
    "raise.lat": N_("Latitude"),
    "raise.pick_hint": N_("Or click the place on the map."),
    "raise.reported_by": N_("Reported by"),
    "raise.submit": N_("Blow the whistle"),
    "raise.done": N_("Whistle raised: %(id)s"),
    "raise.repeated": N_("Already raised (the same request): %(id)s"),
    # one whistle
    "whistle.back": N_("← %(street)s board"),
    "whistle.facts": N_("The report"),
    "whistle.departments": N_("Departments called"),
    "whistle.timeline": N_("Timeline"),
    "whistle.team": N_("Joint enforcement team"),
    "whistle.actions": N_("What the street can do"),
    "whistle.address": N_("Address"),
    "whistle.grid": N_("Grid"),
    "whistle.source": N_("Source"),
    "whistle.reported_by": N_("Reported by"),
    "whistle.raised_at": N_("Raised"),
    "whistle.round": N_("Round"),
    "whistle.linked_to": N_("Joined whistle"),
    "whistle.closure": N_("Closed"),
    "whistle.closure_by": N_("by %(by)s at %(time)s"),
    "whistle.follow_up": N_("Follow-up"),
    "whistle.round_title": N_("Round %(round)s"),
    "whistle.team_lead": N_("Led by %(name)s (%(department)s)"),
    "whistle.team_gaps": N_("No officer on duty from: %(departments)s"),
    "whistle.no_team": N_("No joint team for this whistle."),
    "whistle.read_only": N_("Only the street that raised this whistle can close it, send it back or record its follow-up."),  # noqa: E501
    "whistle.in_progress": N_("The departments are still at work: it can be closed once every one has completed."),
    "whistle.done": N_("Closed and followed up."),
    "whistle.not_found": N_("There is no whistle %(id)s."),
    # closing (销号) with 两图一表
    "close.title": N_("Close the case (销号, 两图一表)"),
    "close.confirmed_by": N_("Confirmed by"),
    "close.before_photo": N_("Photo before (reference)"),
    "close.after_photo": N_("Photo after (reference)"),
    "close.photo_hint": N_("A photo's number or link in your photo archive."),
    "close.checklist": N_("Checklist"),
    "close.checklist_hint": N_("One checked item per line."),
    "close.submit": N_("Close the case"),
    "close.done": N_("Closed."),
    # sending the work back
    "send_back.title": N_("Send the work back"),
    "send_back.by": N_("Sent back by"),
    "send_back.reason": N_("Why"),
    "send_back.departments": N_("Departments to redo their work"),
    "send_back.departments_hint": N_("None ticked: every department."),
    "send_back.submit": N_("Send back"),
    "send_back.done": N_("Sent back: a new round starts."),
    # the follow-up (回访)
    "follow_up.title": N_("Record the follow-up (回访)"),
    "follow_up.rating": N_("The complainant is"),
    "follow_up.comment": N_("What they said"),
    "follow_up.reopen": N_("Reopen the case (only when unsatisfied)"),
    "follow_up.recorded_by": N_("Recorded by"),
    "follow_up.submit": N_("Record the follow-up"),
    "follow_up.done": N_("Follow-up recorded."),
    # the district
    "district.title": N_("%(district)s supervision"),
    "district.streets": N_("Streets"),
    "district.street": N_("Street"),
    "district.open": N_("Open"),
    "district.overdue_steps": N_("Steps overdue"),
    "district.escalated": N_("Escalated"),
    "district.overdue": N_("Overdue (督办)"),
    "district.whistle": N_("Whistle"),
    "district.department": N_("Department"),
    "district.step": N_("Step"),
    "district.due": N_("Due"),
    "district.late_by": N_("Late by"),
    "district.tier": N_("Chased at"),
    "district.none_overdue": N_("Nothing is overdue."),
    "district.arbitrations": N_("Arbitrations to decide (确权)"),
    "district.none_arbitrations": N_("No arbitration waiting."),
    "decide.candidates": N_("Claimed by or tried: %(candidates)s"),
    "decide.opened": N_("opened %(time)s"),
    "decide.deadline": N_("decision"),
    "decide.grid": N_("The grid that owns the place"),
    "decide.department": N_("The department that takes it"),
    "decide.decided_by": N_("Decided by"),
    "decide.note": N_("Note"),
    "decide.submit": N_("Decide"),
    "decide.done": N_("Decided."),
}

SERVICES = {"whistle": N_("whistle service"), "dispatch": N_("dispatch service"), "roster": N_("roster service")}
KINDS = {"street": N_("street office"), "department": N_("department"), "district": N_("district staff"),
         "assessment": N_("assessment office"), "operator": N_("operator"), "service": N_("service")}


def page_texts(lang: str, reference: ReferenceData) -> dict:
    """Everything the page says, in one supported language: its own texts, the labels of the
    enumerations, and the names and orders of the reference data's streets, grids, departments,
    categories and urgencies (the forms' choices)."""
    t = translations(lang)
    zh = lang == "zh_CN"
    pick = (lambda item: item.name_zh) if zh else (lambda item: item.name_en)
    grids = {}
    for street in reference.streets:
        for community in street.communities:
            grids[community.code] = pick(community)
            grids.update((grid.code, pick(grid)) for grid in community.grids)
    return {
        "lang": lang,
        "ui": {key: t.gettext(message) for key, message in UI.items()},
        "labels": labels(lang),
        "names": {
            "street": {s.code: pick(s) for s in reference.streets},
            "grid": grids,
            "department": {d.code: pick(d) for d in reference.departments},
            "category": {c.code: pick(c) for c in reference.categories},
            "urgency": {code: pick(level) for code, level in reference.urgencies.items()},
            "service": {code: t.gettext(message) for code, message in SERVICES.items()},
            "kind": {code: t.gettext(message) for code, message in KINDS.items()},
            "district": {reference.district.code: pick(reference.district)},
        },
        "district": pick(reference.district),
        "streets": [{"code": s.code, "grids": [g.code for c in s.communities for g in c.grids]}
                    for s in reference.streets],
        "departments": [d.code for d in reference.departments],
        "categories": [c.code for c in reference.categories],
        "urgencies": list(reference.urgencies),
        "sources": list(get_args(Source)),
        "ratings": list(get_args(Rating)),
        "tiers": [tier.tier for tier in reference.escalation],
    }

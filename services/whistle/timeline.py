"""The whistle's timeline lines: stored as a message id and its parameters, read in any language.

A line is stored with `message` (a key of MESSAGES, e.g. `callout.checked_in`) and `params` (codes,
times and free text, JSON); `summary` keeps its zh-CN rendering for whatever reads it directly.
`render_timeline_entry(entry, lang, reference)` says it again in the reader's language, naming
streets, departments, categories and urgencies from the reference data; a line stored before
messages existed (no `message`) is shown as its summary.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from services.common.i18n import DEFAULT_LANGUAGE, N_, Text
from services.common.reference import ReferenceData
from services.common.vocabulary import Names, display


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    actor: str
    summary: str
    detail: dict = field(default_factory=dict)
    message: str | None = None          # a key of MESSAGES
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Message:
    msgid: str
    kinds: Mapping[str, str] = field(default_factory=dict)   # parameter -> vocabulary kind (default: text)


MESSAGES: dict[str, Message] = {
    "whistle.raised": Message(
        N_("%(street)s raised a whistle: %(category)s (%(urgency)s, %(source)s)"),
        {"street": "street", "category": "category", "urgency": "urgency", "source": "source"}),
    "whistle.linked": Message(
        N_("%(street)s reported %(category)s %(distance)s m from open whistle %(linked_to)s, and joined it"),
        {"street": "street", "category": "category", "distance": "metres"}),
    "whistle.report_joined": Message(
        N_("a second report joined: %(description)s (%(by)s, %(street)s, %(distance)s m away)"),
        {"street": "street", "distance": "metres"}),
    "whistle.located": Message(N_("located in %(grid)s (%(method)s)"), {"grid": "grid", "method": "method"}),
    "whistle.located.no_grid": Message(N_("located in no grid (%(method)s)"), {"method": "method"}),
    "callout.issued": Message(
        N_("call-out to %(department)s (%(role)s, round %(round)s, %(reason)s), check in by %(check_in_by)s"),
        {"department": "department", "role": "role", "reason": "issue_reason", "check_in_by": "time"}),
    "callout.checked_in": Message(N_("%(department)s checked in, %(officer)s coming"),
                                  {"department": "department"}),
    "callout.arrived": Message(N_("%(officer)s of %(department)s on site at %(address)s"),
                               {"department": "department"}),
    "callout.completed": Message(N_("%(department)s completed: %(summary)s"), {"department": "department"}),
    "callout.returned.rerouted": Message(
        N_("%(department)s returned the call-out (%(reason)s); re-routed to %(rerouted_to)s"),
        {"department": "department", "rerouted_to": "department"}),
    "callout.returned.arbitration": Message(
        N_("%(department)s returned the call-out (%(reason)s); sent to arbitration %(arbitration)s"),
        {"department": "department"}),
    "callout.returned": Message(N_("%(department)s returned the call-out (%(reason)s); not re-routed"),
                                {"department": "department"}),
    "callout.escalated": Message(
        N_("%(department)s missed its %(step)s deadline (%(due_at)s): escalated to the %(tier)s tier, "
           "%(chaser)s chases it"),
        {"department": "department", "step": "step", "due_at": "time", "tier": "tier", "chaser": "chaser"}),
    "arbitration.opened": Message(N_("arbitration opened (%(reason)s), to be decided by %(decide_by)s"),
                                  {"reason": "arbitration_reason", "decide_by": "time"}),
    "arbitration.overdue": Message(N_("arbitration not decided by %(decide_by)s: escalated, %(chaser)s chases it"),
                                   {"decide_by": "time", "chaser": "chaser"}),
    "arbitration.decided.grid": Message(N_("arbitration decided by %(by)s: the place belongs to %(grid)s"),
                                        {"grid": "grid"}),
    "arbitration.decided.department": Message(N_("arbitration decided by %(by)s: %(department)s acts"),
                                              {"department": "department"}),
    "arbitration.decided.both": Message(
        N_("arbitration decided by %(by)s: the place belongs to %(grid)s, %(department)s acts"),
        {"grid": "grid", "department": "department"}),
    "arbitration.decided.no_change": Message(N_("arbitration decided by %(by)s: no change")),
    "whistle.all_checked_in": Message(N_("every department called checked in (%(count)s)")),
    "whistle.all_completed": Message(
        N_("every department called completed round %(round)s (%(count)s); the street may close it")),
    "team.member_checked_in": Message(N_("%(officer)s of %(department)s checked in as a joint team member"),
                                      {"department": "department"}),
    "team.on_site": Message(N_("joint team on site, led by %(lead)s: %(members)s"), {"members": "members"}),
    "team.on_site.gaps": Message(N_("joint team on site, led by %(lead)s: %(members)s; nobody yet from %(gaps)s"),
                                 {"members": "members", "gaps": "departments"}),
    "team.on_site.no_lead": Message(N_("joint team on site without its lead: %(members)s; nobody yet from %(gaps)s"),
                                    {"members": "members", "gaps": "departments"}),
    "roster.gap_escalated": Message(
        N_("nobody of %(department)s can join the joint team (%(reason)s, since %(since)s): escalated to the "
           "%(tier)s tier, %(chaser)s chases it"),
        {"department": "department", "reason": "gap_reason", "since": "time", "tier": "tier", "chaser": "chaser"}),
    "whistle.closed": Message(
        N_("%(street)s closed the whistle (round %(round)s) with before/after photos and a "
           "checklist of %(items)s"), {"street": "street"}),
    "whistle.sent_back": Message(N_("%(street)s sent round %(round)s back to %(departments)s: %(reason)s"),
                                 {"street": "street", "departments": "departments"}),
    "whistle.sent_back.all": Message(N_("%(street)s sent round %(round)s back to every department: %(reason)s"),
                                     {"street": "street"}),
    "whistle.follow_up": Message(N_("follow-up: %(rating)s"), {"rating": "rating"}),
    "whistle.follow_up.comment": Message(N_("follow-up: %(rating)s (%(comment)s)"), {"rating": "rating"}),
    "whistle.reopened": Message(N_("reopened for round %(round)s: the complainant is unsatisfied")),
    "whistle.reopened.comment": Message(
        N_("reopened for round %(round)s: the complainant is unsatisfied: %(comment)s")),
    # a grid event whistled: its history, carried onto the whistle (grid_event.history_on_whistle)
    "grid_event.history": Message(
        N_("whistled from grid event %(grid_event_id)s, with its %(steps)s timeline lines")),
}
LATE = N_("%(line)s (late)")          # a step done after its deadline: params carry on_time false


def _render(message: str, params: Mapping[str, Any], text: Text, names: Names) -> str:
    spec = MESSAGES[message]
    shown = {k: display(spec.kinds.get(k, "text"), v, text, names) for k, v in params.items()}
    said = text.gettext(spec.msgid) % shown
    return text.gettext(LATE) % {"line": said} if params.get("on_time") is False else said


def render_timeline(entries: list[Mapping[str, Any]], lang: str, reference: ReferenceData | None) -> list[str]:
    """Timeline rows (each with `message`, `params` and `summary`, as stored) in `lang`.

    A row without a message (written before lines had one) is shown as its stored summary."""
    text, names = Text(lang), names_in(reference, lang)
    return [_render(e["message"], e.get("params") or {}, text, names) if e.get("message") in MESSAGES
            else e["summary"] for e in entries]


def render_timeline_entry(entry: Mapping[str, Any], lang: str, reference: ReferenceData | None) -> str:
    """One timeline row in `lang` (see render_timeline, which reads the reference data once for many)."""
    return render_timeline([entry], lang, reference)[0]


_names: dict[tuple[int, str], tuple[ReferenceData | None, Names]] = {}


def names_in(reference: ReferenceData | None, lang: str) -> Names:
    """The reference data's names in `lang`, built once per reference data and language (a line is
    written for every event: building the tables each time cost more than rendering the line)."""
    key = (id(reference), lang)
    cached = _names.get(key)
    if cached is None or cached[0] is not reference:
        cached = _names[key] = (reference, Names(reference, lang))
    return cached[1]


def line(at: datetime, kind: str, actor: str, message: str, params: dict, detail: dict,
         reference: ReferenceData | None) -> TimelineEntry:
    """A new timeline line, its summary rendered in zh-CN (names from `reference`; codes without it)."""
    summary = _render(message, params, Text(DEFAULT_LANGUAGE), names_in(reference, DEFAULT_LANGUAGE))
    return TimelineEntry(at, kind, actor, summary, detail, message, params)

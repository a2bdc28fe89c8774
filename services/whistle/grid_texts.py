"""Every text people read below the whistle: message ids for the catalogs (services/locale/, zh_CN and en).

A timeline line stores its text key and parameters (TimelineEntry.detail["text"]) beside the zh-CN summary,
so any language can be rendered again later: render(key, params, "en").
Parameter conventions: `tier`, `*_tier`, `source`, `role`, `missed`, `outcome`, `verifiers` are codes shown
by their label; `*_at`, `accept_by` and `handle_by` are instants (datetime or ISO text) shown on China's
clock; a pair `name_zh` / `name_en` fills `%(name)s` in the matching language."""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any, Mapping

from services.common.events import iso
from services.common.i18n import DEFAULT_LANGUAGE, N_, Text, choose_language, translations

MESSAGES: dict[str, str] = {
    "opened": N_("%(reported_by)s reported %(category)s via %(source)s; %(unit)s (%(tier)s) to accept it by "
                 "%(accept_by)s"),
    "over_daily_cap": N_("the grid's report no. %(count)s today, over the daily cap of %(cap)s: recorded for the "
                         "assessment"),
    "verification_needed": N_("needs an on-site check (%(verifiers)s) before it may be whistled"),
    "verified": N_("%(by)s (%(role)s) checked on site: confirmed"),
    "false_report": N_("%(by)s (%(role)s) checked on site: a false report, closed as such: %(reason)s"),
    "accepted": N_("%(by)s (%(tier)s) accepted it, to handle it by %(handle_by)s"),
    "handled": N_("%(by)s (%(tier)s) handled it: %(summary)s"),
    "handled_late": N_("%(by)s (%(tier)s) handled it (late): %(summary)s"),
    "closed": N_("%(by)s (%(tier)s) closed it with before/after photos and a %(items)s-item checklist"),
    "passed_up": N_("%(by)s passed it up to the %(to_tier)s: %(reason)s"),
    "escalated": N_("the %(from_tier)s did not %(missed)s it by %(due_at)s: passed up to the %(to_tier)s "
                    "automatically"),
    "escalated_reason": N_("the %(from_tier)s did not %(missed)s it in time"),
    "overdue": N_("the street did not %(missed)s it by %(due_at)s: chased (督办)"),
    "whistled": N_("%(by)s whistled it up to the district departments"),
    "whistle_raised": N_("whistle %(whistle_id)s raised"),
    "whistle_joined": N_("joined open whistle %(whistle_id)s of the same problem"),
    "whistle_closed": N_("whistle %(whistle_id)s closed; the event is closed with it"),
    "whistle_reopened": N_("whistle %(whistle_id)s reopened (%(reason)s); so is the event"),
    "whistle_summary": N_("handled by the district departments on whistle %(whistle_id)s, now closed"),
    "carried_history": N_("whistled from grid event %(grid_event_id)s, with its %(steps)s timeline lines"),
    "description_cut": N_("(full text on grid event %(grid_event_id)s)"),
    "ticket_received": N_("12345 ticket %(ticket_id)s (%(hotline_class)s), to be completed by %(due_at)s"),
    "ticket_answered": N_("answered 12345 ticket %(ticket_id)s (answer %(answer_no)s): %(outcome)s"),
    "reporter.hotline": N_("12345 hotline"),
    "reporter.open311": N_("resident (Open311)"),
    # Open311 status_notes and service_notice
    "status.reported": N_("reported, waiting for the %(tier)s to accept it"),
    "status.accepted": N_("accepted by the %(tier)s, being handled"),
    "status.handled": N_("handled by the %(tier)s, to be closed"),
    "status.whistled": N_("whistled: the district departments are on it"),
    "status.closed.handled": N_("closed: resolved"),
    "status.closed.whistled": N_("closed: resolved on a whistle"),
    "status.closed.false_report": N_("closed: found false on site"),
    "notice.opened": N_("sent to %(unit)s, to be accepted by %(accept_by)s"),
}

_LABELLED = ("source", "role", "missed", "outcome")
_DEADLINES = ("accept_by", "handle_by")


@lru_cache(maxsize=4)
def _labels(lang: str) -> Mapping[str, str]:
    """The names of the codes a text shows, in one language."""
    t = translations(lang)
    return {
        "tier.grid": t.pgettext("grid tier", "grid"), "tier.community": t.pgettext("grid tier", "community"),
        "tier.street": t.pgettext("grid tier", "street"),
        "source.grid_patrol": t.pgettext("event source", "grid patrol"),
        "source.hotline_12345": t.pgettext("event source", "the 12345 hotline"),
        "source.road_office": t.pgettext("event source", "a street walk (马路办公)"),
        "source.resident_report": t.pgettext("event source", "a resident's report"),
        "role.street_team": t.pgettext("verifier", "street enforcement team"),
        "role.grid_worker": t.pgettext("verifier", "grid worker"),
        "missed.accept": t.pgettext("grid step", "accept"), "missed.handle": t.pgettext("grid step", "handle"),
        "outcome.resolved": t.pgettext("ticket outcome", "resolved"),
        "outcome.false_report": t.pgettext("ticket outcome", "false report"),
    }


def language(lang: str | None) -> str:
    """The catalog language for `lang` (`zh`, `zh-CN`, `en`...; zh-CN when it names none we have)."""
    return choose_language(lang)


def is_chinese(lang: str | None) -> bool:
    return language(lang) == "zh_CN"


def _shown(key: str, value: Any, text: Text) -> Any:
    labels = _labels(text.lang)
    if key == "tier" or key.endswith("_tier"):
        return labels[f"tier.{value}"]
    if key in _LABELLED:
        return labels.get(f"{key}.{value}", value)
    if key == "verifiers":
        return ("、" if text.lang == "zh_CN" else ", ").join(labels[f"role.{v}"] for v in value)
    if (key.endswith("_at") or key in _DEADLINES) and isinstance(value, (datetime, str)):
        return text.time(value)
    return value


def render(key: str, params: dict[str, Any], lang: str | None = DEFAULT_LANGUAGE) -> str:
    """The text `key` in `lang` (zh-CN by default), its parameters shown by the conventions above."""
    text = Text(language(lang))
    suffix = "_zh" if text.lang == "zh_CN" else "_en"
    values: dict[str, Any] = {}
    for name, value in params.items():
        if name.endswith(("_zh", "_en")):
            if name.endswith(suffix):
                values[name[:-3]] = value
            continue
        values[name] = _shown(name, value, text)
    return text.gettext(MESSAGES[key]) % values


def json_params(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters as stored in a timeline line's detail (instants as UTC ISO text)."""
    return {k: iso(v) if isinstance(v, datetime) else list(v) if isinstance(v, tuple) else v
            for k, v in params.items()}

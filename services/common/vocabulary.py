"""How codes read to people: names from the reference data, labels of enumerations from the catalog.

A code is shown as what it names — 大溪沟街道 for `daxigou`, 加急 for `urgent`, 牵头 for `lead` —
in the reader's language. A code the reference data does not know (a department retired since)
is shown as itself.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterable, Mapping

from services.common.i18n import Text, translations
from services.common.reference import ReferenceData


@lru_cache(maxsize=8)
def _labels(lang: str) -> Mapping[tuple[str, str], str]:
    t = translations(lang)
    return {
        ("status", "raised"): t.pgettext("status", "raised"),
        ("status", "locating"): t.pgettext("status", "locating"),
        ("status", "dispatched"): t.pgettext("status", "dispatched"),
        ("status", "all_checked_in"): t.pgettext("status", "all checked in"),
        ("status", "all_completed"): t.pgettext("status", "all completed"),
        ("status", "closed"): t.pgettext("status", "closed"),
        ("status", "sent_back"): t.pgettext("status", "sent back"),
        ("status", "reopened"): t.pgettext("status", "reopened"),
        ("status", "linked"): t.pgettext("status", "joined another whistle"),
        ("callout_status", "issued"): t.pgettext("callout status", "issued"),
        ("callout_status", "checked_in"): t.pgettext("callout status", "checked in"),
        ("callout_status", "arrived"): t.pgettext("callout status", "on site"),
        ("callout_status", "completed"): t.pgettext("callout status", "completed"),
        ("callout_status", "returned"): t.pgettext("callout status", "returned"),
        ("role", "lead"): t.pgettext("role", "lead"),
        ("role", "support"): t.pgettext("role", "support"),
        ("step", "check_in"): t.pgettext("step", "check-in"),
        ("step", "arrival"): t.pgettext("step", "arrival"),
        ("step", "completion"): t.pgettext("step", "completion"),
        ("tier", "street"): t.pgettext("tier", "street"),
        ("tier", "district"): t.pgettext("tier", "district"),
        ("tier", "city"): t.pgettext("tier", "city"),
        ("issue_reason", "matrix"): t.pgettext("issue reason", "by the responsibility matrix"),
        ("issue_reason", "rerouted"): t.pgettext("issue reason", "re-routed after a return"),
        ("issue_reason", "added"): t.pgettext("issue reason", "added by an operator"),
        ("issue_reason", "arbitrated"): t.pgettext("issue reason", "by arbitration"),
        ("issue_reason", "sent_back"): t.pgettext("issue reason", "sent back by the street"),
        ("issue_reason", "reopened"): t.pgettext("issue reason", "reopened after follow-up"),
        ("arbitration_reason", "unowned_place"): t.pgettext("arbitration reason", "no grid owns the place"),
        ("arbitration_reason", "disputed_place"): t.pgettext("arbitration reason", "several grids claim the place"),
        ("arbitration_reason", "returned_without_alternative"):
            t.pgettext("arbitration reason", "returned, no other department to call"),
        ("arbitration_status", "open"): t.pgettext("arbitration status", "open"),
        ("arbitration_status", "decided"): t.pgettext("arbitration status", "decided"),
        ("source", "hotline_12345"): t.pgettext("source", "12345 hotline"),
        ("source", "grid_patrol"): t.pgettext("source", "grid patrol"),
        ("source", "road_office"): t.pgettext("source", "leader's street walk"),
        ("source", "street_office"): t.pgettext("source", "street office"),
        ("rating", "satisfied"): t.pgettext("rating", "satisfied"),
        ("rating", "basically_satisfied"): t.pgettext("rating", "basically satisfied"),
        ("rating", "unsatisfied"): t.pgettext("rating", "unsatisfied"),
        ("method", "map"): t.pgettext("location method", "responsibility map"),
        ("method", "given"): t.pgettext("location method", "as reported"),
        ("action", "checkin"): t.pgettext("action", "check-in"),
        ("action", "arrival"): t.pgettext("action", "arrival"),
        ("action", "completion"): t.pgettext("action", "completion"),
        ("action", "return"): t.pgettext("action", "return"),
        ("action", "member_checkin"): t.pgettext("action", "member check-in"),
        ("action", "member_decline"): t.pgettext("action", "declining an assignment"),
        ("gap_reason", "nobody_on_duty"): t.pgettext("roster gap", "nobody on duty"),
        ("gap_reason", "nobody_qualified"): t.pgettext("roster gap", "nobody on duty is qualified"),
        ("gap_reason", "all_at_limit"): t.pgettext("roster gap", "everyone qualified is on too many cases"),
        ("gap_reason", "all_tried"): t.pgettext("roster gap", "everyone available has been tried"),
        ("replaced_because", "declined"): t.pgettext("replaced because", "declined"),
        ("replaced_because", "no_show"): t.pgettext("replaced because", "did not check in in time"),
        ("replaced_because", "off_shift"): t.pgettext("replaced because", "went off shift"),
    }


ENUMERATIONS = ("status", "callout_status", "role", "step", "tier", "issue_reason", "arbitration_reason",
                "arbitration_status", "source", "rating", "method", "action", "gap_reason",
                "replaced_because")


def labels(lang: str) -> dict[str, dict[str, str]]:
    """Every enumeration's labels in one language, by kind and then code (for a client to show them)."""
    by_kind: dict[str, dict[str, str]] = {kind: {} for kind in ENUMERATIONS}
    for (kind, code), text in _labels(lang).items():
        by_kind[kind][code] = text
    return by_kind


def label(lang: str, kind: str, code: str) -> str:
    """The name of one value of an enumeration (status, role, step...); the code itself if unknown."""
    return _labels(lang).get((kind, code), code)


class Names:
    """Names of the reference data's streets, grids, departments, categories, urgencies and chasers."""

    def __init__(self, reference: ReferenceData | None, lang: str):
        self.lang = lang
        self.zh = lang == "zh_CN"
        self._by_kind: dict[str, dict[str, str]] = {"street": {}, "grid": {}, "department": {},
                                                    "category": {}, "urgency": {}, "chaser": {}}
        if reference is None:
            return
        pick = (lambda item: item.name_zh) if self.zh else (lambda item: item.name_en)
        for street in reference.streets:
            self._by_kind["street"][street.code] = pick(street)
            for community in street.communities:
                self._by_kind["grid"][community.code] = pick(community)
                for grid in community.grids:
                    self._by_kind["grid"][grid.code] = pick(grid)
        for kind, items in (("department", reference.departments), ("category", reference.categories)):
            self._by_kind[kind].update((item.code, pick(item)) for item in items)
        self._by_kind["urgency"].update((code, pick(level)) for code, level in reference.urgencies.items())
        owners = {tier.tier: tier.owner_zh if self.zh else tier.owner_en for tier in reference.escalation}
        self._by_kind["chaser"].update({"city": owners.get("city", "city"),
                                        reference.district.code: owners.get("district", reference.district.code)})
        self._by_kind["chaser"].update((s.code, owners.get("street", s.code)) for s in reference.streets)

    def name(self, kind: str, code: str | None) -> str:
        if code is None:
            return ""
        return self._by_kind[kind].get(code, code)

    def street(self, code: str | None) -> str:
        return self.name("street", code)

    def department(self, code: str | None) -> str:
        return self.name("department", code)

    def category(self, code: str | None) -> str:
        return self.name("category", code)

    def urgency(self, code: str | None) -> str:
        return self.name("urgency", code)

    def grid(self, code: str | None) -> str:
        return self.name("grid", code)


NAMED = ("street", "grid", "department", "category", "urgency")


def display(kind: str, value: Any, text: Text, names: Names) -> str:
    """One parameter of a message as a person reads it, by the kind of thing it is.

    kinds: street, grid, department, category, urgency (names); departments (a list of department
    codes); an enumeration of vocabulary.ENUMERATIONS; time (an ISO instant, on China's clock);
    metres; chaser ({code, name_zh}: whoever chases an escalation); members (a joint team's
    [{name, department}]); text (as it is)."""
    if value is None:
        return ""
    if kind in NAMED:
        return names.name(kind, value)
    if kind == "departments":
        return text.join(names.department(code) for code in _codes(value))
    if kind in ENUMERATIONS:
        return label(text.lang, kind, value)
    if kind == "callout_statuses":          # "issued or checked_in"
        return text.join((label(text.lang, "callout_status", s) for s in value.split(" or ")), style="or")
    if kind == "time":
        return text.time(value)
    if kind == "metres":
        return f"{float(value):.0f}"
    if kind == "chaser":
        known = names.name("chaser", value.get("code"))
        if known == value.get("code") and names.zh and value.get("name_zh"):
            return value["name_zh"]
        return known
    if kind == "members":
        return text.join(text.gettext("%(name)s (%(department)s)") % {
            "name": m["name"], "department": names.department(m["department"])} for m in value)
    return str(value)


def _codes(value: Iterable[str] | str) -> list[str]:
    if isinstance(value, str):
        return [code.strip() for code in value.split(",") if code.strip()]
    return list(value)

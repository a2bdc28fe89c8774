"""Field errors for people: the wire says them in English, a person reads them in their language.

Every refusal carries `errors: [{field, message}]` with ASCII field names and an English message.
Two kinds of message reach a person:

- the rules' own refusals (unknown street, a step out of order...): each is a `Refusal` below, whose
  English message id is the text on the wire; the services build their FieldErrors with
  `Refusal.english(**params)`, and a client recovers the refusal and its parameters from that text;
- pydantic's validation messages ("String should have at least 4 characters"): recognized by their
  pydantic error type's wording and said again in the reader's language, keyed by error type and
  field (`reason` too short reads "give a reason of at least 4 characters").

`explain(field, message, text, names)` does both; a message it does not recognize is shown as it
came. `field_label(field, text)` names the field itself (地址 for `place.address`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Mapping

from services.common.i18n import N_, Text
from services.common.reference import CODE
from services.common.vocabulary import Names, display


@dataclass(frozen=True)
class Refusal:
    """One refusal of the rules: an English message id with %(name)s parameters of known kinds."""

    msgid: str
    kinds: Mapping[str, str] = field(default_factory=dict)   # parameter -> vocabulary kind (default: text)

    def english(self, **params) -> str:
        return self.msgid % params

    @cached_property
    def _pattern(self) -> re.Pattern:
        parts = re.split(r"%\((\w+)\)s", self.msgid)
        regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts))
        return re.compile(f"^{regex}$", re.DOTALL)

    def match(self, message: str) -> dict | None:
        found = self._pattern.match(message)
        return found.groupdict() if found else None

    def say(self, params: Mapping[str, str], text: Text, names: Names) -> str:
        shown = {k: display(self.kinds.get(k, "text"), v, text, names) for k, v in params.items()}
        return text.gettext(self.msgid) % shown


# ---------------------------------------------------------------- the rules' refusals

UNKNOWN_STREET = Refusal(N_("unknown street '%(street)s'"))
GRID_NOT_IN_STREET = Refusal(N_("grid '%(grid)s' is not in street '%(street)s'"), {"street": "street"})
UNKNOWN_CATEGORY = Refusal(N_("unknown category '%(category)s'"))
ROUTING_KEY_MISMATCH = Refusal(N_("'%(street)s' does not match routing key '%(routing_key)s'"))
NOT_THE_STREETS = Refusal(N_("whistle %(whistle)s belongs to street %(owner)s, not %(street)s"),
                          {"owner": "street", "street": "street"})
LINKED_CLOSE = Refusal(N_("whistle %(whistle)s joined whistle %(linked_to)s; that one is closed instead"))
LINKED_SEND_BACK = Refusal(N_("whistle %(whistle)s joined whistle %(linked_to)s; that one is sent back instead"))
LINKED_FOLLOW_UP = Refusal(N_("whistle %(whistle)s joined whistle %(linked_to)s; "
                              "that one is followed up instead"))
CLOSE_NOT_YET = Refusal(N_("whistle %(whistle)s is %(status)s; it can be closed only when every department "
                           "has completed (all_completed)"), {"status": "status"})
SEND_BACK_NOT_YET = Refusal(N_("whistle %(whistle)s is %(status)s; it can be sent back only when every "
                               "department has completed (all_completed)"), {"status": "status"})
FOLLOW_UP_NOT_YET = Refusal(N_("whistle %(whistle)s is %(status)s; it can be followed up only when it is closed"),
                            {"status": "status"})
UNKNOWN_DEPARTMENTS = Refusal(N_("unknown department %(departments)s"))
DID_NOT_COMPLETE_WHISTLE_ROUND = Refusal(N_("%(departments)s did not complete round %(round)s of whistle "
                                            "%(whistle)s"), {"departments": "departments"})
ALREADY_FOLLOWED_UP = Refusal(N_("the closure of whistle %(whistle)s already has its follow-up"))
ONLY_UNSATISFIED_REOPENS = Refusal(N_("only an unsatisfied follow-up can reopen the case, not a %(rating)s one"),
                                   {"rating": "rating"})
ISSUED_TO_ANOTHER = Refusal(N_("call-out %(callout)s was issued to %(issued_to)s, not %(department)s"),
                            {"issued_to": "department", "department": "department"})
WHISTLE_CLOSED = Refusal(N_("whistle %(whistle)s is closed"))
OLDER_ROUND = Refusal(N_("call-out %(callout)s belongs to round %(round)s; the whistle is in round %(current)s"))
ALREADY_DONE = Refusal(N_("call-out %(callout)s is already %(status)s"), {"status": "callout_status"})
OUT_OF_ORDER = Refusal(N_("call-out %(callout)s is %(status)s: %(action)s needs it %(needed)s"),
                       {"status": "callout_status", "action": "action", "needed": "callout_statuses"})
NO_SUCH_WHISTLE = Refusal(N_("no whistle %(whistle)s"))
NO_SUCH_CALLOUT = Refusal(N_("no call-out %(callout)s"))
ALREADY_CALLED = Refusal(N_("%(department)s is already called on this whistle"), {"department": "department"})
NO_SUCH_ARBITRATION = Refusal(N_("no arbitration %(arbitration)s"))
ALREADY_DECIDED = Refusal(N_("arbitration %(arbitration)s is already decided"))
NO_MATRIX_ROW = Refusal(N_("no responsibility matrix row for '%(category)s'"))
DID_NOT_COMPLETE_ROUND = Refusal(N_("%(departments)s did not complete round %(round)s"),
                                 {"departments": "departments"})

# the more specific first: a message is said by the first refusal whose wording it matches
REFUSALS = (GRID_NOT_IN_STREET, UNKNOWN_STREET, UNKNOWN_CATEGORY, ROUTING_KEY_MISMATCH, NOT_THE_STREETS,
            LINKED_CLOSE, LINKED_SEND_BACK, LINKED_FOLLOW_UP, CLOSE_NOT_YET, SEND_BACK_NOT_YET,
            FOLLOW_UP_NOT_YET, UNKNOWN_DEPARTMENTS, DID_NOT_COMPLETE_WHISTLE_ROUND, ALREADY_FOLLOWED_UP,
            ONLY_UNSATISFIED_REOPENS, ISSUED_TO_ANOTHER, WHISTLE_CLOSED, OLDER_ROUND, ALREADY_DONE,
            OUT_OF_ORDER, DID_NOT_COMPLETE_ROUND, NO_SUCH_WHISTLE, NO_SUCH_CALLOUT, ALREADY_CALLED,
            NO_SUCH_ARBITRATION, ALREADY_DECIDED, NO_MATRIX_ROW)


# ---------------------------------------------------------------- pydantic's messages

# pydantic error type -> the wording of its English message (services.common.events.field_errors
# passes pydantic's text through, except extra_forbidden, which it words "unexpected field")
PYDANTIC_WORDING = (
    ("missing", r"Field required"),
    ("extra_forbidden", r"unexpected field|Extra inputs are not permitted"),
    ("string_too_short", r"String should have at least (?P<min_length>\d+) characters?"),
    ("string_too_long", r"String should have at most (?P<max_length>\d+) characters?"),
    ("string_pattern_mismatch", r"String should match pattern '(?P<pattern>.*)'"),
    ("string_type", r"Input should be a valid string"),
    ("int_type", r"Input should be a valid integer.*"),
    ("float_type", r"Input should be a valid number.*"),
    ("bool_type", r"Input should be a valid boolean.*"),
    ("greater_than_equal", r"Input should be greater than or equal to (?P<ge>.+)"),
    ("less_than_equal", r"Input should be less than or equal to (?P<le>.+)"),
    ("too_short", r"\w+ should have at least (?P<min_length>\d+) items? after validation, not \d+"),
    ("too_long", r"\w+ should have at most (?P<max_length>\d+) items? after validation, not \d+"),
    ("tuple_type", r"Input should be a valid (?:tuple|list|array)"),
    ("model_type", r"Input should be (?:a valid dictionary.*|an object)|must be a JSON object"),
    ("literal_error", r"Input should be (?P<expected>'.*')"),
    ("value_error", r"Value error, (?P<error>.*)"),
)
_WORDING = tuple((kind, re.compile(f"^(?:{regex})$", re.DOTALL)) for kind, regex in PYDANTIC_WORDING)
# fields whose allowed values are an enumeration people know by name
FIELD_KINDS = {"urgency": "urgency", "source": "source", "rating": "rating", "role": "role"}


def pydantic_error(message: str) -> tuple[str, dict] | None:
    """(pydantic error type, its context) of one of pydantic's English messages, or None."""
    for kind, pattern in _WORDING:
        found = pattern.match(message)
        if found:
            return kind, found.groupdict()
    return None


def say_pydantic(kind: str, ctx: Mapping[str, str], field_path: str, text: Text, names: Names) -> str:
    """A pydantic validation error in the reader's words, by error type and field."""
    t = text
    leaf = _without_indexes(field_path)
    if kind == "missing":
        return t.gettext("is required")
    if kind == "extra_forbidden":
        return t.gettext("is not a field of this request")
    if kind == "string_too_short":
        n = int(ctx["min_length"])
        if leaf == "reason":
            return t.ngettext("give a reason of at least %(min_length)s character",
                              "give a reason of at least %(min_length)s characters", n) % {"min_length": n}
        if n == 1:
            return t.gettext("must not be empty")
        return t.ngettext("must be at least %(min_length)s character long",
                          "must be at least %(min_length)s characters long", n) % {"min_length": n}
    if kind == "string_too_long":
        n = int(ctx["max_length"])
        return t.ngettext("must be at most %(max_length)s character long",
                          "must be at most %(max_length)s characters long", n) % {"max_length": n}
    if kind == "string_pattern_mismatch":
        if ctx["pattern"] == CODE:
            return t.gettext("must be a code: lowercase letters, digits, - or _, starting with a letter")
        return t.gettext("must match the pattern %(pattern)s") % {"pattern": ctx["pattern"]}
    if kind == "string_type":
        return t.gettext("must be text")
    if kind == "int_type":
        return t.gettext("must be a whole number")
    if kind == "float_type":
        return t.gettext("must be a number")
    if kind == "bool_type":
        return t.gettext("must be true or false")
    if kind == "greater_than_equal":
        return t.gettext("must be at least %(ge)s") % ctx
    if kind == "less_than_equal":
        return t.gettext("must be at most %(le)s") % ctx
    if kind == "too_short":
        n = int(ctx["min_length"])
        return t.ngettext("needs at least %(min_length)s entry", "needs at least %(min_length)s entries",
                          n) % {"min_length": n}
    if kind == "too_long":
        n = int(ctx["max_length"])
        return t.ngettext("may have at most %(max_length)s entry", "may have at most %(max_length)s entries",
                          n) % {"max_length": n}
    if kind == "tuple_type":
        return t.gettext("must be a list")
    if kind == "model_type":
        return t.gettext("must be an object")
    if kind == "literal_error":
        values = re.findall(r"'([^']*)'", ctx["expected"])
        value_kind = FIELD_KINDS.get(leaf)
        shown = [f"{display(value_kind, v, t, names)} ({v})" if value_kind else v for v in values]
        return t.gettext("must be one of %(values)s") % {"values": t.join(shown, style="or")}
    return t.gettext("is not valid: %(error)s") % ctx       # value_error


def explain(field_path: str, message: str, text: Text, names: Names) -> str:
    """One wire FieldError's message in the reader's language (as it came, if not recognized)."""
    for refusal in REFUSALS:
        params = refusal.match(message)
        if params is not None:
            return refusal.say(params, text, names)
    recognized = pydantic_error(message)
    if recognized:
        return say_pydantic(*recognized, field_path, text, names)
    return message


def _without_indexes(field_path: str) -> str:
    return ".".join(part for part in field_path.split(".") if not part.isdigit())


def field_label(field_path: str, text: Text) -> str:
    """What a person calls the field: 地址 for place.address, 清单 #2 for evidence.checklist.1."""
    labels = _field_labels(text)
    leaf = _without_indexes(field_path)
    name = labels.get(leaf) or labels.get(leaf.rsplit(".", 1)[-1]) or field_path
    indexes = [str(int(p) + 1) for p in field_path.split(".") if p.isdigit()]
    return name + "".join(f" #{i}" for i in indexes)


def _field_labels(t: Text) -> dict[str, str]:
    return {
        "(message)": t.pgettext("field", "the request as a whole"),
        "request_id": t.pgettext("field", "request id"),
        "street_code": t.pgettext("field", "street"),
        "grid_code": t.pgettext("field", "grid"),
        "category": t.pgettext("field", "category"),
        "urgency": t.pgettext("field", "urgency"),
        "source": t.pgettext("field", "source"),
        "description": t.pgettext("field", "description"),
        "place": t.pgettext("field", "place"),
        "address": t.pgettext("field", "address"),
        "lon": t.pgettext("field", "longitude"),
        "lat": t.pgettext("field", "latitude"),
        "location": t.pgettext("field", "location"),
        "reported_by": t.pgettext("field", "reported by"),
        "whistle_id": t.pgettext("field", "whistle"),
        "status": t.pgettext("field", "status"),
        "callout_id": t.pgettext("field", "call-out"),
        "department_code": t.pgettext("field", "department"),
        "departments": t.pgettext("field", "departments"),
        "officer": t.pgettext("field", "officer"),
        "note": t.pgettext("field", "note"),
        "evidence_ref": t.pgettext("field", "evidence"),
        "evidence_refs": t.pgettext("field", "evidence"),
        "summary": t.pgettext("field", "what was done"),
        "reason": t.pgettext("field", "reason"),
        "confirmed_by": t.pgettext("field", "confirmed by"),
        "evidence": t.pgettext("field", "evidence (两图一表)"),
        "evidence.before_photo": t.pgettext("field", "before photo"),
        "evidence.after_photo": t.pgettext("field", "after photo"),
        "evidence.checklist": t.pgettext("field", "checklist"),
        "by": t.pgettext("field", "by"),
        "rating": t.pgettext("field", "rating"),
        "comment": t.pgettext("field", "comment"),
        "reopen": t.pgettext("field", "reopen"),
        "recorded_by": t.pgettext("field", "recorded by"),
        "arbitration_id": t.pgettext("field", "arbitration"),
        "decided_by": t.pgettext("field", "decided by"),
    }

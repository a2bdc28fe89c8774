"""How the contract evolves: events read tolerantly within a version, other versions through upcasters,
commands from outside and what outside systems read kept strict (services/common/events.py)."""
from __future__ import annotations

import pytest

from services.common import events
from services.common.events import (EVENT_TYPES, REPORTS, CalloutIssued, ContractError, Deadlines, Event,
                                    FieldError, Place, RaiseWhistle, ReportOutcome,
                                    WhistleOutcome, current_version, decode_event, parse, upcaster)
from tests.support.samples import whistle_request
from tests.unit.test_events import sample_events

NEWER = {"added_in_a_newer_release": {"any": ["shape"]}}   # what a newer producer may add


def with_unknown_fields(value):
    """The payload as a newer release might write it: an unknown field in every object, nested ones too."""
    if isinstance(value, dict):
        return {**{k: with_unknown_fields(v) for k, v in value.items()}, **NEWER}
    if isinstance(value, list):
        return [with_unknown_fields(v) for v in value]
    return value


@pytest.fixture
def registry(monkeypatch):
    """An empty upcaster registry for one test (the shipped one stays as it is)."""
    monkeypatch.setattr(events, "UPCASTERS", {})
    return events.UPCASTERS


# --- an older consumer, a newer producer: unknown fields are ignored --------------------------------

@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_an_event_with_fields_this_release_does_not_know_reads_as_the_fields_it_knows(event_type):
    event = sample_events()[event_type]
    payload = with_unknown_fields(event.model_dump(mode="json"))
    assert payload["added_in_a_newer_release"] and payload["schema_version"] == 1
    assert decode_event(payload) == event


# --- a newer consumer, an older producer: fields added since take their defaults ----------------------

def added_fields(cls: type[Event]) -> list[str]:
    """Fields a release may have added after others were written: those with a default (identity aside)."""
    return [name for name, field in cls.model_fields.items()
            if name not in Event.model_fields and not field.is_required()]


@pytest.mark.parametrize("event_type", sorted(t for t, cls in EVENT_TYPES.items() if added_fields(cls)))
def test_an_event_written_before_its_optional_fields_existed_reads_with_their_defaults(event_type):
    event = sample_events()[event_type]
    cls = type(event)
    older = {k: v for k, v in event.model_dump(mode="json").items() if k not in added_fields(cls)}
    decoded = decode_event(older)
    for name in added_fields(cls):
        assert getattr(decoded, name) == cls.model_fields[name].get_default(call_default_factory=True)


# --- other versions: upcasters -----------------------------------------------------------------------

def test_no_event_type_is_past_its_first_version_and_none_needs_an_upcaster():
    assert {current_version(cls) for cls in EVENT_TYPES.values()} == {1}
    assert events.UPCASTERS == {}


def test_a_registered_upcaster_reads_another_version_as_the_current_model(registry):
    @upcaster("whistle.raised", 2)
    def reporter_became_an_object(payload: dict) -> dict:
        reporter = payload.pop("reporter")
        return {**payload, "reported_by": reporter["name"]}

    event = sample_events()["whistle.raised"]
    v2 = {**event.model_dump(mode="json"), "schema_version": 2}
    v2["reporter"] = {"name": v2.pop("reported_by"), "role": "grid_worker"}
    decoded = decode_event(v2)
    assert decoded == event and decoded.schema_version == 1
    assert registry == {("whistle.raised", 2): reporter_became_an_object}


def test_an_upcast_payload_is_read_tolerantly_too(registry):
    upcaster("whistle.raised", 2)(lambda payload: payload)
    event = sample_events()["whistle.raised"]
    assert decode_event({**with_unknown_fields(event.model_dump(mode="json")), "schema_version": 2}) == event


@pytest.mark.parametrize("version", [2, 3, 0, "1", None, 1.5])
def test_a_version_without_an_upcaster_is_refused_naming_schema_version_alone(registry, version):
    if version == 3:
        upcaster("callout.issued", 2)(lambda payload: payload)
    payload = {"type": "callout.issued", "schema_version": version}        # nothing else: not looked at
    with pytest.raises(ContractError) as info:
        decode_event(payload)
    assert [e.field for e in info.value.errors] == ["schema_version"]
    message = info.value.errors[0].message
    assert f"version {version!r} of callout.issued is not read by this release (it reads 1" in message
    assert ("through upcasters 2" in message) == (version == 3)


def test_an_upcaster_that_cannot_read_the_payload_is_a_contract_error(registry):
    upcaster("whistle.raised", 2)(lambda payload: {**payload, "reported_by": payload["reporter"]["name"]})
    payload = {**sample_events()["whistle.raised"].model_dump(mode="json"), "schema_version": 2}
    with pytest.raises(ContractError) as info:
        decode_event(payload)
    assert [e.field for e in info.value.errors] == ["schema_version"]
    assert "could not be upcast: KeyError" in info.value.errors[0].message


@pytest.mark.parametrize("event_type, version, problem", [
    ("whistle.exploded", 2, "no event type"),
    ("whistle.raised", 1, "without an upcaster"),
    ("whistle.raised", 0, "not a positive integer"),
    ("whistle.raised", "2", "not a positive integer"),
])
def test_an_upcaster_that_could_never_be_used_is_refused_at_registration(registry, event_type, version, problem):
    with pytest.raises(ValueError, match=problem):
        upcaster(event_type, version)
    assert registry == {}


def test_two_upcasters_for_one_version_are_refused(registry):
    upcaster("whistle.raised", 2)(lambda payload: payload)
    with pytest.raises(ValueError, match="already registered"):
        upcaster("whistle.raised", 2)


# --- outside systems: strict both ways ------------------------------------------------------------------

def test_a_street_command_with_a_field_the_contract_does_not_name_is_refused_naming_it():
    with pytest.raises(ContractError) as info:
        parse(RaiseWhistle, {**whistle_request(), "priority": "high"})
    assert [(e.field, e.message) for e in info.value.errors] == [("priority", "unexpected field")]
    with pytest.raises(ContractError) as info:
        parse(RaiseWhistle, whistle_request(place={"address": "x", "floor": 3}))
    assert [e.field for e in info.value.errors] == ["place.floor"]


@pytest.mark.parametrize("action", sorted(REPORTS))
def test_a_department_report_with_an_unknown_field_is_refused_naming_it(action):
    fields = {"checkin": {"officer": "王建国"}, "arrival": {"officer": "王建国", "location": {"address": "现场"},
                                                          "evidence_ref": "p-1"},
              "completion": {"summary": "处置完毕", "evidence_refs": ["p-2"]}, "return": {"reason": "不属于本部门"}}
    report = {"request_id": "r-1", "callout_id": "c-1", "department_code": "chengguan", **fields[action]}
    assert parse(REPORTS[action], report).callout_id == "c-1"
    with pytest.raises(ContractError) as info:
        parse(REPORTS[action], {**report, "officer_phone": "138"})
    assert [e.field for e in info.value.errors] == ["officer_phone"]


@pytest.mark.parametrize("schema_version", [2, 0])
def test_a_command_at_another_schema_version_is_refused(schema_version):
    with pytest.raises(ContractError) as info:
        parse(RaiseWhistle, {**whistle_request(), "schema_version": schema_version})
    assert [e.field for e in info.value.errors] == ["schema_version"]


def test_the_call_out_as_a_department_reads_it_is_strict():
    """The department client parses call-outs strictly: a field added within version 1 would show."""
    payload = sample_events()["callout.issued"].model_dump(mode="json")
    assert parse(CalloutIssued, payload).callout_id == "c-1"
    with pytest.raises(ContractError) as info:
        parse(CalloutIssued, {**payload, "priority": "high"})
    assert [e.field for e in info.value.errors] == ["priority"]


# What outside systems read, as version 1 publishes it. A change here is a new schema_version,
# announced to the streets and departments first: their systems validate against the published schema.
PUBLISHED_V1 = {
    CalloutIssued: {"type", "event_id", "occurred_at", "schema_version", "callout_id", "whistle_id",
                    "department_code", "department_name_zh", "role", "category", "category_name_zh", "urgency",
                    "street_code", "grid_code", "place", "description", "joint_enforcement", "departments",
                    "deadlines", "issued_at", "matrix_version", "round", "reason"},
    WhistleOutcome: {"type", "event_id", "occurred_at", "schema_version", "request_id", "street_code", "outcome",
                     "whistle_id", "repeated", "linked_to", "errors"},
    ReportOutcome: {"type", "event_id", "occurred_at", "schema_version", "action", "request_id", "callout_id",
                    "department_code", "outcome", "repeated", "errors"},
    Place: {"address", "lon", "lat"},
    Deadlines: {"check_in_by", "arrival_by", "completion_by"},
    FieldError: {"field", "message"},
}


@pytest.mark.parametrize("model", PUBLISHED_V1, ids=lambda m: m.__name__)
def test_what_outside_systems_read_does_not_change_within_version_1(model):
    assert set(model.model_fields) == PUBLISHED_V1[model], (
        f"{model.__name__} is read by outside systems against its published schema: a change is a new "
        f"schema_version with an upcaster, announced to them first (README, Production)")
    if issubclass(model, Event):
        assert current_version(model) == 1

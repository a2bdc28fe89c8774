"""The event contract: ids, timestamps, routes, and decoding that names every bad field."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services.common.events import (
    ASSIGNMENTS,
    CALLOUTS,
    CHECKINS,
    EVENT_TYPES,
    EVENTS,
    HOTLINE,
    MAX_TEXT,
    SCHEMA_VERSION,
    WHISTLES,
    AllCheckedIn,
    AllCompleted,
    ArbitrationDecided,
    ArbitrationOpened,
    ArbitrationOverdue,
    CalloutArrived,
    CalloutCheckedIn,
    CalloutCompleted,
    CalloutEscalated,
    CalloutIssued,
    CalloutReturned,
    CalloutsIssued,
    ContractError,
    Deadlines,
    Event,
    Evidence,
    FieldError,
    FollowUpRecorded,
    GridEventAccepted,
    GridEventClosed,
    GridEventHandled,
    GridEventOpened,
    GridEventOverdue,
    GridEventPassedUp,
    GridEventReopened,
    GridEventVerified,
    GridEventWhistled,
    IssuedCallout,
    MemberCheckedIn,
    MemberOutcome,
    MemberReplaced,
    OfficerAssigned,
    Place,
    RaiseWhistle,
    ReportOutcome,
    RosterGap,
    RosterGapEscalated,
    TeamAssembled,
    TeamOfficer,
    TeamReleased,
    TicketAnswered,
    TicketReceipt,
    WhistleClosed,
    WhistleLinked,
    WhistleOutcome,
    WhistleRaised,
    WhistleReopened,
    WhistleSentBack,
    decode_event,
    encode,
    parse,
    route_of,
)
from tests.support.samples import whistle_request

BEIJING = timezone(timedelta(hours=8))
T0 = datetime(2025, 3, 14, 9, 30, tzinfo=BEIJING)      # 2025-03-14T01:30:00Z
T0_Z = "2025-03-14T01:30:00Z"
PLACE = Place(address="大溪沟街道人和街12号", lon=106.5516, lat=29.5630)
STEP = dict(callout_id="c-1", whistle_id="w-1", department_code="chengguan", street_code="daxigou",
            category="garbage_dumping", urgency="normal", issued_at=T0)
MEMBER = TeamOfficer(officer_code="chengguan-01", name="王建国", department_code="chengguan", badge="CG0001")
TEAM = dict(team_id="t-1", kind="whistle", whistle_id="w-1", street_code="daxigou", category="illegal_construction")


def sample_events() -> dict[str, Event]:
    """One instance of every event type, with +08:00 timestamps (they must come out as UTC)."""
    deadlines = Deadlines(check_in_by=T0 + timedelta(minutes=30), arrival_by=T0 + timedelta(hours=24),
                          completion_by=T0 + timedelta(days=9))
    events = [
        WhistleOutcome(request_id="req-1", street_code="daxigou", outcome="raised", whistle_id="w-1",
                       occurred_at=T0),
        WhistleRaised(whistle_id="w-1", request_id="req-1", street_code="daxigou", grid_code="daxigou-c1-g1",
                      category="garbage_dumping", urgency="normal", source="grid_patrol",
                      description="巷口有人倾倒建筑垃圾", place=PLACE, reported_by="网格员 王芳",
                      raised_at=T0, occurred_at=T0),
        CalloutIssued(callout_id="c-1", whistle_id="w-1", department_code="chengguan",
                      department_name_zh="区城管执法局", role="lead", category="garbage_dumping",
                      category_name_zh="垃圾乱倒", urgency="normal", street_code="daxigou",
                      grid_code="daxigou-c1-g1", place=PLACE, description="巷口有人倾倒建筑垃圾",
                      joint_enforcement=False, departments=("chengguan", "shengtai", "huanwei"),
                      deadlines=deadlines, issued_at=T0, matrix_version="abc123def456", occurred_at=T0),
        CalloutCheckedIn(callout_id="c-1", whistle_id="w-1", department_code="chengguan",
                         street_code="daxigou", category="garbage_dumping", urgency="normal", officer="王建国",
                         issued_at=T0, checked_in_at=T0 + timedelta(minutes=10),
                         check_in_by=T0 + timedelta(minutes=30), on_time=True, occurred_at=T0),
        ReportOutcome(action="checkin", request_id="ci-1", callout_id="c-1", department_code="chengguan",
                      outcome="accepted", occurred_at=T0),
        AllCheckedIn(whistle_id="w-1", street_code="daxigou", departments=("chengguan", "shengtai"),
                     first_issued_at=T0, last_checked_in_at=T0 + timedelta(minutes=20), occurred_at=T0),
        TeamAssembled(**TEAM, lead=MEMBER, members=(MEMBER,), gaps=("guihua",), formed_at=T0, assembled_at=T0,
                      occurred_at=T0),
        OfficerAssigned(**TEAM, department_code="chengguan", department_name_zh="区城管执法局", officer=MEMBER,
                        role="lead", lead=MEMBER, urgency="urgent", place=PLACE, assigned_at=T0,
                        check_in_by=T0 + timedelta(minutes=30), occurred_at=T0),
        MemberCheckedIn(**TEAM, department_code="chengguan", officer=MEMBER, checked_in_at=T0, check_in_by=T0,
                        on_time=True, occurred_at=T0),
        MemberReplaced(**TEAM, department_code="chengguan", officer=MEMBER, reason="no_show",
                       replaced_by="chengguan-02", replaced_at=T0, occurred_at=T0),
        RosterGap(**TEAM, department_code="guihua", role="support", reason="nobody_on_duty", urgency="urgent",
                  detected_at=T0, occurred_at=T0),
        TeamReleased(**TEAM, department_code="chengguan", officer=MEMBER, whole=True, released_at=T0,
                     occurred_at=T0),
        RosterGapEscalated(**TEAM, department_code="guihua", urgency="urgent", reason="nobody_on_duty",
                           detected_at=T0, level=1, tier="street", chased_by="daxigou",
                           chased_by_name_zh="街道吹哨报到工作专班", escalated_at=T0, occurred_at=T0),
        MemberOutcome(action="member_checkin", request_id="m-1", team_id="t-1", department_code="chengguan",
                      officer_code="chengguan-01", outcome="accepted", occurred_at=T0),
        WhistleLinked(whistle_id="w-2", linked_to="w-1", street_code="daxigou", category="garbage_dumping",
                      distance_m=42.0, occurred_at=T0),
        CalloutsIssued(whistle_id="w-1", street_code="daxigou", community_code="daxigou-c1",
                       grid_code="daxigou-c1-g1", category="garbage_dumping", urgency="normal",
                       joint_enforcement=False, departments=("chengguan", "shengtai", "huanwei"),
                       located_by="map", callouts=(IssuedCallout(callout_id="c-1", department_code="chengguan",
                                                                 department_name_zh="区城管执法局", role="lead",
                                                                 deadlines=deadlines, issued_at=T0),),
                       occurred_at=T0),
        CalloutArrived(**STEP, officer="王建国", location=PLACE, evidence_ref="photo-1", arrived_at=T0,
                       arrival_by=T0, on_time=True, occurred_at=T0),
        CalloutCompleted(**STEP, summary="清运完毕", evidence_refs=("photo-2",), completed_at=T0,
                         completion_by=T0, on_time=True, occurred_at=T0),
        CalloutReturned(**STEP, reason="不属于本部门职责", returned_at=T0, rerouted_to="huanwei", occurred_at=T0),
        CalloutEscalated(**STEP, step="check_in", due_at=T0, level=1, tier="street", chased_by="daxigou",
                         chased_by_name_zh="街道吹哨报到工作专班", escalated_at=T0, occurred_at=T0),
        ArbitrationOpened(arbitration_id="a-1", whistle_id="w-1", street_code="daxigou",
                          category="garbage_dumping", reason="disputed_place",
                          candidates=("daxigou-c2-g2", "nanxiashu-c1-g1"), decide_by=T0, occurred_at=T0),
        ArbitrationOverdue(arbitration_id="a-1", whistle_id="w-1", street_code="daxigou", reason="disputed_place",
                           decide_by=T0, chased_by="city", chased_by_name_zh="市委市政府督查室(12345)",
                           escalated_at=T0, occurred_at=T0),
        ArbitrationDecided(arbitration_id="a-1", whistle_id="w-1", street_code="daxigou", decided_by="区城管委",
                           grid_code="daxigou-c2-g2", department_code=None, decided_at=T0, occurred_at=T0),
        AllCompleted(whistle_id="w-1", street_code="daxigou", departments=("chengguan",), round=1,
                     completed_at=T0, occurred_at=T0),
        WhistleClosed(whistle_id="w-1", street_code="daxigou", confirmed_by="街道 李主任",
                      evidence=Evidence(before_photo="b.jpg", after_photo="a.jpg", checklist=("清运",)),
                      closed_at=T0, occurred_at=T0),
        WhistleSentBack(whistle_id="w-1", street_code="daxigou", by="街道 李主任", reason="仍有垃圾",
                        departments=(), sent_back_at=T0, occurred_at=T0),
        FollowUpRecorded(whistle_id="w-1", street_code="daxigou", rating="unsatisfied", comment=None,
                         recorded_by="12345", reopened=True, occurred_at=T0),
        WhistleReopened(whistle_id="w-1", street_code="daxigou", reason="回访不满意", reopened_at=T0,
                        occurred_at=T0),
        *grid_samples(),
    ]
    return {e.event_type: e for e in events}


GRID = dict(grid_event_id="e-1", street_code="daxigou", community_code="daxigou-c1", grid_code="daxigou-c1-g1",
            category="garbage_dumping", source="hotline_12345", tier="grid", ticket_id="BJ12345-0007")


def grid_samples() -> list[Event]:
    """One instance of every event below the whistle (grid events, 12345 receipts and answers)."""
    return [
        GridEventOpened(**GRID, request_id="ticket-BJ12345-0007", place=PLACE, reported_by="12345热线", opened_at=T0,
                        accept_by=T0 + timedelta(hours=2), verification="pending", occurred_at=T0),
        GridEventVerified(**GRID, by="执法队员 李强", role="street_team", outcome="confirmed",
                          photo_ref="photo://check/1", verified_at=T0, occurred_at=T0),
        GridEventAccepted(**GRID, by="网格员 王芳", accepted_at=T0, handle_by=T0 + timedelta(days=1), signed_for=True,
                          occurred_at=T0),
        GridEventPassedUp(**{**GRID, "tier": "community"}, from_tier="grid", reason="需社区协调", by="网格员 王芳",
                          automatic=False, passed_up_at=T0, accept_by=T0 + timedelta(hours=4), occurred_at=T0),
        GridEventOverdue(**{**GRID, "tier": "street"}, missed="accept", due_at=T0, flagged_at=T0, occurred_at=T0),
        GridEventHandled(**GRID, by="网格员 王芳", summary="已清运", evidence_refs=("photo://done/1",), handled_at=T0,
                         handle_by=T0, on_time=True, occurred_at=T0),
        GridEventWhistled(**{**GRID, "tier": "street"}, whistle_id="w-1", linked=False, by="街道主任 赵敏",
                          whistled_at=T0, occurred_at=T0),
        GridEventClosed(**GRID, outcome="handled", resolved_by="grid", by="网格员 王芳", summary="已清运", opened_at=T0,
                        signed_for_at=T0, handled_at=T0, closed_at=T0, passed_up=0, seconds_to_close=0.0,
                        occurred_at=T0),
        GridEventReopened(**{**GRID, "tier": "street"}, whistle_id="w-1", reason="回访不满意", reopened_at=T0,
                          occurred_at=T0),
        TicketReceipt(ticket_id="BJ12345-0007", street_code="daxigou", outcome="accepted", grid_event_id="e-1",
                      occurred_at=T0),
        TicketAnswered(ticket_id="BJ12345-0007", grid_event_id="e-1", street_code="daxigou", answer_no=1,
                       outcome="resolved", resolved_by="whistle", summary="经吹哨处置", whistle_id="w-1",
                       hotline_class="ordinary", received_at=T0, signed_for_at=T0, completed_at=T0, due_at=T0,
                       on_time=True, signed_within_24h=True, completed_within_7d=True, occurred_at=T0),
    ]


def test_samples_cover_every_event_type():
    assert set(sample_events()) == set(EVENT_TYPES)


# --- identity, time, type ------------------------------------------------------------------------

def test_every_event_gets_a_unique_event_id():
    ids = {WhistleOutcome(request_id="r", street_code="daxigou", outcome="raised").event_id for _ in range(50)}
    assert len(ids) == 50
    assert all(ids)


def test_occurred_at_defaults_to_now_in_utc():
    before = datetime.now(timezone.utc)
    event = WhistleOutcome(request_id="r", street_code="daxigou", outcome="raised")
    after = datetime.now(timezone.utc)
    assert before <= event.occurred_at <= after
    assert event.occurred_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_occurred_at_serialises_as_utc_iso_ending_in_z(event_type):
    event = sample_events()[event_type]
    dumped = event.model_dump(mode="json")
    assert dumped["occurred_at"] == T0_Z
    assert f'"occurred_at":"{T0_Z}"'.encode() in encode(event)


def test_every_timestamp_field_serialises_as_utc_z():
    events = sample_events()
    assert events["whistle.raised"].model_dump(mode="json")["raised_at"] == T0_Z
    issued = events["callout.issued"].model_dump(mode="json")
    assert issued["issued_at"] == T0_Z
    assert issued["deadlines"] == {"check_in_by": "2025-03-14T02:00:00Z", "arrival_by": "2025-03-15T01:30:00Z",
                                   "completion_by": "2025-03-23T01:30:00Z"}
    checked = events["callout.checked_in"].model_dump(mode="json")
    assert (checked["issued_at"], checked["checked_in_at"], checked["check_in_by"]) == (
        T0_Z, "2025-03-14T01:40:00Z", "2025-03-14T02:00:00Z")
    all_in = events["whistle.all_checked_in"].model_dump(mode="json")
    assert (all_in["first_issued_at"], all_in["last_checked_in_at"]) == (T0_Z, "2025-03-14T01:50:00Z")


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_type_and_schema_version_are_set(event_type):
    event = sample_events()[event_type]
    assert event.type == event_type == type(event).event_type
    dumped = event.model_dump(mode="json")
    assert dumped["type"] == event_type
    assert dumped["schema_version"] == SCHEMA_VERSION == 1


def test_a_type_that_does_not_match_the_class_is_refused():
    with pytest.raises(ContractError) as info:
        parse(WhistleOutcome, {"type": "whistle.raised", "request_id": "r", "street_code": "daxigou",
                               "outcome": "raised"})
    assert [e.field for e in info.value.errors] == ["type"]


# --- routes --------------------------------------------------------------------------------------

def test_route_of_whistle_outcome():
    raised = WhistleOutcome(request_id="r", street_code="nanxiashu", outcome="raised", whistle_id="w")
    rejected = WhistleOutcome(request_id="r", street_code="daxigou", outcome="rejected")
    assert (route_of(raised).exchange, route_of(raised).routing_key) == (WHISTLES, "outcome.nanxiashu.raised")
    assert (route_of(rejected).exchange, route_of(rejected).routing_key) == (WHISTLES, "outcome.daxigou.rejected")


@pytest.mark.parametrize("department, urgency", [("chengguan", "normal"), ("xiaofang", "emergency")])
def test_route_of_callout_issued(department, urgency):
    event = sample_events()["callout.issued"].model_copy(update={"department_code": department,
                                                                 "urgency": urgency})
    route = route_of(event)
    assert (route.exchange, route.routing_key) == (CALLOUTS, f"callout.{department}.{urgency}")


@pytest.mark.parametrize("outcome", ["accepted", "rejected"])
def test_route_of_check_in_outcome(outcome):
    event = ReportOutcome(action="checkin", request_id=None, callout_id=None, department_code="gongan", outcome=outcome)
    route = route_of(event)
    assert (route.exchange, route.routing_key) == (CHECKINS, f"outcome.gongan.{outcome}")


@pytest.mark.parametrize("outcome", ["accepted", "rejected"])
def test_route_of_a_ticket_receipt_and_answer_is_the_hotline_exchange_by_street(outcome):
    receipt = sample_events()["ticket.receipt"].model_copy(update={"street_code": "nanxiashu", "outcome": outcome})
    assert (route_of(receipt).exchange, route_of(receipt).routing_key) == (HOTLINE, f"receipt.nanxiashu.{outcome}")
    answer = sample_events()["ticket.answered"]
    assert (route_of(answer).exchange, route_of(answer).routing_key) == (HOTLINE, "answer.daxigou")


@pytest.mark.parametrize("event_type", ["whistle.raised", "callout.checked_in", "whistle.all_checked_in",
                                        "team.assembled", "team.member_checked_in", "roster.gap",
                                        "roster.gap_escalated", "grid_event.opened", "grid_event.closed"])
def test_route_of_other_events_is_the_events_exchange_by_type(event_type):
    route = route_of(sample_events()[event_type])
    assert (route.exchange, route.routing_key) == (EVENTS, event_type)


@pytest.mark.parametrize("event_type, exchange, key", [
    ("team.officer_assigned", ASSIGNMENTS, "assignment.chengguan.urgent"),
    ("team.member_replaced", ASSIGNMENTS, "replaced.chengguan"),
    ("team.released", ASSIGNMENTS, "released.chengguan"),
    ("member.outcome", CHECKINS, "outcome.chengguan.accepted"),
])
def test_a_team_member_s_events_go_to_their_own_department(event_type, exchange, key):
    route = route_of(sample_events()[event_type])
    assert (route.exchange, route.routing_key) == (exchange, key)


# --- decoding ------------------------------------------------------------------------------------

@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_decode_event_round_trips(event_type):
    event = sample_events()[event_type]
    payload = event.model_dump(mode="json")
    decoded = decode_event(payload)
    assert type(decoded) is type(event)
    assert decoded == event
    assert decoded.event_id == event.event_id
    assert decoded.model_dump(mode="json") == payload


def fields_of(exc_info) -> set[str]:
    errors = exc_info.value.errors
    assert errors and all(isinstance(e, FieldError) for e in errors)
    return {e.field for e in errors}


def payload_of(event_type: str) -> dict:
    return sample_events()[event_type].model_dump(mode="json")


@pytest.mark.parametrize("kind", ["whistle.exploded", None, 42])
def test_decode_event_rejects_an_unknown_type(kind):
    payload = payload_of("whistle.raised")
    payload["type"] = kind
    with pytest.raises(ContractError) as info:
        decode_event(payload)
    assert fields_of(info) == {"type"}
    assert "unknown event type" in str(info.value)


def test_decode_event_rejects_a_payload_without_type_or_not_an_object():
    payload = payload_of("whistle.raised")
    del payload["type"]
    with pytest.raises(ContractError) as info:
        decode_event(payload)
    assert fields_of(info) == {"type"}
    with pytest.raises(ContractError):
        decode_event(["whistle.raised"])  # type: ignore[arg-type]


def test_decode_event_rejects_a_future_schema_version():
    payload = payload_of("callout.issued")
    payload["schema_version"] = 2
    with pytest.raises(ContractError) as info:
        decode_event(payload)
    assert fields_of(info) == {"schema_version"}


@pytest.mark.parametrize("event_type, missing", [("whistle.raised", "category"), ("callout.issued", "deadlines"),
                                                 ("callout.checked_in", "on_time"),
                                                 ("team.assembled", "lead")])
def test_decode_event_rejects_a_missing_field(event_type, missing):
    payload = payload_of(event_type)
    del payload[missing]
    with pytest.raises(ContractError) as info:
        decode_event(payload)
    assert fields_of(info) == {missing}


def test_decode_event_names_a_missing_nested_field():
    payload = payload_of("callout.issued")
    del payload["deadlines"]["arrival_by"]
    with pytest.raises(ContractError) as info:
        decode_event(payload)
    assert fields_of(info) == {"deadlines.arrival_by"}


def test_decode_event_ignores_a_field_it_does_not_know():
    """Events are read tolerantly (tests/unit/test_schema_evolution.py has the rest of the rule)."""
    event = sample_events()["whistle.raised"]
    payload = {**event.model_dump(mode="json"), "priority": "high"}
    assert decode_event(payload) == event


@pytest.mark.parametrize("field", ["occurred_at", "raised_at"])
def test_decode_event_rejects_a_naive_datetime(field):
    payload = payload_of("whistle.raised")
    payload[field] = "2025-03-14T09:30:00"
    with pytest.raises(ContractError) as info:
        decode_event(payload)
    assert fields_of(info) == {field}


def test_decode_event_names_every_bad_field_at_once():
    payload = payload_of("whistle.raised")
    payload["urgency"] = "whenever"
    del payload["street_code"]
    payload["place"]["lat"] = 91
    with pytest.raises(ContractError) as info:
        decode_event(payload)
    assert fields_of(info) == {"urgency", "street_code", "place.lat"}
    for name in ("urgency", "street_code", "place.lat"):
        assert name in str(info.value)


# --- commands ------------------------------------------------------------------------------------

def test_parse_accepts_the_sample_request():
    command = parse(RaiseWhistle, whistle_request())
    assert command.street_code == "daxigou"
    assert command.place.address == "大溪沟街道人和街12号"


def test_parse_accepts_a_description_of_exactly_max_text():
    assert len(parse(RaiseWhistle, whistle_request(description="x" * MAX_TEXT)).description) == MAX_TEXT


@pytest.mark.parametrize("overrides, field", [
    ({"description": "x" * (MAX_TEXT + 1)}, "description"),
    ({"urgency": "asap"}, "urgency"),
    ({"source": "twitter"}, "source"),
    ({"street_code": "Daxigou!"}, "street_code"),
    ({"place": {"address": "x", "lat": 91}}, "place.lat"),
])
def test_parse_raise_whistle_names_the_bad_field(overrides, field):
    with pytest.raises(ContractError) as info:
        parse(RaiseWhistle, whistle_request(**overrides))
    assert fields_of(info) == {field}


@pytest.mark.parametrize("payload", [["not", "an", "object"], "text", None, 42])
def test_parse_rejects_a_non_object_payload(payload):
    with pytest.raises(ContractError) as info:
        parse(RaiseWhistle, payload)
    assert fields_of(info) == {"(message)"}
    assert "JSON object" in info.value.errors[0].message

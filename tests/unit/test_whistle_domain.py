"""Whistle rules: validity against the reference data, sender checks, rejections, and progress."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services.common.events import (AllCheckedIn, CalloutCheckedIn, CalloutsIssued, IssuedCallout, ReportOutcome,
                                    Deadlines,
                                    FieldError, Place, RaiseWhistle, TeamAssembled, TeamOfficer,
                                    WhistleOutcome, WhistleRaised, parse, route_of)
from services.common.reference import load_reference
from services.whistle.domain import (STATUSES, TimelineEntry, WhistleState, check_against_reference,
                                     rejected_outcome, street_in_routing_key, verify_sender)
from services.whistle.domain import apply_progress as apply_to_state
from tests.support.samples import whistle_request

NOW = datetime(2025, 3, 14, 1, 30, tzinfo=timezone.utc)
PLACE = Place(address="大溪沟街道人和街12号")


@pytest.fixture(scope="module")
def ref():
    return load_reference()


def command(**overrides) -> RaiseWhistle:
    return parse(RaiseWhistle, whistle_request(**overrides))


# --- against the reference data ------------------------------------------------------------------

def test_a_valid_whistle_passes(ref):
    assert check_against_reference(command(), ref) == ()


def test_a_whistle_without_grid_passes(ref):
    assert check_against_reference(command(grid_code=None), ref) == ()


def test_unknown_street_is_named(ref):
    errors = check_against_reference(command(street_code="atlantis", grid_code=None), ref)
    assert [e.field for e in errors] == ["street_code"]
    assert "atlantis" in errors[0].message


def test_grid_of_another_street_is_named(ref):
    errors = check_against_reference(command(street_code="daxigou", grid_code="nanxiashu-c1-g1"), ref)
    assert [e.field for e in errors] == ["grid_code"]
    assert "nanxiashu-c1-g1" in errors[0].message and "daxigou" in errors[0].message


def test_unknown_category_is_named(ref):
    errors = check_against_reference(command(category="alien_landing"), ref)
    assert [e.field for e in errors] == ["category"]
    assert "alien_landing" in errors[0].message


def test_every_problem_is_named_at_once(ref):
    errors = check_against_reference(command(street_code="atlantis", category="alien_landing"), ref)
    assert [e.field for e in errors] == ["street_code", "category"]


# --- the sender ----------------------------------------------------------------------------------

@pytest.mark.parametrize("key, street", [
    ("raise.daxigou", "daxigou"),
    ("raise.jinhaihu", "jinhaihu"),
    ("raise.", None),
    ("raise.Daxigou", None),
    ("raise.daxigou.extra", None),
    ("outcome.daxigou", None),
    ("daxigou", None),
    ("", None),
])
def test_street_in_routing_key(key, street):
    assert street_in_routing_key(key) == street


def test_verify_sender_accepts_the_own_routing_key():
    assert verify_sender(command(street_code="daxigou"), "raise.daxigou") == ()


@pytest.mark.parametrize("key", ["raise.nanxiashu", "raise.", "raise.*", "checkin.daxigou"])
def test_verify_sender_refuses_another_routing_key(key):
    errors = verify_sender(command(street_code="daxigou"), key)
    assert [e.field for e in errors] == ["street_code"]
    assert key in errors[0].message


# --- rejections ----------------------------------------------------------------------------------

ERRORS = (FieldError(field="urgency", message="bad"),)


def test_rejected_outcome_carries_request_id_street_and_errors():
    outcome = rejected_outcome({"request_id": "req-7"}, "raise.nanxiashu", ERRORS)
    assert isinstance(outcome, WhistleOutcome)
    assert (outcome.request_id, outcome.street_code, outcome.outcome) == ("req-7", "nanxiashu", "rejected")
    assert outcome.errors == ERRORS
    assert outcome.whistle_id is None
    assert route_of(outcome).routing_key == "outcome.nanxiashu.rejected"


@pytest.mark.parametrize("payload", [{}, {"request_id": None}, {"request_id": 42}, {"request_id": ""}])
def test_rejected_outcome_without_request_id_says_missing(payload):
    assert rejected_outcome(payload, "raise.daxigou", ERRORS).request_id == "(missing)"


def test_rejected_outcome_with_blank_request_id_says_missing():
    assert rejected_outcome({"request_id": "   "}, "raise.daxigou", ERRORS).request_id == "(missing)"


def test_rejected_outcome_truncates_a_huge_request_id():
    assert rejected_outcome({"request_id": "r" * 1000}, "raise.daxigou", ERRORS).request_id == "r" * 128


def test_rejected_outcome_uses_the_routing_key_street_not_the_payload():
    outcome = rejected_outcome({"request_id": "r", "street_code": "jinhaihu"}, "raise.daxigou", ERRORS)
    assert outcome.street_code == "daxigou"


def test_rejected_outcome_on_a_malformed_key_names_street_unknown():
    assert rejected_outcome({"request_id": "r"}, "raise.NOPE", ERRORS).street_code == "unknown"


# --- progress ------------------------------------------------------------------------------------

def apply_progress(status: str, event):
    """The status and timeline line after one event, for a round-1 whistle raised at NOW."""
    state = WhistleState(whistle_id="w-1", street_code="daxigou", status=status, round=1, round_started_at=NOW)
    new, [entry] = apply_to_state(state, event)
    return new.status, entry


def issued(department="chengguan", role="lead", at=NOW) -> CalloutsIssued:
    return CalloutsIssued(
        whistle_id="w-1", street_code="daxigou", community_code=None, grid_code=None, category="garbage_dumping",
        urgency="emergency", joint_enforcement=False, departments=("chengguan", "shengtai"),
        callouts=(IssuedCallout(
            callout_id=f"c-{department}", department_code=department, department_name_zh="区城管执法局", role=role,
            deadlines=Deadlines(check_in_by=at + timedelta(minutes=30), arrival_by=at + timedelta(minutes=30),
                                completion_by=at + timedelta(hours=2)), issued_at=at),),
        occurred_at=at)


def checked_in(department="shengtai", on_time=True, at=NOW + timedelta(minutes=10)) -> CalloutCheckedIn:
    return CalloutCheckedIn(
        callout_id=f"c-{department}", whistle_id="w-1", department_code=department, street_code="daxigou",
        category="garbage_dumping", urgency="emergency", officer="马超", issued_at=NOW, checked_in_at=at,
        check_in_by=NOW + timedelta(minutes=30), on_time=on_time, occurred_at=at)


def all_checked_in(at=NOW + timedelta(minutes=20)) -> AllCheckedIn:
    return AllCheckedIn(whistle_id="w-1", street_code="daxigou", departments=("chengguan", "shengtai"),
                        first_issued_at=NOW, last_checked_in_at=at, occurred_at=at)


def team(gaps=()) -> TeamAssembled:
    lead = TeamOfficer(officer_code="chengguan-01", name="王建国", department_code="chengguan", badge="CG0001")
    other = TeamOfficer(officer_code="shengtai-01", name="马超", department_code="shengtai", badge="ST0001")
    return TeamAssembled(team_id="t-1", kind="whistle", whistle_id="w-1", street_code="daxigou",
                         category="garbage_dumping", lead=lead, members=(lead, other), gaps=gaps,
                         formed_at=NOW, assembled_at=NOW + timedelta(minutes=5), occurred_at=NOW + timedelta(minutes=6))


def test_callout_issued_dispatches_with_the_department_as_actor():
    status, entry = apply_progress("raised", issued())
    assert status == "dispatched"
    assert isinstance(entry, TimelineEntry)
    assert (entry.at, entry.kind, entry.actor) == (NOW, "callout.issued", "chengguan")
    assert entry.detail["callout_id"] == "c-chengguan"
    assert entry.detail["role"] == "lead" and entry.detail["round"] == 1 and entry.detail["reason"] == "matrix"
    assert entry.detail["deadlines"]["check_in_by"] == "2025-03-14T02:00:00Z"


def test_callout_checked_in_names_the_department_and_officer():
    status, entry = apply_progress("dispatched", checked_in())
    assert status == "dispatched"
    assert (entry.at, entry.kind, entry.actor) == (NOW + timedelta(minutes=10), "callout.checked_in", "shengtai")
    assert entry.detail == {"callout_id": "c-shengtai", "officer": "马超", "on_time": True}
    assert "马超" in entry.summary and "超时" not in entry.summary


def test_a_late_check_in_says_so():
    _, entry = apply_progress("dispatched", checked_in(on_time=False))
    assert entry.summary.endswith("（超时）")              # the stored summary is the zh-CN line
    assert entry.params["on_time"] is False and entry.detail["on_time"] is False


def test_all_checked_in_is_told_by_dispatch():
    status, entry = apply_progress("dispatched", all_checked_in())
    assert status == "all_checked_in"
    assert (entry.at, entry.kind, entry.actor) == (NOW + timedelta(minutes=20), "whistle.all_checked_in",
                                                   "dispatch")
    assert entry.detail == {"departments": ["chengguan", "shengtai"]}


@pytest.mark.parametrize("status", STATUSES)
def test_team_assembled_is_told_by_roster_and_keeps_the_status(status):
    new, entry = apply_progress(status, team(gaps=("huanwei",)))
    assert new == status
    assert (entry.at, entry.kind, entry.actor) == (NOW + timedelta(minutes=5), "team.assembled", "roster")
    assert entry.detail == {"team_id": "t-1", "round": 1, "gaps": ["huanwei"],
                            "members": ["chengguan-01", "shengtai-01"]}
    assert "王建国" in entry.summary and "huanwei" in entry.summary and entry.message == "team.on_site.gaps"


def test_an_old_callout_issued_after_all_checked_in_keeps_all_checked_in():
    status, _ = apply_progress("all_checked_in", issued(at=NOW - timedelta(hours=1)))
    assert status == "all_checked_in"


def test_a_late_check_in_after_all_checked_in_keeps_all_checked_in():
    assert apply_progress("all_checked_in", checked_in())[0] == "all_checked_in"


def test_status_only_moves_forward_through_any_order_of_events():
    events = [all_checked_in(), issued(), checked_in(), team(), issued("shengtai", "support")]
    status = "raised"
    seen = []
    for event in events:
        status, _ = apply_progress(status, event)
        seen.append(status)
    assert seen == ["all_checked_in"] * len(events)
    ranks = [STATUSES.index(s) for s in seen]
    assert ranks == sorted(ranks)


@pytest.mark.parametrize("event", [
    WhistleOutcome(request_id="r", street_code="daxigou", outcome="raised"),
    ReportOutcome(action="checkin", request_id="r", callout_id="c", department_code="chengguan",
                  outcome="accepted"),
    WhistleRaised(whistle_id="w", request_id="r", street_code="daxigou", grid_code=None, category="noise",
                  urgency="normal", source="hotline_12345", description="d", place=PLACE, reported_by="x",
                  raised_at=NOW),
], ids=lambda e: e.event_type)
def test_an_unsupported_event_is_a_type_error(event):
    with pytest.raises(TypeError, match=type(event).__name__):
        apply_progress("raised", event)

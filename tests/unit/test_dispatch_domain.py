"""Dispatch rules, pure: issuing call-outs, each department's lifecycle, re-routing of returns,
whistle-level progress, who is recalled for a new round. No database, no broker, the clock passed in."""
from __future__ import annotations

import copy
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from services.common.events import (AllCheckedIn, AllCompleted, Arrive, CalloutArrived, CalloutCheckedIn,
                                    CalloutCompleted, CalloutIssued, CalloutReturned, CheckIn, Complete, Place,
                                    Return)
from services.common.reference import DEFAULT_PATH, ReferenceData, parse_reference
from services.dispatch.domain import (Arbitrate, Callout, Case, IllegalStep, Reroute, act, department_in_routing_key,
                                      departments_to_recall, issue, progress, reopen_round)
from services.dispatch.matrix import Matrix

UTC = timezone.utc
NOW = datetime(2024, 3, 1, 7, 0, tzinfo=UTC)          # Friday 15:00 in Beijing
SHIPPED_TEXT = Path(DEFAULT_PATH).read_text(encoding="utf-8")
SHIPPED_RAW = yaml.safe_load(SHIPPED_TEXT)
SECOND = timedelta(seconds=1)
TINY = timedelta(microseconds=1)


def weekdays(day: date) -> bool:
    return day.weekday() < 5


@pytest.fixture(scope="module")
def ref() -> ReferenceData:
    return parse_reference(SHIPPED_TEXT)


@pytest.fixture(scope="module")
def matrix(ref) -> Matrix:
    return Matrix.from_reference(ref)


@pytest.fixture(scope="module")
def names(ref) -> dict[str, str]:
    return {d.code: d.name_zh for d in ref.departments}


def make_case(matrix: Matrix, category="garbage_dumping", urgency="emergency", street="daxigou", **changes) -> Case:
    case = Case(whistle_id="w-1", street_code=street, community_code=f"{street}-c1", grid_code=f"{street}-c1-g1",
                category=category, urgency=urgency, place=Place(address="人和街12号", lon=106.54, lat=29.56),
                description="巷口有人倾倒建筑垃圾", raised_at=NOW - timedelta(minutes=2),
                matrix_version=matrix.version)
    return replace(case, **changes)


def issue_all(ref, matrix, names, case: Case, now=NOW, reason="matrix", departments=None, everyone=None,
              role=None):
    departments = departments or matrix.assignment(case.street_code, case.category)
    return issue(case, matrix, ref.urgencies[case.urgency], weekdays, now, departments, reason, names, everyone,
                 role)


def checkin(c: Callout, request_id=None, department=None) -> CheckIn:
    return CheckIn(callout_id=c.callout_id, department_code=department or c.department_code, officer="王建国",
                   request_id=request_id)


def arrive(c: Callout, request_id=None, department=None) -> Arrive:
    return Arrive(callout_id=c.callout_id, department_code=department or c.department_code, officer="王建国",
                  location=Place(address="人和街12号", lon=106.5417, lat=29.5625), evidence_ref="photo-1",
                  request_id=request_id)


def complete(c: Callout, request_id=None, department=None) -> Complete:
    return Complete(callout_id=c.callout_id, department_code=department or c.department_code,
                    summary="垃圾已清运", evidence_refs=("photo-2", "photo-3"), request_id=request_id)


def give_back(c: Callout, request_id=None, department=None) -> Return:
    return Return(callout_id=c.callout_id, department_code=department or c.department_code,
                  reason="不属于本部门职责", request_id=request_id)


def through(callout: Callout, case: Case, matrix: Matrix, *reports, now=NOW) -> Callout:
    for report in reports:
        callout, event, _ = act(callout, case, report(callout), now, matrix)
        assert event is not None
    return callout


# --- issue ---------------------------------------------------------------------------------------

def test_issue_calls_each_department_once_lead_first(ref, matrix, names):
    case = make_case(matrix)
    made = issue_all(ref, matrix, names, case)
    callouts = [c for c, _ in made]
    events = [e for _, e in made]
    assert [c.department_code for c in callouts] == ["chengguan", "shengtai", "huanwei"]
    assert [c.role for c in callouts] == ["lead", "support", "support"]
    assert all(c.status == "issued" and c.issued_at == NOW and c.round == 1 for c in callouts)
    assert len({c.callout_id for c in callouts}) == 3
    assert all(isinstance(e, CalloutIssued) for e in events)
    for callout, event in made:
        assert event.callout_id == callout.callout_id and event.department_code == callout.department_code
        assert event.role == callout.role
        assert event.department_name_zh == names[callout.department_code]
        assert event.departments == ("chengguan", "shengtai", "huanwei")
        assert (event.whistle_id, event.street_code, event.grid_code, event.place, event.description) == (
            case.whistle_id, case.street_code, case.grid_code, case.place, case.description)
        assert event.category_name_zh == "垃圾乱倒" and event.joint_enforcement is False
        assert event.matrix_version == matrix.version
        assert event.issued_at == NOW == event.occurred_at
        assert event.reason == "matrix" and event.round == 1


@pytest.mark.parametrize("urgency, check_in, arrival, completion", [
    ("emergency", timedelta(minutes=30), timedelta(minutes=30), timedelta(hours=2)),
    ("urgent", timedelta(minutes=30), timedelta(minutes=30), timedelta(hours=24)),
    # Friday + 7 working days (weekdays calendar) = Tuesday week after next, same time of day
    ("normal", timedelta(minutes=30), timedelta(hours=24), datetime(2024, 3, 12, 7, tzinfo=UTC) - NOW),
    ("complex", timedelta(minutes=30), timedelta(hours=24), datetime(2024, 3, 22, 7, tzinfo=UTC) - NOW),
])
def test_deadlines_count_from_now_not_from_the_raise(ref, matrix, names, urgency, check_in, arrival, completion):
    now = NOW + timedelta(minutes=7)
    made = issue_all(ref, matrix, names, make_case(matrix, urgency=urgency), now=now)
    for callout, event in made:
        assert (callout.check_in_by, callout.arrival_by, callout.completion_by) == (
            now + check_in, now + arrival, now + completion)
        assert (event.deadlines.check_in_by, event.deadlines.arrival_by, event.deadlines.completion_by) == (
            callout.check_in_by, callout.arrival_by, callout.completion_by)


def test_issue_carries_round_and_reason(ref, matrix, names):
    case = make_case(matrix, round=3)
    made = issue_all(ref, matrix, names, case, reason="sent_back", departments=("shengtai",))
    [(callout, event)] = made
    assert callout.round == 3 == event.round
    assert event.reason == "sent_back"
    assert event.departments == ("shengtai",)


def test_issue_to_one_more_department_names_everyone_and_keeps_the_lead(ref, matrix, names):
    case = make_case(matrix, category="illegal_parking")
    [(callout, event)] = issue_all(ref, matrix, names, case, reason="rerouted", departments=("gongan",),
                                   everyone=("jiaoguan", "chengguan", "gongan"))
    assert callout.department_code == "gongan" and callout.role == "support"
    assert event.departments == ("jiaoguan", "chengguan", "gongan")
    assert event.reason == "rerouted"


def test_issue_uses_the_street_override(ref, matrix, names):
    made = issue_all(ref, matrix, names, make_case(matrix, category="street_vending", street="jinhaihu"))
    assert [(c.department_code, c.role) for c, _ in made] == [
        ("chengguan", "lead"), ("shichang", "support"), ("jiedao", "support")]


# --- act: the legal path -------------------------------------------------------------------------

def test_the_legal_path_with_its_events(ref, matrix, names):
    case = make_case(matrix)
    callout = issue_all(ref, matrix, names, case)[0][0]
    t1, t2, t3 = NOW + timedelta(minutes=5), NOW + timedelta(minutes=20), NOW + timedelta(minutes=80)

    callout, event, following = act(callout, case, checkin(callout), t1, matrix)
    assert following is None
    assert callout.status == "checked_in" and callout.checked_in_at == t1 and callout.officer == "王建国"
    assert isinstance(event, CalloutCheckedIn)
    assert (event.callout_id, event.whistle_id, event.department_code, event.street_code, event.category,
            event.urgency) == (callout.callout_id, "w-1", "chengguan", "daxigou", "garbage_dumping", "emergency")
    assert event.officer == "王建国" and event.checked_in_at == t1 == event.occurred_at
    assert event.check_in_by == callout.check_in_by and event.on_time is True
    assert event.issued_at == NOW

    callout, event, following = act(callout, case, arrive(callout), t2, matrix)
    assert following is None and callout.status == "arrived" and callout.arrived_at == t2
    assert isinstance(event, CalloutArrived)
    assert event.location.lon == 106.5417 and event.evidence_ref == "photo-1"
    assert event.arrival_by == callout.arrival_by and event.on_time is True

    callout, event, following = act(callout, case, complete(callout), t3, matrix)
    assert following is None and callout.status == "completed" and callout.completed_at == t3
    assert isinstance(event, CalloutCompleted)
    assert event.summary == "垃圾已清运" and event.evidence_refs == ("photo-2", "photo-3")
    assert event.completion_by == callout.completion_by and event.on_time is True


@pytest.mark.parametrize("late, on_time", [(timedelta(0), True), (TINY, False), (SECOND, False),
                                           (-SECOND, True)])
def test_on_time_at_the_deadline_boundary(ref, matrix, names, late, on_time):
    case = make_case(matrix)
    callout = issue_all(ref, matrix, names, case)[0][0]
    _, checked, _ = act(callout, case, checkin(callout), callout.check_in_by + late, matrix)
    assert checked.on_time is on_time
    callout = through(callout, case, matrix, checkin)
    _, arrived, _ = act(callout, case, arrive(callout), callout.arrival_by + late, matrix)
    assert arrived.on_time is on_time
    callout = through(callout, case, matrix, arrive)
    _, completed, _ = act(callout, case, complete(callout), callout.completion_by + late, matrix)
    assert completed.on_time is on_time


def test_a_late_step_is_still_accepted_and_marked_late(ref, matrix, names):
    case = make_case(matrix)
    callout = issue_all(ref, matrix, names, case)[0][0]
    callout, event, _ = act(callout, case, checkin(callout), NOW + timedelta(hours=5), matrix)
    assert callout.status == "checked_in" and event.on_time is False


def test_a_checked_in_department_may_still_return(ref, matrix, names):
    case = make_case(matrix)
    callout = through(issue_all(ref, matrix, names, case)[2][0], case, matrix, checkin)
    returned, event, following = act(callout, case, give_back(callout), NOW, matrix,
                                     tried=("chengguan", "shengtai", "huanwei"))
    assert returned.status == "returned" and returned.returned_at == NOW
    assert isinstance(event, CalloutReturned) and event.reason == "不属于本部门职责"
    assert isinstance(following, Arbitrate)


# --- act: illegal steps --------------------------------------------------------------------------

def rejected(callout, case, report, matrix, now=NOW) -> IllegalStep:
    with pytest.raises(IllegalStep) as caught:
        act(callout, case, report, now, matrix)
    assert caught.value.errors and caught.value.errors[0].message == str(caught.value)
    return caught.value


@pytest.mark.parametrize("steps, report, words", [
    ((), complete, ["issued", "completion needs it arrived"]),
    ((), arrive, ["issued", "arrival needs it checked_in"]),
    ((checkin,), complete, ["checked_in", "completion needs it arrived"]),
    ((checkin, arrive), give_back, ["arrived", "return needs it issued or checked_in"]),
    ((checkin, arrive, complete), give_back, ["completed", "return needs"]),
    ((checkin, arrive, complete), checkin, ["completed", "checkin needs it issued"]),
])
def test_steps_out_of_order_are_refused_with_the_state_they_need(ref, matrix, names, steps, report, words):
    case = make_case(matrix)
    callout = through(issue_all(ref, matrix, names, case)[0][0], case, matrix, *steps)
    error = rejected(callout, case, report(callout), matrix)
    assert error.errors[0].field == "callout_id"
    assert callout.callout_id in str(error)
    for word in words:
        assert word in str(error)


@pytest.mark.parametrize("steps, report, state", [
    ((checkin,), checkin, "checked_in"),
    ((checkin, arrive), arrive, "arrived"),
    ((checkin, arrive, complete), complete, "completed"),
])
def test_acting_twice_is_refused(ref, matrix, names, steps, report, state):
    case = make_case(matrix)
    callout = through(issue_all(ref, matrix, names, case)[0][0], case, matrix, *steps)
    error = rejected(callout, case, report(callout, request_id="another-request"), matrix)
    assert error.errors[0].field == "callout_id"
    assert f"already {state}" in str(error)


def test_returning_twice_is_refused(ref, matrix, names):
    case = make_case(matrix)
    callout = issue_all(ref, matrix, names, case)[0][0]
    returned, _, _ = act(callout, case, give_back(callout), NOW, matrix)
    error = rejected(returned, case, give_back(returned), matrix)
    assert "already returned" in str(error)
    assert "returned" in str(rejected(returned, case, checkin(returned), matrix))


def test_acting_on_another_departments_callout_is_refused(ref, matrix, names):
    case = make_case(matrix)
    callout = issue_all(ref, matrix, names, case)[0][0]
    for report in (checkin, arrive, complete, give_back):
        error = rejected(callout, case, report(callout, department="shengtai"), matrix)
        assert error.errors[0].field == "department_code"
        assert "issued to chengguan, not shengtai" in str(error)


def test_acting_on_a_closed_case_is_refused(ref, matrix, names):
    case = make_case(matrix)
    callout = through(issue_all(ref, matrix, names, case)[0][0], case, matrix, checkin)
    closed = replace(case, status="closed")
    for report in (arrive, give_back):
        error = rejected(callout, closed, report(callout), matrix)
        assert error.errors[0].field == "callout_id" and "w-1 is closed" in str(error)


def test_acting_on_an_open_callout_of_an_older_round_is_refused(ref, matrix, names):
    case = make_case(matrix)
    callout = issue_all(ref, matrix, names, case)[0][0]
    later = replace(case, round=2)
    error = rejected(callout, later, checkin(callout), matrix)
    assert error.errors[0].field == "callout_id"
    assert "belongs to round 1" in str(error) and "round 2" in str(error)


def test_a_refused_step_changes_nothing(ref, matrix, names):
    case = make_case(matrix)
    callout = issue_all(ref, matrix, names, case)[0][0]
    before = replace(callout)
    rejected(callout, case, complete(callout, request_id="r-9"), matrix)
    assert callout == before and callout.requests == ()


# --- act: retries --------------------------------------------------------------------------------

def test_the_same_request_again_is_a_safe_retry(ref, matrix, names):
    case = make_case(matrix)
    callout = issue_all(ref, matrix, names, case)[0][0]
    checked, event, _ = act(callout, case, checkin(callout, request_id="r-1"), NOW, matrix)
    assert event is not None and checked.requests == ("checkin:r-1",)
    again = act(checked, case, checkin(checked, request_id="r-1"), NOW + SECOND, matrix)
    assert again == (checked, None, None)
    # still a retry after later steps, and even once the case is closed
    arrived, _, _ = act(checked, case, arrive(checked, request_id="r-2"), NOW, matrix)
    assert act(arrived, case, checkin(arrived, request_id="r-1"), NOW, matrix) == (arrived, None, None)
    assert act(arrived, replace(case, status="closed"), arrive(arrived, request_id="r-2"), NOW, matrix) == (
        arrived, None, None)


def test_a_request_id_is_a_retry_only_for_the_same_action_and_department(ref, matrix, names):
    case = make_case(matrix)
    callout = issue_all(ref, matrix, names, case)[0][0]
    checked, _, _ = act(callout, case, checkin(callout, request_id="r-1"), NOW, matrix)
    # the same key for another action is a new request (and here an illegal one)
    rejected(checked, case, complete(checked, request_id="r-1"), matrix)
    # another department replaying the key is still refused
    error = rejected(checked, case, checkin(checked, request_id="r-1", department="shengtai"), matrix)
    assert error.errors[0].field == "department_code"
    # without a request id a second check-in is acting twice
    assert "already checked_in" in str(rejected(checked, case, checkin(checked), matrix))


# --- act: returns --------------------------------------------------------------------------------

def test_a_return_with_an_untried_alternative_is_rerouted(ref, matrix, names):
    case = make_case(matrix, category="illegal_parking")
    callout = issue_all(ref, matrix, names, case)[1][0]
    assert callout.department_code == "chengguan"
    returned, event, following = act(callout, case, give_back(callout), NOW, matrix,
                                     tried=("jiaoguan", "chengguan"))
    assert following == Reroute("gongan")
    assert event.rerouted_to == "gongan" and event.arbitration_id is None
    assert returned.status == "returned"


def test_a_return_whose_alternative_was_already_tried_goes_to_arbitration(ref, matrix, names):
    case = make_case(matrix)          # garbage_dumping: shengtai -> huanwei, already called
    callout = issue_all(ref, matrix, names, case)[1][0]
    assert callout.department_code == "shengtai"
    _, event, following = act(callout, case, give_back(callout), NOW, matrix,
                              tried=("chengguan", "shengtai", "huanwei"))
    assert following == Arbitrate(("chengguan", "huanwei", "shengtai"))
    assert event.rerouted_to is None


def test_a_return_with_an_untried_alternative_in_this_case_is_rerouted(ref, matrix, names):
    case = make_case(matrix)          # shengtai -> huanwei, and huanwei was never called here
    callout = issue_all(ref, matrix, names, case, departments=("chengguan", "shengtai"))[1][0]
    _, event, following = act(callout, case, give_back(callout), NOW, matrix, tried=("chengguan", "shengtai"))
    assert following == Reroute("huanwei") and event.rerouted_to == "huanwei"


def test_a_return_without_any_alternative_goes_to_arbitration(ref, matrix, names):
    case = make_case(matrix)
    callout = issue_all(ref, matrix, names, case)[0][0]        # chengguan has no alternative here
    _, event, following = act(callout, case, give_back(callout), NOW, matrix)
    assert following == Arbitrate(("chengguan",))
    assert event.rerouted_to is None


def test_the_alternative_of_a_returned_lead_takes_the_lead(ref, names):
    raw = copy.deepcopy(SHIPPED_RAW)
    parking = next(c for c in raw["categories"] if c["code"] == "illegal_parking")
    parking["alternatives"] = {"jiaoguan": "gongan"}
    matrix = Matrix.from_reference(ReferenceData.model_validate(raw))
    case = make_case(matrix, category="illegal_parking")
    lead = issue_all(ref, matrix, names, case)[0][0]
    _, _, following = act(lead, case, give_back(lead), NOW, matrix, tried=("jiaoguan", "chengguan"))
    assert following == Reroute("gongan")
    # what handlers.report does next: the alternative takes over the returned role
    [(callout, _)] = issue_all(ref, matrix, names, case, reason="rerouted", departments=("gongan",),
                               everyone=("jiaoguan", "chengguan", "gongan"), role=lead.role)
    assert callout.role == "lead"


# --- progress ------------------------------------------------------------------------------------

def run(case, callouts, now=NOW):
    return progress(case, callouts, now)


def test_all_checked_in_once_per_round(ref, matrix, names):
    case = make_case(matrix)
    callouts = [c for c, _ in issue_all(ref, matrix, names, case)]
    times = [NOW + timedelta(minutes=m) for m in (3, 9, 14)]
    for i in range(2):
        callouts[i] = act(callouts[i], case, checkin(callouts[i]), times[i], matrix)[0]
        case, events = run(case, callouts, times[i])
        assert events == []
    callouts[2] = act(callouts[2], case, checkin(callouts[2]), times[2], matrix)[0]
    case, events = run(case, callouts, times[2])
    [event] = events
    assert isinstance(event, AllCheckedIn)
    assert event.departments == ("chengguan", "huanwei", "shengtai")
    assert event.first_issued_at == NOW and event.last_checked_in_at == times[2]
    assert case.all_checked_in_round == 1
    callouts[0] = act(callouts[0], case, arrive(callouts[0]), times[2], matrix)[0]
    assert run(case, callouts)[1] == []               # once per round


def test_all_completed_only_when_every_live_callout_completed(ref, matrix, names):
    case = make_case(matrix)
    callouts = [c for c, _ in issue_all(ref, matrix, names, case)]
    for i in range(3):
        callouts[i] = through(callouts[i], case, matrix, checkin)
    case, _ = run(case, callouts)
    for i in range(2):
        callouts[i] = through(callouts[i], case, matrix, arrive, complete)
        case, events = run(case, callouts)
        assert not any(isinstance(e, AllCompleted) for e in events)
        assert case.status == "active"
    callouts[2] = through(callouts[2], case, matrix, arrive)
    case, events = run(case, callouts)
    assert events == []
    callouts[2] = through(callouts[2], case, matrix, complete)
    case, events = run(case, callouts, NOW + timedelta(hours=1))
    [event] = events
    assert isinstance(event, AllCompleted) and event.round == 1
    assert event.departments == ("chengguan", "huanwei", "shengtai")
    assert event.completed_at == NOW + timedelta(hours=1)
    assert case.status == "all_completed" and case.all_completed_round == 1
    assert run(case, callouts)[1] == []               # once per round


def test_returned_callouts_are_ignored(ref, matrix, names):
    case = make_case(matrix)
    callouts = [c for c, _ in issue_all(ref, matrix, names, case)]
    callouts[2] = act(callouts[2], case, give_back(callouts[2]), NOW, matrix)[0]
    for i in range(2):
        callouts[i] = through(callouts[i], case, matrix, checkin, arrive, complete)
    case, events = run(case, callouts)
    assert [type(e) for e in events] == [AllCheckedIn, AllCompleted]
    assert events[0].departments == events[1].departments == ("chengguan", "shengtai")


def test_only_the_current_round_counts(ref, matrix, names):
    case = make_case(matrix)
    old = [through(c, case, matrix, checkin, arrive, complete) for c, _ in issue_all(ref, matrix, names, case)]
    case = replace(case, round=2, status="active", all_checked_in_round=1, all_completed_round=1)
    [new] = [c for c, _ in issue_all(ref, matrix, names, case, reason="sent_back", departments=("shengtai",))]
    assert run(case, [*old, new])[1] == []
    new = through(new, case, matrix, checkin)
    case, events = run(case, [*old, new])
    assert [type(e) for e in events] == [AllCheckedIn] and events[0].departments == ("shengtai",)
    new = through(new, case, matrix, arrive, complete)
    case, events = run(case, [*old, new])
    assert [type(e) for e in events] == [AllCompleted] and events[0].round == 2


def test_a_return_awaiting_arbitration_holds_back_all_completed(ref, matrix, names):
    case = make_case(matrix)
    callouts = [c for c, _ in issue_all(ref, matrix, names, case)]
    callouts[2] = act(callouts[2], case, give_back(callouts[2]), NOW, matrix)[0]
    for i in range(2):
        callouts[i] = through(callouts[i], case, matrix, checkin, arrive, complete)
    waiting, events = progress(case, callouts, NOW, 1)
    assert [type(e) for e in events] == [AllCheckedIn]
    assert waiting.status == "active" and waiting.all_completed_round == 0
    decided, events = progress(waiting, callouts, NOW, 0)
    assert [type(e) for e in events] == [AllCompleted]


def test_reopening_a_round_announces_it_again(ref, matrix, names):
    done = make_case(matrix, round=2, status="all_completed", all_checked_in_round=2, all_completed_round=2)
    again = reopen_round(done)
    assert (again.status, again.all_checked_in_round, again.all_completed_round) == ("active", 1, 1)
    running = make_case(matrix, round=2, all_checked_in_round=2, all_completed_round=1)
    again = reopen_round(running)
    assert (again.status, again.all_checked_in_round, again.all_completed_round) == ("active", 1, 1)
    assert reopen_round(make_case(matrix, status="locating")).status == "locating"


def test_nothing_when_the_round_has_no_live_callouts(ref, matrix, names):
    case = make_case(matrix)
    assert run(case, []) == (case, [])
    callouts = [act(c, case, give_back(c), NOW, matrix)[0] for c, _ in issue_all(ref, matrix, names, case)]
    assert run(case, callouts) == (case, [])
    later = replace(case, round=2)                        # round 1 all done, round 2 not issued yet
    done = [through(c, case, matrix, checkin, arrive, complete) for c, _ in issue_all(ref, matrix, names, case)]
    assert run(later, done) == (later, [])


# --- departments to recall -----------------------------------------------------------------------

def finished_round(ref, matrix, names):
    case = make_case(matrix)
    callouts = [c for c, _ in issue_all(ref, matrix, names, case)]
    callouts[0] = through(callouts[0], case, matrix, checkin, arrive, complete)
    callouts[1] = act(callouts[1], case, give_back(callouts[1]), NOW, matrix)[0]
    callouts[2] = through(callouts[2], case, matrix, checkin, arrive, complete)
    return case, callouts


def test_recall_everyone_who_completed_lead_first(ref, matrix, names):
    case, callouts = finished_round(ref, matrix, names)
    assert departments_to_recall(list(reversed(callouts)), case, ()) == ("chengguan", "huanwei")


def test_recall_a_named_subset(ref, matrix, names):
    case, callouts = finished_round(ref, matrix, names)
    assert departments_to_recall(callouts, case, ("huanwei",)) == ("huanwei",)
    assert departments_to_recall(callouts, case, ("huanwei", "chengguan")) == ("chengguan", "huanwei")


@pytest.mark.parametrize("named", [("gongan",), ("shengtai",), ("huanwei", "nobody")])
def test_recall_of_a_department_that_did_not_complete_is_refused(ref, matrix, names, named):
    case, callouts = finished_round(ref, matrix, names)
    with pytest.raises(IllegalStep) as caught:
        departments_to_recall(callouts, case, named)
    assert caught.value.errors[0].field == "departments"
    assert "did not complete round 1" in str(caught.value)


def test_recall_looks_at_the_current_round_only(ref, matrix, names):
    case, callouts = finished_round(ref, matrix, names)
    assert departments_to_recall(callouts, replace(case, round=2), ()) == ()


# --- routing keys --------------------------------------------------------------------------------

@pytest.mark.parametrize("key, department", [
    ("checkin.chengguan", "chengguan"), ("arrival.gongan", "gongan"), ("completion.huanwei", "huanwei"),
    ("return.shengtai", "shengtai"), ("checkin.", None), ("checkin", None), ("checkin.a.b", None),
    ("outcome.chengguan", None), ("raise.daxigou", None), ("", None),
])
def test_department_in_routing_key(key, department):
    assert department_in_routing_key(key) == department

"""The whistle's lifecycle rules, pure: round-aware status, closure, send-back, follow-up, duplicates, distance."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from services.common.events import (AllCheckedIn, AllCompleted, ArbitrationDecided, ArbitrationOpened,
                                    CalloutArrived, CalloutCompleted, CalloutEscalated, CalloutsIssued, IssuedCallout,
                                    CalloutReturned, CloseWhistle, Deadlines, Evidence, FollowUp, Place, SendBack,
                                    WhistleClosed, WhistleReopened, WhistleSentBack)
from services.common.geo import bounding_box, distance_m
from services.common.reference import load_reference
from services.whistle.domain import (Candidate, IllegalAction, InvalidRequest, WhistleState, apply_progress, close,
                                     duplicate_of, follow_up, next_state, send_back)

T0 = datetime(2025, 3, 14, 1, 30, tzinfo=timezone.utc)
PLACE = Place(address="大溪沟街道人和街12号", lon=106.5516, lat=29.5630)
EVIDENCE = Evidence(before_photo="photo://before/1", after_photo="photo://after/1",
                    checklist=("垃圾已清运", "现场已冲洗"))
DEPARTMENTS = frozenset(load_reference().department_codes)


def state(status="raised", round=1, completed=(), started=T0, followed_up=False, linked_to=None) -> WhistleState:
    return WhistleState(whistle_id="w-1", street_code="daxigou", status=status, round=round,
                        round_started_at=started, completed=tuple(completed), followed_up=followed_up,
                        linked_to=linked_to)


def minutes(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def issued(department="chengguan", round=1, at=None, reason="matrix", located_by=None) -> CalloutsIssued:
    at = at or minutes(1)
    return CalloutsIssued(
        whistle_id="w-1", street_code="daxigou", community_code="daxigou-c1", grid_code="daxigou-c1-g1",
        category="garbage_dumping", urgency="emergency", joint_enforcement=False, departments=(department,),
        round=round, reason=reason, located_by=located_by,
        callouts=(IssuedCallout(
            callout_id=f"c-{department}-{round}", department_code=department, department_name_zh="区城管执法局",
            role="lead", deadlines=Deadlines(check_in_by=at + timedelta(minutes=30),
                                             arrival_by=at + timedelta(minutes=30),
                                             completion_by=at + timedelta(hours=2)), issued_at=at),),
        occurred_at=at)


def step_fields(department="chengguan", at=None) -> dict:
    return dict(callout_id=f"c-{department}-1", whistle_id="w-1", department_code=department,
                street_code="daxigou", category="garbage_dumping", urgency="emergency", issued_at=minutes(1),
                occurred_at=at or minutes(20))


def arrived() -> CalloutArrived:
    return CalloutArrived(**step_fields(), officer="王建国", location=PLACE, evidence_ref="photo://arrival/7",
                          arrived_at=minutes(20), arrival_by=minutes(31), on_time=True)


def completed() -> CalloutCompleted:
    return CalloutCompleted(**step_fields(at=minutes(50)), summary="清运建筑垃圾3车",
                            evidence_refs=("photo://done/1", "photo://done/2"), completed_at=minutes(50),
                            completion_by=minutes(121), on_time=True)


def returned(rerouted_to=None, arbitration_id=None) -> CalloutReturned:
    return CalloutReturned(**step_fields("shengtai"), reason="不属于本部门职责", returned_at=minutes(10),
                           rerouted_to=rerouted_to, arbitration_id=arbitration_id)


def escalated() -> CalloutEscalated:
    return CalloutEscalated(**step_fields(at=minutes(45)), step="check_in", due_at=minutes(31), level=2,
                            tier="district", chased_by="district-office", chased_by_name_zh="区督查室",
                            escalated_at=minutes(45))


def all_checked_in(at=None) -> AllCheckedIn:
    at = at or minutes(15)
    return AllCheckedIn(whistle_id="w-1", street_code="daxigou", departments=("chengguan",),
                        first_issued_at=at - timedelta(minutes=14), last_checked_in_at=at, occurred_at=at)


def all_completed(round=1, at=None, departments=("chengguan", "shengtai")) -> AllCompleted:
    at = at or minutes(60)
    return AllCompleted(whistle_id="w-1", street_code="daxigou", departments=departments, round=round,
                        completed_at=at, occurred_at=at)


def opened(reason="unowned_place") -> ArbitrationOpened:
    return ArbitrationOpened(arbitration_id="a-1", whistle_id="w-1", street_code="daxigou",
                             category="garbage_dumping", reason=reason, candidates=("g1", "g2"),
                             decide_by=minutes(600), occurred_at=minutes(1))


def close_command(street="daxigou") -> CloseWhistle:
    return CloseWhistle(whistle_id="w-1", street_code=street, confirmed_by="街道城管科 李明", evidence=EVIDENCE)


def send_back_command(departments=(), street="daxigou") -> SendBack:
    return SendBack(whistle_id="w-1", street_code=street, by="街道城管科 李明", reason="现场仍有垃圾残留",
                    departments=departments)


def follow_up_command(rating="unsatisfied", reopen=False) -> FollowUp:
    return FollowUp(whistle_id="w-1", rating=rating, comment="还有异味", reopen=reopen, recorded_by="12345回访员")


def run(start: WhistleState, *events) -> WhistleState:
    for event in events:
        start = next_state(start, event)
    return start


# --- the status machine ------------------------------------------------------------------------

def test_the_whole_first_round_moves_forward():
    assert run(state(), issued()).status == "dispatched"
    assert run(state(), issued(), all_checked_in()).status == "all_checked_in"
    done = run(state(), issued(), all_checked_in(), arrived(), completed(), all_completed())
    assert (done.status, done.round, done.completed) == ("all_completed", 1, ("chengguan", "shengtai"))


def test_a_place_no_area_owns_is_locating_until_its_call_outs_come():
    assert run(state(), opened()).status == "locating"
    assert run(state(), opened("disputed_place")).status == "locating"
    assert run(state(), opened(), issued(reason="arbitrated")).status == "dispatched"


def test_an_arbitration_over_a_returned_call_out_does_not_make_a_dispatched_whistle_locating():
    assert run(state("dispatched"), opened("returned_without_alternative")).status == "dispatched"


@pytest.mark.parametrize("event", [arrived(), completed(), returned(), escalated()], ids=lambda e: e.event_type)
def test_a_department_step_means_the_whistle_was_dispatched(event):
    assert run(state(), event).status == "dispatched"
    assert run(state("all_checked_in"), event).status == "all_checked_in"


def test_all_completed_of_an_older_round_never_moves_status_back():
    sent = state("sent_back", round=2, started=minutes(70))
    assert run(sent, all_completed(round=1)).status == "sent_back"
    round_two = run(sent, issued(round=2, at=minutes(71)))
    assert (round_two.status, round_two.round) == ("dispatched", 2)
    assert run(round_two, all_completed(round=1)).status == "dispatched"
    assert run(round_two, all_completed(round=2, at=minutes(90))).status == "all_completed"


def test_a_call_out_of_an_older_round_arriving_late_changes_nothing():
    sent = state("sent_back", round=2, started=minutes(70))
    assert run(sent, issued(round=1)) == sent
    assert run(state("reopened", round=3), issued(round=2)).status == "reopened"


def test_all_checked_in_from_before_this_round_began_is_history():
    round_two = state("dispatched", round=2, started=minutes(70))
    assert run(round_two, all_checked_in(at=minutes(15))).status == "dispatched"
    assert run(round_two, all_checked_in(at=minutes(80))).status == "all_checked_in"


def test_a_late_step_of_the_old_round_does_not_dispatch_a_sent_back_whistle():
    assert run(state("sent_back", round=2, started=minutes(70)), completed()).status == "sent_back"


def test_a_department_added_after_all_completed_reopens_the_work_but_a_late_original_call_out_does_not():
    done = state("all_completed", completed=("chengguan", "shengtai"))
    assert run(done, issued("chengguan")).status == "all_completed"
    assert run(done, issued("gongan", reason="added")).status == "dispatched"


@pytest.mark.parametrize("status", ["closed", "linked"])
def test_closed_and_linked_whistles_do_not_move_on_progress(status):
    start = state(status)
    assert run(start, issued(), all_checked_in(), all_completed()) == start


def test_decided_and_team_events_only_add_a_line():
    decided = ArbitrationDecided(arbitration_id="a-1", whistle_id="w-1", street_code="daxigou", decided_by="区网格中心",
                                 grid_code="daxigou-c1-g1", department_code=None, decided_at=minutes(5))
    new, [entry] = apply_progress(state("locating"), decided)
    assert new.status == "locating" and entry.kind == decided.event_type and entry.actor == "区网格中心"


def test_call_outs_of_a_whistle_just_located_say_where_first():
    new, entries = apply_progress(state("raised"), issued(located_by="map"))
    assert new.status == "dispatched"
    assert [(e.kind, e.actor) for e in entries] == [("whistle.located", "dispatch"), ("callout.issued", "chengguan")]
    assert entries[0].detail == {"grid_code": "daxigou-c1-g1", "community_code": "daxigou-c1", "method": "map"}
    assert "责任区域图" in entries[0].summary


# --- timeline lines carry the evidence -----------------------------------------------------------

def test_an_arrival_line_has_the_location_and_the_evidence_reference():
    _, [entry] = apply_progress(state("dispatched"), arrived())
    assert (entry.at, entry.kind, entry.actor) == (minutes(20), "callout.arrived", "chengguan")
    assert entry.detail["evidence_ref"] == "photo://arrival/7"
    assert entry.detail["location"]["address"] == PLACE.address and entry.detail["location"]["lon"] == PLACE.lon


def test_a_completion_line_has_the_summary_and_evidence():
    _, [entry] = apply_progress(state("dispatched"), completed())
    assert entry.detail["summary"] == "清运建筑垃圾3车"
    assert entry.detail["evidence_refs"] == ["photo://done/1", "photo://done/2"]


@pytest.mark.parametrize("event, where", [
    (returned(rerouted_to="huanwei"), "已改派huanwei"),            # no reference given: the code stands in
    (returned(arbitration_id="a-9"), "已提请确权裁定 a-9"),
])
def test_a_return_line_says_why_and_where_the_work_went(event, where):
    _, [entry] = apply_progress(state("dispatched"), event)
    assert where in entry.summary and "不属于本部门职责" in entry.summary
    assert entry.detail["reason"] == "不属于本部门职责"
    assert entry.detail["rerouted_to"] == event.rerouted_to
    assert entry.detail["arbitration_id"] == event.arbitration_id


def test_an_escalation_line_names_the_tier_and_who_chases():
    _, [entry] = apply_progress(state("dispatched"), escalated())
    assert entry.actor == "district-office" and "区督查室" in entry.summary and "升级至区级督办" in entry.summary
    assert entry.detail["tier"] == "district" and entry.detail["chased_by"] == "district-office"
    assert entry.detail["step"] == "check_in" and entry.detail["level"] == 2


def test_arbitration_lines():
    _, [entry] = apply_progress(state(), opened())
    assert entry.detail["arbitration_id"] == "a-1" and entry.detail["candidates"] == ["g1", "g2"]
    assert "无主区域" in entry.summary


# --- closure (销号) ------------------------------------------------------------------------------

def test_close_after_all_completed_emits_whistle_closed_with_the_evidence():
    new, event, entry = close(state("all_completed"), close_command(), minutes(70))
    assert new.status == "closed"
    assert isinstance(event, WhistleClosed)
    assert (event.whistle_id, event.street_code, event.evidence, event.closed_at) == ("w-1", "daxigou", EVIDENCE,
                                                                                      minutes(70))
    assert entry.actor == "街道城管科 李明" and entry.detail["evidence"]["after_photo"] == "photo://after/1"


@pytest.mark.parametrize("status", ["raised", "locating", "dispatched", "all_checked_in", "closed", "sent_back",
                                    "reopened"])
def test_close_before_every_department_completed_is_refused_naming_the_status(status):
    with pytest.raises(IllegalAction) as caught:
        close(state(status), close_command(), minutes(70))
    assert caught.value.errors[0].field == "status"
    assert f"is {status}" in str(caught.value) and "all_completed" in str(caught.value)


def test_another_street_cannot_close_it():
    with pytest.raises(IllegalAction, match="belongs to street daxigou, not nanxiashu"):
        close(state("all_completed"), close_command(street="nanxiashu"), minutes(70))


def test_a_linked_report_is_closed_through_the_whistle_it_joined():
    with pytest.raises(IllegalAction, match="joined whistle w-0"):
        close(state("linked", linked_to="w-0"), close_command(), minutes(70))


# --- send back -----------------------------------------------------------------------------------

def test_send_back_starts_the_next_round():
    new, event, entry = send_back(state("all_completed", completed=("chengguan", "shengtai")),
                                  send_back_command(("shengtai",)), DEPARTMENTS, minutes(70))
    assert (new.status, new.round, new.round_started_at, new.completed) == ("sent_back", 2, minutes(70), ())
    assert isinstance(event, WhistleSentBack) and event.departments == ("shengtai",)
    assert "shengtai" in entry.summary and entry.detail["round"] == 2


def test_send_back_of_everyone_names_no_department():
    _, event, entry = send_back(state("all_completed", completed=("chengguan",)), send_back_command(),
                                DEPARTMENTS, minutes(70))
    assert event.departments == () and "全部部门" in entry.summary


@pytest.mark.parametrize("status", ["dispatched", "all_checked_in", "closed", "reopened"])
def test_send_back_before_all_completed_is_refused(status):
    with pytest.raises(IllegalAction, match=f"is {status}; it can be sent back only when"):
        send_back(state(status), send_back_command(), DEPARTMENTS, minutes(70))


def test_send_back_to_an_unknown_department_is_an_invalid_request():
    with pytest.raises(InvalidRequest, match="unknown department 'dragons'"):
        send_back(state("all_completed", completed=("chengguan",)), send_back_command(("dragons",)), DEPARTMENTS,
                  minutes(70))


def test_send_back_to_a_department_that_did_not_complete_this_round_is_refused():
    with pytest.raises(IllegalAction, match="gongan did not complete round 1"):
        send_back(state("all_completed", completed=("chengguan",)), send_back_command(("gongan",)), DEPARTMENTS,
                  minutes(70))


def test_send_back_by_another_street_is_refused():
    with pytest.raises(IllegalAction, match="not nanxiashu"):
        send_back(state("all_completed", completed=("chengguan",)), send_back_command(street="nanxiashu"),
                  DEPARTMENTS, minutes(70))


# --- follow-up (回访) ----------------------------------------------------------------------------

@pytest.mark.parametrize("rating", ["satisfied", "basically_satisfied", "unsatisfied"])
def test_a_follow_up_is_recorded_on_a_closed_whistle(rating):
    new, events, entries = follow_up(state("closed"), follow_up_command(rating), minutes(80))
    assert (new.status, new.followed_up) == ("closed", True)
    assert [e.event_type for e in events] == ["whistle.follow_up"]
    assert events[0].rating == rating and events[0].reopened is False
    assert entries[0].detail["rating"] == rating


def test_unsatisfied_with_reopen_starts_a_new_round():
    new, events, entries = follow_up(state("closed"), follow_up_command(reopen=True), minutes(80))
    assert (new.status, new.round, new.round_started_at) == ("reopened", 2, minutes(80))
    assert [e.event_type for e in events] == ["whistle.follow_up", "whistle.reopened"]
    assert isinstance(events[1], WhistleReopened) and "还有异味" in events[1].reason
    assert events[0].reopened is True
    assert [e.kind for e in entries] == ["whistle.follow_up", "whistle.reopened"]
    # and the new round's first call-out dispatches it again
    assert run(new, issued(round=2, reason="reopened", at=minutes(81))).status == "dispatched"


@pytest.mark.parametrize("rating", ["satisfied", "basically_satisfied"])
def test_only_unsatisfied_can_reopen(rating):
    with pytest.raises(IllegalAction, match=f"only an unsatisfied follow-up can reopen the case, not a {rating}"):
        follow_up(state("closed"), follow_up_command(rating, reopen=True), minutes(80))


@pytest.mark.parametrize("status", ["all_completed", "dispatched", "reopened"])
def test_a_follow_up_before_closure_is_refused(status):
    with pytest.raises(IllegalAction, match=f"is {status}; it can be followed up only when it is closed"):
        follow_up(state(status), follow_up_command(), minutes(80))


def test_a_second_follow_up_of_the_same_closure_is_refused():
    once, _, _ = follow_up(state("closed"), follow_up_command("satisfied"), minutes(80))
    with pytest.raises(IllegalAction, match="already has its follow-up"):
        follow_up(once, follow_up_command("unsatisfied", reopen=True), minutes(81))


def test_closing_again_after_a_reopening_allows_a_new_follow_up():
    reopened, _, _ = follow_up(state("closed"), follow_up_command(reopen=True), minutes(80))
    again = run(reopened, issued(round=2, at=minutes(81)), all_completed(round=2, at=minutes(100)))
    closed, _, _ = close(again, close_command(), minutes(110))
    assert follow_up(closed, follow_up_command("satisfied"), minutes(120))[0].followed_up


# --- duplicates ----------------------------------------------------------------------------------

def metres_east(metres: float) -> float:
    """The longitude `metres` east of PLACE."""
    return PLACE.lon + metres / distance_m(PLACE.lon, PLACE.lat, PLACE.lon + 1, PLACE.lat)


def candidate(whistle_id, metres, category="garbage_dumping", status="dispatched") -> Candidate:
    return Candidate(whistle_id, category, status, metres_east(metres), PLACE.lat)


def test_the_nearest_open_whistle_within_the_radius_is_chosen():
    found = duplicate_of("garbage_dumping", PLACE.lon, PLACE.lat,
                         [candidate("far", 90), candidate("near", 30), candidate("mid", 60)], 100)
    assert found[0] == "near" and found[1] == pytest.approx(30, abs=0.1)


def test_nothing_beyond_the_radius():
    assert duplicate_of("garbage_dumping", PLACE.lon, PLACE.lat, [candidate("w", 101)], 100) is None
    assert duplicate_of("garbage_dumping", PLACE.lon, PLACE.lat, [candidate("w", 99.9)], 100)[0] == "w"


def test_another_category_is_ignored():
    assert duplicate_of("garbage_dumping", PLACE.lon, PLACE.lat, [candidate("w", 5, category="noise")],
                        100) is None


@pytest.mark.parametrize("status", ["closed", "linked"])
def test_closed_and_linked_whistles_are_ignored(status):
    found = duplicate_of("garbage_dumping", PLACE.lon, PLACE.lat,
                         [candidate("shut", 5, status=status), candidate("open", 80)], 100)
    assert found[0] == "open"


@pytest.mark.parametrize("status", ["raised", "locating", "all_completed", "sent_back", "reopened"])
def test_every_other_status_is_open(status):
    assert duplicate_of("garbage_dumping", PLACE.lon, PLACE.lat, [candidate("w", 5, status=status)], 100)


def test_no_coordinates_or_no_radius_never_links():
    assert duplicate_of("garbage_dumping", None, None, [candidate("w", 0)], 100) is None
    assert duplicate_of("garbage_dumping", PLACE.lon, PLACE.lat, [candidate("w", 0)], 0) is None
    assert duplicate_of("garbage_dumping", PLACE.lon, PLACE.lat,
                        [Candidate("w", "garbage_dumping", "raised", None, None)], 100) is None


def test_equal_distances_go_to_the_older_whistle():
    assert duplicate_of("garbage_dumping", PLACE.lon, PLACE.lat,
                        [candidate("older", 40), candidate("newer", 40)], 100)[0] == "older"


# --- geometry -------------------------------------------------------------------------------------

def test_haversine_distances():
    assert distance_m(106.55, 29.0, 106.55, 30.0) == pytest.approx(111_195, rel=1e-4)
    assert distance_m(106.550, 29.56, 106.551, 29.56) == pytest.approx(96.8, abs=0.2)
    assert distance_m(PLACE.lon, PLACE.lat, PLACE.lon, PLACE.lat) == 0


@pytest.mark.parametrize("lon, lat", [(106.55, 29.56), (116.4, 39.9), (0.0, 0.0), (179.9995, 10.0),
                                      (10.0, 89.9999)])
def test_the_bounding_box_holds_every_point_within_the_radius(lon, lat):
    min_lon, min_lat, max_lon, max_lat = bounding_box(lon, lat, 100)
    assert min_lat < lat < max_lat and min_lon < lon < max_lon
    for bearing in range(0, 360, 15):     # points just inside the circle, all round
        dlat = 100 * math.cos(math.radians(bearing)) / 111_195
        dlon = 100 * math.sin(math.radians(bearing)) / (111_195 * max(math.cos(math.radians(lat)), 1e-9))
        plat, plon = lat + dlat * 0.999, lon + dlon * 0.999
        if -180 <= plon <= 180 and -90 <= plat <= 90 and distance_m(lon, lat, plon, plat) <= 100:
            assert min_lat <= plat <= max_lat and min_lon <= plon <= max_lon


def test_the_bounding_box_is_tight_enough_to_prefilter():
    min_lon, min_lat, max_lon, max_lat = bounding_box(106.55, 29.56, 100)
    assert distance_m(min_lon, 29.56, max_lon, 29.56) == pytest.approx(200, rel=0.01)
    assert distance_m(106.55, min_lat, 106.55, max_lat) == pytest.approx(200, rel=0.01)

"""Timeline lines: stored as a message and its parameters, read in Chinese or English with names."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from services.common.events import (
    AllCheckedIn,
    AllCompleted,
    ArbitrationDecided,
    ArbitrationOpened,
    ArbitrationOverdue,
    CalloutArrived,
    CalloutCheckedIn,
    CalloutCompleted,
    CalloutEscalated,
    CalloutReturned,
    CalloutsIssued,
    CloseWhistle,
    Deadlines,
    FollowUp,
    IssuedCallout,
    MemberCheckedIn,
    Place,
    RaiseWhistle,
    RosterGapEscalated,
    SendBack,
    TeamAssembled,
    TeamOfficer,
    WhistleLinked,
    WhistleRaised,
)
from services.common.reference import load_reference
from services.whistle.domain import (
    WhistleState,
    close,
    follow_up,
    linked_lines,
    raised_line,
    send_back,
    timeline_entries,
    timeline_entry,
)
from services.whistle.timeline import MESSAGES, render_timeline, render_timeline_entry
from tests.support.samples import whistle_request

REFERENCE = load_reference()
T0 = datetime(2025, 3, 14, 1, 30, tzinfo=timezone.utc)         # 09:30 in Beijing
PLACE = Place(address="大溪沟街道人和街12号", lon=106.5516, lat=29.5630)
STEP = dict(callout_id="c-1", whistle_id="w-1", department_code="chengguan", street_code="daxigou",
            category="illegal_construction", urgency="urgent", issued_at=T0)
DEADLINES = Deadlines(check_in_by=T0 + timedelta(minutes=30), arrival_by=T0 + timedelta(minutes=60),
                      completion_by=T0 + timedelta(hours=24))
MEMBERS = (TeamOfficer(officer_code="cg-1", name="王建国", department_code="chengguan", badge="CG1"),
           TeamOfficer(officer_code="zj-1", name="李娜", department_code="zhujian", badge="ZJ1"))
TEAM = dict(team_id="t-1", kind="whistle", whistle_id="w-1", street_code="daxigou", category="illegal_construction",
            formed_at=T0, assembled_at=T0 + timedelta(minutes=12))

EVENTS = [
    CalloutsIssued(whistle_id="w-1", street_code="daxigou", community_code=None, grid_code=None,
                   category="illegal_construction", urgency="urgent", joint_enforcement=True,
                   departments=("chengguan",),
                   callouts=(IssuedCallout(callout_id="c-1", department_code="chengguan",
                                           department_name_zh="区城管执法局",
                                           role="lead", deadlines=DEADLINES, issued_at=T0),)),
    CalloutCheckedIn(**STEP, officer="王建国", checked_in_at=T0, check_in_by=T0, on_time=True),
    CalloutCheckedIn(**STEP, officer="王建国", checked_in_at=T0, check_in_by=T0, on_time=False),
    CalloutArrived(**STEP, officer="王建国", location=PLACE, evidence_ref="p1", arrived_at=T0, arrival_by=T0,
                   on_time=True),
    CalloutCompleted(**STEP, summary="已拆除", evidence_refs=("p2",), completed_at=T0, completion_by=T0, on_time=True),
    CalloutReturned(**STEP, reason="不归我局", returned_at=T0, rerouted_to="guihua"),
    CalloutReturned(**STEP, reason="不归我局", returned_at=T0, arbitration_id="a-1"),
    CalloutReturned(**STEP, reason="不归我局", returned_at=T0),
    CalloutEscalated(**STEP, step="check_in", due_at=T0, level=2, tier="district", chased_by="demo",
                     chased_by_name_zh="区委区政府督查室", escalated_at=T0),
    ArbitrationOpened(arbitration_id="a-1", whistle_id="w-1", street_code="daxigou", category="noise",
                      reason="disputed_place", candidates=("daxigou-c1-g1", "daxigou-c1-g2"), decide_by=T0),
    ArbitrationOverdue(arbitration_id="a-1", whistle_id="w-1", street_code="daxigou", reason="disputed_place",
                       decide_by=T0, chased_by="city", chased_by_name_zh="市委市政府督查室(12345)", escalated_at=T0),
    *(ArbitrationDecided(arbitration_id="a-1", whistle_id="w-1", street_code="daxigou", decided_by="区城管委 张科长",
                         grid_code=grid, department_code=department, decided_at=T0)
      for grid, department in (("daxigou-c1-g2", None), (None, "zhujian"), ("daxigou-c1-g2", "zhujian"),
                               (None, None))),
    *(CalloutsIssued(whistle_id="w-1", street_code="daxigou", community_code=community, grid_code=grid,
                     category="illegal_construction", urgency="urgent", joint_enforcement=False,
                     departments=("chengguan",), located_by=method,
                     callouts=(IssuedCallout(callout_id="c-1", department_code="chengguan",
                                             department_name_zh="区城管执法局", role="lead", deadlines=DEADLINES,
                                             issued_at=T0),))
      for community, grid, method in (("daxigou-c1", "daxigou-c1-g1", "map"), (None, None, "given"))),
    AllCheckedIn(whistle_id="w-1", street_code="daxigou", departments=("chengguan", "zhujian"), first_issued_at=T0,
                 last_checked_in_at=T0),
    AllCompleted(whistle_id="w-1", street_code="daxigou", departments=("chengguan", "zhujian"), round=1,
                 completed_at=T0),
    RosterGapEscalated(team_id="t-1", kind="whistle", whistle_id="w-1", street_code="daxigou",
                       category="illegal_construction", department_code="guihua", urgency="urgent",
                       reason="nobody_on_duty", detected_at=T0, level=1, tier="street", chased_by="daxigou",
                       chased_by_name_zh="街道吹哨报到工作专班", escalated_at=T0),
    MemberCheckedIn(team_id="t-1", kind="whistle", whistle_id="w-1", street_code="daxigou",
                    category="illegal_construction", department_code="zhujian", officer=MEMBERS[1], checked_in_at=T0,
                    check_in_by=T0, on_time=False),
    TeamAssembled(**TEAM, lead=None, members=MEMBERS[1:], gaps=("chengguan",)),
    TeamAssembled(**TEAM, lead=MEMBERS[0], members=MEMBERS, gaps=()),
    TeamAssembled(**TEAM, lead=MEMBERS[0], members=MEMBERS, gaps=("guihua",)),
]
STATE = WhistleState(whistle_id="w-1", street_code="daxigou", status="all_completed", round=1,
                     round_started_at=T0, completed=("chengguan", "zhujian"))


def street_lines():
    """Every line the street's own decisions write."""
    raise_command = RaiseWhistle.model_validate(whistle_request(category="illegal_construction", urgency="urgent"))
    raised = WhistleRaised(whistle_id="w-1", raised_at=T0, **raise_command.model_dump(exclude={"schema_version"}))
    linked = WhistleLinked(whistle_id="w-2", linked_to="w-1", street_code="daxigou", category="illegal_construction",
                           distance_m=42.4)
    closed = close(STATE, CloseWhistle(whistle_id="w-1", street_code="daxigou", confirmed_by="李主任", evidence={
        "before_photo": "a", "after_photo": "b", "checklist": ["拆除", "清运"]}), T0, REFERENCE)[2]
    closed_state = close(STATE, CloseWhistle(whistle_id="w-1", street_code="daxigou", confirmed_by="李主任", evidence={
        "before_photo": "a", "after_photo": "b", "checklist": ["拆除"]}), T0, REFERENCE)[0]
    return [
        raised_line(raised, REFERENCE), *linked_lines(raise_command, linked, T0, REFERENCE), closed,
        send_back(STATE, SendBack(whistle_id="w-1", street_code="daxigou", by="李主任", reason="钢架未拆",
                                  departments=("chengguan",)), frozenset({"chengguan", "zhujian"}), T0, REFERENCE)[2],
        send_back(STATE, SendBack(whistle_id="w-1", street_code="daxigou", by="李主任", reason="钢架未拆"),
                  frozenset({"chengguan"}), T0, REFERENCE)[2],
        *follow_up(closed_state, FollowUp(whistle_id="w-1", rating="satisfied", recorded_by="回访员"), T0,
                   REFERENCE)[2],
        *follow_up(closed_state, FollowUp(whistle_id="w-1", rating="unsatisfied", recorded_by="回访员", reopen=True),
                   T0, REFERENCE)[2],
        *follow_up(closed_state, FollowUp(whistle_id="w-1", rating="unsatisfied", recorded_by="回访员",
                                          comment="又搭起来了", reopen=True), T0, REFERENCE)[2],
    ]


def grid_event_lines():
    """The line a grid event whistled carries onto its whistle."""
    from services.whistle.grid_event import carried_history, history_on_whistle, open_event
    from tests.support.grid_samples import opening, rules
    opened = open_event(opening(), "e-1", rules(), T0)
    return [history_on_whistle(carried_history(opened.state, opened.entries, T0))]


ALL_LINES = [line for e in EVENTS for line in timeline_entries(e, REFERENCE)] + street_lines() + grid_event_lines()


def stored(entry) -> dict:
    """The row as the timeline table keeps it (params go through JSON)."""
    return json.loads(json.dumps({"summary": entry.summary, "message": entry.message, "params": entry.params}))


def test_every_message_is_written_by_some_line():
    assert {line.message for line in ALL_LINES} == set(MESSAGES)


@pytest.mark.parametrize("entry", ALL_LINES, ids=lambda e: e.message)
def test_every_line_reads_in_chinese_and_in_english(entry):
    row = stored(entry)
    zh, en = render_timeline_entry(row, "zh_CN", REFERENCE), render_timeline_entry(row, "en", REFERENCE)
    assert zh == entry.summary                                   # the stored summary is the zh-CN line
    assert re.search(r"[\u4e00-\u9fff]", zh) and zh != en
    assert not re.search(r"\b(daxigou|chengguan|zhujian|guihua|illegal_construction|urgent|check_in)\b",
                         zh + en), (zh, en)                       # names, not codes
    assert "%(" not in zh + en


def test_a_raised_line_names_street_category_urgency_and_source():
    line = street_lines()[0]
    assert line.summary == "大溪沟街道吹哨：违法建设（加急，网格员巡查）"
    assert render_timeline_entry(stored(line), "en", REFERENCE) == (
        "Daxigou Subdistrict raised a whistle: Illegal construction (Urgent (water, power, gas, heating), "
        "grid patrol)")
    assert (line.kind, line.actor, line.detail["source"]) == ("whistle.raised", "网格员 王芳", "grid_patrol")


def test_lines_in_both_languages():
    by_text = {e.summary: e for e in ALL_LINES}
    [issued] = timeline_entries(EVENTS[0], REFERENCE)
    assert issued.summary == "向区城管执法局派单（牵头，第 1 轮，按权责清单），2025-03-14 10:00 前报到"
    assert render_timeline_entry(stored(issued), "en", REFERENCE) == (
        "call-out to District Urban Management and Law Enforcement Bureau (lead, round 1, by the responsibility "
        "matrix), check in by 2025-03-14 10:00")
    late = timeline_entry(EVENTS[2], REFERENCE)
    assert late.summary == "区城管执法局已报到，王建国赶赴现场（超时）"
    assert render_timeline_entry(stored(late), "en", REFERENCE).endswith("王建国 coming (late)")
    escalated = timeline_entry(EVENTS[8], REFERENCE)
    assert escalated.summary == ("区城管执法局未按时报到（时限 2025-03-14 09:30）：升级至区级督办，"
                                 "由区委区政府督查室督办")
    assert render_timeline_entry(stored(escalated), "en", REFERENCE).endswith(
        "escalated to the district tier, District supervision office chases it")
    team = timeline_entry(EVENTS[-1], REFERENCE)
    assert team.summary == ("联合执法队已到场，由王建国牵头：王建国（区城管执法局）和李娜（区住房和城乡建设委员会）；"
                            "区规划和自然资源分局尚无人报到")
    assert render_timeline_entry(stored(team), "en", REFERENCE) == (
        "joint team on site, led by 王建国: 王建国 (District Urban Management and Law Enforcement Bureau) and 李娜 "
        "(District Housing and Urban-Rural Development Commission); nobody yet from District Planning and Natural "
        "Resources Sub-bureau")
    gap = timeline_entry(EVENTS[-5], REFERENCE)
    member = timeline_entry(EVENTS[-4], REFERENCE)
    assert member.summary == "区住房和城乡建设委员会的李娜以联合执法队员身份报到（超时）"
    assert gap.summary == ("区规划和自然资源分局无人可参加联合执法（无人在岗，自 2025-03-14 09:30 起）："
                           "升级至街道级督办，由街道吹哨报到工作专班督办")
    assert "全部部门（2 个）已完成第 1 轮处置，街道可以销号" in by_text
    reopened = street_lines()[-1]
    assert reopened.summary == "重新办理，第 2 轮：群众不满意：又搭起来了"
    assert render_timeline_entry(stored(reopened), "en", REFERENCE) == (
        "reopened for round 2: the complainant is unsatisfied: 又搭起来了")


def test_without_reference_data_codes_stand_in_for_names():
    line = timeline_entry(EVENTS[1])
    assert line.summary == "chengguan已报到，王建国赶赴现场"
    assert render_timeline_entry(stored(line), "zh_CN", REFERENCE) == "区城管执法局已报到，王建国赶赴现场"


def test_a_line_stored_before_messages_keeps_its_summary():
    old = {"summary": "daxigou raised a urgent whistle: illegal_construction", "message": None, "params": None}
    unknown = {"summary": "旧的一行", "message": "whistle.retired_kind", "params": {}}
    assert render_timeline([old, unknown], "en", REFERENCE) == [old["summary"], "旧的一行"]

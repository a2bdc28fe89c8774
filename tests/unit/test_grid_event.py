"""The tier rules below the whistle, with the clock passed in: handled in the grid; passed up twice and
whistled (the event follows its whistle); deadlines escalating; idempotency; bad input naming its field."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta, timezone

import pytest

from services.common.events import (ContractError, GridEventAccepted, GridEventClosed, GridEventHandled,
                                    GridEventOpened, GridEventOverdue, GridEventPassedUp, GridEventReopened,
                                    GridEventWhistled, PassUpGridEvent, WhistleClosed, WhistleReopened, parse)
from services.common.tiers import DailyCap
from services.whistle import grid_texts
from services.whistle.daily_cap import day_window
from services.whistle.domain import IllegalAction, InvalidRequest
from services.whistle.grid_event import (InvalidGridEvent, accept, carried_history, close, handle, open_event,
                                         overdue, pass_up, sweep, whistle, whistle_closed, whistle_raised,
                                         whistle_reopened)
from services.whistle.verification import verify
from tests.support.grid_samples import (EVIDENCE, T0, accepting, closing, handling, minutes, opening, passing_up,
                                        rules, verifying, whistling)

RULES = rules()


def opened(**overrides):
    return open_event(opening(**overrides), "e-1", RULES, T0).state


def fields(exc) -> list[str]:
    return [e.field for e in exc.value.errors]


# ---------------------------------------------------------------- 小事不出网格: handled in the grid

def test_a_small_thing_is_handled_and_closed_in_its_grid():
    first = open_event(opening(), "e-1", RULES, T0)
    event = first.events[0]
    assert isinstance(event, GridEventOpened)
    assert (first.state.status, first.state.tier, first.state.verification) == ("reported", "grid", "not_required")
    assert first.state.community_code == "daxigou-c1"
    assert first.state.accept_by == T0 + timedelta(hours=2)                   # tiers.yaml: grid accept 2h
    assert first.entries[0].summary == ("网格员 王芳通过网格巡查上报垃圾乱倒，滨江社区第一网格（网格）"
                                        "须在2025-03-14 11:30前受理")

    accepted = accept(first.state, accepting("grid"), RULES, minutes(10))
    assert isinstance(accepted.events[0], GridEventAccepted) and accepted.events[0].signed_for
    # grid handle 1wd: Friday 09:40 Beijing -> Monday 09:40
    assert accepted.state.handle_by == minutes(10) + timedelta(days=3)
    handled = handle(accepted.state, handling("grid"), minutes(60))
    assert isinstance(handled.events[0], GridEventHandled) and handled.events[0].on_time
    closed = close(handled.state, closing("grid"), minutes(70))

    figure = closed.events[0]
    assert isinstance(figure, GridEventClosed)
    assert (figure.outcome, figure.resolved_by, figure.passed_up, figure.whistle_id) == ("handled", "grid", 0, None)
    assert figure.seconds_to_close == 70 * 60
    assert figure.signed_for_at == minutes(10) and figure.handled_at == minutes(60)
    assert closed.state.status == "closed" and closed.whistle is None
    assert closed.entries[0].summary == "网格员 王芳（网格）办结销号：处置前后照片及2项清单"


def test_every_line_renders_in_english_from_what_it_stores():
    decisions = [open_event(opening(), "e-1", RULES, T0)]
    decisions.append(accept(decisions[-1].state, accepting("grid"), RULES, minutes(10)))
    decisions.append(pass_up(decisions[-1].state, passing_up("grid"), RULES, minutes(20)))
    english = [grid_texts.render(e.detail["text"]["key"], e.detail["text"]["params"], "en")
               for d in decisions for e in d.entries]
    assert english == [
        "网格员 王芳 reported Garbage dumping via grid patrol; Binjiang Community Grid 1 (grid) to accept it by "
        "2025-03-14 11:30",
        "网格员 王芳 (grid) accepted it, to handle it by 2025-03-17 09:40",
        "网格员 王芳 passed it up to the community: 需社区协调物业处理",
    ]


def test_every_text_is_in_both_catalogs_with_the_same_parameters():
    import re

    from services.common.i18n import translations
    for key, msgid in grid_texts.MESSAGES.items():
        wanted = set(re.findall(r"%\((\w+)\)s", msgid))
        for lang in ("zh_CN", "en"):
            said = translations(lang).gettext(msgid)
            assert set(re.findall(r"%\((\w+)\)s", said)) == wanted, (key, lang, said)
        assert translations("zh_CN").gettext(msgid) != msgid, f"{key} has no Chinese translation"
    assert grid_texts.render("status.whistled", {}, "zh") == "已吹哨，区级部门处置中"
    assert grid_texts.render("status.whistled", {}, "en-GB") == "whistled: the district departments are on it"


# ---------------------------------------------------------------- 难事不出街道, or the whistle

def test_passed_up_twice_then_whistled_and_closed_with_its_whistle():
    state = opened(category="construction_dust", description="工地夜间施工扬尘严重")
    up = pass_up(state, passing_up("grid", "工地不归网格管，需社区协调"), RULES, minutes(5))
    assert isinstance(up.events[0], GridEventPassedUp) and not up.events[0].automatic
    assert (up.state.tier, up.state.status, up.state.passed_up) == ("community", "reported", 1)
    assert up.state.accept_by == minutes(5) + timedelta(hours=4)              # community accept 4h
    accepted = accept(up.state, accepting("community", by="社区书记 陈红"), RULES, minutes(30))
    up2 = pass_up(accepted.state, passing_up("community", "社区协调无果，需执法部门", by="社区书记 陈红"), RULES,
                  minutes(60))
    assert (up2.state.tier, up2.state.passed_up, up2.state.handle_by) == ("street", 2, None)
    at_street = accept(up2.state, accepting("street", by="街道城管科 周伟"), RULES, minutes(90))
    assert not at_street.events[0].signed_for               # signed for at the grid's pass-up already

    asked = whistle(at_street.state, whistling("urgent"), RULES, minutes(100))
    assert asked.state.status == "whistled" and asked.events == ()
    raise_whistle = asked.whistle
    assert raise_whistle.model_dump() == {
        "schema_version": 1, "request_id": "grid-event-e-1", "street_code": "daxigou", "grid_code": "daxigou-c1-g1",
        "category": "construction_dust", "urgency": "urgent", "source": "grid_patrol",
        "description": "工地夜间施工扬尘严重", "place": state.place.model_dump(), "reported_by": "街道主任 赵敏"}

    raised = whistle_raised(asked.state, "w-9", linked=False, by="街道主任 赵敏", now=minutes(100))
    assert isinstance(raised.events[0], GridEventWhistled) and raised.state.whistle_id == "w-9"
    assert raised.entries[0].summary == "已吹哨：哨w-9"

    closing_whistle = WhistleClosed(whistle_id="w-9", street_code="daxigou", confirmed_by="街道主任 赵敏",
                                    evidence=EVIDENCE, closed_at=minutes(400), occurred_at=minutes(400))
    done = whistle_closed(raised.state, closing_whistle)
    figure = done.events[0]
    assert (figure.outcome, figure.resolved_by, figure.passed_up, figure.whistle_id) == ("whistled", "whistle", 2,
                                                                                         "w-9")
    assert figure.closed_at == minutes(400) and done.state.status == "closed"

    reopened = whistle_reopened(done.state, WhistleReopened(whistle_id="w-9", street_code="daxigou",
                                                            reason="群众不满意：夜间仍在施工",
                                                            reopened_at=minutes(900), occurred_at=minutes(900)))
    assert isinstance(reopened.events[0], GridEventReopened)
    assert (reopened.state.status, reopened.state.closed_at, reopened.state.whistle_id) == ("whistled", None, "w-9")
    again = whistle_closed(reopened.state, closing_whistle.model_copy(update={"closed_at": minutes(2000)}))
    assert again.events[0].closed_at == minutes(2000)


def test_a_whistle_that_joined_an_open_one_is_followed_and_other_whistles_change_nothing():
    state = replace(opened(), tier="street", status="accepted")
    asked = whistle(state, whistling(), RULES, minutes(1))
    joined = whistle_raised(asked.state, "w-open", linked=True, by="赵敏", now=minutes(1))
    assert joined.events[0].linked and joined.entries[0].summary == "已并入同一问题的在办哨w-open"
    other = WhistleClosed(whistle_id="w-other", street_code="daxigou", confirmed_by="x", evidence=EVIDENCE,
                          closed_at=minutes(9), occurred_at=minutes(9))
    assert whistle_closed(joined.state, other).state == joined.state
    assert whistle_closed(joined.state, other).events == ()
    assert whistle_raised(joined.state, "w-open", True, "赵敏", minutes(2)).repeated


def test_the_whistle_carries_the_events_history_and_a_cut_description():
    long_text = "噪" * 4000
    state = replace(opened(description=long_text), tier="street")
    asked = whistle(state, whistling(), RULES, minutes(1))
    assert len(asked.whistle.description) == 2000
    assert asked.whistle.description.endswith("（全文见网格事件e-1）")
    history = carried_history(state, open_event(opening(), "e-1", RULES, T0).entries + asked.entries, minutes(1))
    assert history.summary == "由网格事件e-1吹哨，随附其2条记录"
    assert [line["kind"] for line in history.detail["lines"]] == ["grid_event.opened", "grid_event.whistle_requested"]


def test_only_the_street_whistles_an_open_event_of_its_own_with_an_urgency():
    state = opened()
    with pytest.raises(IllegalAction) as refused:
        whistle(state, whistling(street_code="nanxiashu"), RULES, minutes(1))
    assert fields(refused) == ["street_code", "tier"]
    at_street = replace(state, tier="street")
    with pytest.raises(InvalidRequest) as refused:
        whistle(at_street, whistling(urgency=None), RULES, minutes(1))
    assert fields(refused) == ["urgency"]
    with pytest.raises(IllegalAction) as refused:
        whistle(replace(at_street, status="handled"), whistling(), RULES, minutes(1))
    assert fields(refused) == ["status"]


# ---------------------------------------------------------------- deadlines: the sweep

def test_a_grid_that_does_not_accept_in_time_is_passed_over_to_its_community():
    state = opened()
    assert overdue(state, RULES, state.accept_by) is None                      # at the deadline: not late yet
    late = overdue(state, RULES, state.accept_by + timedelta(seconds=1))
    event = late.events[0]
    assert isinstance(event, GridEventPassedUp) and event.automatic
    assert (event.from_tier, event.tier, event.missed, event.due_at) == ("grid", "community", "accept", state.accept_by)
    assert event.reason == "网格超时未受理"
    assert late.entries[0].summary == "网格未在2025-03-14 11:30前受理，自动上报至社区"
    assert late.state.passed_up == 1 and late.state.tier_since == state.accept_by + timedelta(seconds=1)


def test_a_community_that_does_not_handle_in_time_passes_it_to_the_street_which_is_chased_once():
    community = accept(pass_up(opened(), passing_up("grid"), RULES, minutes(1)).state,
                       accepting("community"), RULES, minutes(2)).state
    # community handle 2wd from Friday: Tuesday, same local time
    assert community.handle_by == minutes(2) + timedelta(days=4)
    at_street = overdue(community, RULES, community.handle_by + timedelta(minutes=1)).state
    assert (at_street.tier, at_street.status) == ("street", "reported")
    late = at_street.accept_by + timedelta(minutes=5)
    chased = sweep([at_street], RULES, late)
    assert len(chased) == 1 and isinstance(chased[0].events[0], GridEventOverdue)
    assert chased[0].state.tier == "street" and chased[0].entries[0].summary.startswith("街道未在")
    assert sweep([chased[0].state], RULES, late + timedelta(hours=5)) == []    # chased once per deadline


def test_the_sweep_leaves_events_on_time_handled_or_whistled_alone():
    state = opened()
    handled = handle(accept(state, accepting("grid"), RULES, minutes(1)).state, handling("grid"), minutes(2)).state
    whistled = replace(state, tier="street", status="whistled", accept_by=None)
    far = T0 + timedelta(days=60)
    assert sweep([state], RULES, minutes(30)) == []
    assert sweep([handled, whistled], RULES, far) == []


def test_a_late_handling_is_recorded_as_late():
    accepted = accept(opened(), accepting("grid"), RULES, minutes(1)).state
    late = handle(accepted, handling("grid"), accepted.handle_by + timedelta(hours=1))
    assert not late.events[0].on_time and "（超时）" in late.entries[0].summary


# ---------------------------------------------------------------- idempotency

def test_the_same_request_twice_changes_nothing():
    state = opened()
    once = accept(state, accepting("grid"), RULES, minutes(1))
    twice = accept(once.state, accepting("grid"), RULES, minutes(2))
    assert twice.repeated and twice.state == once.state and twice.events == () and twice.entries == ()
    assert open_event(opening(), "e-2", RULES, minutes(3), existing=once.state).state == once.state
    up = pass_up(once.state, passing_up("grid"), RULES, minutes(4))
    assert pass_up(up.state, passing_up("grid"), RULES, minutes(5)).repeated
    checked = verify(up.state, verifying(), RULES, minutes(6))
    assert verify(checked.state, verifying(), RULES, minutes(7)).state == checked.state


# ---------------------------------------------------------------- bad input

def test_an_event_for_an_unknown_grid_street_or_category_is_refused_naming_each():
    with pytest.raises(InvalidGridEvent) as refused:
        open_event(opening(grid_code="nanxiashu-c1-g1"), "e-1", RULES, T0)
    assert fields(refused) == ["grid_code"]
    assert "not in street 'daxigou'" in refused.value.errors[0].message
    with pytest.raises(InvalidGridEvent) as refused:
        open_event(opening(street_code="atlantis", category="ufo"), "e-1", RULES, T0)
    assert fields(refused) == ["street_code", "category"]
    with pytest.raises(InvalidGridEvent) as refused:
        open_event(opening(grid_code=None), "e-1", RULES, T0)
    assert fields(refused) == ["grid_code"]


def test_a_road_office_report_without_a_grid_opens_at_the_street():
    walk = opening(grid_code=None, source="road_office", reported_by="街道书记 孙力")
    state = open_event(walk, "e-1", RULES, T0).state
    assert (state.tier, state.community_code, state.verification) == ("street", None, "not_required")
    assert state.accept_by == T0 + timedelta(hours=4)


def test_a_pass_up_without_a_reason_is_refused_naming_the_reason():
    body = passing_up("grid").model_dump(mode="json")
    for reason in (None, "", "   ", "无"):
        payload = {**body, "reason": reason} if reason is not None else {k: v for k, v in body.items() if k != "reason"}
        with pytest.raises(ContractError) as refused:
            parse(PassUpGridEvent, payload)
        assert [e.field for e in refused.value.errors] == ["reason"]


def test_the_street_cannot_pass_up_and_a_tier_acts_only_where_the_event_is():
    state = opened()
    with pytest.raises(IllegalAction) as refused:
        accept(state, accepting("community"), RULES, minutes(1))
    assert fields(refused) == ["tier"]
    with pytest.raises(IllegalAction) as refused:
        close(state, closing("grid"), minutes(1))
    assert fields(refused) == ["status"]
    with pytest.raises(IllegalAction) as refused:
        pass_up(replace(state, tier="street"), passing_up("street"), RULES, minutes(1))
    assert fields(refused) == ["tier"] and "top tier" in refused.value.errors[0].message


# ---------------------------------------------------------------- the daily cap (南夏墅)

CAP = DailyCap(enabled=True, per_grid_per_day=3, sources=("grid_patrol",), streets=("nanxiashu",))


def nanxiashu(**overrides):
    return opening(street_code="nanxiashu", grid_code="nanxiashu-c1-g1", **overrides)


def test_the_fourth_report_of_a_grid_in_a_day_is_flagged_never_refused():
    capped = rules(daily_cap=CAP)
    flags = [open_event(nanxiashu(request_id=f"r{n}"), f"e-{n}", capped, T0, reports_today=n)
             for n in range(5)]
    assert [d.state.over_daily_cap for d in flags] == [False, False, False, True, True]
    assert [d.events[0].reports_today for d in flags] == [1, 2, 3, 4, 5]
    assert flags[3].entries[1].summary == "本网格今日第4件上报，超出每日3件，记入考核"


def test_the_daily_cap_counts_only_where_and_what_the_district_switched_on():
    for policy, command in ((CAP.model_copy(update={"enabled": False}), nanxiashu()),
                            (CAP, opening()),                                  # daxigou is not listed
                            (CAP, nanxiashu(source="road_office"))):
        decision = open_event(command, "e-1", rules(daily_cap=policy), T0, reports_today=10)
        assert not decision.state.over_daily_cap and decision.events[0].reports_today is None


def test_a_day_for_the_cap_is_a_day_in_beijing():
    start, end = day_window(T0.replace(hour=17))                               # 01:00 on the 15th in Beijing
    assert start == T0.replace(day=14, hour=16, minute=0) and end - start == timedelta(days=1)
    assert start.tzinfo == timezone.utc

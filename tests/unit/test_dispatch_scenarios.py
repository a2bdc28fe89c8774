"""Scenario tests of dispatch's use cases against a real SQLite file database, the clock passed in.

No broker: what dispatch would publish is read, in order, from its transactional outbox. Strict
xfails mark behaviour that is a bug in services/dispatch (see their reasons)."""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from services.common import db
from services.common.db import create_schema
from services.common.events import (Actor, AddDepartment, AllCheckedIn, AllCompleted, ArbitrationDecided,
                                    ArbitrationOpened, ArbitrationOverdue, Arrive, CalloutArrived, CalloutCheckedIn,
                                    CalloutCompleted, CalloutEscalated, CalloutIssued, CalloutReturned, CalloutsIssued,
                                    CheckIn,
                                    Complete, DecideArbitration, Event, Evidence, Place, ReportOutcome, Return,
                                    WhistleClosed, WhistleRaised, WhistleReopened,
                                    WhistleSentBack, decode_event)
from services.common.reference import DEFAULT_PATH, ReferenceData, load_reference, parse_reference
from services.common.areas import load_area_map
from services.dispatch.domain import IllegalStep
from tests.support.dispatch import DispatchDriver
from services.dispatch.orm import callouts, matrix_versions, platform, step_deadlines

UTC = timezone.utc
T0 = datetime(2024, 3, 4, 1, 0, tzinfo=UTC)          # Monday 09:00 in Beijing
SECOND, MINUTE, HOUR = timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1)
WHISTLES, ROUNDS = "dispatch.whistles", "dispatch.rounds"
SHIPPED_RAW = yaml.safe_load(Path(DEFAULT_PATH).read_text(encoding="utf-8"))

# representative points of grids on the shipped responsibility map (deploy/reference/areas.geojson)
IN_GRID = {"daxigou": (106.541706, 29.562509),          # daxigou-c1-g1
           "nanxiashu": (106.552044, 29.557249),        # nanxiashu-c2-g1
           "jinhaihu": (106.563778, 29.562509)}         # jinhaihu-c1-g1
DISPUTED = (106.550493, 29.560126)      # claimed by daxigou-c2-g2 and nanxiashu-c1-g1
RIVER_GAP = (106.560935, 29.559497)     # between nanxiashu and jinhaihu: nobody's


def weekdays(day: date) -> bool:
    return day.weekday() < 5


@dataclass
class World:
    factory: sessionmaker
    dispatcher: DispatchDriver

    def rebuild(self, reference: ReferenceData, now: datetime) -> DispatchDriver:
        """Another dispatch process (or a restart) on the same database, with this reference data."""
        self.dispatcher = DispatchDriver(self.factory, reference, weekdays, areas=load_area_map(reference))
        self.dispatcher.store_matrix(now)
        return self.dispatcher

    def events(self, *types: type[Event], after: int = 0) -> list[Event]:
        with self.factory() as session:
            rows = session.execute(select(platform.outbox.c.body).where(platform.outbox.c.id > after)
                                   .order_by(platform.outbox.c.id)).scalars().all()
        found = [decode_event(json.loads(body)) for body in rows]
        return [e for e in found if not types or isinstance(e, types)]

    def mark(self) -> int:
        with self.factory() as session:
            return session.execute(select(platform.outbox.c.id).order_by(platform.outbox.c.id.desc())
                                   .limit(1)).scalar() or 0

    def table(self, table, *order) -> list[dict]:
        with self.factory() as session:
            return [dict(r._mapping) for r in session.execute(select(table).order_by(*order)).all()]

    def callouts(self, whistle_id: str | None = None) -> list[dict]:
        rows = self.table(callouts, callouts.c.round, callouts.c.issued_at, callouts.c.callout_id)
        return [r for r in rows if whistle_id is None or r["whistle_id"] == whistle_id]

    def callout(self, whistle_id: str, department: str, round_: int | None = None) -> dict:
        found = [c for c in self.callouts(whistle_id) if c["department_code"] == department
                 and (round_ is None or c["round"] == round_)]
        return found[-1]


@pytest.fixture
def world(tmp_path):
    url = f"sqlite:///{tmp_path / 'dispatch.db'}"
    engine = create_schema(url, "dispatch")
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    reference = load_reference()
    dispatcher = DispatchDriver(factory, reference, weekdays, areas=load_area_map(reference))
    dispatcher.store_matrix(T0)          # what the service does when it starts
    yield World(factory, dispatcher)
    db._engines.pop(url, None)
    engine.dispose()


def raised(whistle_id="w-1", category="garbage_dumping", urgency="normal", street="daxigou", where=None,
           grid=None, at=T0, event_id=None) -> WhistleRaised:
    if where == ():
        place = Place(address="某街某号")
    else:
        lon, lat = where if where is not None else IN_GRID[street]
        place = Place(address="某街某号", lon=lon, lat=lat)
    extra = {"event_id": event_id} if event_id else {}
    return WhistleRaised(whistle_id=whistle_id, request_id=f"req-{whistle_id}", street_code=street,
                         grid_code=grid, category=category, urgency=urgency, source="grid_patrol",
                         description="巷口有人倾倒建筑垃圾", place=place, reported_by="网格员 王芳",
                         raised_at=at, occurred_at=at, **extra)


def checkin(c: dict, request_id=None, department=None) -> CheckIn:
    return CheckIn(callout_id=c["callout_id"], department_code=department or c["department_code"], officer="王建国",
                   request_id=request_id)


def arrive(c: dict, request_id=None, department=None) -> Arrive:
    return Arrive(callout_id=c["callout_id"], department_code=department or c["department_code"], officer="王建国",
                  location=Place(address="某街某号"), evidence_ref="photo-1", request_id=request_id)


def complete(c: dict, request_id=None, department=None) -> Complete:
    return Complete(callout_id=c["callout_id"], department_code=department or c["department_code"],
                    summary="处置完毕", evidence_refs=("photo-2",), request_id=request_id)


def give_back(c: dict, request_id=None, department=None) -> Return:
    return Return(callout_id=c["callout_id"], department_code=department or c["department_code"],
                  reason="不属于本部门职责", request_id=request_id)


def finish(d: DispatchDriver, c: dict, at: datetime) -> None:
    for report in (checkin, arrive, complete):
        d.report(report(c), at)


def closed(whistle_id="w-1", at=T0) -> WhistleClosed:
    return WhistleClosed(whistle_id=whistle_id, street_code="daxigou", confirmed_by="街道 李主任",
                         evidence=Evidence(before_photo="b.jpg", after_photo="a.jpg", checklist=("已清运",)),
                         closed_at=at, occurred_at=at)


def sent_back(whistle_id="w-1", departments=(), at=T0) -> WhistleSentBack:
    return WhistleSentBack(whistle_id=whistle_id, street_code="daxigou", by="街道 李主任", reason="还有垃圾没清完",
                           departments=departments, sent_back_at=at, occurred_at=at)


def add(department: str, whistle_id="w-1") -> AddDepartment:
    return AddDepartment(whistle_id=whistle_id, department_code=department, by="区指挥中心 张三",
                         reason="需要公安协助")


def decide(arbitration_id: str, grid=None, department=None) -> DecideArbitration:
    return DecideArbitration(arbitration_id=arbitration_id, decided_by="区城管委 赵处长", grid_code=grid,
                             department_code=department)


def escalations(world: World, after: int = 0) -> list[tuple[str, str, int, str, str]]:
    return [(e.department_code, e.step, e.level, e.tier, e.chased_by)
            for e in world.events(CalloutEscalated, after=after)]


# --- a whistle raised ----------------------------------------------------------------------------

def test_a_whistle_calls_each_department_once(world):
    d = world.dispatcher
    assert d.on_whistle_raised(raised(), T0 + SECOND, WHISTLES) == 3
    events = world.events()
    assert [type(e) for e in events] == [CalloutIssued, CalloutIssued, CalloutIssued, CalloutsIssued]
    together = events[3]          # dispatch's own announcement of the three, where it located the whistle
    assert (together.street_code, together.community_code, together.grid_code, together.located_by) == (
        "daxigou", "daxigou-c1", "daxigou-c1-g1", "map")
    issued = events[:3]
    assert [(c.callout_id, c.department_code, c.role, c.deadlines) for c in together.callouts] == [
        (e.callout_id, e.department_code, e.role, e.deadlines) for e in issued]
    assert (together.round, together.reason, together.departments) == (1, "matrix", issued[0].departments)
    assert [(e.department_code, e.role, e.reason, e.round) for e in issued] == [
        ("chengguan", "lead", "matrix", 1), ("shengtai", "support", "matrix", 1),
        ("huanwei", "support", "matrix", 1)]
    assert all(e.deadlines.check_in_by == T0 + SECOND + 30 * MINUTE for e in issued)
    assert all(e.matrix_version == d.matrix.version for e in issued)
    rows = world.callouts("w-1")
    assert sorted((r["department_code"], r["role"], r["status"]) for r in rows) == [
        ("chengguan", "lead", "issued"), ("huanwei", "support", "issued"), ("shengtai", "support", "issued")]
    assert {r["callout_id"] for r in rows} == {e.callout_id for e in issued}
    deadlines = world.table(step_deadlines, step_deadlines.c.id)
    assert len(deadlines) == 9 and not any(r["done"] for r in deadlines)
    assert d.case_of("w-1")["status"] == "active"


def test_a_place_without_coordinates_keeps_the_grid_it_was_given(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(where=(), grid="daxigou-c3-g2"), T0, WHISTLES)
    [located] = world.events(CalloutsIssued)
    assert (located.community_code, located.grid_code, located.located_by) == (
        "daxigou-c3", "daxigou-c3-g2", "given")


def test_the_street_override_decides_who_is_called(world):
    world.dispatcher.on_whistle_raised(raised(category="street_vending", street="jinhaihu"), T0, WHISTLES)
    assert [(e.department_code, e.role) for e in world.events(CalloutIssued)] == [
        ("chengguan", "lead"), ("shichang", "support"), ("jiedao", "support")]


def test_a_redelivered_or_reannounced_whistle_issues_nothing_more(world):
    d = world.dispatcher
    event = raised()
    d.on_whistle_raised(event, T0, WHISTLES)
    mark = world.mark()
    assert d.on_whistle_raised(event, T0 + MINUTE, WHISTLES) == 0                          # redelivered
    assert d.on_whistle_raised(raised(event_id="another-announcement"), T0 + MINUTE, WHISTLES) == 0
    assert world.mark() == mark and len(world.callouts()) == 3


def test_an_unknown_category_is_refused_and_changes_nothing(world):
    event = raised().model_copy(update={"category": "alien_landing"})
    with pytest.raises(IllegalStep) as caught:
        world.dispatcher.on_whistle_raised(event, T0, WHISTLES)
    assert caught.value.errors[0].field == "category"
    assert world.mark() == 0 and world.dispatcher.case_of("w-1") is None


# --- the lifecycle -------------------------------------------------------------------------------

def test_every_department_through_its_lifecycle(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(urgency="emergency"), T0, WHISTLES)
    rows = world.callouts("w-1")
    mark = world.mark()
    for i, row in enumerate(rows):
        d.report(checkin(row, request_id=f"c-{i}"), T0 + (5 + i) * MINUTE)
    for i, row in enumerate(rows):
        d.report(arrive(row), T0 + (20 + i) * MINUTE)
    for i, row in enumerate(rows):
        d.report(complete(row), T0 + (60 + i) * MINUTE)
    kinds = [type(e) for e in world.events(after=mark) if not isinstance(e, ReportOutcome)]
    assert kinds == [CalloutCheckedIn] * 3 + [AllCheckedIn] + [CalloutArrived] * 3 + [CalloutCompleted] * 3 + [
        AllCompleted]
    [all_in] = world.events(AllCheckedIn)
    assert all_in.departments == ("chengguan", "huanwei", "shengtai")
    assert all_in.first_issued_at == T0 and all_in.last_checked_in_at == T0 + 7 * MINUTE
    [done] = world.events(AllCompleted)
    assert done.round == 1 and done.completed_at == T0 + 62 * MINUTE
    assert all(e.on_time for e in world.events(CalloutCheckedIn, CalloutArrived, CalloutCompleted))
    outcomes = world.events(ReportOutcome)
    assert len(outcomes) == 9 and all(o.outcome == "accepted" and not o.repeated for o in outcomes)
    assert [r["status"] for r in world.callouts("w-1")] == ["completed"] * 3
    assert all(r["done"] for r in world.table(step_deadlines))
    assert d.case_of("w-1")["status"] == "all_completed"
    # a retry of an earlier check-in is answered again and changes nothing
    mark = world.mark()
    outcome = d.report(checkin(rows[0], request_id="c-0"), T0 + 3 * HOUR)
    assert outcome.repeated is True
    assert [type(e) for e in world.events(after=mark)] == [ReportOutcome]


def test_an_illegal_report_is_refused_and_changes_nothing(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(), T0, WHISTLES)
    row = world.callout("w-1", "chengguan")
    before, mark = world.callouts(), world.mark()
    for report in (complete(row), arrive(row), checkin(row, department="shengtai"),
                   CheckIn(callout_id="no-such-callout", department_code="chengguan", officer="x")):
        with pytest.raises(IllegalStep):
            d.report(report, T0 + MINUTE)
    d.report(checkin(row), T0 + MINUTE)
    with pytest.raises(IllegalStep, match="already checked_in"):
        d.report(checkin(row), T0 + 2 * MINUTE)
    assert [c for c in world.callouts() if c["callout_id"] != row["callout_id"]] == [
        c for c in before if c["callout_id"] != row["callout_id"]]
    assert [type(e) for e in world.events(after=mark)] == [ReportOutcome, CalloutCheckedIn]


# --- returns -------------------------------------------------------------------------------------

def test_a_return_with_an_alternative_calls_the_alternative(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(category="illegal_parking"), T0, WHISTLES)
    row = world.callout("w-1", "chengguan")
    mark = world.mark()
    d.report(give_back(row), T0 + 10 * MINUTE)
    returned, issued = world.events(CalloutReturned, CalloutIssued, after=mark)
    assert isinstance(returned, CalloutReturned) and returned.rerouted_to == "gongan"
    assert returned.arbitration_id is None
    assert (issued.department_code, issued.reason, issued.role) == ("gongan", "rerouted", "support")
    assert sorted(issued.departments) == ["chengguan", "gongan", "jiaoguan"]
    assert issued.deadlines.check_in_by == T0 + 40 * MINUTE
    assert world.callout("w-1", "chengguan")["status"] == "returned"
    clocks = [r for r in world.table(step_deadlines) if r["callout_id"] == row["callout_id"]]
    assert len(clocks) == 3 and all(r["done"] for r in clocks)
    assert not world.events(ArbitrationOpened)


def test_a_return_without_an_alternative_goes_to_arbitration_and_is_decided(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(), T0, WHISTLES)
    row = world.callout("w-1", "chengguan")
    mark = world.mark()
    d.report(give_back(row), T0 + 10 * MINUTE)
    opened, returned = world.events(CalloutReturned, ArbitrationOpened, after=mark)
    assert isinstance(returned, CalloutReturned)
    assert opened.reason == "returned_without_alternative"
    assert opened.candidates == ("chengguan", "huanwei", "shengtai")
    assert opened.decide_by == T0 + 10 * MINUTE + 2 * HOUR
    assert returned.rerouted_to is None and returned.arbitration_id == opened.arbitration_id
    [waiting] = d.open_arbitrations()
    assert waiting["arbitration_id"] == opened.arbitration_id
    assert not world.events(CalloutIssued, after=mark)

    for bad in (decide(opened.arbitration_id), decide(opened.arbitration_id, department="nobody"),
                decide("no-such-arbitration", department="gongan")):
        with pytest.raises(IllegalStep):
            d.decide_arbitration(bad, T0 + HOUR)
    mark = world.mark()
    d.decide_arbitration(decide(opened.arbitration_id, department="gongan"), T0 + HOUR)
    issued, together, decided = world.events(after=mark)
    assert isinstance(issued, CalloutIssued) and isinstance(decided, ArbitrationDecided)
    assert together.located_by is None and [c.callout_id for c in together.callouts] == [issued.callout_id]
    assert (issued.department_code, issued.reason, issued.round) == ("gongan", "arbitrated", 1)
    assert issued.deadlines.check_in_by == T0 + HOUR + 30 * MINUTE
    assert decided.department_code == "gongan" and decided.decided_at == T0 + HOUR
    assert d.open_arbitrations() == []
    with pytest.raises(IllegalStep, match="already decided"):
        d.decide_arbitration(decide(opened.arbitration_id, department="gongan"), T0 + HOUR)
    # the arbitrated department's work is awaited like everyone else's
    for dept in ("shengtai", "huanwei"):
        finish(d, world.callout("w-1", dept), T0 + 2 * HOUR)
    assert not world.events(AllCompleted)
    finish(d, world.callout("w-1", "gongan"), T0 + 3 * HOUR)
    [done] = world.events(AllCompleted)
    assert done.departments == ("gongan", "huanwei", "shengtai")


def test_a_return_awaiting_arbitration_holds_back_all_completed(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(), T0, WHISTLES)
    for dept in ("chengguan", "shengtai"):
        finish(d, world.callout("w-1", dept), T0 + HOUR)
    d.report(give_back(world.callout("w-1", "huanwei")), T0 + 2 * HOUR)
    [opened] = world.events(ArbitrationOpened)
    assert not world.events(AllCompleted)
    assert d.case_of("w-1")["status"] != "all_completed"
    d.decide_arbitration(decide(opened.arbitration_id, department="gongan"), T0 + 3 * HOUR)
    assert not world.events(AllCompleted)
    finish(d, world.callout("w-1", "gongan"), T0 + 4 * HOUR)
    [done] = world.events(AllCompleted)
    assert done.departments == ("chengguan", "gongan", "shengtai")
    assert d.case_of("w-1")["status"] == "all_completed"


def test_arbitration_may_hand_the_work_back_to_the_department_that_returned_it(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(), T0, WHISTLES)
    d.report(give_back(world.callout("w-1", "chengguan")), T0 + 10 * MINUTE)
    [opened] = world.events(ArbitrationOpened)
    mark = world.mark()
    d.decide_arbitration(decide(opened.arbitration_id, department="chengguan"), T0 + HOUR)
    [issued] = world.events(CalloutIssued, after=mark)
    assert (issued.department_code, issued.reason) == ("chengguan", "arbitrated")


def test_an_arbitration_naming_a_department_already_at_work_is_refused_not_a_fault(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(), T0, WHISTLES)
    d.report(give_back(world.callout("w-1", "chengguan")), T0 + 10 * MINUTE)
    [opened] = world.events(ArbitrationOpened)
    mark = world.mark()
    with pytest.raises(IllegalStep, match="shengtai is already called") as refused:
        d.decide_arbitration(decide(opened.arbitration_id, department="shengtai"), T0 + HOUR)
    assert refused.value.errors[0].field == "department_code"
    assert world.mark() == mark and d.open_arbitrations()[0]["arbitration_id"] == opened.arbitration_id


def test_adding_a_department_that_returned_is_answered_clearly(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(category="illegal_parking"), T0, WHISTLES)
    d.report(give_back(world.callout("w-1", "chengguan")), T0 + 10 * MINUTE)
    mark = world.mark()
    try:
        d.add_department(add("chengguan"), T0 + HOUR)
    except IllegalStep:
        assert world.mark() == mark
    else:
        assert world.callout("w-1", "chengguan")["status"] == "issued"


# --- where: the responsibility map and place arbitration -----------------------------------------

@pytest.mark.parametrize("where, street, reason, candidates, grid, community", [
    (DISPUTED, "daxigou", "disputed_place", ("daxigou-c2-g2", "nanxiashu-c1-g1"), "daxigou-c2-g2", "daxigou-c2"),
    (RIVER_GAP, "nanxiashu", "unowned_place", (), "nanxiashu-c1-g2", "nanxiashu-c1"),
], ids=["disputed", "unowned"])
def test_a_place_nobody_or_two_own_goes_to_arbitration(world, where, street, reason, candidates, grid,
                                                       community):
    d = world.dispatcher
    assert d.on_whistle_raised(raised(street=street, where=where), T0, WHISTLES) == 0
    [opened] = world.events()
    assert isinstance(opened, ArbitrationOpened)
    assert (opened.reason, opened.candidates, opened.street_code) == (reason, candidates, street)
    assert opened.decide_by == T0 + 2 * HOUR
    assert world.callouts() == [] and d.case_of("w-1")["status"] == "locating"
    with pytest.raises(IllegalStep):
        d.add_department(add("gongan"), T0 + MINUTE)
    for bad in (decide(opened.arbitration_id), decide(opened.arbitration_id, department="chengguan"),
                decide(opened.arbitration_id, grid="nowhere-c9-g9")):
        with pytest.raises(IllegalStep):
            d.decide_arbitration(bad, T0 + HOUR)
    mark = world.mark()
    d.decide_arbitration(decide(opened.arbitration_id, grid=grid), T0 + HOUR)
    events = world.events(after=mark)
    assert [type(e) for e in events] == [CalloutIssued] * 3 + [CalloutsIssued, ArbitrationDecided]
    assert (events[3].grid_code, events[3].community_code, events[3].located_by) == (grid, community, "given")
    assert [(e.department_code, e.reason) for e in events[:3]] == [
        ("chengguan", "arbitrated"), ("shengtai", "arbitrated"), ("huanwei", "arbitrated")]
    assert all(e.grid_code == grid and e.deadlines.check_in_by == T0 + 90 * MINUTE for e in events[:3])
    case = d.case_of("w-1")
    assert (case["status"], case["grid_code"], case["community_code"]) == ("active", grid, community)
    assert len(world.callouts("w-1")) == 3


def test_a_located_case_has_a_consistent_street_community_and_grid(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(street="daxigou", where=IN_GRID["nanxiashu"]), T0, WHISTLES)
    case = d.case_of("w-1")
    assert load_reference().street_of_grid(case["grid_code"]) == (case["street_code"], case["community_code"])


def test_a_place_decided_for_the_other_street_moves_the_case_there(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(street="daxigou", where=DISPUTED), T0, WHISTLES)
    [opened] = world.events(ArbitrationOpened)
    d.decide_arbitration(decide(opened.arbitration_id, grid="nanxiashu-c1-g1"), T0 + HOUR)
    case = d.case_of("w-1")
    assert (case["street_code"], case["community_code"], case["grid_code"]) == (
        "nanxiashu", "nanxiashu-c1", "nanxiashu-c1-g1")


# --- adding a department -------------------------------------------------------------------------

def test_an_operator_adds_a_department_to_a_running_whistle(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(), T0, WHISTLES)
    mark = world.mark()
    callout_id = d.add_department(add("gongan"), T0 + 20 * MINUTE)
    [issued] = world.events(CalloutIssued, after=mark)
    assert isinstance(issued, CalloutIssued) and issued.callout_id == callout_id
    assert (issued.department_code, issued.reason, issued.role) == ("gongan", "added", "support")
    assert sorted(issued.departments) == ["chengguan", "gongan", "huanwei", "shengtai"]
    assert issued.deadlines.check_in_by == T0 + 50 * MINUTE
    for bad, field in ((add("gongan"), "department_code"), (add("chengguan"), "department_code"),
                       (add("nobody"), "department_code"), (add("gongan", whistle_id="w-404"), "whistle_id")):
        with pytest.raises(IllegalStep) as caught:
            d.add_department(bad, T0 + 21 * MINUTE)
        assert caught.value.errors[0].field == field
    assert len(world.callouts("w-1")) == 4
    # the added department is awaited before the whistle is complete
    for dept in ("chengguan", "shengtai", "huanwei"):
        finish(d, world.callout("w-1", dept), T0 + HOUR)
    assert not world.events(AllCompleted)
    finish(d, world.callout("w-1", "gongan"), T0 + 2 * HOUR)
    [done] = world.events(AllCompleted)
    assert "gongan" in done.departments


def test_the_departments_of_a_later_callout_are_listed_lead_first(world):
    d = world.dispatcher
    for n in range(8):                     # 8 whistles: a random order passes by chance with p = 6**-8
        d.on_whistle_raised(raised(f"w-{n}"), T0, WHISTLES)
        d.add_department(add("gongan", whistle_id=f"w-{n}"), T0 + MINUTE)
    added = [e for e in world.events(CalloutIssued) if e.reason == "added"]
    assert len(added) == 8
    assert {e.departments for e in added} == {("chengguan", "shengtai", "huanwei", "gongan")}


def test_a_department_added_after_all_completed_is_awaited_and_announced(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(), T0, WHISTLES)
    for dept in ("chengguan", "shengtai", "huanwei"):
        finish(d, world.callout("w-1", dept), T0 + HOUR)
    assert len(world.events(AllCompleted)) == 1
    d.add_department(add("gongan"), T0 + 2 * HOUR)
    assert d.case_of("w-1")["status"] == "active"
    finish(d, world.callout("w-1", "gongan"), T0 + 3 * HOUR)
    assert d.case_of("w-1")["status"] == "all_completed"
    assert "gongan" in world.events(AllCompleted)[-1].departments


# --- the sweep: escalation up the tiers ----------------------------------------------------------

def test_escalation_climbs_the_tiers_exactly_once(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(), T0, WHISTLES)                # normal: check in 30 min, arrival 24 h
    due = T0 + 30 * MINUTE
    assert d.sweep(T0) == 0 and d.sweep(due - SECOND) == 0
    assert d.sweep(due + SECOND) == 3
    assert sorted(escalations(world)) == [(dept, "check_in", 1, "street", "daxigou")
                                          for dept in ("chengguan", "huanwei", "shengtai")]
    first = world.events(CalloutEscalated)
    assert all(e.due_at == due and e.escalated_at == due + SECOND for e in first)
    assert {e.chased_by_name_zh for e in first} == {"街道吹哨报到工作专班"}
    assert d.sweep(due + SECOND) == 0 and d.sweep(due + 29 * MINUTE) == 0       # exactly once
    mark = world.mark()
    assert d.sweep(due + 31 * MINUTE) == 3
    assert sorted(escalations(world, mark)) == [(dept, "check_in", 2, "district", "demo")
                                                for dept in ("chengguan", "huanwei", "shengtai")]
    assert d.sweep(due + 31 * MINUTE) == 0
    mark = world.mark()
    assert d.sweep(due + 2 * HOUR + MINUTE) == 3
    assert sorted(escalations(world, mark)) == [(dept, "check_in", 3, "city", "city")
                                                for dept in ("chengguan", "huanwei", "shengtai")]
    assert d.sweep(due + 20 * HOUR) == 0                      # the top is reached; arrival not yet due
    overdue = d.overdue(due + 20 * HOUR)
    assert sorted((o["department_code"], o["step"], o["level"]) for o in overdue) == [
        ("chengguan", "check_in", 3), ("huanwei", "check_in", 3), ("shengtai", "check_in", 3)]


def test_a_department_that_acts_stops_its_escalation(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(), T0, WHISTLES)
    due = T0 + 30 * MINUTE
    d.sweep(due + SECOND)
    d.report(checkin(world.callout("w-1", "chengguan")), due + 10 * MINUTE)        # late, but acts
    [late] = world.events(CalloutCheckedIn)
    assert late.on_time is False
    mark = world.mark()
    assert d.sweep(due + 31 * MINUTE) == 2
    assert sorted(e[0] for e in escalations(world, mark)) == ["huanwei", "shengtai"]
    mark = world.mark()
    assert d.sweep(due + 3 * HOUR) == 2
    assert sorted(e[:3] for e in escalations(world, mark)) == [("huanwei", "check_in", 3),
                                                               ("shengtai", "check_in", 3)]
    assert sorted(o["department_code"] for o in d.overdue(due + 3 * HOUR)) == ["huanwei", "shengtai"]
    # chengguan's arrival clock runs on its own: 24 h from the call-out
    mark = world.mark()
    assert d.sweep(T0 + 24 * HOUR + SECOND) >= 1
    assert ("chengguan", "arrival", 1, "street", "daxigou") in escalations(world, mark)


def test_after_downtime_one_sweep_catches_up_every_rung_in_order_once(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(), T0, WHISTLES)
    late = T0 + 30 * MINUTE + 3 * HOUR
    assert d.sweep(late) == 9
    fired = world.events(CalloutEscalated)
    for dept in ("chengguan", "shengtai", "huanwei"):
        mine = [e for e in fired if e.department_code == dept]
        assert [(e.level, e.tier, e.chased_by) for e in mine] == [
            (1, "street", "daxigou"), (2, "district", "demo"), (3, "city", "city")]
        assert all(e.escalated_at == late and e.step == "check_in" for e in mine)
    assert d.sweep(late) == 0 and d.sweep(late + HOUR) == 0
    assert len(world.events(CalloutEscalated)) == 9


def test_two_replicas_sweeping_one_database_escalate_each_rung_once(world):
    first = world.dispatcher
    second = DispatchDriver(world.factory, load_reference(), weekdays)      # another dispatch process
    first.on_whistle_raised(raised(), T0, WHISTLES)
    due = T0 + 30 * MINUTE
    for at in (due + SECOND, due + SECOND, due + 31 * MINUTE, due + 40 * MINUTE, due + 3 * HOUR):
        first.sweep(at)
        second.sweep(at)
    rungs = [(e.callout_id, e.step, e.level) for e in world.events(CalloutEscalated)]
    assert len(rungs) == len(set(rungs)) == 9


def test_a_step_done_before_the_sweep_is_never_escalated(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(urgency="emergency"), T0, WHISTLES)     # everything due at +30 min / +2 h
    for dept in ("chengguan", "shengtai", "huanwei"):
        finish(d, world.callout("w-1", dept), T0 + 10 * MINUTE)
    assert d.sweep(T0 + 10 * HOUR) == 0
    assert not world.events(CalloutEscalated)


def test_nothing_is_escalated_at_the_deadline_instant(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(), T0, WHISTLES)
    due = T0 + 30 * MINUTE
    assert d.sweep(due) == 0
    d.report(checkin(world.callout("w-1", "chengguan")), due)
    assert world.events(CalloutCheckedIn)[0].on_time is True
    assert not world.events(CalloutEscalated)


# --- rounds and closure --------------------------------------------------------------------------

def test_a_sent_back_whistle_calls_the_named_departments_again_with_fresh_deadlines(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(urgency="emergency"), T0, WHISTLES)
    for dept in ("chengguan", "shengtai", "huanwei"):
        finish(d, world.callout("w-1", dept), T0 + HOUR)
    back_at = T0 + 5 * HOUR
    event = sent_back(departments=("shengtai",), at=back_at)
    mark = world.mark()
    with pytest.raises(IllegalStep):
        d.new_round(sent_back(departments=("gongan",)), back_at, ROUNDS)
    assert d.new_round(event, back_at, ROUNDS) == 1
    assert d.new_round(event, back_at, ROUNDS) == 0                          # redelivered
    [issued] = world.events(CalloutIssued, after=mark)
    assert (issued.department_code, issued.round, issued.reason) == ("shengtai", 2, "sent_back")
    assert (issued.deadlines.check_in_by, issued.deadlines.completion_by) == (back_at + 30 * MINUTE,
                                                                              back_at + 2 * HOUR)
    case = d.case_of("w-1")
    assert (case["round"], case["status"]) == (2, "active")
    with pytest.raises(IllegalStep, match="is completed"):
        d.report(checkin(world.callout("w-1", "shengtai", 1)), back_at + MINUTE)
    # round 1's clocks are stopped; round 2's run
    assert d.sweep(back_at + 31 * MINUTE) == 2
    assert {(e.department_code, e.step) for e in world.events(CalloutEscalated)} == {
        ("shengtai", "check_in"), ("shengtai", "arrival")}
    finish(d, world.callout("w-1", "shengtai", 2), back_at + HOUR)
    all_in, done = world.events(AllCheckedIn, AllCompleted)[-2:]
    assert all_in.departments == done.departments == ("shengtai",)
    assert done.round == 2


def test_sent_back_without_names_recalls_everyone_who_completed(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(), T0, WHISTLES)
    for dept in ("chengguan", "shengtai", "huanwei"):
        finish(d, world.callout("w-1", dept), T0 + HOUR)
    assert d.new_round(sent_back(at=T0 + 2 * HOUR), T0 + 2 * HOUR, ROUNDS) == 3
    round2 = [c for c in world.callouts("w-1") if c["round"] == 2]
    assert sorted((c["department_code"], c["role"], c["status"]) for c in round2) == [
        ("chengguan", "lead", "issued"), ("huanwei", "support", "issued"), ("shengtai", "support", "issued")]
    issued = [e for e in world.events(CalloutIssued) if e.round == 2]
    assert all(e.reason == "sent_back" and e.departments[0] == "chengguan" for e in issued)


def test_a_closed_whistle_accepts_no_action_and_escalates_nothing(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(), T0, WHISTLES)
    d.report(checkin(world.callout("w-1", "chengguan")), T0 + 5 * MINUTE)
    d.sweep(T0 + 31 * MINUTE)
    fired = len(world.events(CalloutEscalated))
    d.on_whistle_closed(closed(at=T0 + HOUR), T0 + HOUR, ROUNDS)
    d.on_whistle_closed(closed(at=T0 + HOUR), T0 + HOUR, ROUNDS)               # redelivered: harmless
    mark = world.mark()
    for report in (arrive(world.callout("w-1", "chengguan")), checkin(world.callout("w-1", "shengtai")),
                   give_back(world.callout("w-1", "huanwei"))):
        with pytest.raises(IllegalStep, match="closed"):
            d.report(report, T0 + 2 * HOUR)
    with pytest.raises(IllegalStep):
        d.add_department(add("gongan"), T0 + 2 * HOUR)
    assert d.sweep(T0 + 30 * HOUR) == 0 and d.sweep(T0 + 30 * 24 * HOUR) == 0
    assert world.mark() == mark and len(world.events(CalloutEscalated)) == fired
    assert d.overdue(T0 + 30 * HOUR) == []
    assert d.case_of("w-1")["status"] == "closed"


def test_a_reopened_whistle_calls_everyone_again(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(), T0, WHISTLES)
    for dept in ("chengguan", "shengtai", "huanwei"):
        finish(d, world.callout("w-1", dept), T0 + HOUR)
    d.on_whistle_closed(closed(at=T0 + 2 * HOUR), T0 + 2 * HOUR, ROUNDS)
    reopened = WhistleReopened(whistle_id="w-1", street_code="daxigou", reason="群众不满意",
                               reopened_at=T0 + 3 * 24 * HOUR, occurred_at=T0 + 3 * 24 * HOUR)
    assert d.new_round(reopened, T0 + 3 * 24 * HOUR, ROUNDS) == 3
    assert {e.reason for e in world.events(CalloutIssued) if e.round == 2} == {"reopened"}
    assert d.case_of("w-1")["status"] == "active"
    d.report(checkin(world.callout("w-1", "chengguan", 2)), T0 + 3 * 24 * HOUR + MINUTE)


def test_an_arbitration_of_a_closed_whistle_issues_nothing(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(), T0, WHISTLES)
    d.report(give_back(world.callout("w-1", "chengguan")), T0 + 10 * MINUTE)
    [opened] = world.events(ArbitrationOpened)
    d.on_whistle_closed(closed(at=T0 + HOUR), T0 + HOUR, ROUNDS)
    mark = world.mark()
    try:
        d.decide_arbitration(decide(opened.arbitration_id, department="gongan"), T0 + 2 * HOUR)
    except IllegalStep:
        pass
    assert d.sweep(T0 + 10 * HOUR) == 0
    assert not world.events(CalloutIssued, after=mark)


def test_a_new_round_never_orphans_an_open_callout(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(), T0, WHISTLES)
    for dept in ("chengguan", "shengtai", "huanwei"):
        finish(d, world.callout("w-1", dept), T0 + HOUR)
    d.add_department(add("gongan"), T0 + 2 * HOUR)          # still working when the street sends back
    try:
        d.new_round(sent_back(departments=("shengtai",), at=T0 + 3 * HOUR), T0 + 3 * HOUR, ROUNDS)
    except IllegalStep:
        return                                                 # refusing is a fine answer
    d.report(checkin(world.callout("w-1", "gongan")), T0 + 3 * HOUR + MINUTE)


# --- matrix versions -----------------------------------------------------------------------------

def reference_b(edit) -> ReferenceData:
    raw = copy.deepcopy(SHIPPED_RAW)
    edit(raw)
    return parse_reference(yaml.safe_dump(raw, allow_unicode=True))


def category(raw: dict, code: str) -> dict:
    return next(c for c in raw["categories"] if c["code"] == code)


def test_a_case_keeps_the_matrix_it_was_dispatched_under(world):
    version_a = world.dispatcher.matrix.version
    world.dispatcher.on_whistle_raised(raised("w-a", category="illegal_parking"), T0, WHISTLES)
    b = world.rebuild(reference_b(lambda raw: category(raw, "illegal_parking").update(
        alternatives={"chengguan": "shichang"})), T0 + MINUTE)
    assert b.matrix.version != version_a
    assert {r["version"] for r in world.table(matrix_versions)} == {version_a, b.matrix.version}
    b.on_whistle_raised(raised("w-b", category="illegal_parking"), T0 + MINUTE, WHISTLES)

    mark = world.mark()
    b.report(give_back(world.callout("w-a", "chengguan")), T0 + 10 * MINUTE)
    [issued] = world.events(CalloutIssued, after=mark)
    assert (issued.department_code, issued.reason, issued.matrix_version) == ("gongan", "rerouted", version_a)

    mark = world.mark()
    b.report(give_back(world.callout("w-b", "chengguan")), T0 + 10 * MINUTE)
    [issued] = world.events(CalloutIssued, after=mark)
    assert (issued.department_code, issued.matrix_version) == ("shichang", b.matrix.version)


def test_a_place_decided_after_a_matrix_change_uses_the_cases_matrix(world):
    version_a = world.dispatcher.matrix.version
    world.dispatcher.on_whistle_raised(raised(where=DISPUTED), T0, WHISTLES)
    [opened] = world.events(ArbitrationOpened)
    b = world.rebuild(reference_b(lambda raw: category(raw, "garbage_dumping").update(support=["shengtai"])),
                      T0 + MINUTE)
    mark = world.mark()
    b.decide_arbitration(decide(opened.arbitration_id, grid="daxigou-c2-g2"), T0 + HOUR)
    issued = world.events(CalloutIssued, after=mark)
    assert {e.matrix_version for e in issued} == {version_a}
    assert [e.department_code for e in issued] == ["chengguan", "shengtai", "huanwei"]


def test_an_arbitration_not_decided_in_time_goes_to_the_city_once(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(street="daxigou", where=DISPUTED), T0, WHISTLES)
    [opened] = world.events(ArbitrationOpened)
    assert d.sweep(opened.decide_by) == 0                       # at the deadline instant: not yet late
    mark = world.mark()
    d.sweep(opened.decide_by + MINUTE)
    d.sweep(opened.decide_by + HOUR)
    [overdue] = world.events(ArbitrationOverdue, after=mark)
    assert (overdue.arbitration_id, overdue.chased_by) == (opened.arbitration_id, "city")


# --- who acted ------------------------------------------------------------------------------------

DESK = Actor(kind="department", code="chengguan", token_id="t-desk")
STAFF = Actor(kind="district", code="zhangwei", token_id="t-staff")


def test_the_events_of_a_report_name_the_principal_that_made_it(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(), T0, WHISTLES)
    row = world.callout("w-1", "chengguan")
    mark = world.mark()
    d.report(checkin(row), T0 + MINUTE, by=DESK)
    d.report(arrive(row), T0 + 2 * MINUTE)                             # nobody vouched for this one
    checked, arrived = world.events(CalloutCheckedIn, CalloutArrived, after=mark)
    assert checked.by == DESK and checked.officer == "王建国"          # the free-text name stays
    assert arrived.by is None
    d.sweep(T0 + 3 * HOUR)
    assert all(e.by is None for e in world.events(CalloutEscalated))    # the deadline sweep is nobody


def test_added_departments_and_decisions_name_the_district_staff_who_made_them(world):
    d = world.dispatcher
    d.on_whistle_raised(raised(), T0, WHISTLES)
    mark = world.mark()
    d.add_department(add("gongan"), T0 + MINUTE, by=STAFF)
    [added] = world.events(CalloutsIssued, after=mark)
    assert added.by == STAFF and added.reason == "added"
    d.report(give_back(world.callout("w-1", "chengguan")), T0 + 2 * MINUTE, by=DESK)
    [opened] = world.events(ArbitrationOpened)
    mark = world.mark()
    d.decide_arbitration(decide(opened.arbitration_id, department="zhujian"), T0 + HOUR, by=STAFF)
    issued, decided = world.events(CalloutsIssued, ArbitrationDecided, after=mark)
    assert issued.by == STAFF and decided.by == STAFF and decided.decided_by == "区城管委 赵处长"
    [first] = [e for e in world.events(CalloutsIssued) if e.reason == "matrix"]
    assert first.by is None                                             # the matrix called those

"""Property-based test of dispatch's use cases: random whistles, department actions (legal or not), clock
advances and sweeps against a fresh SQLite database per example; the invariants are checked after
every step from the database and the outbox (what dispatch publishes, in order)."""
from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from services.common import db
from services.common.db import create_schema
from services.common.events import (
    AllCheckedIn,
    AllCompleted,
    ArbitrationDecided,
    ArbitrationOpened,
    Arrive,
    CalloutArrived,
    CalloutCheckedIn,
    CalloutCompleted,
    CalloutEscalated,
    CalloutIssued,
    CalloutReturned,
    CalloutsIssued,
    CheckIn,
    Complete,
    Place,
    Return,
    WhistleRaised,
    decode_event,
)
from services.common.reference import load_reference
from services.dispatch.domain import IllegalStep
from services.dispatch.orm import arbitrations, callouts, cases, platform, step_deadlines
from tests.support.dispatch import DispatchDriver

UTC = timezone.utc
T0 = datetime(2024, 3, 4, 1, 0, tzinfo=UTC)          # Monday 09:00 in Beijing
REFERENCE = load_reference()
WAITS = [tier.after.as_timedelta() for tier in REFERENCE.escalation]
DEPARTMENTS = sorted(REFERENCE.department_codes)
# categories with re-routing (illegal_parking), arbitration (garbage_dumping, illegal_construction,
# heating_failure) and a single department (food_safety); jinhaihu has overrides
CATEGORIES = ["garbage_dumping", "illegal_parking", "illegal_construction", "heating_failure", "food_safety"]
STREETS = ["daxigou", "jinhaihu"]
URGENCIES = ["emergency", "urgent", "normal", "complex"]
NEXT_ACTION = {"issued": "checkin", "checked_in": "arrival", "arrived": "completion"}
STEP_DONE_BY = {CalloutCheckedIn: ("check_in",), CalloutArrived: ("arrival",), CalloutCompleted: ("completion",),
                CalloutReturned: ("check_in", "arrival", "completion")}


def weekdays(day: date) -> bool:
    return day.weekday() < 5


def report_for(action: str, callout_id: str, department: str, request_id: str | None):
    common = dict(callout_id=callout_id, department_code=department, request_id=request_id)
    if action == "checkin":
        return CheckIn(**common, officer="王建国")
    if action == "arrival":
        return Arrive(**common, officer="王建国", location=Place(address="现场"), evidence_ref="photo-1")
    if action == "completion":
        return Complete(**common, summary="处置完毕", evidence_refs=("photo-2",))
    return Return(**common, reason="不属于本部门职责")


class DispatchMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.directory = tempfile.mkdtemp(prefix="dispatch-properties-")
        self.url = f"sqlite:///{self.directory}/dispatch.db"
        self.engine = create_schema(self.url, "dispatch")
        self.factory = sessionmaker(bind=self.engine, expire_on_commit=False)
        self.dispatcher = DispatchDriver(self.factory, REFERENCE, weekdays)
        self.dispatcher.store_matrix(T0)
        self.now = T0
        self.whistles = 0
        self.last_sweep: tuple[datetime, int] | None = None     # (when, the outbox id it ended at)
        self.terminal: dict[str, str] = {}                       # callout id -> terminal status seen
        self.events: list[tuple[int, object]] = []

    def teardown(self):
        db._engines.pop(self.url, None)
        self.engine.dispose()
        shutil.rmtree(self.directory, ignore_errors=True)

    # ------------------------------------------------------------------ reading the world
    def rows(self, table, *order) -> list[dict]:
        with self.factory() as session:
            return [dict(r._mapping) for r in session.execute(select(table).order_by(*order)).all()]

    def callouts(self) -> list[dict]:
        # a deterministic order (ids are random uuids), so hypothesis can replay its draws
        return self.rows(callouts, callouts.c.whistle_id, callouts.c.round, callouts.c.department_code)

    def outbox(self) -> list[tuple[int, object]]:
        """Every staged event in order, with its outbox id (rows are never changed: read only new ones)."""
        last = self.events[-1][0] if self.events else 0
        with self.factory() as session:
            rows = session.execute(select(platform.outbox.c.id, platform.outbox.c.body)
                                   .where(platform.outbox.c.id > last).order_by(platform.outbox.c.id)).all()
        self.events += [(row.id, decode_event(json.loads(row.body))) for row in rows]
        return list(self.events)

    def snapshot(self):
        """Everything a refused step must leave as it was, read in one transaction."""
        with self.factory() as session:
            tables = [[tuple(r) for r in session.execute(select(table).order_by(*table.primary_key.columns))]
                      for table in (callouts, step_deadlines, cases, arbitrations)]
            outbox_rows = session.execute(select(func.count()).select_from(platform.outbox)).scalar_one()
        return tables, outbox_rows

    # ------------------------------------------------------------------ rules
    @initialize(category=st.sampled_from(CATEGORIES), urgency=st.sampled_from(URGENCIES),
                street=st.sampled_from(STREETS))
    def first_whistle(self, category, urgency, street):
        self.raise_whistle(category, urgency, street)

    @precondition(lambda self: self.whistles < 3)
    @rule(category=st.sampled_from(CATEGORIES), urgency=st.sampled_from(URGENCIES), street=st.sampled_from(STREETS))
    def raise_whistle(self, category, urgency, street):
        self.whistles += 1
        whistle_id = f"w-{self.whistles:03d}"
        event = WhistleRaised(whistle_id=whistle_id, request_id=f"req-{whistle_id}", street_code=street,
                              grid_code=f"{street}-c1-g1", category=category, urgency=urgency,
                              source="grid_patrol", description="随机的哨", place=Place(address="某街某号"),
                              reported_by="网格员", raised_at=self.now, occurred_at=self.now)
        assert self.dispatcher.on_whistle_raised(event, self.now, "dispatch.whistles") >= 1

    @precondition(lambda self: self.whistles > 0)
    @rule(data=st.data(), action=st.sampled_from(["next"] * 6 + ["checkin", "arrival", "completion", "return"]),
          foreign=st.integers(0, 9), request_id=st.sampled_from([None, None, "r-1", "r-2"]),
          pick_open=st.integers(0, 3))
    def department_acts(self, data, action, foreign, request_id, pick_open):
        rows = self.callouts()
        still_open = [c for c in rows if c["status"] in NEXT_ACTION]
        if pick_open and still_open:       # mostly a department that still owes work, sometimes any
            rows = still_open
        callout = data.draw(st.sampled_from(rows), label="callout")
        if action == "next":
            action = NEXT_ACTION.get(callout["status"]) or data.draw(
                st.sampled_from(["checkin", "arrival", "completion", "return"]), label="after the end")
        department = callout["department_code"]
        if foreign == 0:
            department = data.draw(st.sampled_from([d for d in DEPARTMENTS if d != department]), label="other")
        report = report_for(action, callout["callout_id"], department, request_id)
        before = self.snapshot()
        try:
            self.dispatcher.report(report, self.now)
        except IllegalStep as refused:
            assert refused.errors and refused.errors[0].message
            assert self.snapshot() == before, "a refused step changed something"

    @precondition(lambda self: self.whistles > 0)
    @rule(data=st.data(), returns=st.booleans())
    def department_works_through(self, data, returns):
        """One department does all its remaining steps now (or checks in and returns it)."""
        rows = [c for c in self.callouts() if c["status"] in NEXT_ACTION]
        if not rows:
            return
        callout = data.draw(st.sampled_from(rows), label="callout")
        status = callout["status"]
        if returns and status in ("issued", "checked_in"):
            plan = ["checkin", "return"] if status == "issued" else ["return"]
        else:
            plan = ["checkin", "arrival", "completion"]
            plan = plan[plan.index(NEXT_ACTION[status]):]
        for action in plan:
            self.dispatcher.report(report_for(action, callout["callout_id"], callout["department_code"], None),
                                   self.now)

    @rule(minutes=st.one_of(st.integers(1, 59), st.sampled_from([30, 31, 90, 121, 180, 600, 24 * 60 + 1])))
    def advance_clock(self, minutes):
        self.now += timedelta(minutes=minutes)

    @rule()
    def sweep(self):
        self.dispatcher.sweep(self.now)
        outbox = self.outbox()
        self.last_sweep = (self.now, outbox[-1][0] if outbox else 0)

    # ------------------------------------------------------------------ invariants
    @invariant()
    def the_invariants_hold(self):
        rows = self.callouts()
        outbox = self.outbox()
        self.check_terminal_states(rows, outbox)
        self.check_escalations(outbox)
        self.check_all_completed(outbox)
        self.check_returns_are_never_dropped(outbox)
        self.check_every_call_out_is_announced_once(outbox)

    def check_terminal_states(self, rows, outbox):
        ends = defaultdict(list)
        for _, event in outbox:
            if isinstance(event, (CalloutCompleted, CalloutReturned)):
                ends[event.callout_id].append(event.event_type)
        for row in rows:
            callout_id, status = row["callout_id"], row["status"]
            assert len(ends[callout_id]) <= 1, f"{callout_id} ended twice: {ends[callout_id]}"
            if callout_id in self.terminal:
                assert status == self.terminal[callout_id], f"{callout_id} left {self.terminal[callout_id]}"
            if status in ("completed", "returned"):
                self.terminal[callout_id] = status
                assert ends[callout_id] == [f"callout.{status}"]
            else:
                assert ends[callout_id] == []

    def check_every_call_out_is_announced_once(self, outbox):
        """Each department's CalloutIssued is followed, in the same transaction, by the one CalloutsIssued
        that lists it with the same department, role and deadlines."""
        public = [(e.callout_id, e.department_code, e.role, e.deadlines) for _, e in outbox
                  if isinstance(e, CalloutIssued)]
        ours = [(c.callout_id, c.department_code, c.role, c.deadlines) for _, e in outbox
                if isinstance(e, CalloutsIssued) for c in e.callouts]
        assert public == ours

    def check_escalations(self, outbox):
        issued = {e.callout_id: e for _, e in outbox if isinstance(e, CalloutIssued)}
        done: dict[tuple[str, str], tuple[int, datetime]] = {}
        for event_id, event in outbox:
            for step in STEP_DONE_BY.get(type(event), ()):
                done.setdefault((event.callout_id, step), (event_id, event.occurred_at))
        fired = [(i, e) for i, e in outbox if isinstance(e, CalloutEscalated)]
        rungs = Counter((e.callout_id, e.step, e.level) for _, e in fired)
        assert all(n == 1 for n in rungs.values()), "a rung fired twice"
        for event_id, e in fired:
            deadlines = issued[e.callout_id].deadlines
            due_at = {"check_in": deadlines.check_in_by, "arrival": deadlines.arrival_by,
                      "completion": deadlines.completion_by}[e.step]
            assert e.due_at == due_at
            assert e.escalated_at >= due_at + WAITS[e.level - 1], "escalated before its time"
            assert all((e.callout_id, e.step, lower) in rungs for lower in range(1, e.level)), "a rung skipped"
            if (e.callout_id, e.step) in done:
                done_id, done_at = done[(e.callout_id, e.step)]
                assert done_id > event_id and done_at >= e.escalated_at, "escalated a step already done"
        if self.last_sweep is None:
            return
        swept_at, swept_to = self.last_sweep
        for callout_id, event in issued.items():
            for step, due_at in (("check_in", event.deadlines.check_in_by), ("arrival", event.deadlines.arrival_by),
                                 ("completion", event.deadlines.completion_by)):
                finished = done.get((callout_id, step))
                if finished is not None and finished[0] <= swept_to:
                    continue                    # done before the last sweep
                for level, wait in enumerate(WAITS, start=1):
                    if due_at + wait < swept_at:
                        assert rungs[(callout_id, step, level)] == 1, (
                            f"{callout_id} {step} overdue since {due_at + wait}, no level {level} rung "
                            f"after the sweep at {swept_at}")

    def check_all_completed(self, outbox):
        state: dict[str, dict] = {}            # callout id -> {"whistle", "round", "status"}
        seen_complete, seen_checked_in = Counter(), Counter()
        awaiting = Counter()                   # whistle -> returns waiting for the district's arbitration
        for _, event in outbox:
            if isinstance(event, ArbitrationOpened) and event.reason == "returned_without_alternative":
                awaiting[event.whistle_id] += 1
            elif isinstance(event, ArbitrationDecided):
                awaiting[event.whistle_id] -= 1
            elif isinstance(event, CalloutIssued):
                state[event.callout_id] = {"whistle": event.whistle_id, "round": event.round, "status": "issued"}
            elif isinstance(event, (CalloutCheckedIn, CalloutArrived, CalloutCompleted, CalloutReturned)):
                state[event.callout_id]["status"] = event.event_type.split(".")[1]
            elif isinstance(event, (AllCompleted, AllCheckedIn)):
                round_ = event.round
                live = [s for s in state.values() if s["whistle"] == event.whistle_id and s["round"] == round_
                        and s["status"] != "returned"]
                assert live, f"{event.event_type} with no live call-out"
                if isinstance(event, AllCompleted):
                    seen_complete[(event.whistle_id, round_)] += 1
                    assert all(s["status"] == "completed" for s in live), "AllCompleted before everyone completed"
                    assert not awaiting[event.whistle_id], "AllCompleted while a return awaits arbitration"
                else:
                    seen_checked_in[(event.whistle_id, round_)] += 1
                    assert all(s["status"] != "issued" for s in live), "AllCheckedIn before everyone checked in"
        assert all(n == 1 for n in seen_complete.values()), "AllCompleted twice for a round"
        assert all(n == 1 for n in seen_checked_in.values()), "AllCheckedIn twice for a round"

    def check_returns_are_never_dropped(self, outbox):
        events = [e for _, e in outbox]
        opened = {e.arbitration_id: e for e in events if isinstance(e, ArbitrationOpened)}
        for position, event in enumerate(events):
            if not isinstance(event, CalloutReturned):
                continue
            if event.rerouted_to is not None:
                assert event.rerouted_to != event.department_code
                assert any(isinstance(e, CalloutIssued) and e.whistle_id == event.whistle_id
                           and e.department_code == event.rerouted_to and e.reason == "rerouted"
                           for e in events[position + 1:]), f"return {event.callout_id} re-routed to nobody"
            else:
                assert event.arbitration_id in opened, f"return {event.callout_id} dropped"
                arbitration = opened[event.arbitration_id]
                assert arbitration.whistle_id == event.whistle_id
                assert arbitration.reason == "returned_without_alternative"
                assert event.department_code in arbitration.candidates


DispatchMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=40, deadline=None,
                                             suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.filter_too_much])
TestDispatchProperties = DispatchMachine.TestCase

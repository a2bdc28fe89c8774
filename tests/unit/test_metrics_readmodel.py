"""The metrics read model's fold: events move rows forward once, deadlines are decided once (met,
missed or void), and what the instruments are told live is exactly what the rows add up to after a
restart, however the events are batched, ordered or repeated."""
from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select

from services.common.events import (AllCheckedIn, ArbitrationDecided, ArbitrationOpened, ArbitrationOverdue,
                                    CalloutArrived, CalloutCheckedIn, CalloutCompleted, CalloutEscalated,
                                    CalloutReturned, Evidence, FollowUpRecorded, Place, TeamAssembled, TeamOfficer,
                                    WhistleClosed, WhistleLinked, WhistleRaised, WhistleReopened)
from services.common.uow import UnitOfWork
from services.metrics import handlers
from services.metrics import readmodel as rm
from services.metrics.orm import callout_facts, metadata
from tests.support.samples import callouts_issued

T0 = datetime(2026, 11, 10, 2, 0, tzinfo=timezone.utc)


def whistle(wid: str, at: datetime = T0, street: str = "daxigou") -> WhistleRaised:
    return WhistleRaised(whistle_id=wid, request_id=f"r-{wid}", street_code=street, grid_code="daxigou-c1-g1",
                         category="garbage_dumping", urgency="urgent", source="hotline_12345",
                         description="巷口堆放建筑垃圾", place=Place(address="人和街12号"), reported_by="12345",
                         raised_at=at, occurred_at=at)


def issue(wid: str, departments=("chengguan",), at: datetime = T0):
    return callouts_issued(whistle_id=wid, departments=departments, at=at)


def step_fields(issued, n: int = 0) -> dict:
    c, e = issued.callouts[n], issued
    return dict(callout_id=c.callout_id, whistle_id=e.whistle_id, department_code=c.department_code,
                street_code=e.street_code, category=e.category, urgency=e.urgency, issued_at=c.issued_at)


def checked_in(issued, after: timedelta, n: int = 0) -> CalloutCheckedIn:
    c = issued.callouts[n]
    at = c.issued_at + after
    return CalloutCheckedIn(**step_fields(issued, n), officer="王建国", checked_in_at=at,
                            check_in_by=c.deadlines.check_in_by, on_time=at <= c.deadlines.check_in_by,
                            occurred_at=at)


def arrived(issued, after: timedelta, n: int = 0) -> CalloutArrived:
    c = issued.callouts[n]
    at = c.issued_at + after
    return CalloutArrived(**step_fields(issued, n), officer="王建国", location=Place(address="人和街"),
                          evidence_ref="photo://1", arrived_at=at, arrival_by=c.deadlines.arrival_by,
                          on_time=at <= c.deadlines.arrival_by, occurred_at=at)


def completed(issued, after: timedelta, n: int = 0) -> CalloutCompleted:
    c = issued.callouts[n]
    at = c.issued_at + after
    return CalloutCompleted(**step_fields(issued, n), summary="已清运", evidence_refs=("photo://2",),
                            completed_at=at, completion_by=c.deadlines.completion_by,
                            on_time=at <= c.deadlines.completion_by, occurred_at=at)


def returned(issued, after: timedelta, n: int = 0, **kw) -> CalloutReturned:
    at = issued.callouts[n].issued_at + after
    return CalloutReturned(**step_fields(issued, n), reason="不属本部门职责", returned_at=at, occurred_at=at, **kw)


def escalated(issued, step: str = "check_in", tier: str = "street", n: int = 0) -> CalloutEscalated:
    c = issued.callouts[n]
    due = getattr(c.deadlines, {"check_in": "check_in_by", "arrival": "arrival_by",
                                "completion": "completion_by"}[step])
    return CalloutEscalated(**step_fields(issued, n), step=step, due_at=due, level=1, tier=tier, chased_by="jiedao",
                            chased_by_name_zh="街道", escalated_at=due, occurred_at=due)


def closed(wid: str, at: datetime) -> WhistleClosed:
    return WhistleClosed(whistle_id=wid, street_code="daxigou", confirmed_by="街道 李主任",
                         evidence=Evidence(before_photo="b", after_photo="a", checklist=("已清运",)),
                         closed_at=at, occurred_at=at)


def folded(*events, rows=None) -> rm.State:
    return rm.fold(rm.State(rows), events)


def observed(state: rm.State) -> Counter:
    return Counter((o.instrument, o.labels) for o in state.observations())


def callout_row(state: rm.State, issued, n: int = 0) -> dict:
    return state.get("callout_facts", issued.callouts[n].callout_id)


# ---------------------------------------------------------------- one call-out's life

def test_a_call_out_checked_in_on_time_arriving_late_counts_each_step_once():
    w, i = whistle("w1"), issue("w1")
    state = folded(w, i, checked_in(i, timedelta(minutes=12)), arrived(i, timedelta(minutes=40)),
                   completed(i, timedelta(hours=5)))
    row = callout_row(state, i)
    assert (row["check_in_outcome"], row["arrival_outcome"], row["completion_outcome"]) == ("met", "missed", "met")
    seen = observed(state)
    assert seen[("CALLOUTS_ISSUED", ("chengguan", "urgent"))] == 1
    assert seen[("CHECKINS", ("chengguan", "urgent", "true"))] == 1
    assert seen[("STEPS_DONE", ("chengguan", "urgent", "arrival", "false"))] == 1
    assert seen[("DEADLINE_OUTCOMES", ("chengguan", "daxigou", "urgent", "check_in", "met"))] == 1
    assert seen[("DEADLINE_OUTCOMES", ("chengguan", "daxigou", "urgent", "arrival", "missed"))] == 1
    assert seen[("WHISTLES_RAISED", ("daxigou", "hotline_12345", "garbage_dumping", "urgent"))] == 1
    latency = [o.value for o in state.observations() if o.instrument == "CHECKIN_LATENCY"]
    assert latency == [720.0]


def test_an_event_seen_twice_changes_nothing_and_is_counted_once():
    i = issue("w1")
    check = checked_in(i, timedelta(minutes=3))
    first = folded(i, check, check, i)
    assert sum(observed(first).values()) == 4          # issued, latency, check-in, outcome
    rows = {"callout_facts": first.rows["callout_facts"].values()}
    again = folded(i, check, rows=rows)                # a redelivery in a later batch
    assert again.observations() == [] and again.updates()["callout_facts"] == []
    assert not again.inserts()["callout_facts"]


def test_a_check_in_that_overtakes_its_call_out_starts_the_row_and_the_issue_completes_it():
    i = issue("w1")
    early = folded(checked_in(i, timedelta(minutes=5)))
    row = callout_row(early, i)
    assert row["issued_seen"] is False and row["arrival_by"] is None and row["check_in_outcome"] == "met"
    assert ("CALLOUTS_ISSUED", ("chengguan", "urgent")) not in observed(early)
    later = folded(i, rows={"callout_facts": early.rows["callout_facts"].values()})
    assert callout_row(later, i)["arrival_by"] == i.callouts[0].deadlines.arrival_by
    assert observed(later) == Counter({("CALLOUTS_ISSUED", ("chengguan", "urgent")): 1})


def test_a_call_out_never_checked_in_is_a_miss_once_its_deadline_passed_and_stays_one():
    i = issue("w1")
    state = folded(i)
    row = callout_row(state, i)
    due = row["check_in_by"]
    assert rm.settle(row, cutoff=due - timedelta(seconds=1)) == {}          # not yet past
    # the sample's arrival deadline is the check-in's (30 minutes): both passed undone
    assert rm.settle(row, cutoff=due) == {"check_in_outcome": "missed", "arrival_outcome": "missed"}
    late = folded(checked_in(i, timedelta(minutes=50)), rows={"callout_facts": [row]})
    seen = observed(late)
    assert seen[("CHECKINS", ("chengguan", "urgent", "false"))] == 1
    assert not any(name == "DEADLINE_OUTCOMES" and labels[3] == "check_in" for name, labels in seen)


def test_dispatch_s_escalation_decides_a_missed_step_at_once():
    i = issue("w1")
    state = folded(i, escalated(i, "check_in"), escalated(i, "check_in", "district"))
    assert callout_row(state, i)["check_in_outcome"] == "missed"
    seen = observed(state)
    assert seen[("ESCALATIONS", ("chengguan", "check_in", "street"))] == 1
    assert seen[("ESCALATIONS", ("chengguan", "check_in", "district"))] == 1
    assert seen[("DEADLINE_OUTCOMES", ("chengguan", "daxigou", "urgent", "check_in", "missed"))] == 1


def test_a_return_answers_the_check_in_and_voids_the_steps_not_yet_due():
    i = issue("w1", departments=("guihua", "zhujian"))
    state = folded(i, returned(i, timedelta(minutes=10), 0, rerouted_to="zhujian"),
                   returned(i, timedelta(minutes=45), 1, arbitration_id="a1"))
    early, late = callout_row(state, i, 0), callout_row(state, i, 1)
    assert (early["check_in_outcome"], early["arrival_outcome"], early["completion_outcome"]) == ("met", "void", "void")
    outcomes = (late["check_in_outcome"], late["arrival_outcome"], late["completion_outcome"])
    assert outcomes == ("missed", "missed", "void")
    assert (early["return_verdict"], late["return_verdict"]) == ("rerouted", "pending")
    seen = observed(state)
    assert seen[("RETURNS", ("guihua", "rerouted"))] == 1 and seen[("RETURNS", ("zhujian", "arbitration"))] == 1
    assert not any(labels[-1] == "void" for name, labels in seen if name == "DEADLINE_OUTCOMES")


def test_closing_a_whistle_voids_what_its_call_outs_no_longer_owe():
    w, i = whistle("w1"), issue("w1")
    state = folded(w, i, checked_in(i, timedelta(minutes=5)), closed("w1", T0 + timedelta(minutes=10)))
    row = callout_row(state, i)
    assert (row["check_in_outcome"], row["arrival_outcome"], row["completion_outcome"]) == ("met", "void", "void")
    assert rm.step_at(row) is None
    seen = observed(state)
    assert seen[("CLOSURES", ("daxigou",))] == 1
    [latency] = [o.value for o in state.observations() if o.instrument == "CLOSURE_LATENCY"]
    assert latency == 600.0 and state.get("whistle_facts", "w1")["last_closed_at"] == T0 + timedelta(minutes=10)


def test_the_step_an_open_call_out_is_at_and_whether_it_is_overdue():
    i = issue("w1")
    row = callout_row(folded(i, checked_in(i, timedelta(minutes=5))), i)
    assert rm.step_at(row) == "arrival"
    assert rm.overdue_step(row, T0 + timedelta(minutes=29)) is None
    assert rm.overdue_step(row, T0 + timedelta(minutes=31)) == "arrival"


# ---------------------------------------------------------------- whistles, arbitrations, teams

def test_reopenings_links_follow_ups_teams_and_all_checked_in():
    w, i = whistle("w1"), issue("w1")
    linked = WhistleLinked(whistle_id="w2", linked_to="w1", street_code="daxigou", category="garbage_dumping",
                           distance_m=20.0)
    reopened = WhistleReopened(whistle_id="w1", street_code="daxigou", reason="不满意",
                               reopened_at=T0 + timedelta(days=1), occurred_at=T0 + timedelta(days=1))
    follow = FollowUpRecorded(whistle_id="w1", street_code="daxigou", rating="unsatisfied", comment=None,
                              recorded_by="回访员", reopened=True, occurred_at=T0 + timedelta(days=1))
    lead = TeamOfficer(officer_code="chengguan-01", name="王建国", department_code="chengguan", badge="CG-0001")
    team = TeamAssembled(team_id="t1", kind="whistle", whistle_id="w1", street_code="daxigou",
                         category="garbage_dumping", lead=lead, members=(lead,), gaps=("huanwei",),
                         formed_at=T0 + timedelta(minutes=1), assembled_at=T0 + timedelta(minutes=2),
                         occurred_at=T0 + timedelta(minutes=2))
    everyone = AllCheckedIn(whistle_id="w1", street_code="daxigou", departments=("chengguan",),
                            first_issued_at=T0, last_checked_in_at=T0 + timedelta(minutes=9))
    state = folded(w, i, linked, closed("w1", T0 + timedelta(hours=3)), follow, reopened, team, everyone)
    assert state.get("whistle_facts", "w1")["last_reopened_at"] == T0 + timedelta(days=1)
    seen = observed(state)
    assert seen[("DUPLICATES", ("daxigou", "garbage_dumping"))] == 1
    assert seen[("REOPENINGS", ("daxigou",))] == 1
    assert seen[("FOLLOW_UPS", ("daxigou", "unsatisfied"))] == 1
    assert seen[("TEAMS", ("garbage_dumping", "false"))] == 1
    values = {o.instrument: o.value for o in state.observations()}
    assert values["TEAM_ASSEMBLY_LATENCY"] == 120.0 and values["ALL_CHECKED_IN_LATENCY"] == 540.0
    assert ("ALL_CHECKED_IN_LATENCY", ("urgent",)) in seen


def test_an_arbitration_decided_in_time_or_found_overdue_and_the_return_s_verdict():
    i = issue("w1", departments=("guihua", "zhujian"))
    opened = [ArbitrationOpened(arbitration_id=a, whistle_id="w1", street_code="daxigou", category="garbage_dumping",
                                reason="returned_without_alternative", candidates=("guihua",),
                                decide_by=T0 + timedelta(hours=2), occurred_at=T0) for a in ("a1", "a2")]
    decided = ArbitrationDecided(arbitration_id="a1", whistle_id="w1", street_code="daxigou", decided_by="区城管委",
                                 grid_code=None, department_code="guihua", decided_at=T0 + timedelta(hours=1))
    overdue = ArbitrationOverdue(arbitration_id="a2", whistle_id="w1", street_code="daxigou",
                                 reason="returned_without_alternative", decide_by=T0 + timedelta(hours=2),
                                 chased_by="city", chased_by_name_zh="市督查室", escalated_at=T0 + timedelta(hours=2))
    late = ArbitrationDecided(arbitration_id="a2", whistle_id="w1", street_code="daxigou", decided_by="区城管委",
                              grid_code=None, department_code="guihua", decided_at=T0 + timedelta(hours=3))
    state = folded(i, returned(i, timedelta(minutes=5), 0, arbitration_id="a1"),
                   returned(i, timedelta(minutes=5), 1, arbitration_id="a2"), *opened, decided, overdue, late)
    assert callout_row(state, i, 0)["return_verdict"] == "unjustified"     # guihua was told to do it after all
    assert callout_row(state, i, 1)["return_verdict"] == "justified"       # someone else was
    seen = observed(state)
    assert seen[("ARBITRATIONS", ("returned_without_alternative",))] == 2
    assert seen[("ARBITRATIONS_DECIDED", ("true",))] == 1 and seen[("ARBITRATIONS_DECIDED", ("false",))] == 1
    assert seen[("ARBITRATIONS_OVERDUE", ("returned_without_alternative",))] == 1


def test_an_arbitration_seen_decided_before_opened_is_counted_when_its_deadline_is_known():
    decided = ArbitrationDecided(arbitration_id="a1", whistle_id="w1", street_code="daxigou", decided_by="区城管委",
                                 grid_code="daxigou-c1-g1", department_code=None, decided_at=T0 + timedelta(hours=1))
    first = folded(decided)
    assert observed(first) == Counter()
    opened = ArbitrationOpened(arbitration_id="a1", whistle_id="w1", street_code="daxigou", category="noise",
                               reason="unowned_place", candidates=(), decide_by=T0 + timedelta(hours=2),
                               occurred_at=T0)
    second = folded(opened, rows={"arbitration_facts": first.rows["arbitration_facts"].values()})
    assert observed(second) == Counter({("ARBITRATIONS", ("unowned_place",)): 1,
                                        ("ARBITRATIONS_DECIDED", ("true",)): 1})


# ---------------------------------------------------------------- live counting equals the rebuild

def a_district_s_events(n: int) -> list:
    """Whistles with every kind of step, late and on time, returned, escalated, closed, reopened."""
    events = []
    for k in range(n):
        wid, at = f"w{k}", T0 + timedelta(minutes=7 * k)
        i = issue(wid, departments=("chengguan", "huanwei"), at=at)
        events += [whistle(wid, at), i, checked_in(i, timedelta(minutes=5 + 20 * (k % 3)))]
        if k % 4 == 0:
            events += [escalated(i, "check_in", n=1), returned(i, timedelta(minutes=40), 1, rerouted_to="shengtai")]
        else:
            events += [checked_in(i, timedelta(minutes=8), 1)]
        events += [arrived(i, timedelta(minutes=25 + k % 10)), completed(i, timedelta(hours=3))]
        if k % 3 == 0:
            events.append(closed(wid, at + timedelta(hours=4)))
        if k % 2 == 0:                  # opened, found overdue, decided late: in whatever order they come
            aid, due = f"a{k}", at + timedelta(hours=2)
            events += [ArbitrationOpened(arbitration_id=aid, whistle_id=wid, street_code="daxigou",
                                         category="garbage_dumping", reason="unowned_place", candidates=(),
                                         decide_by=due, occurred_at=at),
                       ArbitrationOverdue(arbitration_id=aid, whistle_id=wid, street_code="daxigou",
                                          reason="unowned_place", decide_by=due, chased_by="city",
                                          chased_by_name_zh="市督查室", escalated_at=due),
                       ArbitrationDecided(arbitration_id=aid, whistle_id=wid, street_code="daxigou",
                                          decided_by="区城管委", grid_code="daxigou-c1-g1", department_code=None,
                                          decided_at=due + timedelta(minutes=k))]
    return events


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_what_batches_observe_adds_up_to_what_the_rows_contribute(data):
    events = a_district_s_events(6)
    events = data.draw(st.permutations(events + data.draw(st.lists(st.sampled_from(events), max_size=10))))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(events)), max_size=6)))
    rows: dict[str, dict[str, dict]] = {table: {} for table in rm.KEYS}
    live: Counter = Counter()
    for start, end in zip([0, *cuts], [*cuts, len(events)]):
        state = rm.fold(rm.State({t: r.values() for t, r in rows.items()}), events[start:end])
        if data.draw(st.booleans()):                    # the sweep runs between two batches
            for row in state.rows["callout_facts"].values():
                rm.settle(row, cutoff=T0 + timedelta(minutes=30))
        live.update(state.observations())
        rows = {table: {k: dict(v) for k, v in r.items()} for table, r in state.rows.items()}
    rebuilt = Counter(o for table, r in rows.items() for o in rm.contributions(table, r.values()))
    assert live == rebuilt


# ---------------------------------------------------------------- against a real database

def test_record_load_write_and_the_sweep_on_sqlite(tmp_path, monkeypatch):
    engine = create_engine(f"sqlite:///{tmp_path / 'metrics.db'}")
    metadata.create_all(engine)
    w, i = whistle("w1"), issue("w1", departments=("chengguan", "huanwei"))
    told: list = []
    monkeypatch.setattr(handlers, "observe", told.extend)        # what would reach Prometheus
    for batch in ([w, i], [checked_in(i, timedelta(minutes=4)), checked_in(i, timedelta(minutes=4))],
                  [closed("w1", T0 + timedelta(hours=5))]):
        with engine.connect() as conn:
            uow = UnitOfWork(conn, T0 + timedelta(hours=6))
            handlers.record(uow, batch)
            conn.commit()
            for callback in uow._after:
                callback()
    with engine.connect() as conn:
        uow = UnitOfWork(conn, T0 + timedelta(hours=6))
        assert handlers.sweep_deadlines(uow, timedelta(seconds=30), T0 + timedelta(hours=6)) == 0   # all decided
    with engine.connect() as conn:
        rows = {r.department_code: r for r in conn.execute(select(callout_facts))}
        assert rows["chengguan"].check_in_outcome == "met" and rows["huanwei"].check_in_outcome == "missed"
        assert rows["huanwei"].completion_outcome == "void"
        rebuilt = Counter(o for name, table in handlers.TABLES.items()
                          for o in rm.contributions(name, [r._mapping for r in conn.execute(select(table))]))
    assert Counter(told) == rebuilt
    assert rebuilt[rm.Observation("DEADLINE_OUTCOMES", ("huanwei", "daxigou", "urgent", "check_in", "missed"))] == 1


def test_the_sweep_waits_for_the_watermark_and_the_grace(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'metrics.db'}")
    metadata.create_all(engine)
    i = issue(str(uuid.uuid4()))
    due = i.callouts[0].deadlines.check_in_by
    with engine.begin() as conn:
        handlers.write(conn, rm.fold(rm.State(), [i]))

    def sweep(now, watermark):
        with engine.connect() as conn:
            uow = UnitOfWork(conn, now)
            handlers.sweep_deadlines(uow, timedelta(seconds=30), watermark)
            conn.commit()
            return conn.execute(select(callout_facts.c.check_in_outcome)).scalar_one()
    hour_later = due + timedelta(hours=1)
    assert sweep(hour_later, None) is None                               # nothing consumed yet: no idea
    assert sweep(hour_later, due + timedelta(seconds=10)) is None        # events seen only to within the grace
    assert sweep(due + timedelta(seconds=20), hour_later) is None        # now is within the grace
    assert sweep(hour_later, due + timedelta(seconds=31)) == "missed"

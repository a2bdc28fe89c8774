"""The read model as a pure fold: events move rows forward; rows contribute to the instruments.

    state = State(rows_already_stored)
    for event in events:
        apply(state, event)
    state.inserts(), state.updates(), state.observations()

Rows are plain dicts keyed by column name (services/metrics/orm.py). A row only ever moves
forward: a step's time is set once (the first report wins), a deadline outcome is decided once. So
the same event applied twice changes nothing, and the Prometheus instruments can be defined as a
function of the rows alone (`contributions`): what one batch observes is what its new and changed
rows contribute beyond what they contributed before, and a restart rebuilds every instrument by
adding up the contributions of every stored row. Live counting and the rebuild cannot disagree.

Deadline outcomes (`chuishao_deadline_outcomes_total`): each step of a call-out is decided once,
  met     the step was done and dispatch judged it on time (a check-in, or a return no later than
          the check-in deadline: "not ours" is an answer too);
  missed  done late, or not done when its deadline passed: dispatch escalated the step (its first
          rung is the missed deadline itself), the call-out was returned after it fell due, or the
          sweep (`settle`) found it past due and undone;
  void    no longer owed: the call-out was returned, or its whistle closed, before it fell due.
Only met and missed are counted.
"""
from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Mapping, Optional

from services.common.events import (AllCheckedIn, ArbitrationDecided, ArbitrationOpened, ArbitrationOverdue,
                                    CalloutArrived, CalloutCheckedIn, CalloutCompleted, CalloutEscalated,
                                    CalloutReturned, CalloutsIssued, CalloutStep, Event, FollowUpRecorded,
                                    TeamAssembled, WhistleClosed, WhistleLinked, WhistleRaised, WhistleReopened)

MET, MISSED, VOID = "met", "missed", "void"
UNKNOWN = "unknown"          # an arbitration's reason until an event that carries it arrives
KEYS = {"callout_facts": "callout_id", "whistle_facts": "whistle_id", "whistle_history": "event_id",
        "escalation_facts": "escalation_id", "follow_up_facts": "follow_up_id",
        "arbitration_facts": "arbitration_id", "team_facts": "team_id"}


@dataclass(frozen=True)
class Step:
    name: str
    due: str
    done: str
    on_time: str
    outcome: str


STEPS = (Step("check_in", "check_in_by", "checked_in_at", "on_time", "check_in_outcome"),
         Step("arrival", "arrival_by", "arrived_at", "arrival_on_time", "arrival_outcome"),
         Step("completion", "completion_by", "completed_at", "completion_on_time", "completion_outcome"))
STEP = {s.name: s for s in STEPS}
CALLOUT_COLUMNS = ("callout_id", "whistle_id", "department_code", "street_code", "category", "urgency",
                   "issued_at", "check_in_by", "checked_in_at", "on_time", "issued_seen", "round", "arrival_by",
                   "completion_by", "arrived_at", "arrival_on_time", "completed_at", "completion_on_time",
                   "returned_at", "return_reason", "rerouted_to", "return_arbitration_id", "return_verdict",
                   "check_in_outcome", "arrival_outcome", "completion_outcome")


@dataclass(frozen=True, order=True)
class Observation:
    """One thing to tell Prometheus: `instrument` names an instrument of services.metrics.instruments;
    a counter is incremented by `value`, a histogram observes it."""

    instrument: str
    labels: tuple[str, ...]
    value: float = 1.0


def _bool(value) -> str:
    return "true" if value else "false"


def _seconds(later: Optional[datetime], earlier: Optional[datetime]) -> Optional[float]:
    return None if later is None or earlier is None else (later - earlier).total_seconds()


# ---------------------------------------------------------------- what a row contributes

def callout_contributions(r: Mapping) -> list[Observation]:
    d, u = r["department_code"], r["urgency"]
    out = []
    if r["issued_seen"]:
        out.append(Observation("CALLOUTS_ISSUED", (d, u)))
    if r["checked_in_at"] is not None:
        out += [Observation("CHECKIN_LATENCY", (d, u), _seconds(r["checked_in_at"], r["issued_at"])),
                Observation("CHECKINS", (d, u, _bool(r["on_time"])))]
    if r["arrived_at"] is not None:
        out += [Observation("ARRIVAL_LATENCY", (d, u), _seconds(r["arrived_at"], r["issued_at"])),
                Observation("STEPS_DONE", (d, u, "arrival", _bool(r["arrival_on_time"])))]
    if r["completed_at"] is not None:
        out += [Observation("COMPLETION_LATENCY", (d, u), _seconds(r["completed_at"], r["issued_at"])),
                Observation("STEPS_DONE", (d, u, "completion", _bool(r["completion_on_time"])))]
    if r["returned_at"] is not None:
        out.append(Observation("RETURNS", (d, "rerouted" if r["rerouted_to"] else "arbitration")))
    for step in STEPS:
        if r[step.outcome] in (MET, MISSED):
            out.append(Observation("DEADLINE_OUTCOMES", (d, r["street_code"], u, step.name, r[step.outcome])))
    return out


def whistle_contributions(r: Mapping) -> list[Observation]:
    return [Observation("WHISTLES_RAISED", (r["street_code"], r["source"], r["category"], r["urgency"]))]


def history_contributions(r: Mapping) -> list[Observation]:
    kind, street = r["kind"], r["street_code"]
    latency = _seconds(r["at"], r["started_at"])
    if kind == "closed":
        out = [Observation("CLOSURES", (street,))]
        if latency is not None and r["urgency"]:
            out.append(Observation("CLOSURE_LATENCY", (street, r["urgency"]), latency))
        return out
    if kind == "reopened":
        return [Observation("REOPENINGS", (street,))]
    if kind == "linked":
        return [Observation("DUPLICATES", (street, r["category"] or "unknown"))]
    if kind == "all_checked_in" and latency is not None:
        return [Observation("ALL_CHECKED_IN_LATENCY", (r["urgency"] or "unknown",), latency)]
    return []


def escalation_contributions(r: Mapping) -> list[Observation]:
    return [Observation("ESCALATIONS", (r["department_code"], r["step"], r["tier"]))]


def follow_up_contributions(r: Mapping) -> list[Observation]:
    return [Observation("FOLLOW_UPS", (r["street_code"], r["rating"]))]


def arbitration_contributions(r: Mapping) -> list[Observation]:
    out = []
    if r["opened_at"] is not None:
        out.append(Observation("ARBITRATIONS", (r["reason"],)))
    if r["decided_at"] is not None and r["decide_by"] is not None:
        out.append(Observation("ARBITRATIONS_DECIDED", (_bool(r["decided_at"] <= r["decide_by"]),)))
    if r["overdue_at"] is not None:
        out.append(Observation("ARBITRATIONS_OVERDUE", (r["reason"],)))
    return out


def team_contributions(r: Mapping) -> list[Observation]:
    out = [Observation("TEAMS", (r["category"], _bool(r["complete"])))]
    if r["latency_seconds"] is not None:
        out.append(Observation("TEAM_ASSEMBLY_LATENCY", (r["category"],), r["latency_seconds"]))
    return out


CONTRIBUTIONS = {"callout_facts": callout_contributions, "whistle_facts": whistle_contributions,
                 "whistle_history": history_contributions, "escalation_facts": escalation_contributions,
                 "follow_up_facts": follow_up_contributions, "arbitration_facts": arbitration_contributions,
                 "team_facts": team_contributions}


def contributions(table: str, rows: Iterable[Mapping]) -> list[Observation]:
    """What these stored rows add up to in the instruments (the rebuild after a restart)."""
    of = CONTRIBUTIONS[table]
    return [o for r in rows for o in of(r)]


# ---------------------------------------------------------------- deadline outcomes

def decide(row: Mapping, step: Step, cutoff: Optional[datetime] = None, escalated: bool = False,
           closed_at: Optional[datetime] = None) -> Optional[str]:
    """The step's outcome if it can be decided now, None if it stays open (or is decided already).

    `cutoff`: deadlines at or before it have passed for sure (the sweep); `escalated`: dispatch
    escalated this step; `closed_at`: the whistle was closed then (its clocks stopped)."""
    if row[step.outcome] is not None or row[step.due] is None:
        return None
    due = row[step.due]
    if row[step.done] is not None:
        return MET if row[step.on_time] else MISSED
    returned = row["returned_at"]
    if returned is not None:
        if step.name == "check_in":
            return MET if returned <= due else MISSED
        return VOID if returned <= due else MISSED
    if escalated or (cutoff is not None and due <= cutoff):
        return MISSED
    if closed_at is not None:
        return MISSED if due <= closed_at else VOID
    return None


def settle(row: dict, cutoff: Optional[datetime] = None, escalated: Optional[str] = None,
           closed_at: Optional[datetime] = None) -> dict:
    """Decides every step of a call-out that can be decided; returns (and applies) the changes."""
    changes = {}
    for step in STEPS:
        outcome = decide(row, step, cutoff, escalated == step.name, closed_at)
        if outcome is not None:
            changes[step.outcome] = outcome
    row.update(changes)
    return changes


def undecided_past(row: Mapping, cutoff: datetime) -> bool:
    """Whether the sweep has something to decide on this row."""
    return any(row[s.outcome] is None and row[s.due] is not None and row[s.due] <= cutoff for s in STEPS)


def step_at(row: Mapping) -> Optional[str]:
    """The step an open call-out is at (the next one it owes), None once completed or no longer owed."""
    if row["completed_at"] is not None or row["returned_at"] is not None or row["completion_outcome"] == VOID:
        return None
    if row["checked_in_at"] is None:
        return "check_in"
    return "arrival" if row["arrived_at"] is None else "completion"


def overdue_step(row: Mapping, now: datetime) -> Optional[str]:
    """The step an open call-out is at, if its deadline has passed by `now`."""
    step = step_at(row)
    if step is None:
        return None
    due = row[STEP[step].due]
    return step if due is not None and due < now else None


# ---------------------------------------------------------------- the fold

class State:
    """The stored rows a batch touches (loaded by the caller), changed in memory by `apply`."""

    def __init__(self, rows: Mapping[str, Iterable[Mapping]] | None = None,
                 urgency_of_whistle: Mapping[str, str] | None = None):
        rows = rows or {}
        self.rows: dict[str, dict[str, dict]] = {
            table: {r[key]: dict(r) for r in rows.get(table, ())} for table, key in KEYS.items()}
        self._before = copy.deepcopy(self.rows)
        self.urgency_of_whistle = dict(urgency_of_whistle or {})

    def get(self, table: str, key: str) -> Optional[dict]:
        return self.rows[table].get(key)

    def add(self, table: str, row: dict) -> dict:
        self.rows[table][row[KEYS[table]]] = row
        return row

    def callouts_of(self, whistle_id: str) -> list[dict]:
        return [r for r in self.rows["callout_facts"].values() if r["whistle_id"] == whistle_id]

    def inserts(self) -> dict[str, list[dict]]:
        return {table: [row for key, row in rows.items() if key not in self._before[table]]
                for table, rows in self.rows.items()}

    def updates(self) -> dict[str, list[tuple[str, dict]]]:
        out = {}
        for table, rows in self.rows.items():
            before = self._before[table]
            out[table] = [(key, {c: v for c, v in row.items() if before[key].get(c) != v})
                          for key, row in rows.items() if key in before and row != before[key]]
        return out

    def observations(self) -> list[Observation]:
        """What the rows now contribute beyond what they contributed when loaded."""
        out: list[Observation] = []
        for table, rows in self.rows.items():
            of, before = CONTRIBUTIONS[table], self._before[table]
            for key, row in rows.items():
                gained = Counter(of(row))
                if key in before:
                    gained -= Counter(of(before[key]))
                out += sorted(gained.elements())
        return out


def _new_callout(**fields) -> dict:
    row = dict.fromkeys(CALLOUT_COLUMNS)
    row.update(round=1, issued_seen=False)
    row.update(fields)
    return row


def _callout_of_step(state: State, e: CalloutStep, check_in_by: Optional[datetime]) -> Optional[dict]:
    """The call-out's row; a step that overtook its call-out starts it (the issue fills it in later).
    Without the check-in deadline (only a check-in carries it) no row can be started."""
    row = state.get("callout_facts", e.callout_id)
    if row is None and check_in_by is not None:
        row = state.add("callout_facts", _new_callout(
            callout_id=e.callout_id, whistle_id=e.whistle_id, department_code=e.department_code,
            street_code=e.street_code, category=e.category, urgency=e.urgency, issued_at=e.issued_at,
            check_in_by=check_in_by, round=e.round))
    return row


def _issued(state: State, e: CalloutsIssued) -> None:
    for c in e.callouts:
        fields = dict(whistle_id=e.whistle_id, department_code=c.department_code, street_code=e.street_code,
                      category=e.category, urgency=e.urgency, issued_at=c.issued_at,
                      check_in_by=c.deadlines.check_in_by, arrival_by=c.deadlines.arrival_by,
                      completion_by=c.deadlines.completion_by, round=e.round, issued_seen=True)
        row = state.get("callout_facts", c.callout_id)
        if row is None:
            state.add("callout_facts", _new_callout(callout_id=c.callout_id, **fields))
        elif not row["issued_seen"]:
            row.update(fields)
            settle(row)


def _step(state: State, e: CalloutStep) -> None:
    if isinstance(e, CalloutCheckedIn):
        row = _callout_of_step(state, e, e.check_in_by)
        if row is not None and row["checked_in_at"] is None:
            row.update(checked_in_at=e.checked_in_at, on_time=e.on_time)
    elif isinstance(e, CalloutArrived):
        row = _callout_of_step(state, e, None)
        if row is not None and row["arrived_at"] is None:
            row.update(arrived_at=e.arrived_at, arrival_on_time=e.on_time, arrival_by=row["arrival_by"] or e.arrival_by)
    elif isinstance(e, CalloutCompleted):
        row = _callout_of_step(state, e, None)
        if row is not None and row["completed_at"] is None:
            row.update(completed_at=e.completed_at, completion_on_time=e.on_time,
                       completion_by=row["completion_by"] or e.completion_by)
    elif isinstance(e, CalloutReturned):
        row = _callout_of_step(state, e, None)
        if row is not None and row["returned_at"] is None:
            row.update(returned_at=e.returned_at, return_reason=e.reason, rerouted_to=e.rerouted_to,
                       return_arbitration_id=e.arbitration_id,
                       return_verdict="rerouted" if e.rerouted_to else "pending")
    elif isinstance(e, CalloutEscalated):
        row = state.get("callout_facts", e.callout_id)
        if state.get("escalation_facts", e.event_id) is None:
            state.add("escalation_facts", {
                "escalation_id": e.event_id, "callout_id": e.callout_id, "whistle_id": e.whistle_id,
                "department_code": e.department_code, "street_code": e.street_code, "step": e.step,
                "tier": e.tier, "level": e.level, "escalated_at": e.escalated_at})
        if row is not None:
            settle(row, escalated=e.step)
        return
    else:
        return
    if row is not None:
        settle(row)


def _history(state: State, e: Event, kind: str, whistle_id: str, street: str, at: datetime,
             started_at: Optional[datetime] = None, category: Optional[str] = None,
             urgency: Optional[str] = None) -> bool:
    if state.get("whistle_history", e.event_id) is not None:
        return False
    state.add("whistle_history", {"event_id": e.event_id, "whistle_id": whistle_id, "kind": kind,
                                  "street_code": street, "category": category, "urgency": urgency,
                                  "at": at, "started_at": started_at})
    return True


def _urgency(state: State, whistle_id: str) -> Optional[str]:
    whistle = state.get("whistle_facts", whistle_id)
    if whistle is not None:
        return whistle["urgency"]
    callouts = state.callouts_of(whistle_id)
    return callouts[0]["urgency"] if callouts else state.urgency_of_whistle.get(whistle_id)


def _whistle_event(state: State, e: Event) -> None:
    if isinstance(e, WhistleRaised):
        if state.get("whistle_facts", e.whistle_id) is None:
            state.add("whistle_facts", {
                "whistle_id": e.whistle_id, "street_code": e.street_code, "grid_code": e.grid_code,
                "category": e.category, "urgency": e.urgency, "source": e.source,
                "place": (e.grid_code or e.place.address)[:200], "raised_at": e.raised_at,
                "last_closed_at": None, "last_reopened_at": None})
        return
    whistle = state.get("whistle_facts", e.whistle_id) if hasattr(e, "whistle_id") else None
    if isinstance(e, WhistleLinked):
        _history(state, e, "linked", e.linked_to, e.street_code, e.occurred_at, category=e.category)
    elif isinstance(e, WhistleClosed):
        if _history(state, e, "closed", e.whistle_id, e.street_code, e.closed_at,
                    started_at=whistle["raised_at"] if whistle else None,
                    category=whistle["category"] if whistle else None, urgency=_urgency(state, e.whistle_id)):
            if whistle is not None and (whistle["last_closed_at"] is None or e.closed_at > whistle["last_closed_at"]):
                whistle["last_closed_at"] = e.closed_at
            for row in state.callouts_of(e.whistle_id):
                settle(row, closed_at=e.closed_at)
    elif isinstance(e, WhistleReopened):
        if _history(state, e, "reopened", e.whistle_id, e.street_code, e.reopened_at,
                    category=whistle["category"] if whistle else None):
            if whistle is not None and (whistle["last_reopened_at"] is None
                                        or e.reopened_at > whistle["last_reopened_at"]):
                whistle["last_reopened_at"] = e.reopened_at
    elif isinstance(e, AllCheckedIn):
        _history(state, e, "all_checked_in", e.whistle_id, e.street_code, e.last_checked_in_at,
                 started_at=e.first_issued_at, urgency=_urgency(state, e.whistle_id))
    elif isinstance(e, FollowUpRecorded):
        if state.get("follow_up_facts", e.event_id) is None:
            state.add("follow_up_facts", {"follow_up_id": e.event_id, "whistle_id": e.whistle_id,
                                          "street_code": e.street_code, "rating": e.rating,
                                          "recorded_at": e.occurred_at, "reopened": e.reopened})
    elif isinstance(e, TeamAssembled):
        # a whistle's team on site (its quorum checked in); a planned operation's team is no case's
        if e.kind == "whistle" and state.get("team_facts", e.team_id) is None:
            state.add("team_facts", {"team_id": e.team_id, "whistle_id": e.whistle_id, "category": e.category,
                                     "complete": not e.gaps, "assembled_at": e.assembled_at,
                                     "latency_seconds": _seconds(e.assembled_at, whistle["raised_at"])
                                     if whistle else None})


def _arbitration(state: State, e: Event) -> None:
    row = state.get("arbitration_facts", e.arbitration_id)
    if row is None:
        row = state.add("arbitration_facts", {
            "arbitration_id": e.arbitration_id, "whistle_id": e.whistle_id, "street_code": e.street_code,
            "category": None, "reason": getattr(e, "reason", UNKNOWN), "opened_at": None,
            "decide_by": getattr(e, "decide_by", None), "decided_at": None, "decided_by": None,
            "decided_department": None, "decided_grid": None, "overdue_at": None})
    if isinstance(e, ArbitrationOpened) and row["opened_at"] is None:
        row.update(category=e.category, reason=e.reason, opened_at=e.occurred_at, decide_by=e.decide_by)
    elif isinstance(e, ArbitrationOverdue) and row["overdue_at"] is None:
        # the reason labels what an overdue row contributes: known from here on, never changed after
        row.update(overdue_at=e.escalated_at, decide_by=row["decide_by"] or e.decide_by,
                   reason=e.reason if row["reason"] == UNKNOWN else row["reason"])
    elif isinstance(e, ArbitrationDecided) and row["decided_at"] is None:
        row.update(decided_at=e.decided_at, decided_by=e.decided_by, decided_department=e.department_code,
                   decided_grid=e.grid_code)
        if e.department_code:
            for callout in state.rows["callout_facts"].values():
                if callout["return_arbitration_id"] == e.arbitration_id and callout["return_verdict"] == "pending":
                    callout["return_verdict"] = ("unjustified" if callout["department_code"] == e.department_code
                                                 else "justified")


def apply(state: State, e: Event) -> None:
    """One event folded into the rows (events of no concern to the read model change nothing)."""
    if isinstance(e, CalloutsIssued):
        _issued(state, e)
    elif isinstance(e, CalloutStep):
        _step(state, e)
    elif isinstance(e, (ArbitrationOpened, ArbitrationOverdue, ArbitrationDecided)):
        _arbitration(state, e)
    else:
        _whistle_event(state, e)


def fold(state: State, events: Iterable[Event]) -> State:
    for event in events:
        apply(state, event)
    return state


# ---------------------------------------------------------------- what a batch needs loaded

@dataclass
class Needs:
    """The stored rows a batch of events touches, by key."""

    callouts: set[str]
    callouts_of_whistles: set[str]          # every call-out of these whistles (closures, all checked in)
    callouts_of_arbitrations: set[str]      # call-outs returned to these arbitrations
    whistles: set[str]
    history: set[str]
    escalations: set[str]
    follow_ups: set[str]
    arbitrations: set[str]
    teams: set[str]


def needs(events: Iterable[Event]) -> Needs:
    n = Needs(set(), set(), set(), set(), set(), set(), set(), set(), set())
    for e in events:
        if isinstance(e, CalloutsIssued):
            n.callouts.update(c.callout_id for c in e.callouts)
        elif isinstance(e, CalloutStep):
            n.callouts.add(e.callout_id)
            if isinstance(e, CalloutEscalated):
                n.escalations.add(e.event_id)
        elif isinstance(e, (ArbitrationOpened, ArbitrationOverdue, ArbitrationDecided)):
            n.arbitrations.add(e.arbitration_id)
            if isinstance(e, ArbitrationDecided):
                n.callouts_of_arbitrations.add(e.arbitration_id)
        elif isinstance(e, (WhistleLinked, WhistleClosed, WhistleReopened, AllCheckedIn)):
            n.history.add(e.event_id)
            if isinstance(e, (WhistleClosed, AllCheckedIn)):
                n.callouts_of_whistles.add(e.whistle_id)
        elif isinstance(e, FollowUpRecorded):
            n.follow_ups.add(e.event_id)
        elif isinstance(e, TeamAssembled):
            n.teams.add(e.team_id)
        whistle_id = getattr(e, "whistle_id", None)
        if whistle_id:
            n.whistles.add(whistle_id)
    return n

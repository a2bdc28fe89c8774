"""The facts an assessment is computed from: frozen, validated, free of any database or clock.

The metrics service's read model turns events into these; the assessment never sees an event, a
row or the time of day. Every instant is timezone-aware (UTC or any other zone: they compare
correctly); a bad fact raises `FactError` naming the fact and the field.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Literal, Optional

Step = Literal["check_in", "arrival", "completion"]
Tier = Literal["street", "district", "city"]
Rating = Literal["satisfied", "basically_satisfied", "unsatisfied"]
# How a return (退单) ended: re-routed by the matrix's alternative (no judgement needed), still before
# the district (pending), or judged by arbitration: the department was right (justified) or not.
Verdict = Literal["rerouted", "pending", "justified", "unjustified"]
FactKind = Literal["whistle", "callout", "return", "escalation", "follow_up"]

STEPS: tuple[Step, ...] = ("check_in", "arrival", "completion")
TIERS: tuple[Tier, ...] = ("street", "district", "city")
RATINGS: tuple[Rating, ...] = ("satisfied", "basically_satisfied", "unsatisfied")
VERDICTS: tuple[Verdict, ...] = ("rerouted", "pending", "justified", "unjustified")


class FactError(ValueError):
    """A fact that cannot be assessed; the message names the fact and its field."""

    def __init__(self, fact: str, field_name: str, message: str):
        self.fact, self.field = fact, field_name
        super().__init__(f"{fact}.{field_name}: {message}")


def _check(obj, name: str) -> None:
    """Every datetime field aware; every required string non-empty."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, datetime) and value.tzinfo is None:
            raise FactError(name, f.name, "must be timezone-aware")
        if isinstance(value, tuple):
            for item in value:
                if isinstance(item, datetime) and item.tzinfo is None:
                    raise FactError(name, f.name, "must hold timezone-aware instants")
        if isinstance(value, str) and not value.strip():
            raise FactError(name, f.name, "must not be empty")


def _choice(name: str, field_name: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise FactError(name, field_name, f"{value!r} is not one of {', '.join(allowed)}")


def _step_pair(name: str, at_name: str, at, flag_name: str, flag) -> None:
    if (at is None) != (flag is None):
        raise FactError(name, flag_name, f"must be given exactly when {at_name} is")


@dataclass(frozen=True)
class CalloutFact:
    """One call-out (派单) to one department, with its three deadlines and what became of each step.

    `*_on_time` are dispatch's own verdicts (from the step events); they are given exactly when
    the step happened."""

    callout_id: str
    whistle_id: str
    department: str
    street: str
    category: str
    urgency: str
    issued_at: datetime
    check_in_by: datetime
    arrival_by: datetime
    completion_by: datetime
    checked_in_at: Optional[datetime] = None
    check_in_on_time: Optional[bool] = None
    arrived_at: Optional[datetime] = None
    arrival_on_time: Optional[bool] = None
    completed_at: Optional[datetime] = None
    completion_on_time: Optional[bool] = None
    round: int = 1

    def __post_init__(self):
        name = f"callout {self.callout_id}"
        _check(self, name)
        _step_pair(name, "checked_in_at", self.checked_in_at, "check_in_on_time", self.check_in_on_time)
        _step_pair(name, "arrived_at", self.arrived_at, "arrival_on_time", self.arrival_on_time)
        _step_pair(name, "completed_at", self.completed_at, "completion_on_time", self.completion_on_time)
        if self.check_in_by < self.issued_at:
            raise FactError(name, "check_in_by", "is before issued_at")
        if self.round < 1:
            raise FactError(name, "round", "must be 1 or more")

    @property
    def ref(self) -> "FactRef":
        return FactRef("callout", self.callout_id)


@dataclass(frozen=True)
class ReturnFact:
    """退单: the department said "not ours"; `verdict` is how it ended (see Verdict)."""

    callout_id: str
    whistle_id: str
    department: str
    street: str
    returned_at: datetime
    verdict: Verdict
    reason: str = "-"

    def __post_init__(self):
        name = f"return of callout {self.callout_id}"
        _check(self, name)
        _choice(name, "verdict", self.verdict, VERDICTS)

    @property
    def ref(self) -> "FactRef":
        return FactRef("return", self.callout_id)


@dataclass(frozen=True)
class EscalationFact:
    """督办: a step of a call-out missed its deadline and climbed to `tier`."""

    escalation_id: str
    callout_id: str
    whistle_id: str
    department: str
    street: str
    step: Step
    tier: Tier
    escalated_at: datetime

    def __post_init__(self):
        name = f"escalation {self.escalation_id}"
        _check(self, name)
        _choice(name, "step", self.step, STEPS)
        _choice(name, "tier", self.tier, TIERS)

    @property
    def ref(self) -> "FactRef":
        return FactRef("escalation", self.escalation_id)


@dataclass(frozen=True)
class WhistleFact:
    """A case (吹哨): where and what, when raised, every closure (销号) and every reopening, in order.

    `place` is the grid code when the whistle has one, otherwise its address: what hotspots count."""

    whistle_id: str
    street: str
    category: str
    urgency: str
    source: str
    raised_at: datetime
    place: str
    closures: tuple[datetime, ...] = ()
    reopenings: tuple[datetime, ...] = ()

    def __post_init__(self):
        name = f"whistle {self.whistle_id}"
        _check(self, name)
        for field_name in ("closures", "reopenings"):
            times = getattr(self, field_name)
            if list(times) != sorted(times):
                raise FactError(name, field_name, "must be in time order")
            if times and times[0] < self.raised_at:
                raise FactError(name, field_name, "starts before raised_at")

    @property
    def ref(self) -> "FactRef":
        return FactRef("whistle", self.whistle_id)

    def closed_as_of(self, instant: datetime) -> bool:
        """Closed at `instant`: its latest closure by then is later than its latest reopening by then."""
        closed = [t for t in self.closures if t <= instant]
        reopened = [t for t in self.reopenings if t <= instant]
        return bool(closed) and (not reopened or closed[-1] > reopened[-1])


@dataclass(frozen=True)
class FollowUpFact:
    """回访: the complainant's rating of a case, and whether it reopened the case."""

    follow_up_id: str
    whistle_id: str
    street: str
    rating: Rating
    recorded_at: datetime
    reopened: bool = False

    def __post_init__(self):
        name = f"follow-up {self.follow_up_id}"
        _check(self, name)
        _choice(name, "rating", self.rating, RATINGS)

    @property
    def ref(self) -> "FactRef":
        return FactRef("follow_up", self.follow_up_id)


@dataclass(frozen=True, order=True)
class FactRef:
    """Names one fact: its kind and its id (callout_id for a call-out and for its return)."""

    kind: FactKind
    id: str


@dataclass(frozen=True)
class Decision:
    """An exemption (免责, granted by the assessment office) or an appeal (申诉, asked by a unit).

    An exemption, or an appeal that is upheld, removes its fact from every figure; an upheld
    appeal against a return makes the return justified instead (the department was right). A
    rejected or undecided appeal (`upheld` False) changes nothing but is kept in the audit."""

    kind: Literal["exemption", "appeal"]
    fact: FactRef
    reason: str
    decided_by: str
    decided_at: datetime
    upheld: bool = True
    requested_by: Optional[str] = None

    def __post_init__(self):
        name = f"{self.kind} of {self.fact.kind} {self.fact.id}"
        _check(self, name)
        _choice(name, "kind", self.kind, ("exemption", "appeal"))
        _choice(name, "fact.kind", self.fact.kind, ("whistle", "callout", "return", "escalation", "follow_up"))
        if self.kind == "exemption" and self.fact.kind == "return":
            raise FactError(name, "fact.kind", "a return is contested by an appeal against its verdict, "
                                               "or exempted with its call-out")
        if self.kind == "exemption" and not self.upheld:
            raise FactError(name, "upheld", "an exemption is a decision taken; record a refusal as a rejected appeal")


@dataclass(frozen=True)
class PeriodFacts:
    """Everything known that may touch a period. Facts outside it are simply not counted, so the
    caller may pass a generous window (e.g. call-outs issued from a month before the period)."""

    callouts: tuple[CalloutFact, ...] = ()
    returns: tuple[ReturnFact, ...] = ()
    escalations: tuple[EscalationFact, ...] = ()
    whistles: tuple[WhistleFact, ...] = ()
    follow_ups: tuple[FollowUpFact, ...] = ()
    decisions: tuple[Decision, ...] = field(default=())

    def __post_init__(self):
        for kind, items, key in (("callout", self.callouts, "callout_id"),
                                 ("return", self.returns, "callout_id"),
                                 ("escalation", self.escalations, "escalation_id"),
                                 ("whistle", self.whistles, "whistle_id"),
                                 ("follow-up", self.follow_ups, "follow_up_id")):
            seen: set[str] = set()
            for item in items:
                ident = getattr(item, key)
                if ident in seen:
                    raise FactError(f"{kind} {ident}", key, "appears twice")
                seen.add(ident)

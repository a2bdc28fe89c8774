"""The monthly and quarterly assessment (考核), pure: facts + period + `as_of` + rules → figures.

Definitions (the same text is in deploy/reference/ASSESSMENT.md):

* **As of.** A fact with a time after `as_of` has not happened yet. Every deadline-based figure
  counts a fact in the period in which its deadline *falls* (start inclusive, end exclusive,
  Asia/Shanghai); it is counted once its outcome is known: done, or deadline passed by `as_of`.
* **Responded** (签收/响应): a call-out is responded to by its first check-in or, if earlier, its
  return (退单 is an answer too). On time: dispatch's on-time verdict for a check-in; for a return,
  returned no later than the check-in deadline.
* **Not the department's**: a call-out whose return was re-routed by the matrix, judged justified,
  or is still pending arbitration. It leaves the department's resolution-side figures (解决率,
  7日办结率, 办结率) and satisfaction; a return judged unjustified leaves nothing.
* **响应率 response** = call-outs responded to on time ÷ call-outs whose check-in deadline fell in the
  period. A call-out never checked in whose deadline passed is a miss, not nothing.
* **解决率 resolution**: a department's = its call-outs completed on time ÷ those whose completion
  deadline fell in the period; a street's = its cases resolved ÷ cases whose resolution deadline
  (raised + the completion span of the case's urgency) fell in the period, where resolved means
  closed by that deadline and never reopened.
* **满意率 satisfaction** = Σ rating score ÷ follow-ups recorded in the period (满意 and 基本满意 score
  1, 不满意 0, configurable). A follow-up counts for the case's street and for every department
  with a call-out on the case that is not "not the department's".
* **24小时签收率** = call-outs responded to within `sign_for_within` of issue ÷ those whose sign-for
  deadline fell in the period. **7日办结率** = call-outs completed (a street: cases closed) within
  `close_within` (7 working days, Chinese calendar with 调休) of issue (raising) ÷ those whose
  7-day mark fell in the period. **办结率** = call-outs issued (cases raised) in the period that are
  completed (closed, and not reopened since) by `as_of`.
* **Street figures over call-outs** (response, 24小时签收率) count every call-out on the street's cases.
* **Score** = 100 × Σ weight × rate ÷ Σ weight over the rates that are defined; no rate, no score.
* **Points** (分值管理): base minus deductions. Department: per missed check-in (a response miss),
  per late arrival (arrived late, or not arrived once the arrival deadline passed, unless returned
  before it), per escalation to the city, per return judged unjustified (in the period of the
  return). Street: per escalation to the city of a call-out on its cases, per reopening. 零失分: an
  assessed unit that lost nothing.
* **Rank**: units named in `not_ranked` (the street office and the residents' committee, called as
  support) are shown but not ranked. The others by score, higher first; ties broken by resolution,
  response, satisfaction (higher first), points lost (fewer first), volume (more first), then code:
  ranks are 1..n with no gaps. Units with no score are listed unranked.
* **Flags**: among ranked units with a volume of at least `flags.min_volume` (a department: call-outs
  counted in its response rate; a street: cases raised), the first holds the 骏马旗 and the last the
  蜗牛旗 — unless the last scored as well as the first (nobody did worse), or only one is eligible.
* **Exemptions and appeals**: see exemptions.py; removed facts count nowhere.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from fractions import Fraction
from typing import Callable, Iterable, Optional

from services.metrics.assessment.context import Context
from services.metrics.assessment.exemptions import apply_decisions
from services.metrics.assessment.facts import (TIERS, CalloutFact, EscalationFact, FactError, FactRef, FollowUpFact,
                                               PeriodFacts, ReturnFact, WhistleFact)
from services.metrics.assessment.periods import Period
from services.metrics.assessment.result import (EMPTY, Assessment, Deduction, Hotspots, Overdue, Ratio,
                                                UnitResult)
from services.metrics.assessment.rules import exact

NOT_THEIRS = ("rerouted", "justified", "pending")


@dataclass(frozen=True)
class _Counted:
    """One fact's contribution to one rate: counted (in the denominator) and its share (numerator)."""

    share: Fraction


def _ratio(items: Iterable[Optional[_Counted]]) -> Ratio:
    counted = [i for i in items if i is not None]
    return Ratio(sum((i.share for i in counted), Fraction(0)), len(counted)) if counted else EMPTY


HIT, MISS = _Counted(Fraction(1)), _Counted(Fraction(0))


class _Assessor:
    def __init__(self, facts: PeriodFacts, period: Period, as_of: datetime, context: Context):
        self.period, self.as_of, self.ctx = period, as_of, context
        self.rules = context.rules
        self.facts = facts
        self.returns = {r.callout_id: r for r in facts.returns if self.happened(r.returned_at)}
        self.whistle_departments: dict[str, set[str]] = defaultdict(set)
        for c in facts.callouts:
            if self.happened(c.issued_at) and not self.not_theirs(c):
                self.whistle_departments[c.whistle_id].add(c.department)

    # -- time ------------------------------------------------------------------------------------
    def happened(self, at: Optional[datetime]) -> bool:
        return at is not None and at <= self.as_of

    def in_period(self, at: datetime) -> bool:
        return self.period.contains(at)

    def deadline_rate(self, due: datetime, done_at: Optional[datetime], on_time: bool) -> Optional[_Counted]:
        """A deadline that fell in the period: counted once done or past; a hit if done on time."""
        if not self.in_period(due):
            return None
        if self.happened(done_at):
            return HIT if on_time else MISS
        return MISS if due <= self.as_of else None

    # -- per call-out ----------------------------------------------------------------------------
    def step_at(self, at: Optional[datetime]) -> Optional[datetime]:
        return at if self.happened(at) else None

    def responded(self, c: CalloutFact) -> tuple[Optional[datetime], bool]:
        checked = self.step_at(c.checked_in_at)
        ret = self.returns.get(c.callout_id)
        if checked is not None and (ret is None or checked <= ret.returned_at):
            return checked, bool(c.check_in_on_time)
        if ret is not None:
            return ret.returned_at, ret.returned_at <= c.check_in_by
        return None, False

    def not_theirs(self, c: CalloutFact) -> bool:
        ret = self.returns.get(c.callout_id)
        return ret is not None and ret.verdict in NOT_THEIRS

    def response(self, c: CalloutFact) -> Optional[_Counted]:
        at, on_time = self.responded(c)
        return self.deadline_rate(c.check_in_by, at, on_time)

    def sign_for(self, c: CalloutFact) -> Optional[_Counted]:
        due = self.ctx.after(c.issued_at, self.rules.published.sign_for_within)
        at, _ = self.responded(c)
        return self.deadline_rate(due, at, at is not None and at <= due)

    def callout_resolution(self, c: CalloutFact) -> Optional[_Counted]:
        if self.not_theirs(c):
            return None
        return self.deadline_rate(c.completion_by, self.step_at(c.completed_at), bool(c.completion_on_time))

    def callout_in_time(self, c: CalloutFact) -> Optional[_Counted]:
        if self.not_theirs(c):
            return None
        due = self.ctx.after(c.issued_at, self.rules.published.close_within)
        done = self.step_at(c.completed_at)
        return self.deadline_rate(due, done, done is not None and done <= due)

    def callout_closure(self, c: CalloutFact) -> Optional[_Counted]:
        if self.not_theirs(c) or not self.in_period(c.issued_at) or not self.happened(c.issued_at):
            return None
        return HIT if self.happened(c.completed_at) else MISS

    def late_arrival(self, c: CalloutFact) -> bool:
        if not self.in_period(c.arrival_by):
            return False
        if self.happened(c.arrived_at):
            return not c.arrival_on_time
        ret = self.returns.get(c.callout_id)
        returned_first = ret is not None and ret.returned_at <= c.arrival_by
        return c.arrival_by <= self.as_of and not returned_first

    # -- per case --------------------------------------------------------------------------------
    def case_due(self, w: WhistleFact) -> datetime:
        span = self.ctx.case_deadlines.get(w.urgency)
        if span is None:
            raise FactError(f"whistle {w.whistle_id}", "urgency", f"{w.urgency!r} has no case deadline")
        return self.ctx.after(w.raised_at, span)

    def first_closure(self, w: WhistleFact) -> Optional[datetime]:
        return next((t for t in w.closures if self.happened(t)), None)

    def case_resolution(self, w: WhistleFact) -> Optional[_Counted]:
        due, closed = self.case_due(w), self.first_closure(w)
        reopened = any(self.happened(t) for t in w.reopenings)
        return self.deadline_rate(due, closed, closed is not None and closed <= due and not reopened)

    def case_in_time(self, w: WhistleFact) -> Optional[_Counted]:
        due, closed = self.ctx.after(w.raised_at, self.rules.published.close_within), self.first_closure(w)
        return self.deadline_rate(due, closed, closed is not None and closed <= due)

    def case_closure(self, w: WhistleFact) -> Optional[_Counted]:
        if not (self.in_period(w.raised_at) and self.happened(w.raised_at)):
            return None
        return HIT if w.closed_as_of(self.as_of) else MISS

    def satisfaction(self, f: FollowUpFact) -> Optional[_Counted]:
        if not (self.in_period(f.recorded_at) and self.happened(f.recorded_at)):
            return None
        return _Counted(exact(getattr(self.rules.satisfaction_scores, f.rating)))

    def counts(self, at: datetime) -> bool:
        return self.in_period(at) and self.happened(at)

    # -- units -----------------------------------------------------------------------------------
    def unit(self, kind: str, code: str, belongs: Callable[[object], bool], deductions: list[Deduction]) -> UnitResult:
        f = self.facts
        callouts = [c for c in f.callouts if belongs(c)]
        follow_ups = [x for x in f.follow_ups if belongs(x)]
        escalations = Counter(e.tier for e in f.escalations if belongs(e) and self.counts(e.escalated_at))
        if kind == "department":
            resolution = _ratio(self.callout_resolution(c) for c in callouts)
            in_time = _ratio(self.callout_in_time(c) for c in callouts)
            closure = _ratio(self.callout_closure(c) for c in callouts)
        else:
            whistles = [w for w in f.whistles if belongs(w)]
            resolution = _ratio(self.case_resolution(w) for w in whistles)
            in_time = _ratio(self.case_in_time(w) for w in whistles)
            closure = _ratio(self.case_closure(w) for w in whistles)
        response = _ratio(self.response(c) for c in callouts)
        satisfaction = _ratio(self.satisfaction(x) for x in follow_ups)
        volume = response.denominator if kind == "department" else closure.denominator
        d = self.ctx.directory
        name = d.district if kind == "district" else (d.departments if kind == "department" else d.streets).get(code)
        return UnitResult(
            kind=kind, code=code, name_zh=name.zh if name else code, name_en=name.en if name else code,
            response=response, resolution=resolution, satisfaction=satisfaction,
            sign_for=_ratio(self.sign_for(c) for c in callouts), closed_in_time=in_time, closure=closure,
            escalations=tuple((t, escalations.get(t, 0)) for t in TIERS),
            deductions=tuple(sorted(deductions, key=lambda d: (d.at, d.rule, d.fact))),
            points_base=exact(self.rules.points.base), volume=volume,
            score=self.score(response, resolution, satisfaction))

    def score(self, response: Ratio, resolution: Ratio, satisfaction: Ratio) -> Optional[Fraction]:
        weights = self.rules.weights.as_fractions()
        parts = [(weights[name], r.value) for name, r in (("response", response), ("resolution", resolution),
                                                           ("satisfaction", satisfaction)) if r.value is not None]
        total = sum((w for w, _ in parts), Fraction(0))
        if total == 0:
            return None
        return 100 * sum((w * v for w, v in parts), Fraction(0)) / total

    # -- points ----------------------------------------------------------------------------------
    def department_deductions(self) -> dict[str, list[Deduction]]:
        rules, out = self.rules.points.department, defaultdict(list)

        def add(department: str, rule: str, ref: FactRef, at: datetime) -> None:
            points = exact(getattr(rules, rule))
            if points:
                out[department].append(Deduction(rule, ref, points, at))

        for c in self.facts.callouts:
            if self.response(c) is MISS:
                add(c.department, "missed_check_in", c.ref, c.check_in_by)
            if self.late_arrival(c):
                add(c.department, "late_arrival", c.ref, c.arrival_by)
        for e in self.facts.escalations:
            if e.tier == "city" and self.counts(e.escalated_at):
                add(e.department, "escalated_to_city", e.ref, e.escalated_at)
        for r in self.returns.values():
            if r.verdict == "unjustified" and self.in_period(r.returned_at):
                add(r.department, "unjustified_return", r.ref, r.returned_at)
        return out

    def street_deductions(self) -> dict[str, list[Deduction]]:
        rules, out = self.rules.points.street, defaultdict(list)
        city = exact(rules.escalated_to_city)
        reopened = exact(rules.reopened)
        for e in self.facts.escalations:
            if city and e.tier == "city" and self.counts(e.escalated_at):
                out[e.street].append(Deduction("escalated_to_city", e.ref, city, e.escalated_at))
        for w in self.facts.whistles:
            for at in w.reopenings:
                if reopened and self.counts(at):
                    out[w.street].append(Deduction("reopened", w.ref, reopened, at))
        return out

    # -- the rest of the bulletin ----------------------------------------------------------------
    def overdue(self, c: CalloutFact) -> Optional[Overdue]:
        ret = self.returns.get(c.callout_id)
        worst: Optional[Overdue] = None
        for step, due, done in (("check_in", c.check_in_by, c.checked_in_at),
                                ("arrival", c.arrival_by, c.arrived_at),
                                ("completion", c.completion_by, c.completed_at)):
            if not self.in_period(due) or due > self.as_of:
                continue
            done = self.step_at(done)
            if done is None and ret is not None:
                if ret.returned_at <= due:
                    continue
                end = ret.returned_at
            else:
                end = done if done is not None else self.as_of
            late = end - due
            if late.total_seconds() > 0 and (worst is None or late > worst.overdue):
                worst = Overdue(c.callout_id, c.whistle_id, c.department, c.street, c.category, step, due,
                                done, late)
        return worst

    def hotspots(self, street: str) -> Hotspots:
        cfg = self.rules.bulletin
        raised = [w for w in self.facts.whistles if w.street == street and self.counts(w.raised_at)]

        def top(counter: Counter) -> tuple[tuple[str, int], ...]:
            ranked = sorted(((k, n) for k, n in counter.items() if n >= cfg.hotspot_min_count),
                            key=lambda kv: (-kv[1], kv[0]))
            return tuple(ranked[:cfg.hotspots])
        return Hotspots(street, top(Counter(w.category for w in raised)), top(Counter(w.place for w in raised)))


def _sort_key(u: UnitResult):
    def v(r: Ratio) -> Fraction:
        return r.value if r.value is not None else Fraction(-1)
    return (-u.score, -v(u.resolution), -v(u.response), -v(u.satisfaction), u.points_lost, -u.volume, u.code)


def rank(units: Iterable[UnitResult], min_volume: int, not_ranked: Iterable[str] = ()) -> tuple[UnitResult, ...]:
    """Ranked units first (rank 1..n, see the tie rule above), then the unranked by code; flags set.
    A unit with no score, or whose code is in `not_ranked`, is unranked."""
    units, excluded = list(units), set(not_ranked)
    rankable = [u for u in units if u.score is not None and u.code not in excluded]
    ranked = sorted(rankable, key=_sort_key)
    ranked = [replace(u, rank=i) for i, u in enumerate(ranked, start=1)]
    eligible = [i for i, u in enumerate(ranked) if u.volume >= min_volume]
    if eligible:
        first = eligible[0]
        ranked[first] = replace(ranked[first], flag="horse")
        last = eligible[-1]
        if last != first and ranked[last].score < ranked[first].score:
            ranked[last] = replace(ranked[last], flag="snail")
    unranked = sorted((u for u in units if u.score is None or u.code in excluded), key=lambda u: u.code)
    return tuple(ranked) + tuple(unranked)


def assess(facts: PeriodFacts, period: Period, as_of: datetime, context: Context) -> Assessment:
    """The assessment of `period` as known at `as_of` (see the module docstring for every definition)."""
    if as_of.tzinfo is None:
        raise FactError("assessment", "as_of", "must be timezone-aware")
    kept, audit = apply_decisions(facts)
    a = _Assessor(kept, period, as_of, context)
    dept_points, street_points = a.department_deductions(), a.street_deductions()

    departments = set(context.directory.departments) | {c.department for c in kept.callouts} | {
        e.department for e in kept.escalations} | {r.department for r in kept.returns}
    streets = set(context.directory.streets) | {w.street for w in kept.whistles} | {c.street for c in kept.callouts}

    def of_department(code: str) -> Callable[[object], bool]:
        def belongs(x) -> bool:
            if isinstance(x, (CalloutFact, EscalationFact, ReturnFact)):
                return x.department == code
            if isinstance(x, FollowUpFact):
                return code in a.whistle_departments.get(x.whistle_id, ())
            return False
        return belongs

    def of_street(code: str) -> Callable[[object], bool]:
        return lambda x: getattr(x, "street", None) == code

    dept_units = [a.unit("department", d, of_department(d), dept_points.get(d, [])) for d in departments]
    street_units = [a.unit("street", s, of_street(s), street_points.get(s, [])) for s in streets]
    district = a.unit("district", "district", lambda x: True, [])
    overdue = sorted((o for o in map(a.overdue, kept.callouts) if o is not None),
                     key=lambda o: (-o.overdue, o.callout_id))
    min_volume, not_ranked = context.rules.flags.min_volume, context.rules.not_ranked
    return Assessment(
        period=period, as_of=as_of, district=district,
        departments=rank(dept_units, min_volume, not_ranked), streets=rank(street_units, min_volume, not_ranked),
        worst_overdue=tuple(overdue[:context.rules.bulletin.worst_overdue]),
        hotspots=tuple(a.hotspots(s) for s in sorted(streets)),
        audit=audit)

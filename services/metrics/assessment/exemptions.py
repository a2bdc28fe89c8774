"""Exemptions and appeals (免责 / 申诉): which facts they take out of the figures, with an audit line.

Removal cascades down what a fact carries: an exempted whistle takes its call-outs, returns,
escalations and follow-ups with it; an exempted call-out takes its return and its escalations.
An upheld appeal against a return does not remove it: it turns its verdict into `justified`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from services.metrics.assessment.facts import Decision, FactRef, PeriodFacts


@dataclass(frozen=True)
class AuditLine:
    """One decision and what it did: `removed` lists every fact it took out (or re-judged)."""

    decision: Decision
    effect: str            # "removed", "rejudged", "kept" (a rejected appeal), "no_such_fact"
    removed: tuple[FactRef, ...]


def apply_decisions(facts: PeriodFacts) -> tuple[PeriodFacts, tuple[AuditLine, ...]]:
    """The facts the figures are computed from, and the audit of every decision, in decision order."""
    known = {f.ref for f in (*facts.callouts, *facts.returns, *facts.escalations, *facts.whistles,
                             *facts.follow_ups)}
    removed: set[FactRef] = set()
    rejudged: set[str] = set()
    audit: list[AuditLine] = []
    for decision in sorted(facts.decisions, key=lambda d: (d.decided_at, d.fact)):
        if decision.fact not in known:
            audit.append(AuditLine(decision, "no_such_fact", ()))
            continue
        if not decision.upheld:
            audit.append(AuditLine(decision, "kept", ()))
            continue
        if decision.fact.kind == "return":
            rejudged.add(decision.fact.id)
            audit.append(AuditLine(decision, "rejudged", (decision.fact,)))
            continue
        taken = _cascade(facts, decision.fact) - removed
        removed |= taken
        audit.append(AuditLine(decision, "removed", tuple(sorted(taken))))
    kept = PeriodFacts(
        callouts=tuple(c for c in facts.callouts if c.ref not in removed),
        returns=tuple(replace(r, verdict="justified") if r.callout_id in rejudged else r
                      for r in facts.returns if r.ref not in removed),
        escalations=tuple(e for e in facts.escalations if e.ref not in removed),
        whistles=tuple(w for w in facts.whistles if w.ref not in removed),
        follow_ups=tuple(f for f in facts.follow_ups if f.ref not in removed))
    return kept, tuple(audit)


def _cascade(facts: PeriodFacts, ref: FactRef) -> set[FactRef]:
    out = {ref}
    if ref.kind == "whistle":
        out |= {c.ref for c in facts.callouts if c.whistle_id == ref.id}
        out |= {r.ref for r in facts.returns if r.whistle_id == ref.id}
        out |= {e.ref for e in facts.escalations if e.whistle_id == ref.id}
        out |= {f.ref for f in facts.follow_ups if f.whistle_id == ref.id}
    elif ref.kind == "callout":
        out |= {r.ref for r in facts.returns if r.callout_id == ref.id}
        out |= {e.ref for e in facts.escalations if e.callout_id == ref.id}
    return out

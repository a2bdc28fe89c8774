"""The monthly and quarterly assessment (考核): three rates, score, rank, flags, points, bulletin.

Pure: `assess(facts, period, as_of, context)` takes the facts of a period and returns figures; it
reads no clock, no database and no file. See core.py for every definition.
"""
from services.metrics.assessment.context import Context, Directory, Names
from services.metrics.assessment.core import assess, rank
from services.metrics.assessment.exemptions import AuditLine, apply_decisions
from services.metrics.assessment.facts import (CalloutFact, Decision, EscalationFact, FactError, FactRef,
                                               FollowUpFact, PeriodFacts, ReturnFact, WhistleFact)
from services.metrics.assessment.from_events import facts_from_events
from services.metrics.assessment.periods import Period, PeriodError
from services.metrics.assessment.result import Assessment, Deduction, Hotspots, Overdue, Ratio, UnitResult
from services.metrics.assessment.rules import AssessmentRules, RulesError, load_rules, parse_rules

__all__ = ["Assessment", "AssessmentRules", "AuditLine", "CalloutFact", "Context", "Decision", "Deduction",
           "Directory", "EscalationFact", "FactError", "FactRef", "FollowUpFact", "Hotspots", "Names", "Overdue",
           "Period", "PeriodError", "PeriodFacts", "Ratio", "ReturnFact", "RulesError", "UnitResult",
           "WhistleFact", "apply_decisions", "assess", "facts_from_events", "load_rules", "parse_rules", "rank"]

"""核查 (on-site verification), pure: Chongqing's 城管进社区 order, grid report → on-site check by the
street's team → action plan → dispatch.

A rule per category/source (tiers.yaml `verification`) marks an event's check pending when it opens;
grid_event.whistle refuses a pending event, naming `verification`. The check is made on site with a photo by
a verifier the rule allows (any verifier where no check is required); a check that finds nothing closes the
event as a false report, with its reason."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from services.common.tiers import VERIFIERS
from services.common.events import GridEventVerified, VerifyGridEvent
from services.whistle.domain import IllegalAction, InvalidRequest
from services.whistle.grid_event import (OPEN, Decision, GridEventState, Rules, closed_event, fact, line, seen)


def allowed_verifiers(state: GridEventState, rules: Rules) -> tuple[str, ...]:
    rule = rules.tiers.verification.rule_for(state.category, state.source)
    return rule.by if rule is not None and rule.required else VERIFIERS


def verify(state: GridEventState, command: VerifyGridEvent, rules: Rules, now: datetime) -> Decision:
    """Records the on-site check: confirmed (the event may be whistled), or a false report (closed)."""
    if (repeat := seen(state, command.request_id)) is not None:
        return repeat
    if state.status not in OPEN:
        raise IllegalAction.one("status", f"grid event {state.event_id} is {state.status}; it can be checked "
                                          f"only when reported or accepted")
    if state.verification in ("confirmed", "false_report"):
        raise IllegalAction.one("verification", f"grid event {state.event_id} has been checked already")
    allowed = allowed_verifiers(state, rules)
    if command.role not in allowed:
        raise IllegalAction.one("role", f"a {command.role} may not check grid event {state.event_id}; "
                                        f"{' or '.join(allowed)} may")
    reason = (command.reason or "").strip()
    if command.outcome == "false_report" and len(reason) < 4:
        raise InvalidRequest.one("reason", "a false report is closed with its reason (at least 4 characters)")
    verified = dict(by=command.by, role=command.role, outcome=command.outcome, photo_ref=command.photo_ref,
                    verified_at=now, occurred_at=now)
    detail = {"role": command.role, "outcome": command.outcome, "photo_ref": command.photo_ref}
    signed_for = state.signed_for_at or now
    requests = state.requests + (command.request_id,)
    if command.outcome == "confirmed":
        new = replace(state, verification="confirmed", signed_for_at=signed_for, requests=requests)
        entry = line(now, GridEventVerified.event_type, command.by, "verified", detail, by=command.by,
                     role=command.role)
        return Decision(new, (GridEventVerified(**fact(new), **verified),), (entry,))
    new = replace(state, verification="false_report", status="closed", outcome="false_report",
                  resolved_by=state.tier, accept_by=None, handle_by=None, closed_at=now, summary=reason,
                  signed_for_at=signed_for, requests=requests)
    entry = line(now, "grid_event.closed", command.by, "false_report", {**detail, "reason": reason},
                 by=command.by, role=command.role, reason=reason)
    return Decision(new, (GridEventVerified(**fact(new), **verified), closed_event(new, command.by, now)), (entry,))

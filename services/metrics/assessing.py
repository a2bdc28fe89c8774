"""Assessment use cases over the read model: a period's assessment in every format, and decisions.

The figures are services/metrics/assessment (pure); this module reads the period's facts
(period_facts.py), renders what was asked for, and records exemptions and appeals. Bad input (a
period, an instant, a format, a language, a decision) is refused with Invalid naming the field.
"""
from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

from eventlet import tpool
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from services.common.errors import Invalid, NotFound
from services.common.events import RecordDecision
from services.common.i18n import normalize
from services.common.reference import ReferenceData, load_reference
from services.common.uow import UnitOfWork
from services.common.workdays import chinese_workdays
from services.metrics import period_facts
from services.metrics.assessment import (Assessment, Context, Decision, FactError, FactRef, Period, PeriodError,
                                         assess, load_rules)
from services.metrics.assessment import bulletin, chart, export
from services.metrics.orm import (assessment_decisions, callout_facts, escalation_facts, follow_up_facts,
                                  whistle_facts)

FORMATS = {"json": "application/json", "csv": "text/csv; charset=utf-8", "md": "text/markdown; charset=utf-8",
           "html": "text/html; charset=utf-8"}
CHARTS = {"png": "image/png", "svg": "image/svg+xml"}
_chart_lock = threading.Lock()        # matplotlib's rc settings are global: one chart at a time


def build_context(reference: Optional[ReferenceData] = None) -> Context:
    """The district's assessment context: its rules (ASSESSMENT_RULES), names, deadlines and calendar."""
    return Context.from_reference(reference or load_reference(), load_rules(), chinese_workdays())


def period_of(text: str) -> Period:
    try:
        return Period.parse(text)
    except PeriodError as exc:
        raise Invalid.one("period", str(exc)) from None


def instant_of(text: Optional[str], now: datetime) -> datetime:
    """`as_of` as given (ISO-8601 with a zone), or now."""
    if not text:
        return now
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Invalid.one("as_of", f"{text!r} is not an ISO-8601 instant, e.g. 2026-12-01T00:00:00+08:00") from None
    if value.tzinfo is None:
        raise Invalid.one("as_of", f"{text!r} has no time zone: add +08:00 or Z")
    return value


def language_of(text: Optional[str]) -> str:
    """zh (default) or en, from `zh`, `zh-CN`, `zh_CN`, `en`, `en-GB`..."""
    chosen = normalize(text) if text else "zh_CN"
    if chosen is None:
        raise Invalid.one("lang", f"{text!r} is not a supported language (zh_CN or en)")
    return "zh" if chosen == "zh_CN" else "en"


def format_of(text: Optional[str], allowed) -> str:
    value = (text or next(iter(allowed))).lower()
    if value not in allowed:
        raise Invalid.one("format", f"{text!r} must be one of {', '.join(allowed)}")
    return value


def assessment_of(conn: Connection, context: Context, period: Period, as_of: datetime) -> Assessment:
    return assess(period_facts.load(conn, period, as_of), period, as_of, context)


@dataclass(frozen=True)
class Rendered:
    content_type: str
    body: bytes | str | dict


def render(a: Assessment, context: Context, fmt: str, language: str, chart_path: Optional[str] = None) -> Rendered:
    """The assessment as JSON data, CSV, or the bulletin (Markdown or self-contained HTML)."""
    if fmt == "json":
        return Rendered(FORMATS[fmt], export.as_dict(a))
    if fmt == "csv":
        return Rendered(FORMATS[fmt], export.to_csv(a))
    if fmt == "md":
        return Rendered(FORMATS[fmt], bulletin.render_markdown(a, context, language, chart_path=chart_path))
    svg = draw(a, "svg", language)
    return Rendered(FORMATS[fmt], bulletin.render_html(a, context, language, chart_svg=svg))


def _draw(a: Assessment, fmt: str, language: str):
    with _chart_lock:
        return chart.render_png(a, language) if fmt == "png" else chart.render_svg(a, language)


def draw(a: Assessment, fmt: str, language: str):
    """The ranking chart, drawn in a real thread so the service keeps answering meanwhile."""
    return tpool.execute(_draw, a, fmt, language)


# ---------------------------------------------------------------- exemptions and appeals

FACT_TABLES = {"whistle": (whistle_facts, "whistle_id"), "callout": (callout_facts, "callout_id"),
               "return": (callout_facts, "callout_id"), "escalation": (escalation_facts, "escalation_id"),
               "follow_up": (follow_up_facts, "follow_up_id")}


def _known(conn: Connection, kind: str, ident: str) -> bool:
    table, key = FACT_TABLES[kind]
    query = select(table.c[key]).where(table.c[key] == ident)
    if kind == "return":
        query = query.where(table.c.returned_at.is_not(None))
    return conn.execute(query).first() is not None


def decision_dict(decision_id: str, d: Decision, recorded_by: str) -> dict:
    return {"decision_id": decision_id, "kind": d.kind, "fact": {"kind": d.fact.kind, "id": d.fact.id},
            "reason": d.reason, "decided_by": d.decided_by, "decided_at": d.decided_at.isoformat(),
            "upheld": d.upheld, "requested_by": d.requested_by, "recorded_by": recorded_by}


def record_decision(uow: UnitOfWork, command: RecordDecision, recorded_by: str) -> dict:
    """Records an exemption or an appeal, decided now, about a fact the read model holds."""
    try:
        decision = Decision(kind=command.kind, fact=FactRef(command.fact_kind, command.fact_id), reason=command.reason,
                            decided_by=command.decided_by, decided_at=uow.now.astimezone(timezone.utc),
                            upheld=command.upheld, requested_by=command.requested_by)
    except FactError as exc:
        raise Invalid.one(exc.field.replace("fact.kind", "fact_kind"), str(exc)) from None
    if not _known(uow.conn, command.fact_kind, command.fact_id):
        raise NotFound.one("fact_id", f"no {command.fact_kind} {command.fact_id!r} in the assessment's facts")
    decision_id = str(uuid.uuid4())
    uow.conn.execute(insert(assessment_decisions).values(
        decision_id=decision_id, kind=decision.kind, fact_kind=decision.fact.kind, fact_id=decision.fact.id,
        reason=decision.reason, decided_by=decision.decided_by, decided_at=decision.decided_at,
        upheld=decision.upheld, requested_by=decision.requested_by, recorded_by=recorded_by))
    return decision_dict(decision_id, decision, recorded_by)

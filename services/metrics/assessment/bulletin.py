"""每月通报: an assessment rendered as a document people can publish, in Markdown or HTML.

`render_markdown` / `render_html` take an Assessment and its Context (for names and weights) and
return text; zh-CN by default, English with language="en". The chart is passed in (see chart.py),
so the bulletin itself needs no plotting library.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from services.metrics.assessment.context import Context
from services.metrics.assessment.result import Assessment, UnitResult
from services.metrics.assessment.texts import (check_language, duration, local_time, number, percent, text)

TEMPLATES = Path(__file__).resolve().parent / "templates"
RATES = ("response", "resolution", "satisfaction", "sign_for", "closed_in_time", "closure")


def _cell(value) -> str:
    """A Markdown table cell: a pipe or a line break in a reason or a name must not split the table."""
    return str(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _environment() -> Environment:
    """HTML templates escape every value; Markdown ones pass it through `cell`."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True, autoescape=select_autoescape(["html.j2"]))
    env.filters["cell"] = _cell
    return env


def _row(u: UnitResult, language: str) -> dict:
    row = {"rank": u.rank if u.rank is not None else "—", "name": u.name(language), "code": u.code,
           "score": number(u.score), "points_lost": number(u.points_lost), "points": number(u.points),
           "zero_loss": u.zero_loss, "flag": text(language, u.flag) if u.flag else "",
           "flag_code": u.flag or "",
           "escalations": "/".join(str(n) for _, n in u.escalations)}
    for rate in RATES:
        r = getattr(u, rate)
        row[rate] = percent(r.value)
        row[f"{rate}_counts"] = f"{number(r.numerator)}/{r.denominator}" if r.denominator else ""
    return row


def view(assessment: Assessment, context: Context, language: str = "zh") -> dict:
    """Everything the templates show, already worded and formatted."""
    language = check_language(language)
    d = context.directory
    t = lambda key, **kw: text(language, key, **kw)  # noqa: E731
    weights = context.rules.weights

    def holders(units):
        flagged = {u.flag: u.name(language) for u in units if u.flag}
        return {"horse": flagged.get("horse", t("no_flag")), "snail": flagged.get("snail", t("no_flag"))}

    def table(units):
        return ([_row(u, language) for u in units if u.rank is not None or u.assessed],
                [u.name(language) for u in units if u.rank is None and not u.assessed])

    dept_rows, dept_idle = table(assessment.departments)
    street_rows, street_idle = table(assessment.streets)
    return {
        "t": {key: t(key) for key in ("overview", "flags", "horse", "snail", "departments", "streets", "unranked",
                                      "rank", "unit", "score", *RATES, "points_lost", "points", "flag",
                                      "zero_loss", "chart", "worst_overdue", "none", "department", "street",
                                      "category", "step", "due_at", "overdue", "hotspots", "hot_categories",
                                      "hot_places", "audit", "decision", "fact", "reason", "decided_by", "effect",
                                      "escalations", "definitions")},
        "language": "zh-CN" if language == "zh" else "en",
        "title": t("title", district=d.district.zh if language == "zh" else d.district.en,
                   period=assessment.period.title(language)),
        "as_of": t("as_of", as_of=local_time(assessment.as_of)),
        "weights": t("weights", response=percent(weights.as_fractions()["response"]),
                     resolution=percent(weights.as_fractions()["resolution"]),
                     satisfaction=percent(weights.as_fractions()["satisfaction"])),
        "district": _row(assessment.district, language),
        "flags": {"departments": holders(assessment.departments), "streets": holders(assessment.streets)},
        "departments": dept_rows, "departments_idle": dept_idle,
        "streets": street_rows, "streets_idle": street_idle,
        "overdue": [{"department": d.department(o.department, language), "street": d.street(o.street, language),
                     "category": d.category(o.category, language), "step": t(o.step), "whistle_id": o.whistle_id,
                     "due_at": local_time(o.due_at), "overdue": duration(o.overdue, language)}
                    for o in assessment.worst_overdue],
        "hotspots": [{"street": d.street(h.street, language),
                      "categories": [f"{d.category(c, language)}（{t('cases', n=n)}）" if language == "zh"
                                     else f"{d.category(c, language)} ({n})" for c, n in h.categories],
                      "places": [f"{d.place(p, language)}（{t('cases', n=n)}）" if language == "zh"
                                 else f"{d.place(p, language)} ({n})" for p, n in h.places]}
                     for h in assessment.hotspots if h.categories or h.places],
        "audit": [{"decision": t(line.decision.kind), "fact": f"{t(line.decision.fact.kind)} {line.decision.fact.id}",
                   "reason": line.decision.reason, "decided_by": line.decision.decided_by,
                   "decided_at": local_time(line.decision.decided_at),
                   "effect": t(line.effect) + (f" ({len(line.removed)})" if line.effect == "removed" else "")}
                  for line in assessment.audit if line.effect != "no_such_fact"],
    }


def render_markdown(assessment: Assessment, context: Context, language: str = "zh",
                    chart_path: Optional[str] = None) -> str:
    """The bulletin as Markdown; `chart_path` (relative to where the file will sit) is linked as an image."""
    return _environment().get_template("bulletin.md.j2").render(
        **view(assessment, context, language), chart_path=chart_path)


def render_html(assessment: Assessment, context: Context, language: str = "zh",
                chart_svg: Optional[str] = None) -> str:
    """The bulletin as one self-contained HTML page; `chart_svg` (chart.render_svg) is drawn inline."""
    return _environment().get_template("bulletin.html.j2").render(
        **view(assessment, context, language), chart_svg=Markup(chart_svg) if chart_svg else None)

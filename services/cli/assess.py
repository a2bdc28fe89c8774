"""chuishao assess PERIOD: the monthly or quarterly assessment (考核) from the metrics service.

Printed as two rankings (departments, streets) with the three rates, the score, the points lost and
the flags; `--json` the whole assessment, `--csv` one row per unit, `--out FILE` the bulletin (每月通报)
as HTML or Markdown (its chart written beside it), or the ranking chart alone (.png, .svg).
Needs a token allowed to read the assessment (district staff, the assessment office): CHUISHAO_TOKEN.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from services.cli.failures import Invalid
from services.cli.output import emit_json, out, table
from services.cli.running import json_option, reporting
from services.cli.session import Session
from services.common.i18n import Text

OPTIONS = {"period": "PERIOD", "as_of": "--as-of", "format": "--out", "lang": "--lang"}
RATES = ("response", "resolution", "satisfaction", "sign_for", "closed_in_time", "closure")
DOCUMENTS = {".html": "html", ".htm": "html", ".md": "md", ".png": "png", ".svg": "svg"}


def percent(ratio: dict) -> str:
    return "—" if ratio["rate"] is None else f"{ratio['rate'] * 100:.1f}%"


def number(value) -> str:
    return "—" if value is None else f"{value:.1f}"


def ranking(t: Text, lang: str, title: str, units: list[dict]) -> object:
    flags = {"horse": t.gettext("horse flag (骏马旗)"), "snail": t.gettext("snail flag (蜗牛旗)")}
    rows = [(u["rank"] if u["rank"] is not None else "—", u["name_zh"] if lang == "zh_CN" else u["name_en"],
             number(u["score"]), *(percent(u[r]) for r in RATES), number(u["points"]["lost"]),
             flags.get(u["flag"], ""))
            for u in units if u["rank"] is not None or any(u[r]["denominator"] for r in RATES)]
    return table(title, [t.gettext("rank"), t.gettext("unit"), t.gettext("score"), t.gettext("response"),
                         t.gettext("resolution"), t.gettext("satisfaction"), t.gettext("signed for in 24 h"),
                         t.gettext("closed in 7 working days"), t.gettext("closed"), t.gettext("points lost"),
                         t.gettext("flag")], rows)


def write_document(session: Session, path: Path, period: str, params: dict) -> list[Path]:
    """The bulletin (or the chart) written to `path`; a Markdown bulletin gets its PNG chart beside it."""
    kind = DOCUMENTS.get(path.suffix.lower())
    if kind is None:
        raise Invalid(session.text.gettext("--out: %(file)s must end in .html, .md, .png or .svg") % {"file": path})
    api, written = session.api("metrics"), [path]
    if kind in ("png", "svg"):
        path.write_bytes(api.get_document(f"/api/v1/assessment/{period}/chart.{kind}", params))
        return written
    if kind == "md":
        chart = path.with_suffix(".png")
        chart.write_bytes(api.get_document(f"/api/v1/assessment/{period}/chart.png", params))
        params = {**params, "chart": chart.name}
        written.append(chart)
    path.write_bytes(api.get_document(f"/api/v1/assessment/{period}", {**params, "format": kind}))
    return written


def build(t: Text) -> click.Command:
    @click.command("assess", help=t.gettext("The assessment (考核) of a month (2026-11) or a quarter (2026-Q4): "
                                            "the departments' and streets' rankings with the three rates, "
                                            "points and flags."))
    @click.argument("period")
    @click.option("--as-of", "as_of", metavar="INSTANT",
                  help=t.gettext("figures as known at this instant (ISO-8601, e.g. 2026-12-01T00:00:00+08:00); "
                                 "now by default"))
    @click.option("--csv", "as_csv", is_flag=True, help=t.gettext("print CSV, one row per unit"))
    @click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
                  help=t.gettext("write the bulletin (每月通报) to FILE: .html, or .md with its chart beside it; "
                                 "or the ranking chart alone: .png, .svg"))
    @json_option(t)
    @click.pass_obj
    def assess(session: Session, period, as_of, as_csv, out_path, as_json):
        with reporting(session, OPTIONS, as_json):
            params = {"as_of": as_of} if as_of else {}
            path = f"/api/v1/assessment/{period}"
            if out_path is not None:
                for written in write_document(session, out_path, period, params):
                    out.print(session.text.gettext("written: %(file)s") % {"file": written})
                return
            if as_csv:
                sys.stdout.write(session.api("metrics").get_document(path, {**params, "format": "csv"})
                                 .decode("utf-8"))
                return
            answer = session.api("metrics").get(path, params)
            if as_json:
                emit_json(answer)
                return
            t, lang = session.text, session.lang
            what = {"period": answer["period"], "as_of": t.time(answer["as_of"])}
            out.print(ranking(t, lang, t.gettext("Departments, %(period)s (as of %(as_of)s)") % what,
                              answer["departments"]))
            out.print(ranking(t, lang, t.gettext("Streets, %(period)s (as of %(as_of)s)") % what, answer["streets"]))
            district = answer["district"]
            out.print(t.gettext("District: response %(response)s, resolution %(resolution)s, satisfaction "
                                "%(satisfaction)s, score %(score)s")
                      % {"response": percent(district["response"]), "resolution": percent(district["resolution"]),
                         "satisfaction": percent(district["satisfaction"]), "score": number(district["score"])})

    return assess

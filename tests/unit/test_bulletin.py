"""The monthly bulletin (每月通报) as Markdown and HTML, its chart, and the CSV and JSON exports."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import timedelta
from html.parser import HTMLParser

import pytest

from services.metrics.assessment import Decision, FactRef, Period, assess
from services.metrics.assessment import chart as chart_module
from services.metrics.assessment.bulletin import render_html, render_markdown
from services.metrics.assessment.chart import chart_language, render_png, render_svg
from services.metrics.assessment.export import CSV_COLUMNS, as_dict, to_csv
from tests.unit.assessment_samples import at, callout, context, demo_month

OCTOBER = Period.parse("2025-10")
CTX = context()


@pytest.fixture(scope="module")
def demo():
    return assess(demo_month(), OCTOBER, OCTOBER.end, CTX)


def test_the_markdown_bulletin_names_the_ranking_the_flags_the_overdue_and_the_hotspots(demo):
    text = render_markdown(demo, CTX, chart_path="ranking-2025-10.png")
    horse, snail = demo.holder("department", "horse"), demo.holder("department", "snail")
    assert text.startswith("# 示范区“吹哨报到”工作2025年10月考核通报")
    assert f"| {horse.name_zh} | {snail.name_zh} |" in text
    ranked = [u for u in demo.departments if u.rank]
    positions = [text.index(f"| {u.rank} | {u.name_zh} |") for u in ranked]
    assert positions == sorted(positions)                       # in ranking order
    assert "![综合得分排名图](ranking-2025-10.png)" in text
    worst = demo.worst_overdue[0]
    assert "## 超期最久的派单" in text and CTX.directory.category(worst.category) in text
    street_hot = next(h for h in demo.hotspots if h.categories)
    category, count = street_hot.categories[0]
    assert f"{CTX.directory.category(category)}（{count}件）" in text
    assert "暴雨红色预警，道路中断" in text and "区考核办 李明" in text and "申诉未获支持" in text
    assert "| — | 街道办事处 |" in text                           # shown, not ranked
    assert "(零失分)" in text or not any(u.zero_loss for u in demo.departments + demo.streets)


def test_the_bulletin_reads_in_english_too(demo):
    text = render_markdown(demo, CTX, language="en")
    assert text.startswith("# Demo District: whistle and report-in assessment bulletin, October 2025")
    for heading in ("## Departments", "## Streets and towns", "## Most overdue call-outs", "## Hotspots",
                    "## Exemptions and appeals"):
        assert heading in text
    assert "骏马旗" not in text
    with pytest.raises(ValueError, match="language 'fr'"):
        render_markdown(demo, CTX, language="fr")


def test_a_reason_cannot_break_the_markdown_table_nor_inject_html():
    c = callout("gongan", at(2025, 10, 9, 10))
    facts = replace(demo_month(), decisions=(Decision("exemption", FactRef("callout", c.callout_id),
                                                      "a | b <script>alert(1)</script>", "x", at(2025, 11, 1)),))
    facts = replace(facts, callouts=facts.callouts + (c,))
    result = assess(facts, OCTOBER, OCTOBER.end, CTX)
    assert "a \\| b" in render_markdown(result, CTX)
    page = render_html(result, CTX)
    assert "<script>" not in page and "&lt;script&gt;" in page


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.seen, self.rows = [], [], 0

    def handle_starttag(self, tag, attrs):
        self.seen.append(tag)
        self.rows += tag == "tr"
        if tag not in ("meta", "br", "img", "path", "use", "rect", "stop"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in ("meta", "br", "img", "path", "use", "rect", "stop"):
            return
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()


def test_the_html_bulletin_is_one_well_formed_page_with_the_chart_inline(demo):
    page = render_html(demo, CTX, chart_svg=render_svg(demo))
    parser = Tags()
    parser.feed(page)
    assert parser.stack == []
    assert "svg" in parser.seen and '<html lang="zh-CN">' in page
    units = [u for u in (*demo.departments, *demo.streets) if u.rank or u.assessed]
    assert parser.rows >= len(units) + 2
    assert 'class="horse"' in page and 'class="snail"' in page


def test_the_chart_is_a_png_and_an_svg_with_the_units_named(demo):
    png = render_png(demo)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    svg = render_svg(demo)
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert demo.holder("department", "horse").name_zh in svg        # text stays text in SVG
    assert render_svg(demo, "en").count(demo.holder("street", "horse").name_en) >= 1


def test_without_a_chinese_font_the_png_falls_back_to_english(monkeypatch):
    monkeypatch.setattr(chart_module, "cjk_font", lambda: None)
    assert chart_language("zh", "png") == "en"
    assert chart_language("zh", "svg") == "zh"


def test_the_csv_has_one_row_per_unit_with_exact_counts(demo):
    rows = list(csv.DictReader(io.StringIO(to_csv(demo))))
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    assert len(rows) == len(demo.departments) + len(demo.streets)
    by_code = {(r["kind"], r["code"]): r for r in rows}
    for u in (*demo.departments, *demo.streets):
        r = by_code[(u.kind, u.code)]
        assert int(r["response_denominator"]) == u.response.denominator
        assert r["rank"] == ("" if u.rank is None else str(u.rank))
        if u.response.value is not None:
            assert float(r["response_rate"]) == pytest.approx(float(u.response.value), abs=1e-6)
        assert float(r["points"]) == float(u.points)


def test_the_json_export_is_plain_data(demo):
    data = json.loads(json.dumps(as_dict(demo), ensure_ascii=False))
    assert data["period"] == "2025-10" and data["start"].startswith("2025-10-01T00:00:00+08:00")
    assert [d["rank"] for d in data["departments"] if d["rank"]] == list(
        range(1, 1 + sum(1 for u in demo.departments if u.rank)))
    assert data["audit"][0]["effect"] == "removed" and data["audit"][0]["decided_by"] == "区考核办 李明"
    assert data["worst_overdue"][0]["overdue_seconds"] == int(demo.worst_overdue[0].overdue / timedelta(seconds=1))

"""chuishao assess, in-process: the ranking table from the service's JSON, and what is refused before asking."""
from __future__ import annotations

import pytest
from rich.console import Console

from services.cli.assess import ranking
from services.cli.failures import UNREACHABLE, USAGE
from services.cli.main import main
from services.common.i18n import Text


@pytest.fixture(autouse=True)
def nowhere(monkeypatch):
    monkeypatch.delenv("CHUISHAO_LANG", raising=False)
    monkeypatch.setenv("METRICS_URL", "http://127.0.0.1:9")      # nothing listens on the discard port
    monkeypatch.setenv("COLUMNS", "200")


def rate(rate, n, d):
    return {"rate": rate, "numerator": n, "denominator": d}


def unit(code, name, rank, score, flag=None, counted=4):
    return {"kind": "department", "code": code, "name_zh": name, "name_en": code.title(), "rank": rank, "flag": flag,
            "score": score, "volume": counted, "response": rate(0.75, 3, counted), "resolution": rate(1.0, 2, 2),
            "satisfaction": rate(None, 0, 0), "sign_for": rate(1.0, 4, 4), "closed_in_time": rate(1.0, 2, 2),
            "closure": rate(0.5, 1, 2), "escalations": {"street": 1, "district": 0, "city": 0},
            "points": {"base": 100.0, "lost": 2.0, "left": 98.0, "zero_loss": False, "deductions": []}}


def test_the_ranking_shows_rank_name_score_rates_points_and_flag():
    units = [unit("chengguan", "区城管执法局", 1, 88.46, "horse"), unit("gongan", "区公安分局", 2, 70.0, "snail"),
             unit("shequ", "社区居委会", None, None, counted=0)]
    units[2].update({r: rate(None, 0, 0) for r in ("response", "resolution", "sign_for", "closed_in_time", "closure")})
    console = Console(width=200, record=True)
    console.print(ranking(Text("zh_CN"), "zh_CN", "部门排名", units))
    shown = console.export_text()
    assert "区城管执法局" in shown and "88.5" in shown and "75.0%" in shown and "骏马旗" in shown
    assert "区公安分局" in shown and "蜗牛旗" in shown and "—" in shown
    assert "社区居委会" not in shown                      # nothing assessed: left out of the table
    console = Console(width=200, record=True)
    console.print(ranking(Text("en"), "en", "Departments", units))
    shown = console.export_text()
    assert "Chengguan" in shown and "horse flag" in shown


def test_an_out_file_of_another_kind_is_refused_before_asking(capsys, tmp_path):
    code = main(["assess", "2026-11", "--out", str(tmp_path / "bulletin.pdf")])
    assert code == USAGE and ".html" in capsys.readouterr().err
    assert not (tmp_path / "bulletin.pdf").exists()


def test_a_metrics_service_that_cannot_be_reached_is_named(capsys):
    code = main(["assess", "2026-11", "--lang", "en"])
    assert code == UNREACHABLE and "metrics" in capsys.readouterr().err

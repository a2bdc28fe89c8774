"""The ranking chart for the monthly report: one bar per ranked unit, departments beside streets.

PNG needs a font with Chinese glyphs for zh labels: the first of CJK_FONTS that is installed
(Debian: `apt-get install fonts-wqy-microhei` or `fonts-noto-cjk`); without one the chart falls
back to English names rather than drawing empty boxes. SVG keeps its text as text, so the viewer's
own fonts draw the Chinese.
"""
from __future__ import annotations

import io
import re
import warnings
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from services.metrics.assessment.result import Assessment, UnitResult
from services.metrics.assessment.texts import check_language, text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# matplotlib is imported when a chart is drawn, not with the service: it is most of a process's memory

CJK_FONTS = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei",
             "Microsoft YaHei", "SimHei", "PingFang SC")
COLOURS = {"horse": "#d4a017", "snail": "#8c7b6b", None: "#b22222"}


CJK_FILES = re.compile(r"(wqy|notosanscjk|notoserifcjk|sourcehansans|simhei|msyh|pingfang)", re.I)


@lru_cache(maxsize=1)
def cjk_font() -> Optional[str]:
    """The first installed font family that can draw Chinese, or None. matplotlib caches its font
    list, so a font installed after the cache was built is found by its file name and added."""
    from matplotlib import font_manager

    def known() -> Optional[str]:
        installed = {f.name for f in font_manager.fontManager.ttflist}
        return next((name for name in CJK_FONTS if name in installed), None)
    if (found := known()) is None:
        for path in font_manager.findSystemFonts():
            if CJK_FILES.search(Path(path).name):
                font_manager.fontManager.addfont(path)
        found = known()
    return found


def chart_language(language: str, fmt: str) -> str:
    """The language the chart can be drawn in: zh needs a CJK font for PNG."""
    check_language(language)
    if language == "zh" and fmt == "png" and cjk_font() is None:
        return "en"
    return language


def _panel(ax, units: list[UnitResult], title: str, language: str, rows: int) -> None:
    """Rank 1 at the top; `rows` slots whatever the number of units, so both panels' bars match."""
    ranked = [u for u in units if u.rank is not None]
    ax.set_title(title)
    if not ranked:
        ax.text(0.5, 0.5, text(language, "none"), ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    positions = range(len(ranked))
    bars = ax.barh(positions, [float(u.score) for u in ranked], color=[COLOURS[u.flag] for u in ranked],
                   height=0.7)
    ax.set_yticks(positions, [f"{u.rank}. {u.name(language)}" for u in ranked])
    for bar, u in zip(bars, ranked):
        label = f"{float(u.score):.1f}" + (f"  {text(language, u.flag)}" if u.flag else "")
        ax.text(bar.get_width() + 1, bar.get_y() + bar.get_height() / 2, label, va="center", fontsize=8)
    ax.set_ylim(rows - 0.4, -0.6)
    ax.set_xlim(0, 118)
    ax.set_xlabel(text(language, "score"))
    ax.grid(axis="x", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)


def _figure(assessment: Assessment, language: str, title: str) -> "Figure":
    from matplotlib.figure import Figure

    rows = max(len([u for u in units if u.rank is not None]) for units in (assessment.departments,
                                                                           assessment.streets)) or 1
    fig = Figure(figsize=(11, 1.2 + 0.38 * rows), layout="constrained")
    axes = fig.subplots(1, 2)
    _panel(axes[0], list(assessment.departments), text(language, "departments"), language, rows)
    _panel(axes[1], list(assessment.streets), text(language, "streets"), language, rows)
    fig.suptitle(title)
    return fig


def _render(assessment: Assessment, language: str, fmt: str, title: Optional[str]) -> bytes:
    import matplotlib
    language = chart_language(language, fmt)
    font = cjk_font()
    params = {"svg.fonttype": "none", "font.family": [font, "DejaVu Sans"] if font else ["DejaVu Sans"]}
    with matplotlib.rc_context(params), warnings.catch_warnings():
        # SVG text stays text (the viewer's fonts draw it): a glyph missing from ours does not matter there
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig = _figure(assessment, language, title or f"{text(language, 'chart')} · {assessment.period.title(language)}")
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        FigureCanvasAgg(fig)
        out = io.BytesIO()
        fig.savefig(out, format=fmt, dpi=120, metadata={"Date": None} if fmt == "svg" else None)
    return out.getvalue()


def render_png(assessment: Assessment, language: str = "zh", title: Optional[str] = None) -> bytes:
    return _render(assessment, language, "png", title)


def render_svg(assessment: Assessment, language: str = "zh", title: Optional[str] = None) -> str:
    return _render(assessment, language, "svg", title).decode("utf-8")

"""The bulletin's words, zh-CN (default) and English; and how numbers, times and spans are written."""
from __future__ import annotations

from datetime import datetime, timedelta
from fractions import Fraction
from typing import Optional

from services.common.workdays import CHINA

LANGUAGES = ("zh", "en")

TEXTS = {
    "zh": {
        "title": "{district}“吹哨报到”工作{period}考核通报",
        "as_of": "数据截至 {as_of}（北京时间）",
        "overview": "全区概况",
        "flags": "骏马旗 / 蜗牛旗",
        "horse": "骏马旗",
        "snail": "蜗牛旗",
        "no_flag": "本期不授予",
        "departments": "部门排名",
        "streets": "街道（乡镇）排名",
        "unranked": "本期无考核数据：",
        "rank": "名次",
        "unit": "单位",
        "score": "综合得分",
        "response": "响应率",
        "resolution": "解决率",
        "satisfaction": "满意率",
        "sign_for": "24小时签收率",
        "closed_in_time": "7日办结率",
        "closure": "办结率",
        "points_lost": "扣分",
        "points": "分值",
        "flag": "旗帜",
        "zero_loss": "零失分",
        "chart": "综合得分排名图",
        "worst_overdue": "超期最久的派单",
        "none": "无",
        "department": "部门",
        "street": "街道",
        "category": "事项类别",
        "step": "环节",
        "due_at": "时限",
        "overdue": "超期",
        "hotspots": "高发问题",
        "hot_categories": "高发类别",
        "hot_places": "高发点位",
        "audit": "免责与申诉",
        "decision": "类型",
        "fact": "事项",
        "reason": "理由",
        "decided_by": "决定人",
        "effect": "结果",
        "exemption": "免责",
        "appeal": "申诉",
        "removed": "已剔除",
        "rejudged": "改判为合理退单",
        "kept": "申诉未获支持",
        "check_in": "报到",
        "arrival": "到场",
        "completion": "处置",
        "whistle": "吹哨",
        "callout": "派单",
        "return": "退单",
        "escalation": "督办",
        "follow_up": "回访",
        "escalations": "督办（街道/区/市）",
        "weights": "综合得分 = 响应率×{response} + 解决率×{resolution} + 满意率×{satisfaction}（缺项按其余权重折算）",
        "definitions": "指标口径见 deploy/reference/ASSESSMENT.md。",
        "cases": "{n}件",
    },
    "en": {
        "title": "{district}: whistle and report-in assessment bulletin, {period}",
        "as_of": "Figures as of {as_of} (Beijing time)",
        "overview": "District overview",
        "flags": "Horse flag / snail flag",
        "horse": "Horse flag",
        "snail": "Snail flag",
        "no_flag": "not awarded",
        "departments": "Departments",
        "streets": "Streets and towns",
        "unranked": "Nothing to assess this period: ",
        "rank": "Rank",
        "unit": "Unit",
        "score": "Score",
        "response": "Response",
        "resolution": "Resolution",
        "satisfaction": "Satisfaction",
        "sign_for": "Signed for in 24 h",
        "closed_in_time": "Closed in 7 working days",
        "closure": "Closed",
        "points_lost": "Points lost",
        "points": "Points",
        "flag": "Flag",
        "zero_loss": "no points lost",
        "chart": "Ranking by score",
        "worst_overdue": "Most overdue call-outs",
        "none": "none",
        "department": "Department",
        "street": "Street",
        "category": "Category",
        "step": "Step",
        "due_at": "Due",
        "overdue": "Overdue by",
        "hotspots": "Hotspots",
        "hot_categories": "Recurring categories",
        "hot_places": "Recurring places",
        "audit": "Exemptions and appeals",
        "decision": "Kind",
        "fact": "Fact",
        "reason": "Reason",
        "decided_by": "Decided by",
        "effect": "Outcome",
        "exemption": "exemption",
        "appeal": "appeal",
        "removed": "removed",
        "rejudged": "return judged justified",
        "kept": "appeal rejected",
        "check_in": "check-in",
        "arrival": "arrival",
        "completion": "completion",
        "whistle": "whistle",
        "callout": "call-out",
        "return": "return",
        "escalation": "escalation",
        "follow_up": "follow-up",
        "escalations": "Escalations (street/district/city)",
        "weights": "Score = response × {response} + resolution × {resolution} + satisfaction × {satisfaction} "
                   "(rescaled over the rates that are defined)",
        "definitions": "Every definition: deploy/reference/ASSESSMENT.md.",
        "cases": "{n}",
    },
}


def text(language: str, key: str, **values) -> str:
    return TEXTS[language][key].format(**values)


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise ValueError(f"language {language!r} must be one of {', '.join(LANGUAGES)}")
    return language


def percent(value: Optional[Fraction]) -> str:
    return "—" if value is None else f"{float(value) * 100:.1f}%"


def number(value: Optional[Fraction], digits: int = 1) -> str:
    if value is None:
        return "—"
    shown = f"{float(value):.{digits}f}"
    return shown.rstrip("0").rstrip(".") if "." in shown else shown


def local_time(instant: Optional[datetime]) -> str:
    return "—" if instant is None else instant.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def duration(span: timedelta, language: str) -> str:
    minutes = int(span.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if language == "zh":
        parts = [f"{days}天" if days else "", f"{hours}小时" if hours else "",
                 f"{mins}分钟" if mins and not days else ""]
        return "".join(parts) or "不足1分钟"
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{mins} min" if mins and not days else ""]
    return " ".join(p for p in parts if p) or "under a minute"

"""Every text people read below the whistle, in one table (zh-CN first, English), ready for message catalogs.

A timeline line stores its text key and parameters (TimelineEntry.detail["text"]) beside the zh-CN summary,
so any language can be rendered again later: render(key, params, "en").
Parameter conventions: `tier`, `*_tier`, `source`, `role`, `missed`, `outcome`, `verifiers` are codes shown
by their label; `*_at`, `accept_by` and `handle_by` are instants (datetime or ISO text) shown in Beijing time; a pair
`name_zh` / `name_en` fills `{name}` in the matching language."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from services.common.events import iso

Lang = Literal["zh", "en"]
BEIJING = ZoneInfo("Asia/Shanghai")

LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "tier.grid": "网格", "tier.community": "社区", "tier.street": "街道",
        "source.grid_patrol": "网格巡查", "source.hotline_12345": "12345热线", "source.road_office": "马路办公",
        "source.resident_report": "群众上报",
        "role.street_team": "街道执法队", "role.grid_worker": "网格员",
        "missed.accept": "受理", "missed.handle": "处置",
        "outcome.resolved": "已解决", "outcome.false_report": "核查不实",
    },
    "en": {
        "tier.grid": "grid", "tier.community": "community", "tier.street": "street",
        "source.grid_patrol": "grid patrol", "source.hotline_12345": "the 12345 hotline",
        "source.road_office": "a street walk (马路办公)", "source.resident_report": "a resident's report",
        "role.street_team": "street enforcement team", "role.grid_worker": "grid worker",
        "missed.accept": "accept", "missed.handle": "handle",
        "outcome.resolved": "resolved", "outcome.false_report": "false report",
    },
}

TEXTS: dict[str, dict[str, str]] = {
    "opened": {
        "zh": "{reported_by}通过{source}上报{category}，{unit}（{tier}）须在{accept_by}前受理",
        "en": "{reported_by} reported {category} via {source}; {unit} ({tier}) to accept it by {accept_by}"},
    "over_daily_cap": {
        "zh": "本网格今日第{count}件上报，超出每日{cap}件，记入考核",
        "en": "the grid's report no. {count} today, over the daily cap of {cap}: recorded for the assessment"},
    "verification_needed": {
        "zh": "吹哨前须现场核查（{verifiers}）",
        "en": "needs an on-site check ({verifiers}) before it may be whistled"},
    "verified": {
        "zh": "{by}（{role}）现场核查属实",
        "en": "{by} ({role}) checked on site: confirmed"},
    "false_report": {
        "zh": "{by}（{role}）现场核查不实，按虚假上报办结：{reason}",
        "en": "{by} ({role}) checked on site: a false report, closed as such: {reason}"},
    "accepted": {
        "zh": "{by}（{tier}）受理，须在{handle_by}前处置",
        "en": "{by} ({tier}) accepted it, to handle it by {handle_by}"},
    "handled": {
        "zh": "{by}（{tier}）处置完毕：{summary}",
        "en": "{by} ({tier}) handled it: {summary}"},
    "handled_late": {
        "zh": "{by}（{tier}）处置完毕（超时）：{summary}",
        "en": "{by} ({tier}) handled it (late): {summary}"},
    "closed": {
        "zh": "{by}（{tier}）办结销号：处置前后照片及{items}项清单",
        "en": "{by} ({tier}) closed it with before/after photos and a {items}-item checklist"},
    "passed_up": {
        "zh": "{by}上报至{to_tier}：{reason}",
        "en": "{by} passed it up to the {to_tier}: {reason}"},
    "escalated": {
        "zh": "{from_tier}未在{due_at}前{missed}，自动上报至{to_tier}",
        "en": "the {from_tier} did not {missed} it by {due_at}: passed up to the {to_tier} automatically"},
    "escalated_reason": {
        "zh": "{from_tier}超时未{missed}",
        "en": "the {from_tier} did not {missed} it in time"},
    "overdue": {
        "zh": "街道未在{due_at}前{missed}，督办",
        "en": "the street did not {missed} it by {due_at}: chased (督办)"},
    "whistled": {
        "zh": "{by}吹哨，呼叫区级部门报到",
        "en": "{by} whistled it up to the district departments"},
    "whistle_raised": {
        "zh": "已吹哨：哨{whistle_id}",
        "en": "whistle {whistle_id} raised"},
    "whistle_joined": {
        "zh": "已并入同一问题的在办哨{whistle_id}",
        "en": "joined open whistle {whistle_id} of the same problem"},
    "whistle_closed": {
        "zh": "哨{whistle_id}已销号，事件随之办结",
        "en": "whistle {whistle_id} closed; the event is closed with it"},
    "whistle_reopened": {
        "zh": "哨{whistle_id}重新办理（{reason}），事件重新打开",
        "en": "whistle {whistle_id} reopened ({reason}); so is the event"},
    "whistle_summary": {
        "zh": "经吹哨由区级部门处置，哨{whistle_id}已销号",
        "en": "handled by the district departments on whistle {whistle_id}, now closed"},
    "carried_history": {
        "zh": "由网格事件{grid_event_id}吹哨，随附其{steps}条记录",
        "en": "whistled from grid event {grid_event_id}, with its {steps} timeline lines"},
    "description_cut": {
        "zh": "（全文见网格事件{grid_event_id}）",
        "en": " (full text on grid event {grid_event_id})"},
    "ticket_received": {
        "zh": "12345工单{ticket_id}（{hotline_class}），须在{due_at}前办结",
        "en": "12345 ticket {ticket_id} ({hotline_class}), to be completed by {due_at}"},
    "ticket_answered": {
        "zh": "已向12345回复工单{ticket_id}（第{answer_no}次）：{outcome}",
        "en": "answered 12345 ticket {ticket_id} (answer {answer_no}): {outcome}"},
    "reporter.hotline": {"zh": "12345热线", "en": "12345 hotline"},
    "reporter.open311": {"zh": "市民（Open311）", "en": "resident (Open311)"},
    # Open311 status_notes and service_notice
    "status.reported": {"zh": "已上报，待{tier}受理", "en": "reported, waiting for the {tier} to accept it"},
    "status.accepted": {"zh": "{tier}已受理，处置中", "en": "accepted by the {tier}, being handled"},
    "status.handled": {"zh": "{tier}已处置，待销号", "en": "handled by the {tier}, to be closed"},
    "status.whistled": {"zh": "已吹哨，区级部门处置中", "en": "whistled: the district departments are on it"},
    "status.closed.handled": {"zh": "已办结", "en": "closed: resolved"},
    "status.closed.whistled": {"zh": "经吹哨处置，已办结", "en": "closed: resolved on a whistle"},
    "status.closed.false_report": {"zh": "经现场核查不实，已办结", "en": "closed: found false on site"},
    "notice.opened": {"zh": "已转{unit}，{accept_by}前受理", "en": "sent to {unit}, to be accepted by {accept_by}"},
}

_LABELLED = ("source", "role", "missed", "outcome")
_DEADLINES = ("accept_by", "handle_by")


def when(value: datetime | str) -> str:
    instant = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    return instant.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def _shown(key: str, value: Any, lang: Lang) -> Any:
    labels = LABELS[lang]
    if key == "tier" or key.endswith("_tier"):
        return labels[f"tier.{value}"]
    if key in _LABELLED:
        return labels.get(f"{key}.{value}", value)
    if key == "verifiers":
        return ("、" if lang == "zh" else ", ").join(labels[f"role.{v}"] for v in value)
    if (key.endswith("_at") or key in _DEADLINES) and isinstance(value, (datetime, str)):
        return when(value)
    return value


def render(key: str, params: dict[str, Any], lang: Lang = "zh") -> str:
    """The text `key` in `lang`, its parameters shown by the conventions above."""
    values: dict[str, Any] = {}
    for name, value in params.items():
        if name.endswith(("_zh", "_en")):
            if name.endswith(f"_{lang}"):
                values[name[:-3]] = value
            continue
        values[name] = _shown(name, value, lang)
    return TEXTS[key][lang].format(**values)


def json_params(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters as stored in a timeline line's detail (instants as UTC ISO text)."""
    return {k: iso(v) if isinstance(v, datetime) else list(v) if isinstance(v, tuple) else v
            for k, v in params.items()}

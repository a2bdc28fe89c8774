"""The rule table: for every action, who may take it and on which objects. One table, one check.

`authorize(principal, action, obj)` is pure: the object's attributes (its `street_code`, its
`department_code`, the departments called on its whistle) are passed in by the entrypoint that loaded it.
An action not in the table is refused (fail closed)."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Iterable, Mapping

from services.common.auth.principals import KIND_ZH, OWN_FIELD, Kind, Principal


class Scope(str, Enum):
    """Which objects a grant covers."""

    ANY = "any"                         # every object of the action
    OWN_STREET = "own_street"           # obj["street_code"] is the principal's street
    OWN_DEPARTMENT = "own_department"   # obj["department_code"] is the principal's department
    CALLED = "called"                   # the principal's department is in obj["department_codes"]


SCOPE_FIELD = {Scope.OWN_STREET: "street_code", Scope.OWN_DEPARTMENT: "department_code",
               Scope.CALLED: "department_codes"}


@dataclass(frozen=True)
class Rule:
    action: str
    grants: Mapping[Kind, Scope]
    write: bool                 # writes are rate-limited per principal
    obj: str | None             # the kind of object checked ("whistle", "callout"...), None for a list
    summary: str
    summary_zh: str


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    reason_zh: str
    field: str | None = None    # the object or body field that decided a refusal

    def __bool__(self) -> bool:
        return self.allowed


S, D, DI, A, OP, SV = Kind.STREET, Kind.DEPARTMENT, Kind.DISTRICT, Kind.ASSESSMENT, Kind.OPERATOR, Kind.SERVICE
H, FU, O3 = Kind.HOTLINE, Kind.FOLLOW_UP, Kind.OPEN311
ANY, OWN_STREET, OWN_DEPARTMENT, CALLED = Scope.ANY, Scope.OWN_STREET, Scope.OWN_DEPARTMENT, Scope.CALLED


def _rules(*rules: Rule) -> dict[str, Rule]:
    table = {}
    for rule in rules:
        assert rule.action not in table, rule.action
        table[rule.action] = rule
    return table


RULES: dict[str, Rule] = _rules(
    # whistle service: the streets' side
    Rule("whistle.raise", {S: OWN_STREET, SV: ANY}, True, "whistle",
         "raise a whistle for a street", "为本街道吹哨"),
    Rule("whistle.read", {S: OWN_STREET, DI: ANY, SV: ANY}, False, "whistle",
         "read a whistle and its timeline", "查看哨单及其时间线"),
    Rule("whistle.close", {S: OWN_STREET, SV: ANY}, True, "whistle",
         "close a whistle", "销号"),
    Rule("whistle.send_back", {S: OWN_STREET, SV: ANY}, True, "whistle",
         "send a whistle's work back", "退回重办"),
    Rule("whistle.follow_up", {S: OWN_STREET, SV: ANY}, True, "whistle",
         "record the complainant's follow-up", "记录回访"),
    # whistle service, below the whistle: grid events (网格事件), 12345 tickets, Open311
    Rule("grid_event.open", {S: OWN_STREET, SV: ANY}, True, "grid_event",
         "report a problem at one of the street's grids", "上报网格事件"),
    Rule("grid_event.act", {S: OWN_STREET, SV: ANY}, True, "grid_event",
         "accept, handle, close, pass up, check on site or whistle a grid event",
         "受理、处置、办结、上报、核查或吹哨网格事件"),
    Rule("grid_event.read", {S: OWN_STREET, DI: ANY, SV: ANY}, False, "grid_event",
         "read a grid event and its timeline", "查看网格事件及其时间线"),
    Rule("grid_event.contact", {S: OWN_STREET, FU: ANY}, False, "grid_event",
         "read the complainant's contact (personal data)", "查看诉求人联系方式（个人信息）"),
    Rule("ticket.receive", {H: ANY, SV: ANY}, True, None,
         "send a 12345 ticket to its street", "派发12345工单"),
    Rule("ticket.read", {S: OWN_STREET, H: ANY, DI: ANY, SV: ANY}, False, "ticket",
         "read a 12345 ticket's status and answers", "查看12345工单办理情况"),
    Rule("open311.report", {O3: ANY, SV: ANY}, True, None,
         "report a problem through Open311", "通过Open311上报问题"),
    Rule("open311.read", {O3: ANY, DI: ANY, SV: ANY}, False, None,
         "read Open311 services and service requests", "查看Open311服务与诉求"),
    # dispatch: call-outs and department reports
    Rule("callout.read", {S: OWN_STREET, D: CALLED, DI: ANY, SV: ANY}, False, "whistle",
         "read a whistle's call-outs (a department sees only its own)", "查看派单（部门只见本部门）"),
    # one action for the four department reports (报到 check-in, 到场 arrival, 处置完成 completion,
    # 退单 return): one rule, so `POST /api/v1/reports/<action>` is one route with one rule
    Rule("callout.report", {D: OWN_DEPARTMENT, SV: ANY}, True, "callout",
         "report on a call-out (check-in, arrival, completion, return)", "报到、到场、处置完成或退单"),
    Rule("department.add", {DI: ANY, SV: ANY}, True, "whistle",
         "call one more department to a whistle", "增派部门"),
    Rule("arbitration.read", {DI: ANY, SV: ANY}, False, None,
         "list open arbitrations", "查看待裁决事项"),
    Rule("arbitration.decide", {DI: ANY, SV: ANY}, True, "arbitration",
         "decide an arbitration", "裁决确权"),
    Rule("overdue.read", {DI: ANY, SV: ANY}, False, None,
         "list overdue call-outs", "查看超时派单（督办）"),
    # roster
    Rule("team.read", {S: OWN_STREET, D: CALLED, DI: ANY, SV: ANY}, False, "whistle",
         "read a whistle's joint enforcement team", "查看联合执法队伍"),
    # the command-centre page (services/whistle/board.py): who the pasted token names
    Rule("board.open", {S: ANY, DI: ANY, SV: ANY}, False, None,
         "open the command-centre page", "打开指挥中心页面"),
    Rule("team.member_report", {D: OWN_DEPARTMENT, SV: ANY}, True, "team_member",
         "check in or decline as a member of a joint team", "以联合执法队员身份报到或请辞"),
    Rule("roster.read", {D: OWN_DEPARTMENT, DI: ANY, SV: ANY}, False, "department",
         "read a department's officers, duty schedule, who is on duty and its iCal feeds",
         "查看部门执法队员、值班表、在岗人员及日历订阅"),
    Rule("roster.manage", {D: OWN_DEPARTMENT, SV: ANY}, True, "department",
         "register, update and import a department's officers; change its duty schedule",
         "登记、修改、导入本部门执法队员；调整值班表"),
    Rule("roster.history", {D: OWN_DEPARTMENT, DI: ANY, A: ANY, SV: ANY}, False, "department",
         "read a department's or officer's service on joint teams, by month", "查看部门或队员的联合执法记录（按月）"),
    Rule("chiefs.read", {S: OWN_STREET, DI: ANY, SV: ANY}, False, "street",
         "read a street's 双街长 and 双路长 pairs", "查看街道的双街长、双路长"),
    # metrics
    Rule("assessment.read", {A: ANY, DI: ANY, SV: ANY}, False, None,
         "read assessment data (the three rates, ranking)", "查看考核数据（三率、排名）"),
    Rule("assessment.decide", {DI: ANY, SV: ANY}, True, None,
         "record an exemption or an appeal in the assessment", "记录考核免责或申诉"),
    # operations (today the dead-letter tool speaks to the broker as the operator's broker account)
    Rule("dlq.read", {OP: ANY}, False, None, "list and show dead letters", "查看死信"),
    Rule("dlq.replay", {OP: ANY}, True, None, "replay dead letters", "重放死信"),
    Rule("dlq.drop", {OP: ANY}, True, None, "drop dead letters", "删除死信"),
)


def rule_of(action: str) -> Rule:
    """The rule of an action; KeyError names the action (a route declaring an unknown action fails at import)."""
    try:
        return RULES[action]
    except KeyError:
        raise KeyError(f"no rule for action {action!r}; add it to services.common.auth.rules.RULES") from None


def _refuse(reason: str, reason_zh: str, field_name: str | None = None) -> Decision:
    return Decision(False, reason, reason_zh, field_name)


def may_attempt(principal: Principal, action: str) -> Decision:
    """The route-level check, before the object is loaded: may this kind take this action at all?"""
    rule = RULES.get(action)
    if rule is None:
        return _refuse(f"no rule for action {action!r}", f"操作 {action} 未定义权限规则")
    if principal.kind not in rule.grants:
        return _refuse(f"a {principal.kind} token may not {rule.summary}",
                       f"{KIND_ZH[principal.kind]}无权{rule.summary_zh}")
    return Decision(True, f"{principal.kind} may {rule.summary}", f"{KIND_ZH[principal.kind]}可{rule.summary_zh}")


def authorize(principal: Principal, action: str, obj: Mapping[str, Any] | None) -> Decision:
    """May `principal` take `action` on the object with these attributes? With a reason either way.

    `obj` is None for actions on no particular object (a list); a scoped grant then refuses, since
    there is nothing to check ownership on. A missing attribute refuses too, naming it."""
    first = may_attempt(principal, action)
    if not first:
        return first
    scope = RULES[action].grants[principal.kind]
    if scope is Scope.ANY:
        return first
    name = SCOPE_FIELD[scope]
    if obj is None or name not in obj or obj[name] is None:
        return _refuse(f"cannot check ownership: the object has no {name}", f"无法核对归属：对象缺少 {name}", name)
    value = obj[name]
    if scope is Scope.CALLED:
        if principal.code in tuple(value):
            return first
        return _refuse(f"department {principal.code!r} is not called on this whistle",
                       f"本部门（{principal.code}）未被派单到此哨单", name)
    if value == principal.code:
        return first
    owner = "street" if scope is Scope.OWN_STREET else "department"
    return _refuse(f"this {RULES[action].obj or 'object'} belongs to {owner} {value!r}, not {principal.code!r}",
                   f"此对象属于{'街道' if owner == 'street' else '部门'} {value}，不属于 {principal.code}", name)


class Denied(Exception):
    """An authorization refusal carrying its Decision (HTTP 403; an RPC error)."""

    def __init__(self, decision: Decision):
        super().__init__(decision.reason)
        self.decision = decision


def claim(principal: Principal, body: dict) -> dict:
    """A body with the principal's own `street_code` / `department_code` filled in, or Denied.

    A street's token fills `street_code` when the body leaves it out and refuses a body naming another
    street (the reason names the field); likewise a department's `department_code`. Other kinds
    (district staff, services) must name the code themselves; their bodies are returned unchanged."""
    own = OWN_FIELD.get(principal.kind)
    if own is None or not isinstance(body, dict):
        return body
    given = body.get(own)
    if given is None:
        return {**body, own: principal.code}
    if given != principal.code:
        raise Denied(_refuse(f"{own} {given!r} does not match the token's {principal.kind} {principal.code!r}",
                             f"{own} 为 {given}，与令牌所属{KIND_ZH[principal.kind]} {principal.code} 不符", own))
    return body


def visible(principal: Principal, action: str, rows: Iterable[Any],
            attrs: Callable[[Any], Mapping[str, Any]] = lambda row: row) -> list:
    """The rows of a list a principal may see: a department sees only its own call-outs, and so on.

    Each row is checked as an object of `action`, with the grant's field read from `attrs(row)`;
    a CALLED grant is checked against the row's own `department_code`."""
    rule = RULES.get(action)
    if rule is None or principal.kind not in rule.grants:
        return []
    scope = rule.grants[principal.kind]
    if scope is Scope.ANY:
        return list(rows)
    name = "department_code" if scope in (Scope.CALLED, Scope.OWN_DEPARTMENT) else SCOPE_FIELD[scope]
    return [row for row in rows if attrs(row).get(name) == principal.code]


SCOPE_WORDS = {Scope.ANY: "all", Scope.OWN_STREET: "own street's", Scope.OWN_DEPARTMENT: "own department's",
               Scope.CALLED: "where called"}


def markdown_table() -> str:
    """The rule table as Markdown, for the README (a test keeps the README's copy equal to this)."""
    lines = ["| action | " + " | ".join(kind.value for kind in Kind) + " | write | what |",
             "|---|" + "---|" * len(Kind) + "---|---|"]
    for rule in RULES.values():
        cells = [SCOPE_WORDS[rule.grants[kind]] if kind in rule.grants else "—" for kind in Kind]
        lines.append(f"| `{rule.action}` | " + " | ".join(cells) + f" | {'yes' if rule.write else ''} | "
                     f"{rule.summary} ({rule.summary_zh}) |")
    return "\n".join(lines)

"""Generates chuishao's Grafana dashboards and provisioning files with grafana-foundation-sdk.

    .venv/bin/python deploy/grafana/generate.py          # rewrite deploy/grafana/{dashboards,provisioning}
    .venv/bin/python deploy/grafana/generate.py --check  # exit 1 if the committed files are stale

Never edit the JSON by hand: change this file and regenerate (tests/unit/test_dashboards.py fails
while the committed files differ from what this writes). Grafana picks them up through
provisioning/: point its `paths.provisioning` at deploy/grafana/provisioning and copy or mount
deploy/grafana/dashboards at the path named in provisioning/dashboards/chuishao.yaml (or edit it).
Titles are zh-CN with the English after "·"; every panel's PromQL is read back by panel_queries().
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterable

from grafana_foundation_sdk.builders import bargauge, stat, timeseries
from grafana_foundation_sdk.builders.common import VizLegendOptions, VizTooltipOptions
from grafana_foundation_sdk.builders.dashboard import Dashboard, QueryVariable, Row, ThresholdsConfig
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (BarGaugeDisplayMode, BigValueGraphMode, LegendDisplayMode,
                                                  LegendPlacement, SortOrder, TooltipDisplayMode, VizOrientation)
from grafana_foundation_sdk.models.dashboard import (DataSourceRef, Threshold, ThresholdsMode,
                                                     VariableRefresh, VariableSort)

HERE = Path(__file__).resolve().parent
DASHBOARDS = HERE / "dashboards"
PROVISIONING = HERE / "provisioning"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="chuishao-prometheus")
DEPT = '{department=~"$department"}'


def query(expr: str, legend: str = "", instant: bool = False) -> Dataquery:
    q = Dataquery().expr(expr).datasource(DATASOURCE).legend_format(legend or "__auto")
    return q.instant() if instant else q.range()


def thresholds(*steps: tuple[float | None, str]) -> ThresholdsConfig:
    return ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(
        [Threshold(value=v, color=c) for v, c in steps])


SLA_STEPS = thresholds((None, "red"), (0.9, "orange"), (0.95, "green"))


def series(title: str, description: str, *queries: Dataquery, unit: str = "short", height: int = 8,
           width: int = 12, **bounds) -> timeseries.Panel:
    panel = (timeseries.Panel().title(title).description(description).datasource(DATASOURCE).unit(unit)
             .height(height).span(width).line_width(2).fill_opacity(10)
             .legend(VizLegendOptions().show_legend(True).display_mode(LegendDisplayMode.LIST)
                     .placement(LegendPlacement.BOTTOM).calcs([]))
             .tooltip(VizTooltipOptions().mode(TooltipDisplayMode.MULTI).sort(SortOrder.DESCENDING)))
    for key, value in bounds.items():
        panel = getattr(panel, key)(value)
    for q in queries:
        panel = panel.with_target(q)
    return panel


def number(title: str, description: str, expr: str, unit: str = "short", steps: ThresholdsConfig | None = None,
           width: int = 6) -> stat.Panel:
    panel = (stat.Panel().title(title).description(description).datasource(DATASOURCE).unit(unit).height(5)
             .span(width).graph_mode(BigValueGraphMode.AREA).with_target(query(expr)))
    return panel.thresholds(steps) if steps else panel


def bars(title: str, description: str, expr: str, legend: str, unit: str = "short",
         steps: ThresholdsConfig | None = None, width: int = 12, height: int = 9, **bounds) -> bargauge.Panel:
    panel = (bargauge.Panel().title(title).description(description).datasource(DATASOURCE).unit(unit)
             .height(height).span(width).orientation(VizOrientation.HORIZONTAL)
             .display_mode(BarGaugeDisplayMode.GRADIENT).with_target(query(expr, legend, instant=True)))
    for key, value in bounds.items():
        panel = getattr(panel, key)(value)
    return panel.thresholds(steps) if steps else panel


def base(uid: str, title: str, description: str) -> Dashboard:
    return (Dashboard(title).uid(uid).description(description).tags(["chuishao", "generated"])
            .timezone("Asia/Shanghai").time("now-24h", "now").refresh("1m").editable())


def district_overview() -> Dashboard:
    return (base("chuishao-district", "全区概览 · District overview",
                 "吹哨、派单、报到与回访的全区情况 / whistles, call-outs, check-ins and follow-ups across the district")
            .with_row(Row("今日 · Today"))
            .with_panel(number("24小时吹哨数 · Whistles in 24 h", "streets' whistles raised in the last 24 hours",
                               "sum(increase(chuishao_whistles_raised_total[1d]))"))
            .with_panel(number("报到达标率（1天）· Check-in SLA (1 d)",
                               "share of call-outs checked in within their deadline; misses count",
                               "district:chuishao_checkin_sla:ratio_rate1d", unit="percentunit", steps=SLA_STEPS))
            .with_panel(number("在办吹哨 · Open whistles", "whistles raised and not yet closed",
                               "sum(chuishao_open_whistles)"))
            .with_panel(number("超期派单 · Overdue call-outs", "open call-outs past the deadline of their step",
                               "sum(chuishao_overdue_callouts)",
                               steps=thresholds((None, "green"), (1, "orange"), (10, "red"))))
            .with_row(Row("街道 · Streets"))
            .with_panel(series("各街道吹哨 · Whistles per street", "whistles raised per minute, by street",
                               query("sum by (street) (rate(chuishao_whistles_raised_total[$__rate_interval])) * 60",
                                     "{{street}}"), unit="short"))
            .with_panel(series("各街道报到达标率（1小时）· Check-in SLA per street (1 h)",
                               "share of the street's call-outs checked in on time over the last hour",
                               query("street:chuishao_checkin_sla:ratio_rate1h", "{{street}}"),
                               unit="percentunit", min=0, max=1))
            .with_panel(bars("各街道在办吹哨 · Open whistles per street", "whistles raised and not closed",
                             "sum by (street) (chuishao_open_whistles)", "{{street}}"))
            .with_panel(series("回访满意度 · Follow-up ratings", "follow-up ratings over the last day",
                               query("sum by (rating) (increase(chuishao_follow_ups_total[1d]))", "{{rating}}")))
            .with_panel(series("销号与重开 · Closures and reopenings", "whistles closed and reopened per hour",
                               query("sum(increase(chuishao_whistles_closed_total[1h]))", "销号 closed"),
                               query("sum(increase(chuishao_whistles_reopened_total[1h]))", "重开 reopened"),
                               query("sum(increase(chuishao_whistles_linked_total[1h]))", "重复并案 linked")))
            .with_panel(series("吹哨办结用时 p90 · Whistle closure time p90",
                               "90th percentile of raised → closed, by urgency",
                               query("histogram_quantile(0.9, sum by (urgency, le) "
                                     "(rate(chuishao_whistle_closure_latency_seconds_bucket[1h])))", "{{urgency}}"),
                               unit="s")))


def department_sla() -> Dashboard:
    variable = (QueryVariable("department").label("部门 · Department").datasource(DATASOURCE)
                .query("label_values(chuishao_callouts_issued_total, department)")
                .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).sort(VariableSort.ALPHABETICAL_ASC)
                .multi(True).include_all(True).all_value(".*"))
    return (base("chuishao-department-sla", "部门报到时限 · Department SLA",
                 "各部门报到、到场、处置是否在时限内 / whether departments check in, arrive and complete in time")
            .with_variable(variable)
            .with_row(Row("报到 · Check-in"))
            .with_panel(series("报到达标率（1小时）· Check-in SLA (1 h)",
                               "checked in on time ÷ call-outs whose check-in deadline was decided; misses count",
                               query(f"department:chuishao_checkin_sla:ratio_rate1h{DEPT}", "{{department}}"),
                               unit="percentunit", min=0, max=1))
            .with_panel(series("错误预算消耗速度（1小时）· Error budget burn rate (1 h)",
                               "1 = budget spent exactly over the SLO period; 14.4 over 1 h pages",
                               query(f"department:chuishao_checkin_errors:ratio_rate1h{DEPT} "
                                     "/ on() group_left() (1 - chuishao:checkin_slo_objective:ratio)",
                                     "{{department}}")))
            .with_panel(bars("30分钟内报到占比（1天）· Checked in within 30 min (1 d)",
                             "share of check-ins within 30 minutes of issue, exact (a bucket bound at 1800 s)",
                             f"department:chuishao_checkin_within_30m:ratio_rate1d{DEPT}", "{{department}}",
                             unit="percentunit", steps=SLA_STEPS, min=0, max=1))
            .with_panel(series("报到用时 p90 · Check-in time p90", "90th percentile of issued → checked in",
                               query(f"department:chuishao_checkin_latency_seconds:p90_rate1h{DEPT}",
                                     "{{department}}"), unit="s"))
            .with_row(Row("到场与处置 · Arrival and completion"))
            .with_panel(series("按时到场占比 · Arrived on time",
                               "arrivals within their deadline ÷ arrivals",
                               query('sum by (department) (rate(chuishao_steps_total{step="arrival", on_time="true", '
                                     'department=~"$department"}[$__rate_interval])) / sum by (department) '
                                     '(rate(chuishao_steps_total{step="arrival", department=~"$department"}'
                                     '[$__rate_interval]))', "{{department}}"),
                               unit="percentunit", min=0, max=1))
            .with_panel(series("到场与处置用时 p90 · Arrival and completion time p90",
                               "90th percentile of issued → on site and issued → completed",
                               query(f"department:chuishao_arrival_latency_seconds:p90_rate1h{DEPT}",
                                     "到场 {{department}}"),
                               query(f"department:chuishao_completion_latency_seconds:p90_rate1h{DEPT}",
                                     "处置 {{department}}"), unit="s"))
            .with_panel(bars("在办派单 · Open call-outs", "issued and neither completed nor returned",
                             f"sum by (department) (chuishao_open_callouts{DEPT})", "{{department}}"))
            .with_panel(bars("超期派单（按环节）· Overdue call-outs by step",
                             "open call-outs past the deadline of the step they are at",
                             f"sum by (department, step) (chuishao_overdue_callouts{DEPT})",
                             "{{department}} {{step}}",
                             steps=thresholds((None, "green"), (1, "orange"), (5, "red")))))


def escalations_arbitration() -> Dashboard:
    return (base("chuishao-escalations", "督办与仲裁 · Escalations and arbitration",
                 "超时督办、退单与区级确权 / missed deadlines escalated, returns and the district's arbitrations")
            .with_row(Row("督办 · Escalations"))
            .with_panel(series("各级督办 · Escalations by tier", "missed steps escalated per hour, by tier",
                               query("sum by (tier) (increase(chuishao_escalations_total[1h]))", "{{tier}}")))
            .with_panel(bars("督办至市级（1天）· Escalated to the city (1 d)", "by department, last day",
                             'sum by (department) (increase(chuishao_escalations_total{tier="city"}[1d]))',
                             "{{department}}", steps=thresholds((None, "green"), (1, "red"))))
            .with_panel(series("未按时完成的环节 · Deadlines missed by step",
                               "call-out steps whose deadline passed first, per hour",
                               query('sum by (step) (increase(chuishao_deadline_outcomes_total{outcome="missed"}[1h]))',
                                     "{{step}}")))
            .with_row(Row("退单与仲裁 · Returns and arbitration"))
            .with_panel(series("退单去向 · Returns and where they went",
                               "returns per hour: re-routed or to arbitration",
                               query("sum by (went_to) (increase(chuishao_callouts_returned_total[1h]))",
                                     "{{went_to}}")))
            .with_panel(series("仲裁发起 · Arbitrations opened", "per hour, by reason",
                               query("sum by (reason) (increase(chuishao_arbitrations_opened_total[1h]))",
                                     "{{reason}}")))
            .with_panel(number("按时裁决占比（1天）· Decided in time (1 d)",
                               "arbitrations decided within the district's time limit",
                               'sum(increase(chuishao_arbitrations_decided_total{on_time="true"}[1d])) '
                               "/ sum(increase(chuishao_arbitrations_decided_total[1d]))",
                               unit="percentunit", steps=SLA_STEPS))
            .with_panel(number("超时未裁决（1天）· Overdue arbitrations (1 d)", "escalated to the city",
                               "sum(increase(chuishao_arbitrations_overdue_total[1d]))",
                               steps=thresholds((None, "green"), (1, "red")))))


def bus_health() -> Dashboard:
    return (base("chuishao-bus", "消息总线健康 · Bus health",
                 "发件箱、死信、消费结果与部门消费者 / outbox, dead letters, consumed by outcome, consumers")
            .with_row(Row("服务 · Services"))
            .with_panel(number("在线服务 · Services up", "services Prometheus can scrape (4 expected)",
                               'sum(up{job="chuishao"})', steps=thresholds((None, "red"), (4, "green"))))
            .with_panel(number("死信积压 · Dead-letter backlog", "messages waiting in the dead-letter queue",
                               "max(chuishao_deadletter_backlog)", steps=thresholds((None, "green"), (1, "red"))))
            .with_panel(number("无人接收的部门 · Departments not listening",
                               "departments whose call-out queue has no consumer",
                               "count(max by (department) (chuishao_department_consumers) == 0) or vector(0)",
                               steps=thresholds((None, "green"), (1, "red"))))
            .with_panel(number("最久未发送事件 · Oldest unsent event", "age of the oldest event not yet confirmed",
                               "max(chuishao_outbox_oldest_unsent_age_seconds)", unit="s",
                               steps=thresholds((None, "green"), (30, "orange"), (120, "red"))))
            .with_row(Row("发件箱 · Outbox"))
            .with_panel(series("发件箱积压 · Outbox backlog", "events written but not confirmed, by service",
                               query("sum by (service) (chuishao_outbox_backlog)", "{{service}}")))
            .with_panel(series("发布与失败 · Published and failed", "events relayed per second, and failures",
                               query("sum by (service) (rate(chuishao_outbox_published_total[$__rate_interval]))",
                                     "{{service}}"),
                               # no failure yet is 0 per service, not "no data"
                               query("sum by (service, reason) "
                                     "(rate(chuishao_outbox_publish_failures_total[$__rate_interval])) "
                                     "or sum by (service) "
                                     "(rate(chuishao_outbox_published_total[$__rate_interval])) * 0",
                                     "失败 {{service}} {{reason}}"), unit="ops"))
            .with_row(Row("消费 · Consumers"))
            .with_panel(series("按结果消费 · Consumed by outcome", "messages handled per second, by outcome",
                               query("sum by (outcome) (rate(chuishao_messages_consumed_total[$__rate_interval]))",
                                     "{{outcome}}"), unit="ops"))
            .with_panel(bars("部门派单消费者 · Consumers per department",
                             "consumers on each department's call-out queue (0: nobody listening)",
                             "max by (department) (chuishao_department_consumers)", "{{department}}",
                             steps=thresholds((None, "red"), (1, "green")))))


BUILDERS = {"district-overview": district_overview, "department-sla": department_sla,
            "escalations-arbitration": escalations_arbitration, "bus-health": bus_health}

DATASOURCE_YAML = f"""# Generated by deploy/grafana/generate.py: the Prometheus the dashboards read.
apiVersion: 1
datasources:
  - name: chuishao Prometheus
    uid: {DATASOURCE.uid}
    type: prometheus
    access: proxy
    url: http://127.0.0.1:9090
    isDefault: true
    jsonData:
      timeInterval: 15s
"""

DASHBOARDS_YAML = """# Generated by deploy/grafana/generate.py: loads the dashboards in deploy/grafana/dashboards.
apiVersion: 1
providers:
  - name: chuishao
    folder: 吹哨报到 chuishao
    type: file
    disableDeletion: true
    allowUiUpdates: false
    options:
      path: /var/lib/grafana/dashboards/chuishao
"""


def numbered(dashboard):
    """Panel ids 1, 2, ... in order and query refIds A, B, ... per panel, as Grafana expects."""
    for number, panel in enumerate(dashboard.panels or [], start=1):
        panel.id_val = number
        for index, target in enumerate(getattr(panel, "targets", None) or []):
            target.ref_id = chr(ord("A") + index)
    return dashboard


def render() -> dict[Path, str]:
    """Every generated file and its content."""
    encoder = JSONEncoder(sort_keys=True, indent=2, ensure_ascii=False)
    files = {DASHBOARDS / f"{name}.json": encoder.encode(numbered(build().build())) + "\n"
             for name, build in BUILDERS.items()}
    files[PROVISIONING / "datasources" / "prometheus.yaml"] = DATASOURCE_YAML
    files[PROVISIONING / "dashboards" / "chuishao.yaml"] = DASHBOARDS_YAML
    return files


def panel_queries(dashboard: dict) -> Iterable[tuple[str, str]]:
    """(panel title, PromQL) for every query of every panel, rows and nested panels included."""
    for panel in dashboard.get("panels", []):
        yield from panel_queries(panel)
        for target in panel.get("targets", []) or []:
            if target.get("expr"):
                yield panel.get("title", ""), target["expr"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate chuishao's Grafana dashboards.")
    parser.add_argument("--check", action="store_true", help="only report whether the committed files are stale")
    args = parser.parse_args(argv)
    stale = [path for path, text in render().items() if not path.exists() or path.read_text("utf-8") != text]
    if args.check:
        for path in stale:
            print(f"stale: {path.relative_to(HERE)}", file=sys.stderr)
        return 1 if stale else 0
    for path, text in render().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(HERE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

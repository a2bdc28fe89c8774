"""The Grafana dashboards: generated from deploy/grafana/generate.py, never stale, every query sound."""
from __future__ import annotations

import json
import re

import yaml

from tests.support.dashboards import GRAFANA, concrete, every_panel_query, generator
from tests.support.prometheus import PROMETHEUS_DIR
from tests.unit.test_alert_rules import METRIC, RECORDED, exported_names, rules


def test_the_committed_dashboards_are_what_the_generator_writes():
    stale = [str(path.relative_to(GRAFANA)) for path, text in generator().render().items()
             if not path.exists() or path.read_text(encoding="utf-8") != text]
    assert stale == [], f"run .venv/bin/python deploy/grafana/generate.py and commit: stale {stale}"
    assert generator().main(["--check"]) == 0


def test_the_four_dashboards_are_provisioned_against_the_provisioned_datasource():
    datasource = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text())
    uid = datasource["datasources"][0]["uid"]
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "chuishao.yaml").read_text())
    assert provider["providers"][0]["type"] == "file"
    boards = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((GRAFANA / "dashboards").glob("*.json"))]
    assert {b["uid"] for b in boards} == {"chuishao-district", "chuishao-department-sla", "chuishao-escalations",
                                          "chuishao-bus"}
    for board in boards:
        panels = [p for p in board["panels"] if p["type"] != "row"]
        assert panels and len({p["id"] for p in board["panels"]}) == len(board["panels"])
        for panel in panels:
            assert panel["datasource"]["uid"] == uid, panel["title"]
            assert panel["targets"] and all(t["refId"] for t in panel["targets"]), panel["title"]
            assert "·" in panel["title"], f"{panel['title']}: zh-CN title · English"


def test_every_panel_query_names_exported_metrics_or_recorded_rules():
    exported = exported_names()
    recorded = {r["record"] for r in rules(PROMETHEUS_DIR / "recording.yml")}
    queries = every_panel_query()
    assert len(queries) >= 30
    for dashboard, title, expr in queries:
        for used in RECORDED.findall(expr):
            assert used in recorded, f"{dashboard} / {title} uses {used}, which no rule records"
        for metric in METRIC.findall(RECORDED.sub("", expr)):
            assert metric in exported, f"{dashboard} / {title} uses {metric}, which no instrument exports"
        assert not re.search(r"\$\w", concrete(expr))

"""The shipped Prometheus configuration: valid for promtool, naming metrics the services really export,
and every alert covered by a promtool unit test in which it fires."""
from __future__ import annotations

import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY, generate_latest

import services.common.consumer  # noqa: F401 - registers its metrics
import services.common.ops_metrics  # noqa: F401
import services.common.outbox  # noqa: F401
import services.common.queue_probe  # noqa: F401
import services.metrics.instruments  # noqa: F401
from tests.support.prometheus import PROMETHEUS_DIR, promtool

RULE_FILES = [PROMETHEUS_DIR / "recording.yml", PROMETHEUS_DIR / "alerts.yml"]
TEST_FILES = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
RECORDED = re.compile(r"\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b")
METRIC = re.compile(r"\b(chuishao_[a-z0-9_]+)")


def rules(path: Path) -> list[dict]:
    return [rule for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]


def exported_names() -> set[str]:
    names = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(s.name for s in family.samples)
        if family.type == "histogram":
            names.update(f"{family.name}_{suffix}" for suffix in ("bucket", "count", "sum"))
        if family.type == "counter":
            names.add(f"{family.name}_total")
    return names


def test_every_rule_names_metrics_the_services_export_or_rules_record():
    exported = exported_names()
    recorded = {r["record"] for r in rules(PROMETHEUS_DIR / "recording.yml")}
    checked = 0
    for path in RULE_FILES:
        for rule in rules(path):
            name = rule.get("alert") or rule.get("record")
            assert name and rule["expr"], rule
            for used in RECORDED.findall(rule["expr"]):
                assert used in recorded, f"{name} uses {used}, which no rule records"
            for metric in METRIC.findall(RECORDED.sub("", rule["expr"])):
                assert metric in exported, f"{name} uses {metric}, which no instrument exports"
                checked += 1
    assert checked >= 30


def test_every_alert_has_a_promtool_test_in_which_it_fires():
    alerts = {r["alert"] for r in rules(PROMETHEUS_DIR / "alerts.yml")}
    fired, quiet = set(), set()
    for path in TEST_FILES:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", ()):
                (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert alerts - fired == set(), f"alerts with no promtool test in which they fire: {sorted(alerts - fired)}"
    assert alerts - quiet == set(), f"alerts with no promtool test in which they stay quiet: {sorted(alerts - quiet)}"
    assert fired | quiet <= alerts, f"tests of alerts that do not exist: {sorted((fired | quiet) - alerts)}"


def test_promtool_checks_the_config_and_the_rules():
    config = promtool("check", "config", "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr
    checked = promtool("check", "rules", "recording.yml", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_promtool_unit_tests_of_the_rules_pass():
    result = promtool("test", "rules", *(str(p.relative_to(PROMETHEUS_DIR)) for p in TEST_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(TEST_FILES) >= 2


def test_the_exposition_of_every_instrument_passes_promtool_check_metrics():
    from tests.support.sample_metrics import observe_every_instrument
    observe_every_instrument()
    exposition = generate_latest(REGISTRY).decode()
    result = promtool("check", "metrics", stdin=exposition)
    assert result.returncode == 0 and result.stdout.strip() == "" and result.stderr.strip() == "", (
        result.stdout + result.stderr)

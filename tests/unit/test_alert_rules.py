"""The shipped alert rules name metrics the services really export."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

import services.common.consumer  # noqa: F401 - registers its metrics
import services.common.outbox  # noqa: F401
import services.metrics.instruments  # noqa: F401
from prometheus_client import REGISTRY

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"


def exported_names() -> set[str]:
    names = set()
    for collector in list(REGISTRY._collector_to_names):
        for metric in collector.collect():
            names.add(metric.name)
            for sample in metric.samples:
                names.add(sample.name)
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(s.name for s in family.samples)
    return names


def test_every_rule_has_a_name_an_expression_and_known_metrics():
    groups = yaml.safe_load(RULES.read_text())["groups"]
    exported = exported_names()
    checked = 0
    for group in groups:
        for rule in group["rules"]:
            assert rule["alert"] and rule["expr"]
            for metric in re.findall(r"\b(chuishao_[a-z_]+)", rule["expr"]):
                base = re.sub(r"_(total|count|sum|bucket)$", "", metric)
                assert metric in exported or base in exported, f"{rule['alert']} uses unknown {metric}"
                checked += 1
    assert checked >= 6

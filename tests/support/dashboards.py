"""Every panel query of the committed Grafana dashboards, made concrete, and a check against a Prometheus.

    .venv/bin/python -m tests.support.dashboards http://127.0.0.1:9090

runs every panel's PromQL against that Prometheus (e.g. after `make demo`) and lists each query
that is invalid or returns nothing; exit status 1 if any does.
"""
from __future__ import annotations

import importlib.util
import json
import sys
from typing import Callable, Iterable

import requests

from tests.support.processes import ROOT

GRAFANA = ROOT / "deploy" / "grafana"
# Grafana's own variables, and the dashboards' template variables, as a test reads them
CONCRETE = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h", "$department": ".*"}


def generator():
    """deploy/grafana/generate.py as a module (deploy/ is not a package)."""
    spec = importlib.util.spec_from_file_location("chuishao_grafana_generate", GRAFANA / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def every_panel_query() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, PromQL as written) for every query in deploy/grafana/dashboards."""
    panel_queries = generator().panel_queries
    out = []
    for path in sorted((GRAFANA / "dashboards").glob("*.json")):
        for title, expr in panel_queries(json.loads(path.read_text(encoding="utf-8"))):
            out.append((path.name, title, expr))
    return out


def concrete(expr: str) -> str:
    """The query with Grafana's variables replaced by values Prometheus accepts."""
    for variable, value in CONCRETE.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"a Grafana variable is left in {expr!r}: add it to CONCRETE"
    return expr


def problems(query: Callable[[str], dict], queries: Iterable[tuple[str, str, str]]) -> list[str]:
    """What is wrong with each query: invalid (Prometheus' error), or no data."""
    out = []
    for dashboard, title, expr in queries:
        answer = query(concrete(expr))
        if answer.get("status") != "success":
            out.append(f"{dashboard} / {title}: invalid: {answer.get('error')} — {expr}")
        elif not answer["data"]["result"]:
            out.append(f"{dashboard} / {title}: no data — {expr}")
    return out


def main(argv: list[str]) -> int:
    base = (argv[0] if argv else "http://127.0.0.1:9090").rstrip("/")

    def query(expr: str) -> dict:
        return requests.get(f"{base}/api/v1/query", params={"query": expr}, timeout=10).json()
    found = problems(query, every_panel_query())
    for line in found:
        print(line)
    print(f"{len(every_panel_query()) - len(found)} panel queries return data, {len(found)} do not")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

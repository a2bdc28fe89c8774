"""Every Grafana panel query against a real Prometheus scraping the real instrument definitions.

A small process serves sample traffic through services/metrics/instruments.py and the platform's
instruments; a private Prometheus (temporary config and data, free port, the shipped rule files)
scrapes it every second. Every panel query must parse and return data, and the burn-rate recording
rules must be evaluated."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.dashboards import concrete, every_panel_query, problems
from tests.support.processes import ROOT, free_port
from tests.support.prometheus import Prometheus, prometheus_bin_dir
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    prometheus_bin_dir()                         # skip (or fail under make test) before starting anything
    workdir = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    log = open(workdir / "sample.log", "wb")
    sample = subprocess.Popen([sys.executable, "-m", "tests.support.sample_metrics", str(port), "--seconds", "240"],
                              cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    server = Prometheus(workdir, [f"127.0.0.1:{port}"])
    try:
        server.start()
        yield server
    finally:
        server.stop()
        sample.terminate()
        sample.wait(timeout=20)
        log.close()


def test_the_sample_target_is_scraped(prometheus):
    answer = wait_for(lambda: (a := prometheus.query('up{job="chuishao"} == 1')) and a["data"]["result"] and a,
                      timeout=30, what="the sample target up")
    assert len(answer["data"]["result"]) == 1


def test_every_panel_query_parses_and_returns_data(prometheus):
    queries = every_panel_query()
    assert len(queries) >= 30
    # rates need two scrapes and recording rules a few evaluations: poll until all answer, or report
    left = []

    def all_answer() -> bool:
        left[:] = problems(prometheus.query, queries)
        return not left
    try:
        wait_for(all_answer, timeout=60, interval=1, what="every panel query to return data")
    except AssertionError:
        pytest.fail("panel queries without data:\n" + "\n".join(left))


def test_an_invalid_query_is_reported_as_such(prometheus):
    found = problems(prometheus.query, [("x.json", "broken", "sum(rate(chuishao_checkins_total[5m])"),
                                        ("x.json", "empty", 'chuishao_checkins_total{department="nobody"}')])
    assert found[0].startswith("x.json / broken: invalid:") and found[1].startswith("x.json / empty: no data")


def test_the_burn_rate_rules_are_evaluated(prometheus):
    for window in ("5m", "30m", "1h", "6h", "1d", "3d"):
        expr = f"department:chuishao_checkin_errors:ratio_rate{window}"
        wait_for(lambda expr=expr: prometheus.query(expr)["data"]["result"], timeout=30, what=expr)
    answer = prometheus.query(concrete("chuishao:checkin_slo_objective:ratio"))
    assert float(answer["data"]["result"][0]["value"][1]) == 0.95

"""The four services under a demo load (python -m services.demo, drill deadlines), scraped by a real
Prometheus: every Grafana panel query returns data; the month's assessment the metrics service serves
is what an independent fold of the raw bus events gives; the chart renders and the CLI prints the
ranking; exemptions are district staff's; and every instrument comes back the same after a restart."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pika
import pytest
import requests
import yaml
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy
from prometheus_client.parser import text_string_to_metric_families

from services.common.auth.keystore import AuthFiles
from services.common.auth.principals import Kind
from services.common.auth.tokens import issue
from services.common.events import CalloutsIssued, ContractError, WhistleRaised, decode_event
from services.common.guard import rpc_context
from services.common.reference import DEFAULT_PATH, parse_reference
from services.common.workdays import chinese_workdays
from services.demo.drill import drill
from services.metrics.assessment import Context, Decision, FactRef, Period, assess, load_rules
from services.metrics.assessment.export import as_dict
from services.metrics.assessment.from_events import facts_from_events
from tests.support.dashboards import every_panel_query, problems
from tests.support.processes import ROOT
from tests.support.prometheus import Prometheus, prometheus_bin_dir, promtool
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
SCALE = 1 / 300            # the district's 30 minutes are 6 seconds, its 2 hours 24
EVENTS_QUEUE = "test.every-event"
PLATFORM = ("chuishao_messages_consumed", "chuishao_consumer_batches", "chuishao_outbox", "chuishao_department",
            "chuishao_deadletter", "chuishao_open_", "chuishao_overdue_")


@pytest.fixture(scope="module")
def demo(stack, tmp_path_factory):
    prometheus_bin_dir()                                 # skip (or fail under make test) before starting anything
    tmp = tmp_path_factory.mktemp("demo")
    reference_path = tmp / "drill.yaml"
    reference_path.write_text(yaml.safe_dump(drill(yaml.safe_load(DEFAULT_PATH.read_text("utf-8")), DEFAULT_PATH,
                                                   SCALE), allow_unicode=True), encoding="utf-8")
    auth = AuthFiles(tmp / "auth")
    key = auth.rotate(datetime.now(timezone.utc))
    tokens = {kind: issue(kind, code, key, datetime.now(timezone.utc), timedelta(hours=1)).token
              for kind, code in ((Kind.DISTRICT, "zhangwei"), (Kind.STREET, "daxigou"), (Kind.ASSESSMENT, "kaohe"))}
    stack.extra_env.update({"REFERENCE_DATA": str(reference_path), "CHUISHAO_AUTH_DIR": str(auth.root),
                            "DEADLINE_SWEEP_SECONDS": "1", "DEADLINE_GRACE_SECONDS": "2", "QUEUE_PROBE_SECONDS": "1",
                            "OUTBOX_AGE_SECONDS": "1", "ESCALATION_SWEEP_SECONDS": "1"})
    connection = pika.BlockingConnection(pika.URLParameters(stack.amqp_uri))
    channel = connection.channel()
    everything = f"{stack.namespace}{EVENTS_QUEUE}"
    channel.exchange_declare(f"{stack.namespace}events", "topic", durable=True)
    channel.queue_declare(everything, durable=True)
    channel.queue_bind(everything, f"{stack.namespace}events", "#")
    connection.close()
    stack.start("whistle", "dispatch", "roster", "metrics")
    targets = {f"127.0.0.1:{stack.ports[s]}": s for s in ("whistle", "dispatch", "roster", "metrics")}
    prometheus = Prometheus(tmp / "prometheus", list(targets), services=targets)
    prometheus.workdir.mkdir()
    prometheus.start()
    started = datetime.now(timezone.utc)
    log = open(tmp / "demo.log", "wb")
    try:
        result = subprocess.run([sys.executable, "-m", "services.demo", "run", "--whistles", "30", "--rate", "4",
                                 "--horizon", "12", "--linger", "100", "--seed", "7"],
                                env={**stack.env(), "CHUISHAO_LANG": "en"}, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, timeout=400)
        log.close()
        output = (tmp / "demo.log").read_text(errors="replace")
        assert result.returncode == 0, output[-3000:]
        yield {"stack": stack, "prometheus": prometheus, "tokens": tokens, "started": started, "output": output,
               "reference": parse_reference(reference_path.read_text("utf-8")), "events": [], "tmp": tmp}
    finally:
        log.close()
        prometheus.stop()
        connection = pika.BlockingConnection(pika.URLParameters(stack.amqp_uri))
        connection.channel().queue_delete(everything)
        connection.close()


def bearer(demo, kind=Kind.DISTRICT) -> dict:
    return {"Authorization": f"Bearer {demo['tokens'][kind]}"}


def drained(demo) -> list:
    """Every event published so far (what the test's own queue on `events` received), decoded."""
    connection = pika.BlockingConnection(pika.URLParameters(demo["stack"].amqp_uri))
    channel = connection.channel()
    queue = f"{demo['stack'].namespace}{EVENTS_QUEUE}"
    while True:
        method, _, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            break
        try:
            demo["events"].append(decode_event(json.loads(body)))
        except ContractError:
            pass
    connection.close()
    return demo["events"]


def test_the_demo_raised_answered_closed_and_missed(demo):
    output = demo["output"]
    for line in ("whistles raised", "check-ins", "closures", "follow-ups", "returns"):
        assert line in output, output[-2000:]
    events = drained(demo)
    kinds = {e.event_type for e in events}
    assert {"whistle.raised", "callouts.issued", "callout.checked_in", "callout.arrived", "callout.completed",
            "callout.returned", "callout.escalated", "whistle.closed", "whistle.follow_up", "whistle.linked",
            "team.assembled", "arbitration.opened", "arbitration.decided"} <= kinds, kinds
    tiers = {e.tier for e in events if e.event_type == "callout.escalated"}
    assert "city" in tiers
    late = [e for e in events if e.event_type == "callout.checked_in" and not e.on_time]
    assert late, "some departments check in late"


def test_every_panel_query_returns_data(demo):
    queries = every_panel_query()
    left = []

    def all_answer() -> bool:
        left[:] = problems(demo["prometheus"].query, queries)
        return not left
    try:
        wait_for(all_answer, timeout=150, interval=2, what="every panel query to return data")
    except AssertionError:
        pytest.fail("panel queries without data after the demo:\n" + "\n".join(left))


def test_every_service_s_exposition_passes_promtool_check_metrics(demo):
    for service in ("whistle", "dispatch", "roster", "metrics"):
        text = requests.get(f"{demo['stack'].url(service)}/metrics", timeout=10).text
        assert "chuishao_" in text
        checked = promtool("check", "metrics", stdin=text)
        assert checked.returncode == 0 and not (checked.stdout + checked.stderr).strip(), (
            service, checked.stdout + checked.stderr)


def test_the_assessment_served_is_the_independent_fold_of_the_raw_events(demo):
    stack, period = demo["stack"], Period.containing(demo["started"])
    url = f"{stack.url('metrics')}/api/v1/assessment/{period.label}"
    raised = next(e for e in drained(demo) if isinstance(e, WhistleRaised))
    exemption = {"kind": "exemption", "fact_kind": "whistle", "fact_id": raised.whistle_id,
                 "reason": "台风红色预警，道路封闭", "decided_by": "区考核办 王主任"}
    refused = requests.post(f"{stack.url('metrics')}/api/v1/assessment/decisions", json=exemption,
                            headers=bearer(demo, Kind.STREET), timeout=10)
    assert refused.status_code == 403
    answer = requests.post(f"{stack.url('metrics')}/api/v1/assessment/decisions", json=exemption,
                           headers=bearer(demo), timeout=10)
    assert answer.status_code == 201, answer.text
    recorded = answer.json()
    decision = Decision(kind="exemption", fact=FactRef("whistle", raised.whistle_id), reason=exemption["reason"],
                        decided_by=exemption["decided_by"],
                        decided_at=datetime.fromisoformat(recorded["decided_at"]))
    as_of = datetime.now(timezone.utc) + timedelta(seconds=1)
    reference = demo["reference"]
    context = Context.from_reference(reference, load_rules(), chinese_workdays())
    found = {}

    def agreed():
        events = drained(demo)
        ours = json.loads(json.dumps(as_dict(assess(facts_from_events(events, [decision]), period, as_of, context))))
        served = requests.get(url, params={"as_of": as_of.isoformat()}, headers=bearer(demo), timeout=30)
        assert served.status_code == 200, served.text
        found.update(ours=ours, served=served.json())
        return ours == found["served"]
    try:
        wait_for(agreed, timeout=60, interval=2, what="the served assessment to match the fold of the events")
    except AssertionError:
        ours, served = found["ours"], found["served"]
        different = [k for k in ours if ours[k] != served.get(k)]
        pytest.fail(f"the assessment differs in {different}: "
                    + "; ".join(f"{k}: ours {json.dumps(ours[k], ensure_ascii=False)[:600]} served "
                                f"{json.dumps(served.get(k), ensure_ascii=False)[:600]}" for k in different[:2]))
    served = found["served"]
    assert served["district"]["response"]["denominator"] > 30
    assert any(u["flag"] == "horse" for u in served["departments"])
    assert [line["effect"] for line in served["audit"]] == ["removed"]
    issued = {c.callout_id for e in demo["events"] if isinstance(e, CalloutsIssued) for c in e.callouts
              if e.whistle_id != raised.whistle_id and c.issued_at <= as_of}
    assert served["district"]["closure"]["denominator"] <= len(issued)
    csv = requests.get(url, params={"format": "csv", "as_of": as_of.isoformat()}, headers=bearer(demo), timeout=30)
    assert csv.headers["Content-Type"].startswith("text/csv") and csv.text.startswith("kind,rank,code")
    html = requests.get(url, params={"format": "html", "lang": "en"}, headers=bearer(demo, Kind.ASSESSMENT), timeout=60)
    assert html.status_code == 200 and "<svg" in html.text and "Horse flag" in html.text


def test_the_assessment_over_rpc_is_the_one_over_http(demo):
    stack, period = demo["stack"], Period.containing(demo["started"])
    as_of = datetime.now(timezone.utc).isoformat()
    served = requests.get(f"{stack.url('metrics')}/api/v1/assessment/{period.label}", params={"as_of": as_of},
                          headers=bearer(demo), timeout=30).json()
    with ClusterRpcProxy(stack.rpc_config(), context_data=rpc_context(demo["tokens"][Kind.ASSESSMENT])) as rpc:
        assert rpc.metrics.assessment(period.label, as_of) == served
    with ClusterRpcProxy(stack.rpc_config(), context_data=rpc_context(demo["tokens"][Kind.STREET])) as rpc:
        with pytest.raises(RemoteError) as refused:
            rpc.metrics.assessment(period.label)
    assert refused.value.exc_type == "Forbidden"


def test_the_assessment_refuses_bad_input_and_strangers(demo):
    stack = demo["stack"]
    base = f"{stack.url('metrics')}/api/v1/assessment"
    assert requests.get(f"{base}/2026-11", timeout=10).status_code == 401
    assert requests.get(f"{base}/2026-11", headers=bearer(demo, Kind.STREET), timeout=10).status_code == 403
    bad = requests.get(f"{base}/2026-13", headers=bearer(demo), timeout=10)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "period"
    bad = requests.get(f"{base}/2026-11", params={"as_of": "yesterday"}, headers=bearer(demo), timeout=10)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "as_of"
    bad = requests.post(f"{base}/decisions", json={"kind": "exemption", "fact_kind": "return", "fact_id": "x",
                                                   "reason": "核查不属实", "decided_by": "王"},
                        headers=bearer(demo), timeout=10)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "fact_kind"
    missing = requests.post(f"{base}/decisions", json={"kind": "exemption", "fact_kind": "callout",
                                                       "fact_id": "no-such-call-out", "reason": "核查不属实",
                                                       "decided_by": "王"}, headers=bearer(demo), timeout=10)
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "fact_id"


def test_the_chart_renders(demo):
    stack, period = demo["stack"], Period.containing(demo["started"])
    png = requests.get(f"{stack.url('metrics')}/api/v1/assessment/{period.label}/chart.png",
                       headers=bearer(demo), timeout=60)
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png", png.text[:300]
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    path = demo["tmp"] / "chart.png"
    path.write_bytes(png.content)
    from matplotlib import image
    height, width = image.imread(path).shape[:2]
    assert width >= 1000 and height >= 200
    svg = requests.get(f"{stack.url('metrics')}/api/v1/assessment/{period.label}/chart.svg",
                       headers=bearer(demo), timeout=60)
    assert svg.headers["Content-Type"] == "image/svg+xml" and "综合得分" in svg.text


def test_the_cli_prints_the_ranking(demo):
    stack, period = demo["stack"], Period.containing(demo["started"])
    env = {**os.environ, "METRICS_URL": stack.url("metrics"), "CHUISHAO_TOKEN": demo["tokens"][Kind.DISTRICT],
           "COLUMNS": "220", "CHUISHAO_LANG": "zh_CN"}
    shown = subprocess.run([sys.executable, "-m", "services.cli", "assess", period.label], env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    answer = requests.get(f"{stack.url('metrics')}/api/v1/assessment/{period.label}", headers=bearer(demo),
                          timeout=30).json()
    first = next(u for u in answer["departments"] if u["rank"] == 1)
    assert first["name_zh"] in shown.stdout and "骏马旗" in shown.stdout
    out = demo["tmp"] / "bulletin.html"
    written = subprocess.run([sys.executable, "-m", "services.cli", "assess", period.label, "--out", str(out)],
                             env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert written.returncode == 0, written.stderr
    assert "<svg" in out.read_text(encoding="utf-8")


def domain_samples(text: str) -> dict:
    """Every counter and histogram sample of the domain's instruments (not the platform's, not gauges)."""
    out = {}
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("chuishao_") or family.name.startswith(PLATFORM) or family.type == "gauge":
            continue
        for s in family.samples:
            if not s.name.endswith("_created"):
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_every_instrument_is_the_same_after_a_restart(demo):
    stack = demo["stack"]
    stack.processes["dispatch"].stop()               # no more escalations: the figures can settle
    url = f"{stack.url('metrics')}/metrics"
    snapshots = []

    def settled():
        snapshots.append(domain_samples(requests.get(url, timeout=10).text))
        return len(snapshots) > 1 and snapshots[-1] == snapshots[-2]
    wait_for(settled, timeout=60, interval=3, what="the metrics to settle")
    before = snapshots[-1]
    assert len({name for name, _ in before}) >= 20
    # the SLI agrees with the assessment: every call-out's check-in decided once, misses included
    period = Period.containing(demo["started"])
    if period == Period.containing(datetime.now(timezone.utc)):
        context = Context.from_reference(demo["reference"], load_rules(), chinese_workdays())
        assessed = assess(facts_from_events(drained(demo)), period, datetime.now(timezone.utc), context)
        response = assessed.district.response
        outcomes = {outcome: sum(v for (name, labels), v in before.items()
                                 if name == "chuishao_deadline_outcomes_total"
                                 and ("step", "check_in") in labels and ("outcome", outcome) in labels)
                    for outcome in ("met", "missed")}
        assert (outcomes["met"], outcomes["met"] + outcomes["missed"]) == (response.numerator, response.denominator)
        assert outcomes["missed"] > 0
    stack.processes["metrics"].stop()
    stack.start("metrics")
    after = domain_samples(requests.get(url, timeout=10).text)
    assert after.keys() == before.keys(), sorted(set(after) ^ set(before))[:10]
    # counts exactly; a histogram's sum adds the same observations in another order
    different = [k for k in before if not math.isclose(after[k], before[k], rel_tol=1e-9)]
    assert different == [], [(k, before[k], after[k]) for k in different[:10]]

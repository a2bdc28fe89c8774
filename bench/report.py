"""Results as Markdown (and JSON for the next run to compare with), a plot, and a diff with the last run."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

from bench.analysis import cpu_per_whistle, ratio, replica_factor, step_at
from bench.stats import fmt_ms, fmt_summary

# the goals of issue 9
TARGET_RATE = 200
TARGET_SECONDS = 300
TARGET_P99_MS = {100: 100, 200: 250}      # offered rate -> p99 raise→call-out
TARGET_CPU_RATIO = 2.0                     # real ÷ naive CPU per whistle
TARGET_RSS_MB = 150
SERVICES = ("whistle", "dispatch", "roster", "metrics")
DONE = {"real": "all checked in", "naive": "all department rows written"}


def _n(value: float, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def _ratio(value: float, ceiling: float) -> str:
    return f"{100 * value / ceiling:.0f} %" if ceiling else "–"


def markdown(results: dict) -> str:
    meta, ceiling = results["meta"], results.get("ceiling")
    lines = [f"# Benchmark {meta['started']}", ""]
    lines.append(f"Commit `{meta['commit']}`; {meta['cpus']} CPUs, {meta['memory_gb']:.0f} GB; "
                 f"RabbitMQ at {meta['amqp']}; Python {meta['python']}. Offered rates "
                 f"{', '.join(f'{r:g}' for r in meta['rates']) or 'none (ramp only)'} whistles/s, "
                 f"{meta['duration']:g} s each, every rate and the ramp on a fresh stack; "
                 f"whistles of {', '.join(meta['categories'])} "
                 f"(mean fan-out {meta['fanout']:.2f} departments). Latencies in ms: p50 / p95 / p99 / max.")
    lines.append("")
    lines += _comparison(results)
    lines += _replicas(results)
    lines += _targets(results)
    if ceiling:
        lines += ["## Raw ceiling (same broker, same run)", "",
                  f"Persistent {ceiling['body_bytes']} B messages to durable {ceiling['queue_type']} queues, "
                  f"publisher confirms, {ceiling['seconds']:g} s each.", "",
                  "| measurement | messages/s |", "|---|---:|"]
        labels = {"confirmed": "publish, confirmed one at a time", "windowed": "publish, 256 confirms in flight",
                  "consume": "consume, prefetch 100, ack each"}
        for key, rate in ceiling["rates"].items():
            kind, n = key.split(" x")
            lines.append(f"| {labels[kind]}, {n} process{'es' if n != '1' else ''} | {_n(rate)} |")
        lines.append("")
    for rnd in results["rounds"]:
        lines += _round(rnd, ceiling, meta.get("cpus") or 1)
    if results.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in results["notes"]] + [""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- rounds and their names

def pipeline_of(rnd: dict) -> str:
    return rnd.get("pipeline", "real")          # results from before the naive pipeline: all real


def replicas_of(rnd: dict) -> int:
    return rnd.get("replicas", 1)


def title(rnd: dict) -> str:
    replicas = replicas_of(rnd)
    return f"{rnd['db']} · {pipeline_of(rnd)}" + (f" ×{replicas} replicas" if replicas > 1 else "")


def baseline(results: dict, db: str, pipeline: str) -> dict | None:
    """The pipeline's round with the fewest processes per service on that database."""
    rounds = [r for r in results["rounds"] if r["db"] == db and pipeline_of(r) == pipeline]
    return min(rounds, key=replicas_of) if rounds else None


def databases(results: dict) -> list[str]:
    out = []
    for rnd in results["rounds"]:
        if rnd["db"] not in out:
            out.append(rnd["db"])
    return out


def round_costs(rnd: dict) -> dict | None:
    """CPU per whistle from the round's warm-ups (fixed rates and ramp)."""
    costs = [s.get("warmup_cost") for s in rnd["steps"]]
    if rnd.get("ramp"):
        costs.append(rnd["ramp"].get("warmup_cost"))
    return cpu_per_whistle([c for c in costs if c])


def groups_of(rnd: dict) -> list[str]:
    return list(rnd.get("groups") or SERVICES)


# ---------------------------------------------------------------------------- the comparison at the top

def _x(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def _comparison(results: dict) -> list[str]:
    """Real (its fewest processes per service, normally one) beside naive, per database: one table."""
    columns = []           # (db, real round, naive round)
    for db in databases(results):
        real, naive = baseline(results, db, "real"), baseline(results, db, "naive")
        if real or naive:
            columns.append((db, real, naive))
    if not columns:
        return []
    header, align = ["measure"], ["---"]
    for db, real, naive in columns:
        if real:
            header.append(f"{db} real" + (f" ×{replicas_of(real)}" if replicas_of(real) > 1 else ""))
            align.append("---:")
        if naive:
            header.append(f"{db} naive")
            align.append("---:")
        if real and naive:
            header.append(f"{db} real ÷ naive")
            align.append("---:")

    def row(label: str, cell, number=None) -> str:
        """cell(round) -> text; number(round) -> value for the ratio (None: no ratio)."""
        cells = [label]
        for _db, real, naive in columns:
            for rnd in (real, naive):
                if rnd:
                    cells.append(cell(rnd))
            if real and naive:
                cells.append(_x(ratio(number(real), number(naive))) if number else "")
        return "| " + " | ".join(cells) + " |"

    def knee(rnd):
        return (rnd.get("ramp") or {}).get("knee")

    def cost(rnd, key="pipeline"):
        c = round_costs(rnd)
        if not c:
            return None
        return c["pipeline"] if key == "pipeline" else sum(c["groups"].get(g, 0.0) for g in groups_of(rnd))

    def ms(value):
        return "–" if value is None else f"{value:.1f} ms"

    out = ["## Real vs naive pipeline (same run, same broker, same database kind)", "",
           "The naive pipeline (bench/naive) moves the same whistles with plain nameko and none of the "
           "guarantees: a dispatcher commits a dedupe row and publishes one call-out to each of "
           "3 department services, which commit one row each. *Done* is *all checked in* for the real "
           "pipeline and *all 3 department rows written* for the naive one.", "",
           "| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    if any(r and r.get("ramp") for _, *rs in columns for r in rs):
        out.append(row("knee, open-loop ramp (whistles/s offered)", _knee, knee))
    with_postgres = " (+ postgres)" if any(c[0] == "postgres" for c in columns) else ""
    out.append(row("CPU per whistle: services + broker" + with_postgres, lambda r: ms(cost(r)), cost))
    out.append(row("CPU per whistle: the pipeline's own processes",
                   lambda r: ms(cost(r, "own")), lambda r: cost(r, "own")))
    rates = []
    for _db, real, naive in columns:
        for rnd in (real, naive):
            rates += [s["rate"] for s in (rnd["steps"] if rnd else []) if s["rate"] not in rates]
    for rate in sorted(rates):
        def at(rnd, key, rate=rate):
            s = step_at(rnd["steps"], rate)
            return None if s is None else s[key]
        out.append(row(f"whistles/s done at {rate:g}/s offered",
                       lambda r, rate=rate: _n(at(r, "whistles_per_s"), 1),
                       lambda r, rate=rate: at(r, "whistles_per_s")))
        out.append(row(f"CPU per whistle at {rate:g}/s offered: services + broker{with_postgres}, over the window",
                       lambda r, rate=rate: ms(cpu_per_whistle_at(r, step_at(r["steps"], rate))),
                       lambda r, rate=rate: cpu_per_whistle_at(r, step_at(r["steps"], rate))))
        for key, label in (("callout_latency", "raise→call-out"), ("all_checked_in_latency", "raise→done")):
            out.append(row(f"{label} p50 / p95 / p99 / max at {rate:g}/s (ms)",
                           lambda r, key=key, rate=rate: fmt_summary(at(r, key)) if at(r, key) else "–",
                           lambda r, key=key, rate=rate: (at(r, key) or {}).get("p99")))
    out.append(row("messages published per whistle (highest rate)",
                   lambda r: _n(_flow(r)["bus"]["per_whistle"], 1) if r["steps"] else "–",
                   lambda r: _flow(r)["bus"]["per_whistle"] if r["steps"] else None))
    out.append(row("largest peak RSS of one process (MB)",
                   lambda r: _n(_peak(r)), _peak))
    out.append(row("backlog when the load stopped (messages + outbox rows) → drained in (highest rate)",
                   lambda r: f"{_backlog(_flow(r))} → {_drained(_flow(r))}" if r["steps"] else "–"))
    out.append(row("left behind after the drain (highest rate)",
                   lambda r: _left(_flow(r)) if r["steps"] else "–"))
    out += ["", "Ratios are real ÷ naive: how many times the naive figure the real pipeline needs (CPU, "
            "latency, messages) or reaches (knee, whistles/s). The first CPU per whistle comes from the "
            "warm-ups at 10/s (see each round's CPU table), the others from each offered rate's window.", ""]
    return out


def cpu_per_whistle_at(rnd: dict | None, step: dict | None) -> float | None:
    """CPU ms per whistle done while the rate was offered: the pipeline's processes, the broker (and
    PostgreSQL) over the measured window, divided by the whistles done in it. Unlike the warm-up figure
    (10/s, where every message comes alone) it shows what batching saves under load; it includes what
    the stack burns idle, so at low rates it is an upper bound."""
    if not rnd or not step or not step.get("cpu") or not step.get("whistles_per_s"):
        return None
    cpu = step["cpu"]
    used = sum(cpu.get(g, 0.0) for g in [*groups_of(rnd), "rabbitmq", "postgres"])
    return used * 10 / step["whistles_per_s"]      # % of a core → ms per second, over whistles per second


def _knee(rnd: dict) -> str:
    ramp = rnd.get("ramp")
    if not ramp:
        return "–"
    return f"{ramp['knee']:g}" if ramp["knee"] is not None else "below the first step"


def _flow(rnd: dict) -> dict:
    return max(rnd["steps"], key=lambda s: (s["rate"], s["sent"]))


def _peak(rnd: dict) -> float | None:
    peaks = [m["peak_mb"] for s in rnd["steps"] for m in s["memory"].values()]
    if rnd.get("ramp"):
        peaks += [m["peak_mb"] for m in rnd["ramp"].get("memory", {}).values()]
    return max(peaks) if peaks else None


def _backlog(step: dict) -> str:
    b = step["backlog_end"]
    return f"{b['queued'] + b['department_queued'] + sum(b['outbox_unsent'].values())}"


def _drained(step: dict) -> str:
    """How long the drain took: until every whistle was done, then until queues and outboxes were empty."""
    done = step.get("done_drain_s")
    if done is None or abs(done - step["drain_s"]) < 0.05:
        return f"{step['drain_s']:.1f} s"
    return f"{step['drain_s']:.1f} s (all done after {done:.1f} s)"


def _left(step: dict) -> str:
    left = step.get("left_behind")
    if left is None:
        return "–"
    return ", ".join(f"{k} {v}" for k, v in left.items()) or "nothing"


def _replicas(results: dict) -> list[str]:
    """Throughput of the real pipeline with more processes per service against its fewest, per database."""
    rows = []
    for rnd in results["rounds"]:
        one = baseline(results, rnd["db"], "real")
        if pipeline_of(rnd) != "real" or one is None or replicas_of(rnd) == replicas_of(one):
            continue
        factor = replica_factor(one, rnd)
        versus = f"{replicas_of(rnd)} vs {replicas_of(one)}"
        if one.get("ramp") and rnd.get("ramp"):
            rows.append(f"| {rnd['db']} | {versus} | knee (open-loop ramp) | "
                        f"{_knee(one)} | {_knee(rnd)} | {_x(factor['knee'])} |")
        for rate, f in factor["rates"].items():
            base, more = step_at(one["steps"], rate), step_at(rnd["steps"], rate)
            rows.append(f"| {rnd['db']} | {versus} | whistles/s done at {rate:g}/s offered | "
                        f"{base['whistles_per_s']:.1f} | {more['whistles_per_s']:.1f} | {_x(f)} |")
    if not rows:
        return []
    return ["## Replicas: what more processes per service carry (real pipeline)", "",
            "| database | processes per service | measure | fewer | more | factor |",
            "|---|---|---|---:|---:|---:|", *rows, "",
            "The factor is the throughput with more replicas ÷ with fewer (above 1: the replicas add "
            "throughput). At a rate both keep up with, both complete what is offered and the factor is 1.", ""]


# ---------------------------------------------------------------------------- one round

def _round(rnd: dict, ceiling: dict | None, cpus: int) -> list[str]:
    db = rnd["db"]
    name = title(rnd)
    done = DONE.get(pipeline_of(rnd), "done")
    groups = groups_of(rnd)
    out = []
    if rnd["steps"]:
        out += [f"## {name}: fixed offered rates", "",
                "| offered/s | sent | whistles/s done | call-outs/s | raise→call-out (ms) | "
                f"raise→done: {done} (ms) | incomplete | backlog at end (queued + outbox) | "
                "bus msg/s | vs confirmed ceiling | vs windowed ceiling |",
                "|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|"]
        for s in rnd["steps"]:
            b = s["backlog_end"]
            outbox = sum(b["outbox_unsent"].values())
            conf = ceiling["confirmed"] if ceiling else 0
            wind = ceiling["windowed"] if ceiling else 0
            out.append(
                f"| {s['rate']:g} | {s['sent']} | {_n(s['whistles_per_s'], 1)} | {_n(s['callouts_per_s'], 1)} | "
                f"{fmt_summary(s['callout_latency'])} | {fmt_summary(s['all_checked_in_latency'])} | "
                f"{s['incomplete']} | {b['queued']} + {outbox} | {_n(s['bus']['per_s'])} | "
                f"{_ratio(s['bus']['per_s'], conf)} | {_ratio(s['bus']['per_s'], wind)} |")
        replicas = replicas_of(rnd)
        heads = [g + (f" (×{replicas}, largest RSS / CPU of all)" if replicas > 1 else "") for g in groups]
        out += ["", f"### {name}: resources (peak RSS MB / CPU % of one core, over the measured window)", "",
                "| offered/s | " + " | ".join(heads) + " | rabbitmq CPU | "
                + ("postgres CPU (all) | " if db == "postgres" else "")
                + "bench CPU | machine busy | pacer max lag |",
                "|---:|" + "---|" * len(groups) + "---:|" + ("---:|" if db == "postgres" else "") + "---:|---:|---:|"]
        for s in rnd["steps"]:
            cells = [f"{s['memory'].get(g, {}).get('peak_mb', 0):.0f} MB / {s['cpu'].get(g, 0):.0f} %" for g in groups]
            pg = f" {s['cpu'].get('postgres', 0):.0f} % |" if db == "postgres" else ""
            out.append(f"| {s['rate']:g} | " + " | ".join(cells) +
                       f" | {s['cpu'].get('rabbitmq', 0):.0f} % |{pg} {s['cpu'].get('bench', 0):.0f} % | "
                       f"{s['cpu'].get('_machine', 0):.0f} % | {fmt_ms(s['pacer_max_lag_ms'])} ms |")
        out += ["", f"### {name}: the backlog when the offered load stopped, and what was left after the drain", "",
                "| offered/s | service queues (ready messages) | unsent outbox rows | "
                "department queues | drained in | left behind after the drain | raise→street outcome (ms) | "
                "outbox wait, written→confirmed, p50 / p99 (ms) |", "|---:|---|---|---:|---:|---|---|---|"]
        for s in rnd["steps"]:
            b = s["backlog_end"]
            queues = ", ".join(f"{q} {n}" for q, n in b["queues"].items() if n) or "0"
            outbox = ", ".join(f"{q} {n}" for q, n in b["outbox_unsent"].items() if n) or \
                ("0" if b["outbox_unsent"] else "–")
            lag = ", ".join(f"{svc} {fmt_ms(v['p50'])} / {fmt_ms(v['p99'])}"
                            for svc, v in s.get("outbox_lag", {}).items())
            out.append(f"| {s['rate']:g} | {queues} | {outbox} | {b['department_queued']} | "
                       f"{_drained(s)} | {_left(s)} | {fmt_summary(s['outcome_latency'])} | {lag or '–'} |")
        letters = [(s["rate"], d) for s in rnd["steps"] for d in s.get("dead_letters", [])]
        if letters:
            out += ["", "Dead letters (the first of each rate, read back without taking them):", ""]
            out += [f"- {rate:g}/s: `{d['consumer']}` on `{d['routing_key']}`: {d['reason']}" for rate, d in letters]
        flow = _flow(rnd)
        out += ["", f"### {name}: messages published per whistle (at {flow['rate']:g}/s, in the window)", "",
                "| message | published | per raised whistle |", "|---|---:|---:|"]
        raises = flow["bus"]["by_type"].get("RaiseWhistle (bench)", 0) or 1
        for kind, n in sorted(flow["bus"]["by_type"].items(), key=lambda kv: -kv[1]):
            out.append(f"| {kind} | {n} | {n / raises:.2f} |")
        out.append(f"| **all** | {flow['bus']['published']} | {flow['bus']['published'] / raises:.2f} |")
        out.append("")
    out += _cost(rnd, cpus)
    for s in rnd["steps"]:
        if s.get("profile"):
            out += _profile(s["profile"], s["rate"], name)
    ramp = rnd.get("ramp")
    if ramp:
        out += [f"## {name}: open-loop ramp (+{ramp['segments'][1]['rate'] - ramp['segments'][0]['rate']:g}/s "
                f"every {ramp['interval']:g} s)" if len(ramp["segments"]) > 1 else f"## {name}: open-loop ramp", "",
                f"Knee: **{_knee(rnd)}{' whistles/s' if ramp['knee'] is not None else ''}** offered — stopped because "
                f"{ramp['stopped']}. Best completion rate seen: {ramp['max_whistles_per_s']:.1f} whistles/s.", "",
                f"| offered/s | sent | whistles/s done | raise→call-out (ms) | raise→done: {done} (ms) | "
                "outstanding at check |", "|---:|---:|---:|---|---|---:|"]
        for s in ramp["segments"]:
            out.append(f"| {s['rate']:g} | {s['sent']} | {s['whistles_per_s']:.1f} | "
                       f"{fmt_summary(s['callout_latency'])} | {fmt_summary(s['all_checked_in_latency'])} | "
                       f"{s['outstanding_at_check']} |")
        out.append("")
    return out


def _cost(rnd: dict, cpus: int) -> list[str]:
    """CPU per whistle at a low rate (the warm-ups): what 200/s would need, whoever else is busy."""
    cost = round_costs(rnd)
    if not cost:
        return []
    mean = cost["groups"]
    own = groups_of(rnd)
    groups = [g for g in (*own, "rabbitmq", "postgres", "bench") if g in mean]
    pipeline = cost["pipeline"]
    busiest = max(own, key=lambda g: mean.get(g, 0))
    replicas = replicas_of(rnd)
    processes = f"{replicas} processes" if replicas > 1 else "one process"
    cap = 1000 * replicas / mean[busiest] if mean.get(busiest) else None
    out = [f"### {title(rnd)}: CPU time per whistle at {cost['rate']:g}/s "
           f"(the warm-ups: {cost['whistles']} whistles over {cost['stacks']} stacks, less each stack's idle CPU)", "",
           "| " + " | ".join(groups) + " | pipeline (services + broker"
           + (" + postgres" if "postgres" in groups else "") + ") |",
           "|" + "---:|" * (len(groups) + 1),
           "| " + " | ".join(f"{mean[g]:.1f} ms" for g in groups) + f" | {pipeline:.1f} ms |", "",
           f"Each service is {processes} (one core each at most): `{busiest}` at {mean[busiest]:.1f} ms per whistle "
           f"caps the pipeline near {cap:.0f} whistles/s even with a core to each; the whole "
           f"pipeline needs {pipeline:.1f} ms of CPU per whistle, so {cpus} idle cores would carry at "
           f"most about {1000 * cpus / pipeline:.0f} whistles/s "
           f"(200/s needs {pipeline * 200 / 1000:.1f} cores)." if cap and pipeline else "", ""]
    return out


def _profile(p: dict, rate: float, name: str) -> list[str]:
    out = [f"### {name}: where the busiest service spends its time (py-spy, {rate:g}/s offered)", ""]
    if p.get("error"):
        return out + [f"py-spy failed on {p['service']}: {p['error']}", ""]
    out += [f"`{p['service']}` used {p['cpu_pct']:.0f} % of a core in the first seconds; py-spy took "
            f"{p['samples']} samples of it running or runnable over {p['seconds']:.0f} s "
            f"({p['active_pct']:.0f} % of the time). Where those samples were:", "",
            "| share of active samples | in |", "|---:|---|"]
    out += [f"| {pct:.1f} % | {label} |" for label, pct in p["buckets"] if pct > 0]
    out += ["", "Top frames (self time): " + "; ".join(f"{f} {pct:.1f} %" for f, pct in p["self"][:6]), ""]
    return out


def _targets(results: dict) -> list[str]:
    """The real pipeline (its fewest processes per service, normally one) against issue 9's goals."""
    heads = (f"{TARGET_RATE}/s sustained {TARGET_SECONDS // 60} min, nothing left behind",
             *(f"p99 raise→call-out < {ms} ms at {rate}/s" for rate, ms in TARGET_P99_MS.items()),
             f"CPU per whistle ≤ {TARGET_CPU_RATIO:g}× naive", f"each service < {TARGET_RSS_MB} MB",
             "a 2nd replica adds throughput")
    out = ["## Against the targets (issue 9; the real pipeline)", "",
           "| database | " + " | ".join(heads) + " |", "|---" * (len(heads) + 1) + "|"]
    found = False
    for db in databases(results):
        rnd = baseline(results, db, "real")
        if not rnd:
            continue
        found = True
        steps = rnd["steps"]
        cells = [_sustained(steps)]
        for rate, limit in TARGET_P99_MS.items():
            s = step_at(steps, rate)
            if s is None:
                cells.append(f"not measured ({rate}/s not offered)")
            else:
                p99 = s["callout_latency"]["p99"]
                cells.append(f"{'yes' if p99 < limit else 'no'} ({_unit(p99)})")
        naive = baseline(results, db, "naive")
        real_cost, naive_cost = round_costs(rnd), naive and round_costs(naive)
        r = ratio(real_cost and real_cost["pipeline"], naive_cost and naive_cost["pipeline"])
        cells.append("not measured (no naive pipeline)" if r is None else
                     f"{'yes' if r <= TARGET_CPU_RATIO else 'no'} ({r:.1f}×: {real_cost['pipeline']:.1f} vs "
                     f"{naive_cost['pipeline']:.1f} ms)")
        peak = _peak(rnd)
        cells.append("not measured" if peak is None else
                     f"{'yes' if peak < TARGET_RSS_MB else 'no'} (peak {peak:.0f} MB)")
        more = [r for r in results["rounds"] if r["db"] == db and pipeline_of(r) == "real"
                and replicas_of(r) > replicas_of(rnd)]
        if db == "sqlite":
            cells.append("PostgreSQL only")
        elif not more:
            cells.append("not measured (--replicas 1,2)")
        else:
            factor = replica_factor(rnd, more[0])
            figures = ([f"knee {_x(factor['knee'])}"] if factor["knee"] is not None else []) + \
                [f"{_x(f)} at {rate:g}/s" for rate, f in factor["rates"].items() if f is not None]
            best = max([factor["knee"] or 0, *(f or 0 for f in factor["rates"].values())])
            cells.append(f"{'yes' if best > 1 else 'no'} ({', '.join(figures) or 'nothing comparable'})")
        out.append(f"| {db} | " + " | ".join(cells) + " |")
    if not found:
        return []
    out.append("")
    return out


def _sustained(steps: list[dict]) -> str:
    s = step_at(steps, TARGET_RATE)
    if s is None:
        best = max(steps, key=lambda x: x["whistles_per_s"], default=None)
        return "not measured" + (f" ({TARGET_RATE}/s not offered; best {best['whistles_per_s']:.0f}/s "
                                 f"at {best['rate']:g}/s)" if best else "")
    kept_up = s["whistles_per_s"] >= 0.95 * TARGET_RATE and s["incomplete"] == 0 and not s.get("left_behind")
    text = f"{s['whistles_per_s']:.0f}/s done over {s['duration']:g} s, left behind: {_left(s)}"
    if not kept_up:
        return f"no ({text})"
    if s["duration"] < TARGET_SECONDS:
        return f"for {s['duration']:g} s only ({text}; the goal is {TARGET_SECONDS} s: --duration {TARGET_SECONDS})"
    return f"yes ({text})"


# ---------------------------------------------------------------------------- files

def write(results: dict, directory: Path) -> tuple[Path, dict | None]:
    """Writes latest.md/.json (the previous pair becomes previous.md/.json); returns the old results."""
    directory.mkdir(parents=True, exist_ok=True)
    latest_md, latest_json = directory / "latest.md", directory / "latest.json"
    previous = None
    if latest_json.exists():
        try:
            previous = json.loads(latest_json.read_text())
        except ValueError:
            previous = None
    for name in ("latest.md", "latest.json", "latest.png"):
        if (directory / name).exists():
            shutil.copyfile(directory / name, directory / name.replace("latest", "previous"))
    latest_md.write_text(markdown(results) + "\n")
    latest_json.write_text(json.dumps(results, indent=1, default=str) + "\n")
    return latest_md, previous


def diff(previous: dict | None, latest: dict) -> list[str]:
    """One line per (database, pipeline, replicas, rate) measured in both runs: what moved."""
    if not previous:
        return ["(no previous run to compare with)"]
    lines = [f"compared with the run of {previous['meta']['started']} (commit {previous['meta']['commit']}):"]
    pc, lc = previous.get("ceiling") or {}, latest.get("ceiling") or {}
    if pc and lc:
        lines.append(f"  ceiling, confirmed one at a time: {pc['confirmed']:,.0f} -> {lc['confirmed']:,.0f} msg/s")
    def key(rnd):
        return rnd["db"], pipeline_of(rnd), replicas_of(rnd)

    old = {(*key(r), s["rate"]): s for r in previous["rounds"] for s in r["steps"]}
    found = False
    for rnd in latest["rounds"]:
        for s in rnd["steps"]:
            p = old.get((*key(rnd), s["rate"]))
            if not p:
                continue
            found = True
            lines.append(
                f"  {title(rnd)} {s['rate']:g}/s: done {p['whistles_per_s']:.1f} -> {s['whistles_per_s']:.1f}/s, "
                f"p99 call-out {_unit(p['callout_latency']['p99'])} -> {_unit(s['callout_latency']['p99'])}, "
                f"p99 done {_unit(p['all_checked_in_latency']['p99'])} -> "
                f"{_unit(s['all_checked_in_latency']['p99'])}, peak RSS "
                f"{max(m['peak_mb'] for m in p['memory'].values()):.0f} -> "
                f"{max(m['peak_mb'] for m in s['memory'].values()):.0f} MB")
        pr = next((r.get("ramp") for r in previous["rounds"] if key(r) == key(rnd)), None)
        if pr and rnd.get("ramp"):
            lines.append(f"  {title(rnd)} ramp knee: {pr['knee']} -> {rnd['ramp']['knee']} whistles/s")
            found = True
    if not found:
        lines.append("  no database/pipeline/rate in common")
    return lines


def _unit(ms: float) -> str:
    text = fmt_ms(ms)
    return text if text.endswith("s") or text == "–" else f"{text} ms"


def plot(results: dict, path: Path) -> str | None:
    """Latency percentiles against offered rate; returns why not, when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[bench]'): no plot"
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    styles = {"p50": "o-", "p95": "s-", "p99": "^-", "max": "x:"}
    dashes = {"sqlite": "-", "postgres": "--"}
    for ax, key, heading in ((axes[0], "callout_latency", "raise → call-out delivered"),
                             (axes[1], "all_checked_in_latency", "raise → done (real: all checked in)")):
        for rnd in results["rounds"]:
            steps = [s for s in rnd["steps"] if s[key]["n"]]
            rates = [s["rate"] for s in steps]
            name = title(rnd).replace(" · ", " ")
            # every percentile for the real pipeline with one process per service, p99 for the others
            shown = styles if pipeline_of(rnd) == "real" and replicas_of(rnd) == 1 else {"p99": "v-"}
            for p, style in shown.items():
                if not steps:
                    break
                ax.plot(rates, [max(0.1, s[key][p]) for s in steps], style[:-1] + dashes.get(rnd["db"], "-"),
                        label=f"{name} {p}")
            ramp = rnd.get("ramp")
            if ramp:
                seg = [s for s in ramp["segments"] if s[key]["n"]]
                ax.plot([s["rate"] for s in seg], [max(0.1, s[key]["p99"]) for s in seg], ".",
                        alpha=0.5, label=f"{name} ramp p99")
        if key == "callout_latency":
            targets = [ax.plot([rate], [ms], "r*", ms=9, label=f"target p99 < {ms} ms at {rate}/s")[0]
                       for rate, ms in TARGET_P99_MS.items()]
            ax.legend(handles=targets, fontsize=7, loc="lower right")
        ax.axhline(1000, color="grey", lw=0.8, ls=":")
        ax.set_yscale("log")
        ax.set_xlabel("offered whistles / s")
        ax.set_title(heading)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("latency (ms, log)")
    if axes[1].get_legend_handles_labels()[0]:
        axes[1].legend(fontsize=7, loc="best")
    fig.suptitle(f"chuishao bench {results['meta']['started']} ({results['meta']['commit']})", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None

"""Results as Markdown (and JSON for the next run to compare with), a plot, and a diff with the last run."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

from bench.stats import fmt_ms, fmt_summary

TARGET_RATE = 200
TARGET_P99_MS = 100
TARGET_RSS_MB = 150
TARGET_BUS_SHARE = 0.5
SERVICES = ("whistle", "dispatch", "roster", "metrics")


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
                 f"{meta['duration']:g} s each, every rate and the ramp on a fresh stack; whistles of {', '.join(meta['categories'])} "
                 f"(mean fan-out {meta['fanout']:.2f} departments). Latencies in ms: p50 / p95 / p99 / max.")
    lines.append("")
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
    lines += _targets(results)
    if results.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in results["notes"]] + [""]
    return "\n".join(lines)


def _round(rnd: dict, ceiling: dict | None, cpus: int) -> list[str]:
    db = rnd["db"]
    out = []
    if rnd["steps"]:
        out += [f"## {db}: fixed offered rates", "","| offered/s | sent | whistles/s done | call-outs/s | raise→call-out (ms) | "
                "raise→all checked in (ms) | incomplete | backlog at end (queued + outbox) | "
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
        out += ["", f"### {db}: resources (peak RSS MB / CPU % of one core, over the measured window)", "",
                "| offered/s | whistle | dispatch | roster | metrics | rabbitmq CPU | "
                + ("postgres CPU (all) | " if db == "postgres" else "")
                + "bench CPU | machine busy | pacer max lag |",
                "|---:|---|---|---|---|---:|" + ("---:|" if db == "postgres" else "") + "---:|---:|---:|"]
        for s in rnd["steps"]:
            cells = [f"{s['memory'][n]['peak_mb']:.0f} MB / {s['cpu'].get(n, 0):.0f} %" for n in SERVICES]
            pg = f" {s['cpu'].get('postgres', 0):.0f} % |" if db == "postgres" else ""
            out.append(f"| {s['rate']:g} | " + " | ".join(cells) +
                       f" | {s['cpu'].get('rabbitmq', 0):.0f} % |{pg} {s['cpu'].get('bench', 0):.0f} % | "
                       f"{s['cpu'].get('_machine', 0):.0f} % | {fmt_ms(s['pacer_max_lag_ms'])} ms |")
        out += ["", f"### {db}: where the backlog was when the offered load stopped", "",
                "| offered/s | service queues (ready messages) | unsent outbox rows | "
                "department queues | drained in | raise→street outcome (ms) | "
                "outbox wait, written→confirmed, p50 / p99 (ms) |", "|---:|---|---|---:|---:|---|---|"]
        for s in rnd["steps"]:
            b = s["backlog_end"]
            queues = ", ".join(f"{q} {n}" for q, n in b["queues"].items() if n) or "0"
            outbox = ", ".join(f"{q} {n}" for q, n in b["outbox_unsent"].items() if n) or "0"
            lag = ", ".join(f"{svc} {fmt_ms(v['p50'])} / {fmt_ms(v['p99'])}"
                            for svc, v in s.get("outbox_lag", {}).items())
            out.append(f"| {s['rate']:g} | {queues} | {outbox} | {b['department_queued']} | "
                       f"{s['drain_s']:.1f} s | {fmt_summary(s['outcome_latency'])} | {lag or '–'} |")
        flow = max(rnd["steps"], key=lambda s: s["sent"])
        out += ["", f"### {db}: messages published per whistle (at {flow['rate']:g}/s, in the window)", "",
                "| message | published | per raised whistle |", "|---|---:|---:|"]
        raises = flow["bus"]["by_type"].get("RaiseWhistle (bench)", 0) or 1
        for kind, n in sorted(flow["bus"]["by_type"].items(), key=lambda kv: -kv[1]):
            out.append(f"| {kind} | {n} | {n / raises:.2f} |")
        out.append(f"| **all** | {flow['bus']['published']} | {flow['bus']['published'] / raises:.2f} |")
        out.append("")
    out += _cost(rnd, cpus)
    for s in rnd["steps"]:
        if s.get("profile"):
            out += _profile(s["profile"], s["rate"], db)
    ramp = rnd.get("ramp")
    if ramp:
        out += [f"## {db}: open-loop ramp (+{ramp['segments'][1]['rate'] - ramp['segments'][0]['rate']:g}/s "
                f"every {ramp['interval']:g} s)" if len(ramp["segments"]) > 1 else f"## {db}: open-loop ramp", "",
                f"Knee: **{ramp['knee'] if ramp['knee'] is not None else 'below the first step'}"
                f"{' whistles/s' if ramp['knee'] is not None else ''}** offered — stopped because "
                f"{ramp['stopped']}. Best completion rate seen: {ramp['max_whistles_per_s']:.1f} whistles/s.", "",
                "| offered/s | sent | whistles/s done | raise→call-out (ms) | raise→all checked in (ms) | "
                "outstanding at check |", "|---:|---:|---:|---|---|---:|"]
        for s in ramp["segments"]:
            out.append(f"| {s['rate']:g} | {s['sent']} | {s['whistles_per_s']:.1f} | "
                       f"{fmt_summary(s['callout_latency'])} | {fmt_summary(s['all_checked_in_latency'])} | "
                       f"{s['outstanding_at_check']} |")
        out.append("")
    return out


def _cost(rnd: dict, cpus: int) -> list[str]:
    """CPU per whistle at a low rate (the warm-ups): what 200/s would need, whoever else is busy."""
    costs = [s["warmup_cost"] for s in rnd["steps"] if s.get("warmup_cost")]
    if rnd.get("ramp") and rnd["ramp"].get("warmup_cost"):
        costs.append(rnd["ramp"]["warmup_cost"])
    if not costs:
        return []
    groups = [g for g in (*SERVICES, "rabbitmq", "postgres", "bench") if g in costs[0]["cpu_ms_per_whistle"]]
    mean = {g: sum(c["cpu_ms_per_whistle"].get(g, 0) for c in costs) / len(costs) for g in groups}
    whistles = sum(c["whistles"] for c in costs)
    pipeline = sum(v for g, v in mean.items() if g != "bench")
    busiest = max(SERVICES, key=lambda g: mean.get(g, 0))
    out = [f"### {rnd['db']}: CPU time per whistle at {costs[0]['rate']:g}/s "
           f"(the warm-ups: {whistles} whistles over {len(costs)} stacks, less each stack's idle CPU)", "",
           "| " + " | ".join(groups) + " | pipeline (services + broker"
           + (" + postgres" if "postgres" in groups else "") + ") |",
           "|" + "---:|" * (len(groups) + 1),
           "| " + " | ".join(f"{mean[g]:.1f} ms" for g in groups) + f" | {pipeline:.1f} ms |", "",
           f"Each service is one process (one core at most): `{busiest}` at {mean[busiest]:.1f} ms per whistle "
           f"caps the pipeline near {1000 / mean[busiest]:.0f} whistles/s even with a core to itself; the whole "
           f"pipeline needs {pipeline:.1f} ms of CPU per whistle, so {cpus} idle cores would carry at "
           f"most about {1000 * cpus / pipeline:.0f} whistles/s "
           f"(200/s needs {pipeline * 200 / 1000:.1f} cores)." if mean[busiest] and pipeline else "", ""]
    return out


def _profile(p: dict, rate: float, db: str) -> list[str]:
    out = [f"### {db}: where the busiest service spends its time (py-spy, {rate:g}/s offered)", ""]
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
    ceiling = results.get("ceiling") or {}
    out = ["## Against the targets (issue 5)", "",
           "| database | 200/s sustained | p99 raise→call-out < 100 ms at 200/s | each service < 150 MB | "
           "bus ≥ ½ confirmed ceiling |", "|---|---|---|---|---|"]
    for rnd in results["rounds"]:
        steps = rnd["steps"]
        if not steps:
            out.append(f"| {rnd['db']} | not measured (no fixed rate) | | | |")
            continue
        at = [s for s in steps if s["rate"] >= TARGET_RATE]
        best = max(steps, key=lambda s: s["whistles_per_s"])
        sustained = (f"yes ({at[0]['whistles_per_s']:.0f}/s)" if at and at[0]["whistles_per_s"] >= 0.95 * TARGET_RATE
                     and at[0]["incomplete"] == 0 else
                     f"no: best {best['whistles_per_s']:.0f}/s at {best['rate']:g}/s offered"
                     + ("" if at else " (200/s not offered)"))
        if at:
            p99 = at[0]["callout_latency"]["p99"]
            latency = f"{'yes' if p99 < TARGET_P99_MS else 'no'} ({_unit(p99)})"
        else:
            latency = "not measured"
        peak = max(m["peak_mb"] for s in steps for m in s["memory"].values())
        share = max((s["bus"]["per_s"] for s in steps), default=0)
        conf = ceiling.get("confirmed", 0)
        bus = (f"{'yes' if share >= TARGET_BUS_SHARE * conf else 'no'} "
               f"({share:,.0f} of {conf:,.0f} msg/s, {_ratio(share, conf)})" if conf else "no ceiling measured")
        out.append(f"| {rnd['db']} | {sustained} | {latency} | "
                   f"{'yes' if peak < TARGET_RSS_MB else 'no'} (peak {peak:.0f} MB) | {bus} |")
    out.append("")
    return out


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
    """One line per (database, rate) measured in both runs: what moved."""
    if not previous:
        return ["(no previous run to compare with)"]
    lines = [f"compared with the run of {previous['meta']['started']} (commit {previous['meta']['commit']}):"]
    pc, lc = previous.get("ceiling") or {}, latest.get("ceiling") or {}
    if pc and lc:
        lines.append(f"  ceiling, confirmed one at a time: {pc['confirmed']:,.0f} -> {lc['confirmed']:,.0f} msg/s")
    old = {(r["db"], s["rate"]): s for r in previous["rounds"] for s in r["steps"]}
    found = False
    for rnd in latest["rounds"]:
        for s in rnd["steps"]:
            p = old.get((rnd["db"], s["rate"]))
            if not p:
                continue
            found = True
            lines.append(
                f"  {rnd['db']} {s['rate']:g}/s: done {p['whistles_per_s']:.1f} -> {s['whistles_per_s']:.1f}/s, "
                f"p99 call-out {_unit(p['callout_latency']['p99'])} -> {_unit(s['callout_latency']['p99'])}, "
                f"p99 all checked in {_unit(p['all_checked_in_latency']['p99'])} -> "
                f"{_unit(s['all_checked_in_latency']['p99'])}, peak RSS "
                f"{max(m['peak_mb'] for m in p['memory'].values()):.0f} -> "
                f"{max(m['peak_mb'] for m in s['memory'].values()):.0f} MB")
        pr = next((r.get("ramp") for r in previous["rounds"] if r["db"] == rnd["db"]), None)
        if pr and rnd.get("ramp"):
            lines.append(f"  {rnd['db']} ramp knee: {pr['knee']} -> {rnd['ramp']['knee']} whistles/s")
            found = True
    if not found:
        lines.append("  no database/rate in common")
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
    for ax, key, title in ((axes[0], "callout_latency", "raise → call-out delivered"),
                           (axes[1], "all_checked_in_latency", "raise → all departments checked in")):
        for rnd in results["rounds"]:
            steps = [s for s in rnd["steps"] if s[key]["n"]]
            rates = [s["rate"] for s in steps]
            for p, style in styles.items():
                if not steps:
                    break
                ax.plot(rates, [max(0.1, s[key][p]) for s in steps], style[:-1] + dashes.get(rnd["db"], "-"),
                        label=f"{rnd['db']} {p}")
            ramp = rnd.get("ramp")
            if ramp:
                seg = [s for s in ramp["segments"] if s[key]["n"]]
                ax.plot([s["rate"] for s in seg], [max(0.1, s[key]["p99"]) for s in seg], ".",
                        alpha=0.5, label=f"{rnd['db']} ramp p99")
        if key == "callout_latency":
            ax.axhline(TARGET_P99_MS, color="red", lw=0.8, ls=":", label="target p99 100 ms")
        ax.axhline(1000, color="grey", lw=0.8, ls=":")
        ax.set_yscale("log")
        ax.set_xlabel("offered whistles / s")
        ax.set_title(title)
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

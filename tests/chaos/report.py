"""The fault suite's report: a plain-text table on stdout and in var/ (chaos-report.md by default)."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from tests.chaos.accounting import Findings
from tests.chaos.faults import FaultRecord


def _examples(items: list, n: int = 5) -> str:
    shown = ", ".join(str(i) for i in items[:n])
    return shown + (f", ... ({len(items) - n} more)" if len(items) > n else "")


def render(settings: dict, findings: Findings, faults: list[FaultRecord], drain: dict, elapsed: dict,
           diagnostics: str = "", observed: dict | None = None) -> str:
    out = [f"# Fault suite report ({datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M:%S')} UTC)", ""]
    out += ["## Run", "", "| setting | value |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in settings.items()]
    out += [f"| {k} | {v} |" for k, v in elapsed.items()]
    out += ["", "## Figures", "", "| figure | count |", "|---|---:|"]
    out += [f"| {k} | {v} |" for k, v in findings.figures.items()]
    out += ["", f"## Lost: {findings.lost_total} (must be 0)", "", "| kind | count | examples |", "|---|---:|---|"]
    out += [f"| {k} | {len(v)} | {_examples(v)} |" for k, v in findings.lost.items()]
    out += ["", f"## Duplicate effects: {findings.duplicates_total} (must be 0)", "",
            "| kind | count | examples |", "|---|---:|---|"]
    out += [f"| {k} | {len(v)} | {_examples(v)} |" for k, v in findings.duplicates.items()]
    out += ["", "## Faults and time to recover", "",
            "Recovered after: from the end of the fault (process respawned, node started, lock released, proxy "
            "healed) until the first whistle raised after it had reached every one of its departments. "
            "Through it: from the start of the fault until the first whistle raised after it began had; less "
            "than the fault lasted when the system went on working through it (-: no whistle was sent while "
            "it lasted).", "",
            "| # | fault | what | sent at start | fault lasted (s) | through it (s) | recovered after (s) | note |",
            "|---:|---|---|---:|---:|---:|---:|---|"]
    for i, r in enumerate(faults, 1):
        if not r.started:
            out.append(f"| {i} | {r.name} | {r.description} | - | - | - | - | not injected |")
            continue
        recovery = f"{r.recovery:.1f}" if r.recovery is not None else "not within the limit"
        through = f"{r.served_after:.1f}" if r.served_after is not None else "-"
        note = r.error or (f"probe {r.probe}" if r.probe else "no whistle raised after it")
        out.append(f"| {i} | {r.name} | {r.description} | {r.sent_at_start} | {r.duration:.1f} | {through} | "
                   f"{recovery} | {note} |")
    if observed:
        out += ["", "## Observed during the stream", "", "| what | value |", "|---|---:|"]
        out += [f"| {k} | {v} |" for k, v in observed.items()]
    out += ["", "## On the wire (duplicates here are expected and harmless)", "", "| what | count |", "|---|---:|"]
    out += [f"| {k} | {v} |" for k, v in findings.wire.items()]
    out += ["", f"## Dead letters: {len(findings.dead_letters)}", ""]
    if findings.dead_letters:
        grouped = Counter((d["consumer"], d["type"], d["reason"].splitlines()[0][:160]) for d in findings.dead_letters)
        out += ["| consumer | message type | reason | count |", "|---|---|---|---:|"]
        out += [f"| {c} | {t} | {r.replace('|', '/')} | {n} |" for (c, t, r), n in grouped.most_common(20)]
    out += ["", "## Drain", "", f"ended: {drain.get('why')}", "", "```", str(drain.get("counts")), "```", ""]
    if findings.queues:
        out += ["Messages left on queues: " + ", ".join(f"{q} {n}" for q, n in findings.queues.items()), ""]
    if findings.unacked:
        out += ["Messages held unacknowledged after the drain: "
                + ", ".join(f"{q} {n}" for q, n in findings.unacked.items()), ""]
    if diagnostics:
        out += ["## The broker's view when the drain did not settle", "", "```", diagnostics.strip(), "```", ""]
    return "\n".join(out)


def write(text: str, root: Path, name: str = "chaos-report.md") -> Path:
    path = root / "var" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path

"""`make demo` / `python -m services.demo run`: a demo load against the running services (`make run`).

    python -m services.demo run [--whistles 60] [--rate 1] [--horizon 120] [--linger 300] [--seed 15]
    python -m services.demo drill [--scale 60] [--out var/drill.yaml]

The services are found as the command line finds them (WHISTLE_URL, DISPATCH_URL, or their
*_WEB_ADDRESS), the broker at AMQP_URI in BUS_NAMESPACE. With a token signing key on this machine
($CHUISHAO_AUTH_DIR, `make token`), the demo signs itself short-lived street and district tokens.
With the shipped deadlines (check-in within 30 minutes) a department that never answers is a miss
only half an hour later; `drill` writes the district with every deadline scaled down (a minute
becomes a second), for services started with REFERENCE_DATA=var/drill.yaml.
"""
from __future__ import annotations

import logging
import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
import requests
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from services.cli.api import service_url
from services.common.i18n import N_, Text, choose_language
from services.common.reference import DEFAULT_PATH, load_reference
from services.demo import drill as drills
from services.demo.run import Config, run

console = Console(stderr=True, markup=False, highlight=False)
LABELS = {
    "raised": N_("whistles raised"), "linked": N_("reports joined to an open whistle"),
    "call-outs received": N_("call-outs received by departments"),
    "call-outs never answered": N_("call-outs never answered"), "checkin reports": N_("check-ins"),
    "arrival reports": N_("arrivals"), "completion reports": N_("completions"), "return reports": N_("returns"),
    "member check-ins": N_("team members checked in"),
    "reports refused": N_("reports refused"), "closed": N_("closures"), "sent back": N_("sent back"),
    "follow-ups": N_("follow-ups"), "reopened": N_("reopened"), "arbitrations": N_("arbitrations"),
    "arbitrations decided": N_("arbitrations decided"), "street requests refused": N_("street requests refused"),
    "district requests refused": N_("district requests refused"), "errors": N_("errors (see the log)"),
}


def tokens(streets, env=os.environ) -> dict[str, str]:
    """Short-lived street and district tokens, when this machine holds the signing key; none otherwise."""
    from services.common.auth.keystore import AuthFiles, auth_dir
    from services.common.auth.principals import Kind
    from services.common.auth.tokens import issue
    files = AuthFiles(auth_dir(env))
    try:
        key = files.signing_key()
    except (OSError, ValueError):
        key = None
    if key is None:
        return {}
    now, lifetime = datetime.now(timezone.utc), timedelta(hours=2)
    out = {}
    for kind, code, principal in ([(Kind.STREET, s.code, f"street:{s.code}") for s in streets]
                                  + [(Kind.DISTRICT, "demo", "district")]):
        issued = issue(kind, code, key, now, lifetime)
        files.record(issued, "make demo")
        out[principal] = issued.token
    return out


@click.group()
@click.option("--lang", default=None, help="zh_CN (default) or en")
@click.pass_context
def main(ctx, lang):
    """A demo load for chuishao's dashboards and assessment."""
    ctx.obj = Text(choose_language(lang, os.environ.get("CHUISHAO_LANG")))


@main.command("run")
@click.option("--whistles", type=click.IntRange(min=1), default=60, show_default=True)
@click.option("--rate", type=click.FloatRange(min=0.01), default=1.0, show_default=True, help="whistles per second")
@click.option("--horizon", type=click.FloatRange(min=1), default=120, show_default=True,
              help="seconds a department takes at most over a step whose deadline is further away")
@click.option("--linger", type=click.FloatRange(min=0), default=300, show_default=True,
              help="seconds to keep answering after the last whistle")
@click.option("--seed", type=int, default=15, show_default=True)
@click.pass_obj
def run_command(t: Text, whistles, rate, horizon, linger, seed):
    """Raise whistles and answer them as the district's streets, departments and staff would."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    reference_path = Path(os.environ.get("REFERENCE_DATA") or DEFAULT_PATH)
    reference = load_reference()
    config = Config(whistle_url=service_url("whistle"), dispatch_url=service_url("dispatch"),
                    amqp_uri=os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/"),
                    namespace=os.environ.get("BUS_NAMESPACE", ""), whistles=whistles, rate=rate,
                    horizon=timedelta(seconds=horizon), linger=linger, seed=seed,
                    tokens=tokens(reference.streets))
    for name, url in (("whistle", config.whistle_url), ("dispatch", config.dispatch_url)):
        try:
            requests.get(f"{url}/health", timeout=5)
        except requests.RequestException:
            console.print("✗ " + t.gettext("cannot reach the %(service)s service at %(url)s: start the services "
                                           "with make run") % {"service": name, "url": url}, style="bold red")
            sys.exit(3)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        tasks = {"raised": progress.add_task(t.gettext("whistles raised"), total=whistles),
                 "closed": progress.add_task(t.gettext("whistles closed"), total=whistles),
                 "stuck": progress.add_task(t.gettext("whistles held up by a department that never answers"),
                                            total=whistles)}
        def tell(what: str, n: int) -> None:
            if what == "whistles":
                for task in ("closed", "stuck"):
                    progress.update(tasks[task], total=n)
            else:
                progress.advance(tasks[what], n)
        tally = run(config, reference, reference_path, tell)
    summary = Table(title=t.gettext("Demo %(run)s") % {"run": config.run}, title_justify="left")
    summary.add_column(t.gettext("what"))
    summary.add_column(t.gettext("count"), justify="right")
    for key, label in LABELS.items():
        if tally.counts[key]:
            summary.add_row(t.gettext(label), str(tally.counts[key]))
    Console().print(summary)
    month = datetime.now(timezone(timedelta(hours=8))).strftime("%Y-%m")
    console.print(t.gettext("The assessment of this month: chuishao assess %(month)s") % {"month": month})


@main.command("drill")
@click.option("--scale", type=click.FloatRange(min=1), default=60, show_default=True,
              help="how many times faster every deadline runs")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=Path("var/drill.yaml"),
              show_default=True)
@click.pass_obj
def drill_command(t: Text, scale, out_path):
    """Write the reference district with every deadline scaled down, for REFERENCE_DATA."""
    source = Path(os.environ.get("REFERENCE_DATA") or DEFAULT_PATH)
    data = drills.drill(yaml.safe_load(source.read_text(encoding="utf-8")), source, 1 / scale)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    console.print(t.gettext("written: %(file)s; start the services with REFERENCE_DATA=%(file)s make run")
                  % {"file": out_path})


if __name__ == "__main__":
    main()

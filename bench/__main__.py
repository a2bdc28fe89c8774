"""`python -m bench` (what `make bench` runs): raw ceiling, fixed offered rates, ramp, report.

    python -m bench                                  # 50,100,200,400/s, 60 s each, SQLite (+PostgreSQL)
    python -m bench --rates 20,50 --duration 10      # a quick run
    python -m bench --db sqlite --no-ramp            # SQLite only, no ramp
    python -m bench --pipelines real                 # without the naive reference pipeline
    python -m bench --db postgres --replicas 1,2     # the real services with 1, then 2 processes each
    python -m bench --rates 200 --duration 300 --no-ramp   # 200/s sustained for 5 minutes
    python -m bench --postgres 'postgresql+psycopg2://postgres@127.0.0.1:5432/bench_{service}'

See bench/README.md for what every column means.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:       # `python -m bench` from elsewhere still finds services/ and tests/
    sys.path.insert(0, str(ROOT))

from bench import ceiling as ceiling_module  # noqa: E402
from bench import report  # noqa: E402
from bench.run import Options, run_round, workload  # noqa: E402

DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432/chuishao_bench_{service}"
LOCAL = {"127.0.0.1", "localhost", "::1"}


def rates(text: str) -> list[float]:
    if text.strip().lower() in ("", "none"):
        return []           # the ramp only
    values = [float(v) for v in text.split(",") if v.strip()]
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError("rates are positive numbers, comma-separated: 50,100,200")
    return values


def counts(text: str) -> tuple[int, ...]:
    values = tuple(int(v) for v in text.split(",") if v.strip())
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("counts are positive integers, comma-separated: 1,2,4")
    return values


PIPELINES = ("real", "naive")


def pipelines(text: str) -> tuple[str, ...]:
    values = tuple(v.strip() for v in text.split(",") if v.strip())
    unknown = [v for v in values if v not in PIPELINES]
    if not values or unknown:
        raise argparse.ArgumentTypeError(f"pipelines are {' and/or '.join(PIPELINES)}, comma-separated "
                                         f"(not {', '.join(unknown) or 'nothing'})")
    return tuple(p for p in PIPELINES if p in values)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rates", type=rates, default=rates("50,100,200,400"),
                   help="offered whistles per second, one fixed-rate run each (default 50,100,200,400; "
                        "'none': the ramp only)")
    p.add_argument("--duration", type=float, default=60, help="seconds per offered rate (default 60)")
    p.add_argument("--drain-timeout", type=float, default=None,
                   help="after the window, wait at most this long for stragglers (default max(30, duration))")
    p.add_argument("--warmup", type=float, default=5,
                   help="seconds of warm-up at 10/s before measuring, also used to measure the CPU cost "
                        "of one whistle (default 5; 0: none)")
    p.add_argument("--db", choices=("auto", "sqlite", "postgres", "both"), default="auto",
                   help="auto: SQLite, plus PostgreSQL when one answers (default)")
    p.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES_URL"),
                   help="PostgreSQL URL template with {service}; databases are created and dropped "
                        f"(default $BENCH_POSTGRES_URL, else {DEFAULT_POSTGRES} if it answers)")
    p.add_argument("--no-ramp", dest="ramp", action="store_false", help="skip the open-loop ramp")
    p.add_argument("--ramp-start", type=float, default=5, help="first ramp rate (default 5/s)")
    p.add_argument("--ramp-step", type=float, default=5, help="added every interval (default 5/s)")
    p.add_argument("--ramp-interval", type=float, default=5, help="seconds per ramp step (default 5)")
    p.add_argument("--ramp-max", type=float, default=1000)
    p.add_argument("--ceiling-seconds", type=float, default=5,
                   help="seconds per raw-ceiling measurement (0: skip the ceiling)")
    p.add_argument("--publishers", type=counts, default=None,
                   help="parallel publisher counts for the ceiling (default 1,<cpus>,<2*cpus>)")
    p.add_argument("--dept-procs", type=int, default=1, help="processes simulating departments (default 1)")
    p.add_argument("--pipelines", type=pipelines, default=PIPELINES,
                   help="which pipelines to run: real (the four services), naive (the reference "
                        "pipeline in bench/naive), or both (default real,naive)")
    p.add_argument("--replicas", type=lambda text: tuple(sorted(set(counts(text)))), default=(1,),
                   help="processes of each real service, competing for the same queues and databases; "
                        "several counts (1,2) run the real pipeline once per count and report the "
                        "throughput factor. Above 1 only on PostgreSQL (default 1)")
    p.add_argument("--profile", type=float, default=10, metavar="SECONDS",
                   help="py-spy the busiest service for this long during the last rate of the first "
                        "database round, when py-spy is installed (default 10; 0: never)")
    p.add_argument("--results", type=Path, default=ROOT / "bench" / "results", help="where results go")
    p.add_argument("--private-broker", action="store_true",
                   help="start a RabbitMQ node of the bench's own on a free 127.0.0.1 port (the chaos "
                        "suite's PrivateBroker) and measure on it, away from other users' queues; "
                        "stopped at the end")
    p.add_argument("--keep-tmp", action="store_true", help="keep service logs and SQLite files")
    return p.parse_args(argv)


def local_only(url: str, what: str) -> None:
    host = urlsplit(url.replace("{service}", "x")).hostname
    if host not in LOCAL:
        raise SystemExit(f"{what} must be on this machine (127.0.0.1), not {host!r}: the benchmark "
                         "measures the box it runs on and sends traffic nowhere else")


def answers(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
        return True
    except OSError:
        return False


REPLICAS_NEED_POSTGRES = ("--replicas above 1 needs PostgreSQL (--db postgres, or --db both with a "
                          "server answering): replicas of a service share its database, and a SQLite "
                          "file takes one writer at a time, so the replicas would queue for its lock "
                          "instead of adding throughput")


def check_replicas(args, rounds, log) -> None:
    """Replicas share one database per service: that is PostgreSQL's job, not a SQLite file's."""
    if max(args.replicas) == 1 or "real" not in args.pipelines:
        return
    if not any(label == "postgres" for label, _ in rounds):
        raise SystemExit(REPLICAS_NEED_POSTGRES)
    if any(label == "sqlite" for label, _ in rounds):
        log(f"[sqlite] the real services run with 1 process each; --replicas "
            f"{','.join(map(str, args.replicas))} applies to the PostgreSQL round")


def db_rounds(args, log) -> list[tuple[str, str | None]]:
    rounds: list[tuple[str, str | None]] = []
    if args.db in ("auto", "sqlite", "both"):
        rounds.append(("sqlite", None))
    if args.db == "sqlite":
        return rounds
    template = args.postgres or DEFAULT_POSTGRES
    if "{service}" not in template:
        raise SystemExit("the PostgreSQL URL needs a {service} placeholder: each service has its own database")
    local_only(template, "PostgreSQL")
    from bench.stack import postgres_usable
    parts = urlsplit(template.replace("{service}", "x"))
    port = parts.port or 5432
    why = None if answers(parts.hostname, port) else f"nothing answers at {parts.hostname}:{port}"
    why = why or postgres_usable(template)
    if why:
        if args.db == "auto" and not args.postgres:
            log(f"[postgres] round skipped: {why}")
            return rounds
        raise SystemExit(f"PostgreSQL not usable ({why})")
    rounds.append(("postgres", template))
    return rounds


def commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "services"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return f"{head}{'+dirty services' if dirty else ''}" if head else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.db == "sqlite" and max(args.replicas) > 1 and "real" in args.pipelines:
        raise SystemExit(REPLICAS_NEED_POSTGRES)

    def log(text: str) -> None:
        print(text, flush=True)

    tmp_root = Path(tempfile.mkdtemp(prefix="chuishao-bench-"))
    broker = None
    if args.private_broker:
        from tests.chaos.broker import PrivateBroker
        log("starting a private RabbitMQ node for the bench")
        broker = PrivateBroker(tmp_root / "broker").start()
        amqp = broker.amqp_uri
    else:
        amqp = os.environ.get("AMQP_URI", DEFAULT_AMQP)
    finished = False
    try:
        status = measure(args, amqp, tmp_root, log, broker is not None)
        finished = status == 0
        return status
    finally:
        if broker is not None:
            broker.stop()
        if args.keep_tmp or not finished:
            log(f"service logs and databases kept in {tmp_root}")
        else:
            shutil.rmtree(tmp_root, ignore_errors=True)


def measure(args, amqp: str, tmp_root: Path, log, private_broker: bool) -> int:
    local_only(amqp, "The broker (AMQP_URI)")
    parts = urlsplit(amqp)
    if not answers(parts.hostname, parts.port or 5672):
        raise SystemExit(f"no broker answers at {parts.hostname}:{parts.port or 5672} (try: make broker)")
    cpus = os.cpu_count() or 1
    load = workload()
    rounds = db_rounds(args, log)
    check_replicas(args, rounds, log)
    opts = Options(amqp_uri=amqp, rates=args.rates, duration=args.duration,
                   drain_timeout=args.drain_timeout if args.drain_timeout is not None else max(30.0, args.duration),
                   warmup_seconds=args.warmup, ramp=args.ramp, ramp_start=args.ramp_start,
                   ramp_step=args.ramp_step, ramp_interval=args.ramp_interval, ramp_max=args.ramp_max,
                   dept_procs=max(1, args.dept_procs), profile_seconds=args.profile,
                   pipelines=args.pipelines, replicas=args.replicas,
                   keep_tmp=args.keep_tmp, log=log)
    results = {"meta": {
        "started": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"), "commit": commit(),
        "cpus": cpus, "memory_gb": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30,
        "amqp": f"{parts.hostname}:{parts.port or 5672}" + (" (a private node)" if private_broker else ""),
        "python": platform.python_version(),
        "rates": args.rates, "duration": args.duration, "categories": load.categories,
        "pipelines": list(args.pipelines), "replicas": list(args.replicas), "ramp": args.ramp,
        "fanout": load.mean_fanout(), "departments": load.departments, "argv": sys.argv[1:]},
        "rounds": [], "notes": []}
    started = time.time()

    if args.ceiling_seconds > 0:
        publishers = args.publishers or tuple(sorted({1, cpus, 2 * cpus}))
        log(f"raw ceiling ({args.ceiling_seconds:g}s per measurement)")
        results["ceiling"] = ceiling_module.measure(amqp, args.ceiling_seconds, publishers, log=log).as_dict()
    else:
        results["ceiling"] = None
        results["notes"].append("raw ceiling skipped (--ceiling-seconds 0): no ratio to it")

    ok = False
    try:
        for i, (label, template) in enumerate(rounds):
            # filled as it goes: an interrupted run keeps its steps
            run_round(opts, load, label, template, tmp_root, profile=i == 0 and args.profile > 0,
                      into=results["rounds"])
        ok = True
    except KeyboardInterrupt:
        log("interrupted: writing what was measured so far")
        results["notes"].append("the run was interrupted; figures cover what finished")

    errors = sorted({e for rnd in results["rounds"] for s in rnd["steps"] for e in s["errors"]})
    results["notes"] += [f"helper error: {e}" for e in errors]
    results["meta"]["seconds"] = time.time() - started
    path, previous = report.write(results, args.results)
    why = report.plot(results, args.results / "latest.png")
    print()
    print(report.markdown(results))
    print(f"written: {path}" + ("" if why else f", {args.results / 'latest.png'}"))
    if why:
        print(why)
    for line in report.diff(previous, results):
        print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

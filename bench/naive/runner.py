"""Starts one naive service as its own process, eventlet-patched as the real services are.

    python -m bench.naive.runner dispatcher
    python -m bench.naive.runner department <code>

Configuration from the environment: AMQP_URI, BUS_NAMESPACE, NAIVE_DATABASE_URL (with a
`{service}` placeholder: `dispatcher` or `department_<code>`), NAIVE_DEPARTMENTS (comma-separated
codes the dispatcher calls out), PREFETCH (nameko's max_workers, default 10 like the real services).
"""
from __future__ import annotations

import eventlet

eventlet.monkey_patch()  # noqa: E402 - must precede every other import

import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402

USAGE = "usage: python -m bench.naive.runner dispatcher | department <code>"


def database_url(service: str) -> str:
    return os.environ["NAIVE_DATABASE_URL"].replace("{service}", service)


def main(argv: list[str]) -> int:
    if not (argv == ["dispatcher"] or (len(argv) == 2 and argv[0] == "department")):
        print(USAGE, file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if os.environ["NAIVE_DATABASE_URL"].startswith("postgresql"):
        from psycogreen.eventlet import patch_psycopg
        patch_psycopg()          # psycopg2 blocks the hub otherwise
    from bench.naive.services import department_service, dispatcher_service
    namespace = os.environ.get("BUS_NAMESPACE", "")
    if argv[0] == "dispatcher":
        departments = [d for d in os.environ.get("NAIVE_DEPARTMENTS", "").split(",") if d]
        if not departments:
            print("NAIVE_DEPARTMENTS is empty: the dispatcher needs departments to call out", file=sys.stderr)
            return 2
        service = dispatcher_service(namespace, database_url("dispatcher"), departments)
    else:
        service = department_service(namespace, database_url(f"department_{argv[1]}"), argv[1])
    from nameko.cli.run import run
    run([service], {"AMQP_URI": os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/"),
                    "max_workers": int(os.environ.get("PREFETCH", "10"))})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

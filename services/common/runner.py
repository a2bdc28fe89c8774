"""Starts one service as its own process: `python -m services.common.runner <service>`."""
from __future__ import annotations

import eventlet

eventlet.monkey_patch()  # noqa: E402 - must precede every other import

import importlib  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402

from services.common.settings import load_settings  # noqa: E402

SERVICES = ("whistle", "dispatch", "roster", "metrics")


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in SERVICES:
        print(f"usage: python -m services.common.runner {{{'|'.join(SERVICES)}}}", file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from services.common.broker import RedactCredentials, replicate_rpc_queues
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactCredentials())     # no broker password in a log line, however many nodes
    name = argv[0]
    settings = load_settings(name)
    module = importlib.import_module(f"services.{name}.service")
    prepare = getattr(module, "prepare", None)
    if prepare:
        prepare(settings)
    from nameko.cli.run import run
    logging.getLogger(__name__).info("%s starting: database %s, web %s, bus namespace %r",
                                     name, _safe(settings.database_url), settings.web_address,
                                     settings.namespace)
    if settings.namespace:
        # nameko names RPC queues `rpc-<service>` whatever the exchange; keep namespaces apart
        import nameko.rpc
        nameko.rpc.RPC_QUEUE_TEMPLATE = f"{settings.namespace}rpc-{{}}"
    replicate_rpc_queues()          # quorum, like every other queue: it survives the loss of a node
    run([module.SERVICE], settings.nameko_config)
    return 0


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Prepares every service before a run: databases, reference data, and the queues outside parties read."""
from __future__ import annotations

import importlib
import logging
import sys

from services.common.runner import SERVICES
from services.common.settings import load_settings


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="[setup] %(message)s")
    for name in SERVICES:
        settings = load_settings(name)
        module = importlib.import_module(f"services.{name}.service")
        prepare = getattr(module, "prepare", None)
        if prepare:
            prepare(settings)
        else:
            from services.common.db import create_schema
            create_schema(settings.database_url, name)
        logging.info("%s ready (database %s)", name, settings.database_url.split("@")[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())

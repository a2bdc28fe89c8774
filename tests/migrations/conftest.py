"""Fresh databases for the migration tests: SQLite files, and PostgreSQL databases when a server answers.

The PostgreSQL server is DATABASE_URL's when that names one, else TEST_POSTGRES_URL's, else
127.0.0.1:5432 as user postgres; each test gets databases named with a fresh id and drops them."""
from __future__ import annotations

import functools
import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tests.support.processes import drop_databases


DEFAULT_POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432/chuishao_test_{service}"


def postgres_template() -> str:
    configured = os.environ.get("DATABASE_URL", "")
    if configured.startswith("postgresql"):
        return configured
    return os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES)


@functools.lru_cache(maxsize=1)
def postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    url = make_url(postgres_template().replace("{service}", "x")).set(database="postgres")
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        return f"PostgreSQL at {url.host}:{url.port} not reachable: {str(error.orig).strip().splitlines()[0]}"
    finally:
        engine.dispose()
    return None


class Databases:
    """Fresh database URLs of one backend, one per service asked for."""

    def __init__(self, backend: str, tmp: Path):
        self.backend = backend
        run_id = uuid.uuid4().hex[:10]
        if backend == "sqlite":
            self.template = f"sqlite:///{tmp}/{{service}}.db"
        else:
            server = make_url(postgres_template().replace("{service}", "x"))
            name = f"chuishao_migrate_{run_id}_SERVICE"
            self.template = server.set(database=name).render_as_string(hide_password=False).replace(
                "SERVICE", "{service}")
        self.used: set[str] = set()

    def url(self, service: str) -> str:
        self.used.add(service)
        return self.template.replace("{service}", service)

    def drop(self) -> None:
        drop_databases(self.template, sorted(self.used))


@pytest.fixture(params=["sqlite", "postgresql"])
def databases(request, tmp_path):
    if request.param == "postgresql" and postgres_unreachable():
        pytest.skip(postgres_unreachable())
    made = Databases(request.param, tmp_path)
    yield made
    made.drop()

"""A service brings its own database to head when it starts: an old one is upgraded with its rows kept,
and replicas starting together on a fresh one all come up, the work done once.

The services run as their own processes (services.common.runner) on the real broker, as in production."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from services.common import db
from services.common.migrate import alembic_config, current_revision, script_directory
from tests.migrations.rows import changes, fill_empty_tables
from tests.migrations.test_revisions import orm_metadata, revisions
from tests.support.bus import delete_namespace
from tests.support.processes import ServiceProcess, Stack, free_port

pytestmark = pytest.mark.integration
REPLICAS = 3


@pytest.fixture
def stack(databases, tmp_path):
    """A bus namespace of its own; the databases are the migration tests' (SQLite or PostgreSQL)."""
    made = Stack(tmp_path)
    made.database_url = databases.template
    yield made
    made.stop()
    delete_namespace(made.amqp_uri, made.namespace)


def replica(stack: Stack, service: str, n: int) -> ServiceProcess:
    port = free_port()
    env = {**stack.env(), f"{service.upper()}_WEB_ADDRESS": f"127.0.0.1:{port}"}
    process = ServiceProcess(service, env, stack.tmp / f"{service}-{n}.log", port)
    stack.processes[f"{service}-{n}"] = process
    return process


def test_a_service_started_on_an_old_database_upgrades_it_and_keeps_its_rows(databases, stack):
    service = "whistle"
    url = databases.url(service)
    first = revisions(service)[0]
    db.ensure_database(url)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            command.upgrade(alembic_config(service, connection), first)
            written = fill_empty_tables(connection, {})
        assert current_revision(url) == first != script_directory(service).get_current_head()

        replica(stack, service, 1).start(timeout=90)        # ready: /health answers 200

        assert current_revision(url) == script_directory(service).get_current_head()
        with engine.connect() as connection:
            assert changes(connection, written) == []
    finally:
        engine.dispose()


def test_replicas_started_together_on_a_fresh_database_all_come_up(databases, stack):
    service = "dispatch"            # its prepare() also records the matrix version, at once in each replica
    url = databases.url(service)
    processes = [replica(stack, service, n) for n in range(1, REPLICAS + 1)]
    with ThreadPoolExecutor(REPLICAS) as pool:          # launched at once, each waited for
        started = list(pool.map(lambda p: p.start(timeout=120), processes))
    assert all(p.process.poll() is None for p in started)
    assert current_revision(url) == script_directory(service).get_current_head()
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
            tables = set(inspect(connection).get_table_names())
        assert set(orm_metadata(service).tables) <= tables
    finally:
        engine.dispose()

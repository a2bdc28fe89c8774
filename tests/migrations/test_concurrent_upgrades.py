"""Several replicas starting at once upgrade one fresh database: each succeeds, the work is done once."""
from __future__ import annotations

import multiprocessing

import pytest
from sqlalchemy import create_engine, inspect, text

from services.common.migrate import current_revision, script_directory
from tests.migrations.concurrent import upgrade_with_the_others

pytestmark = pytest.mark.integration
REPLICAS = 4


@pytest.mark.parametrize("service", ["whistle", "dispatch"])
def test_replicas_starting_together_upgrade_one_database_once(databases, service):
    url = databases.url(service)
    spawn = multiprocessing.get_context("spawn")
    barrier, results = spawn.Barrier(REPLICAS), spawn.Queue()
    replicas = [spawn.Process(target=upgrade_with_the_others, args=(barrier, url, service, results))
                for _ in range(REPLICAS)]
    for replica in replicas:
        replica.start()
    outcomes = [results.get(timeout=120) for _ in replicas]
    for replica in replicas:
        replica.join(timeout=30)
    assert outcomes == ["ok"] * REPLICAS, "\n".join(o for o in outcomes if o != "ok")
    assert current_revision(url) == script_directory(service).get_current_head()
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        assert "outbox" in inspect(engine).get_table_names()
    finally:
        engine.dispose()

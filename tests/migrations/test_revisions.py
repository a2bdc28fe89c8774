"""Each service's revisions, walked one at a time over a database holding rows: nothing written is lost.

Every revision after the first is a step: the rows written before it must read the same after it, and
the tables it adds get rows of their own for the steps after. At head the service's own tables
(orm.py, with its UtcDateTime and JSON types) read every row; down to the first revision and back up,
the first revision's rows are still there."""
from __future__ import annotations

import importlib

import pytest
from alembic import command
from sqlalchemy import create_engine, select

from services.common import db
from services.common.migrate import SERVICES, alembic_config, current_revision, script_directory, upgrade_to_head
from tests.migrations.rows import changes, fill_empty_tables, retired_by, without

pytestmark = pytest.mark.integration


def revisions(service: str) -> list[str]:
    """Oldest first."""
    return [script.revision for script in reversed(list(script_directory(service).walk_revisions()))]


def orm_metadata(service: str):
    return importlib.import_module(f"services.{service}.orm").metadata


@pytest.mark.parametrize("service", SERVICES)
def test_every_revision_keeps_the_rows_written_before_it(databases, service):
    url = databases.url(service)
    path = revisions(service)
    scripts = script_directory(service)
    db.ensure_database(url)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            command.upgrade(alembic_config(service, connection), path[0])
            first = fill_empty_tables(connection, {})
            written = first
            retired: frozenset[str] = frozenset()
            for revision in path[1:]:
                command.upgrade(alembic_config(service, connection), revision)
                retired |= retired_by(scripts.get_revision(revision))
                written = without(written, retired)
                assert changes(connection, written) == [], f"revision {revision} changed rows"
                written = fill_empty_tables(connection, written)
            first = without(first, retired)

        upgrade_to_head(url, service)
        assert current_revision(url) == path[-1]
        with engine.connect() as connection:
            assert changes(connection, written) == []
            for table in orm_metadata(service).sorted_tables:
                rows = connection.execute(select(table)).all()      # orm.py's own types read them
                assert len(rows) == len(written[table.name]), table.name

            command.downgrade(alembic_config(service, connection), path[0])
            assert changes(connection, first) == [], "going down to the first revision lost rows"
            command.upgrade(alembic_config(service, connection), "head")
            assert changes(connection, first) == []
    finally:
        engine.dispose()

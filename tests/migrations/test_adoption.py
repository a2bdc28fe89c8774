"""Databases made by `metadata.create_all`, before migrations: adopted where they stand, never recreated."""
from __future__ import annotations

import importlib

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from services.common import db
from services.common.migrate import (SERVICES, MigrationError, alembic_config, current_revision,
                                     script_directory, upgrade_to_head)
from tests.migrations.rows import changes, fill_empty_tables, retired_by, without
from tests.migrations.test_drift import drift

pytestmark = pytest.mark.integration


def create_all(url: str, service: str):
    db.ensure_database(url)
    engine = create_engine(url)
    importlib.import_module(f"services.{service}.orm").metadata.create_all(engine)
    return engine


@pytest.mark.parametrize("service", SERVICES)
def test_a_database_made_by_create_all_is_stamped_at_head_with_its_rows(databases, service):
    url = databases.url(service)
    engine = create_all(url, service)
    try:
        with engine.connect() as connection:
            written = fill_empty_tables(connection, {})
        upgrade_to_head(url, service)
        assert current_revision(url) == script_directory(service).get_current_head()
        with engine.connect() as connection:
            assert changes(connection, written) == []
        assert drift(url, importlib.import_module(f"services.{service}.orm").metadata) == []
    finally:
        engine.dispose()


@pytest.mark.parametrize("service", SERVICES)
def test_a_database_with_the_first_revisions_tables_is_stamped_there_and_upgraded(databases, service):
    """What main's create_all made before the first revision existed: that revision's tables exactly."""
    url = databases.url(service)
    first = script_directory(service).get_base()
    db.ensure_database(url)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            command.upgrade(alembic_config(service, connection), first)
            connection.execute(text("DROP TABLE alembic_version"))
            connection.commit()
            written = fill_empty_tables(connection, {})
        upgrade_to_head(url, service)
        assert current_revision(url) == script_directory(service).get_current_head()
        retired = frozenset().union(*(retired_by(s) for s in script_directory(service).walk_revisions()))
        with engine.connect() as connection:
            assert changes(connection, without(written, retired)) == []
        assert drift(url, importlib.import_module(f"services.{service}.orm").metadata) == []
    finally:
        engine.dispose()


def test_a_database_matching_no_revision_is_left_alone(databases):
    url = databases.url("whistle")
    engine = create_all(url, "whistle")
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP INDEX ix_whistles_nearby"))
        with pytest.raises(MigrationError, match="whistle: .*matches no revision.*whistles"):
            upgrade_to_head(url, "whistle")
        assert current_revision(url) is None
        assert "ix_whistles_nearby" not in {i["name"] for i in inspect(engine).get_indexes("whistles")}
        assert "alembic_version" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()

"""orm.py and the revisions describe the same tables: a database upgraded to head is what orm.py says.

When this fails, orm.py changed without a revision (or a revision without orm.py): write one with
`make migration SERVICE=<service> MSG='what changed'` and read what it generated."""
from __future__ import annotations

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Index, MetaData, String, create_engine

from services.common.migrate import SERVICES, upgrade_to_head

pytestmark = pytest.mark.integration


def drift(url: str, metadata: MetaData) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata)
    finally:
        engine.dispose()


@pytest.mark.parametrize("service", SERVICES)
def test_a_database_at_head_is_what_orm_py_describes(databases, service):
    url = databases.url(service)
    upgrade_to_head(url, service)
    assert drift(url, importlib.import_module(f"services.{service}.orm").metadata) == []


def test_the_check_sees_a_column_an_index_and_a_type_the_revisions_lack(databases):
    url = databases.url("whistle")
    upgrade_to_head(url, "whistle")
    changed = MetaData()
    for table in importlib.import_module("services.whistle.orm").metadata.tables.values():
        table.to_metadata(changed)
    whistles = changed.tables["whistles"]
    whistles.append_column(Column("district_code", String(64)))
    Index("ix_whistles_source", whistles.c.source)
    whistles.c.reported_by.type = String(400)

    assert described(drift(url, changed)) == {
        "add_column whistles.district_code", "add_index ix_whistles_source", "modify_type whistles.reported_by"}


def described(diffs: list) -> set[str]:
    """compare_metadata's tuples (column changes come in lists of them) as short sentences."""
    found = set()
    for diff in (d for item in diffs for d in (item if isinstance(item, list) else [item])):
        if diff[0] == "add_column":
            found.add(f"add_column {diff[2]}.{diff[3].name}")
        elif diff[0] == "add_index":
            found.add(f"add_index {diff[1].name}")
        elif diff[0] == "modify_type":
            found.add(f"modify_type {diff[2]}.{diff[3]}")
        else:
            found.add(repr(diff))
    return found

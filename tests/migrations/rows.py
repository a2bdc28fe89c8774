"""Sample rows for whatever tables a database has at some revision, and snapshots to compare them by.

Rows are made from the reflected schema, column by column, so they fit every revision without being
written for it: two per table, every column filled (nullable ones too), foreign keys pointing at rows
that exist, values that round-trip (aware UTC times, JSON with Chinese text, floats)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, Integer, MetaData, String, Table, Text, select
from sqlalchemy.engine import Connection

ROWS_PER_TABLE = 2
Snapshot = dict[str, list[dict]]


def reflect(connection: Connection) -> MetaData:
    metadata = MetaData()
    metadata.reflect(connection, only=lambda name, _: name != "alembic_version")
    return metadata


def fill_empty_tables(connection: Connection, snapshot: Snapshot) -> Snapshot:
    """Writes sample rows into every table not in `snapshot` yet; returns the snapshot with them added."""
    snapshot = dict(snapshot)
    for table in reflect(connection).sorted_tables:
        if table.name in snapshot:
            continue
        rows = [_sample_row(table, n, snapshot) for n in range(ROWS_PER_TABLE)]
        connection.execute(table.insert(), rows)
        snapshot[table.name] = read(connection, table)
    connection.commit()
    return snapshot


def retired_by(script) -> frozenset[str]:
    """The tables a revision drops on purpose, rows and all (its module's `retired_tables`)."""
    return frozenset(getattr(script.module, "retired_tables", ()))


def without(snapshot: Snapshot, tables) -> Snapshot:
    return {name: rows for name, rows in snapshot.items() if name not in tables}


def read(connection: Connection, table: Table) -> list[dict]:
    order = list(table.primary_key.columns) or list(table.columns)
    return [dict(row._mapping) for row in connection.execute(select(table).order_by(*order))]


def changes(connection: Connection, before: Snapshot) -> list[str]:
    """What differs from `before` in the columns that still exist: missing tables, rows, values."""
    tables = reflect(connection).tables
    found = []
    for name, rows in before.items():
        if name not in tables:
            found.append(f"table {name} is gone")
            continue
        now = read(connection, tables[name])
        kept = [column for column in (rows[0] if rows else {}) if column in tables[name].columns]
        was = [{column: row[column] for column in kept} for row in rows]
        still = [{column: row[column] for column in kept} for row in now]
        if was != still:
            found.append(f"{name}: {was} became {still}")
    connection.commit()
    return found


def _sample_row(table: Table, n: int, snapshot: Snapshot) -> dict:
    row = {column.name: _value(column, n) for column in table.columns if not column.foreign_keys}
    for column in table.columns:
        for key in column.foreign_keys:
            target = key.column
            if target.table.name == table.name:
                row[column.name] = row[target.name]          # a row may point at itself
            else:
                referenced = snapshot[target.table.name]
                row[column.name] = referenced[n % len(referenced)][target.name]
    return row


def _value(column, n: int):
    kind = column.type
    if isinstance(kind, Boolean):
        return n % 2 == 0
    if isinstance(kind, Integer):
        return 1000 + n
    if isinstance(kind, Float):
        return 106.5 + n / 8
    if isinstance(kind, DateTime):
        return datetime(2025, 3, 1, 8, 30, tzinfo=timezone.utc) + timedelta(minutes=n, microseconds=n)
    if isinstance(kind, Date):
        return date(2025, 3, 1) + timedelta(days=n)
    if isinstance(kind, JSON):
        return {"n": n, "note": "两图一表", "departments": ["chengguan", "zhujian"]}
    if isinstance(kind, Text):
        return f"{n} 楼顶正在加盖彩钢房"
    if isinstance(kind, String):
        return f"{n}-{column.name}-吹哨"[: kind.length or None]
    raise TypeError(f"no sample value for {column.table.name}.{column.name} of type {kind!r}")

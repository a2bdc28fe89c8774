"""Core statements built once and reused with parameters: building a statement costs more than running it.

SQLAlchemy caches the compiled form of a statement by its shape, but constructing `update(...).where(...)
.values(...)` anew on every call is most of the cost of a small statement; these are made once per
shape and executed with parameter dicts (one or many)."""
from __future__ import annotations

import functools
from typing import Iterable

from sqlalchemy import Table, bindparam, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Update


@functools.lru_cache(maxsize=None)
def _update_by_key(table: Table, key: str, columns: tuple[str, ...]) -> Update:
    return update(table).where(table.c[key] == bindparam("k_key")).values(
        {column: bindparam(f"v_{column}") for column in columns})


def update_by_key(conn: Connection, table: Table, key: str, rows: Iterable[tuple[object, dict]]) -> None:
    """UPDATE table SET <columns> WHERE <key> = …, for (key value, {column: value}) pairs; one statement
    per set of columns (many rows at once)."""
    shapes: dict[tuple[str, ...], list[dict]] = {}
    for value, changes in rows:
        if not changes:
            continue
        columns = tuple(sorted(changes))
        shapes.setdefault(columns, []).append({"k_key": value, **{f"v_{c}": changes[c] for c in columns}})
    for columns, params in shapes.items():
        conn.execute(_update_by_key(table, key, columns), params)

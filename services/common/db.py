"""Database engines (SQLite or PostgreSQL) and each service's schema (its Alembic revisions, brought to
head); units of work are services/common/uow.py."""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import IntegrityError, ProgrammingError
from sqlalchemy.pool import QueuePool

# The module, not its names: migrate imports this module too (for ensure_database), and a
# `from services.common.migrate import ...` here would find it half loaded.
from services.common import migrate

log = logging.getLogger(__name__)
_engines: dict[str, Engine] = {}


def _green_psycopg2() -> None:
    """psycopg2 blocks the eventlet hub unless told to wait through it."""
    try:
        import eventlet.patcher
        if eventlet.patcher.is_monkey_patched("socket"):
            from psycogreen.eventlet import patch_psycopg
            patch_psycopg()
    except ImportError:  # pragma: no cover - eventlet is always installed with nameko
        pass


def engine_for(url: str) -> Engine:
    """One engine per URL per process."""
    if url in _engines:
        return _engines[url]
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # One connection per process: greenthreads queue for it instead of holding SQLite's
        # write lock across a yield and deadlocking on each other (sqlite3 never yields).
        engine = create_engine(url, poolclass=QueuePool, pool_size=1, max_overflow=0,
                               pool_timeout=60, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
    else:
        _green_psycopg2()
        engine = create_engine(url, pool_size=10, max_overflow=5, pool_pre_ping=True)
    _engines[url] = engine
    return engine


def dispose_all() -> None:
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


def ensure_database(url: str) -> None:
    """Creates the PostgreSQL database named in the URL if it is missing (SQLite creates itself)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                  {"n": parsed.database}).scalar()
            if not exists:
                try:
                    conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
                    log.info("created database %s", parsed.database)
                except (IntegrityError, ProgrammingError):
                    pass    # another process created it between the check and the create
    finally:
        admin.dispose()


_created: set[tuple[str, str]] = set()
_schema_lock = threading.Lock()      # green under eventlet: setups of one container run concurrently


def create_schema(url: str, service: str) -> Engine:
    """Brings the service's database to its newest revision once per process, however many extensions ask.

    The database is created if missing and upgraded from whatever revision it is at (one made by
    `metadata.create_all` before migrations existed is adopted first: services/common/migrate.py).
    Replicas starting at once take turns on the database's migration lock; the later ones find the
    work done."""
    with _schema_lock:
        if (url, service) not in _created:
            migrate.upgrade_to_head(url, service)
            _created.add((url, service))
        return engine_for(url)


def is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"

"""Each service's schema as Alembic revisions: brought to head at start, safe with several replicas at once.

    python -m services.common.migrate upgrade SERVICE|all
    python -m services.common.migrate current SERVICE|all
    python -m services.common.migrate revision -m MESSAGE [--autogenerate] SERVICE|all

One environment (services/common/migrations/env.py) serves every service; each service's revisions
live in services/<service>/migrations/versions/ and its database keeps its own alembic_version.
"""
from __future__ import annotations

import argparse
import fcntl
import logging
import sys
import tempfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from services.common import db
from services.common.settings import database_url

log = logging.getLogger(__name__)

ENVIRONMENT = Path(__file__).resolve().with_name("migrations")
SERVICES_ROOT = Path(__file__).resolve().parents[1]
SERVICES = tuple(sorted(p.parents[1].name for p in SERVICES_ROOT.glob("*/migrations/versions")))


class MigrationError(RuntimeError):
    """A database this module will not touch, with the reason."""


def versions_dir(service: str) -> Path:
    return SERVICES_ROOT / service / "migrations" / "versions"


def alembic_config(service: str, connection: Connection | None = None, autogenerate: bool = False) -> Config:
    """The service's Alembic configuration; env.py runs its revisions on `connection`."""
    if service not in SERVICES:
        raise MigrationError(f"service: unknown service {service!r} (one of {', '.join(SERVICES)})")
    config = Config()
    config.set_main_option("script_location", str(ENVIRONMENT))
    config.set_main_option("version_locations", str(versions_dir(service)))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes.update(service=service, connection=connection, autogenerate=autogenerate)
    return config


def script_directory(service: str) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(service))


def upgrade_to_head(url: str, service: str) -> None:
    """Creates the database if missing and upgrades it to the newest revision.

    Replicas starting at once take turns (PostgreSQL: a session advisory lock; SQLite: a lock on a
    file beside the database); whoever comes second finds the work done. A database made by
    `metadata.create_all` (tables, no alembic_version) is stamped at the revision it matches (the
    first, if it was made before migrations existed) and upgraded from there, never recreated."""
    db.ensure_database(url)
    engine = _engine(url)
    try:
        with _exclusive(engine, url, service) as connection:
            _adopt_unversioned(connection, service)
            command.upgrade(alembic_config(service, connection), "head")
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The revision the database is at; None when it has none (or, for SQLite, no file yet)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
        return None
    engine = _engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def _engine(url: str):
    """An unpooled engine: closing the connection ends the session, and with it the advisory lock."""
    if make_url(url).get_backend_name() == "sqlite":
        return create_engine(url, poolclass=NullPool, connect_args={"timeout": 30})
    return create_engine(url, poolclass=NullPool)


@contextmanager
def _exclusive(engine, url: str, service: str) -> Iterator[Connection]:
    """A connection that only one process at a time holds for this database."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        with engine.connect() as connection:
            key = zlib.crc32(f"chuishao.migrate.{service}".encode())
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            connection.commit()       # the lock belongs to the session, not to this transaction
            yield connection
        return
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{path}.migrate-lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)      # released when the file closes, or the process dies
            with engine.connect() as connection:
                yield connection
        return
    with engine.connect() as connection:          # an in-memory database: no other process sees it
        yield connection


def _adopt_unversioned(connection: Connection, service: str) -> None:
    """Stamps a database made by `metadata.create_all` (tables, no alembic_version) at the revision it matches.

    That is the newest revision whose tables, columns and indexes the database has exactly: the first
    one for a database made before migrations existed. A database matching none is not touched."""
    unversioned = MigrationContext.configure(connection).get_current_revision() is None
    found = _schema_of(connection)
    connection.commit()
    if not unversioned or not found:
        return
    shapes = _schemas_by_revision(service)
    for revision, shape in reversed(shapes):
        if shape == found:
            log.info("%s: tables made without migrations match revision %s: stamping it", service, revision)
            command.stamp(alembic_config(service, connection), revision)
            return
    first_revision_id, first = shapes[0]
    raise MigrationError(
        f"{service}: the database has tables but no alembic_version, and matches no revision "
        f"({_difference(first, found)} against the first, {first_revision_id}); not touching it")


Schema = dict[str, tuple[frozenset, frozenset]]


def _schema_of(connection: Connection) -> Schema:
    """Each table's column names and index names (the shape create_all leaves, whatever the backend)."""
    inspector = inspect(connection)
    shape = {}
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        columns = frozenset(c["name"] for c in inspector.get_columns(table))
        indexes = frozenset(i["name"] for i in inspector.get_indexes(table)
                            if i["name"] and "duplicates_constraint" not in i)
        shape[table] = (columns, indexes)
    return shape


def _schemas_by_revision(service: str) -> list[tuple[str, Schema]]:
    """The shape a database has at every revision, oldest first, read off a scratch in-memory database."""
    revisions = [script.revision for script in reversed(list(script_directory(service).walk_revisions()))]
    engine = create_engine("sqlite://", poolclass=NullPool)
    shapes = []
    try:
        with engine.connect() as connection:
            for revision in revisions:
                command.upgrade(alembic_config(service, connection), revision)
                shapes.append((revision, _schema_of(connection)))
                connection.commit()
    finally:
        engine.dispose()
    return shapes


def _difference(expected: Schema, found: Schema) -> str:
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    changed = sorted(t for t in set(expected) & set(found) if expected[t] != found[t])
    parts = [f"{label} {', '.join(names)}" for label, names in
             (("missing tables", missing), ("other tables", extra), ("different columns or indexes in", changed))
             if names]
    return "; ".join(parts)


def make_revision(service: str, message: str, autogenerate: bool) -> Path | None:
    """Writes the next revision; with autogenerate, what orm.py has that the revisions lack (None if nothing).

    Autogenerate compares orm.py with a scratch SQLite database upgraded to the current head, so the
    result does not depend on the state of any real database."""
    script = script_directory(service)
    rev_id = f"{len(list(script.walk_revisions())) + 1:04d}"
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{scratch}/{service}.db", poolclass=NullPool)
        try:
            with engine.connect() as connection:
                if autogenerate:
                    command.upgrade(alembic_config(service, connection), "head")
                written = command.revision(alembic_config(service, connection, autogenerate), message=message,
                                           autogenerate=autogenerate, rev_id=rev_id)
        finally:
            engine.dispose()
    if not written:
        return None
    made: Script | None = written[0] if isinstance(written, list) else written
    return None if made is None else Path(made.path)


def _targets(name: str) -> tuple[str, ...]:
    if name == "all":
        return SERVICES
    if name not in SERVICES:
        raise MigrationError(f"service: unknown service {name!r} (one of {', '.join(SERVICES)}, or all)")
    return (name,)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.common.migrate",
                                     description="Alembic migrations of each service's own database.")
    verbs = parser.add_subparsers(dest="verb", required=True)
    upgrade = verbs.add_parser("upgrade", help="create the database if missing and upgrade it to head")
    current = verbs.add_parser("current", help="show the revision each database is at, and the head")
    revision = verbs.add_parser("revision", help="write the next revision file")
    revision.add_argument("-m", "--message", required=True, help="what the revision changes")
    revision.add_argument("--autogenerate", action="store_true",
                          help="fill it with what orm.py has and the revisions lack")
    for sub in (upgrade, current, revision):
        sub.add_argument("service", help=f"{', '.join(SERVICES)}, or all")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[migrate] %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    try:
        services = _targets(args.service)
    except MigrationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    status = 0
    for service in services:
        url = database_url(service)
        shown = url.split("@")[-1]
        try:
            print(_run(args, service, url, shown))
        except MigrationError as error:
            print(f"error: {error}", file=sys.stderr)
            status = 1
        except OperationalError as error:
            print(f"error: {service}: database {shown} refused: {error.orig}".rstrip(), file=sys.stderr)
            status = 1
    return status


def _run(args, service: str, url: str, shown: str) -> str:
    if args.verb == "upgrade":
        upgrade_to_head(url, service)
        return f"{service}: at {current_revision(url)} (head) in {shown}"
    if args.verb == "current":
        head = script_directory(service).get_current_head()
        at = current_revision(url)
        return f"{service}: {at or 'no revision'} ({'head' if at == head else f'head is {head}'}) in {shown}"
    path = make_revision(service, args.message, args.autogenerate)
    if path is None:
        return f"{service}: orm.py and the revisions agree; no revision written"
    return f"{service}: wrote {path.relative_to(SERVICES_ROOT.parent)}"


if __name__ == "__main__":
    sys.exit(main())

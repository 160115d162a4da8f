"""One daemon per database.

Every daemon's feeders page the ``accepted`` messages of their channels and send them; nothing
claims a row for one daemon. A second daemon on the same database (started for "high
availability", or a forgotten test instance) would therefore send every message a second time,
and its in-memory rules (frequency windows, lists, approvals) would drift from the first's.
Until several nodes are supported, ``smsgw serve`` holds a lock for its whole life and refuses to
start while another daemon holds it:

* SQLite: ``flock`` on ``<database file>.lock`` beside the database;
* PostgreSQL: a session advisory lock keyed by the schema, on a connection of its own.

Both go away with the process, ``kill -9`` included, so a restart never waits for a stale lock.
The CLI's other commands (keys, batches, ``db upgrade``) take no lock: they may run beside the
daemon.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio
from sqlalchemy import Connection, create_engine, make_url, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from smsgw.store.engine import masked
from smsgw.store.errors import DatabaseUnavailable, StoreError

#: first key of the PostgreSQL advisory lock ("smsg"); the second is the schema's hash
_PG_LOCK_CLASS = 0x736D7367


class AlreadyRunning(StoreError):
    """Another smsgw daemon holds the database."""


@asynccontextmanager
async def exclusive(url: str) -> AsyncIterator[None]:
    """Hold the daemon lock of ``url`` while the block runs; ``AlreadyRunning`` if another has it."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        conn = await trio.to_thread.run_sync(_pg_lock, url)
        try:
            yield
        finally:
            await trio.to_thread.run_sync(_pg_release, conn)
        return
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        yield  # nothing another process could share
        return
    fd = _file_lock(database + ".lock", masked(url))
    try:
        yield
    finally:
        os.close(fd)  # releases the flock


def _file_lock(path: str, shown: str) -> int:
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)  # as opening the database would
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise DatabaseUnavailable(shown, f"cannot open its daemon lock file {path}: {exc.strerror} (the daemon's "
                                         "user must be able to create and write files in the database's "
                                         "directory, as SQLite needs for its -wal file)") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AlreadyRunning(
            f"another smsgw daemon is using {shown} (it holds {path}); one daemon per database: "
            "stop the other one first"
        ) from None
    return fd


def _pg_lock(url: str) -> Connection:
    engine = create_engine(url, poolclass=NullPool)
    try:
        conn = engine.connect()
        got = conn.execute(text("SELECT pg_try_advisory_lock(:cls, hashtext(coalesce(current_schema(), '')))"),
                           {"cls": _PG_LOCK_CLASS}).scalar()
        schema = conn.execute(text("SELECT current_schema()")).scalar()
        conn.commit()  # the lock is the session's: do not sit idle in a transaction
    except SQLAlchemyError as exc:
        engine.dispose()
        raise DatabaseUnavailable(masked(url), f"cannot take the daemon lock: {exc}") from exc
    if not got:
        conn.close()
        engine.dispose()
        raise AlreadyRunning(
            f"another smsgw daemon is using {masked(url)} (schema {schema!r}: it holds the advisory lock "
            f"({_PG_LOCK_CLASS}, hashtext({schema!r}))); one daemon per database: stop the other one first"
        )
    return conn


def _pg_release(conn: Connection) -> None:
    engine = conn.engine
    try:
        conn.close()  # the session ends: its advisory lock with it
    finally:
        engine.dispose()

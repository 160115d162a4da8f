"""Engines for the two supported backends, configured for durability.

SQLite: set up by sqlite.py (WAL, ``synchronous=FULL``, a busy timeout, explicit ``BEGIN``).
PostgreSQL: psycopg 3, pre-ping so pooled reader connections survive a server restart.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from smsgw.store.errors import DatabaseUnavailable, StoreError, UnsupportedDatabaseURL, describe
from smsgw.store.sqlite import configure

PG_CONNECT_TIMEOUT_S = 10
# Set on a connection's execution options to take the SQLite write lock at BEGIN, so the
# busy timeout applies there instead of failing a read-then-write transaction midway.
BEGIN_IMMEDIATE = "smsgw_begin_immediate"

SUPPORTED = "sqlite:///PATH or postgresql+psycopg://USER[:PASSWORD]@HOST[:PORT]/DB"


def masked(url: str | URL) -> str:
    """The URL as safe to log: the password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def make_engine(url: str, *, pool_size: int = 9) -> Engine:
    """An engine for ``url``, checked by opening one connection (so this blocks: call it
    before ``trio.run`` or in a worker thread). ``pool_size`` should cover the reader
    concurrency plus the writer's connection."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise UnsupportedDatabaseURL(f"malformed database URL ({exc}); expected {SUPPORTED}") from exc
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        engine = _sqlite_engine(parsed, pool_size)
    elif parsed.drivername == "postgresql+psycopg":
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
        engine = create_engine(parsed, pool_size=pool_size, pool_pre_ping=True, connect_args=connect_args)
    else:
        raise UnsupportedDatabaseURL(f"unsupported database URL {masked(parsed)}; expected {SUPPORTED}")
    try:
        with engine.connect():
            pass
    except (SQLAlchemyError, StoreError) as exc:
        engine.dispose()
        raise DatabaseUnavailable(masked(parsed), describe(exc)) from exc
    return engine


def _sqlite_engine(url: URL, pool_size: int) -> Engine:
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise UnsupportedDatabaseURL(
            f"{masked(url)}: SQLite needs a file path (the writer and the readers share it "
            f"through separate connections); expected {SUPPORTED}"
        )
    try:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseUnavailable(masked(url), f"cannot create its directory: {exc}") from exc
    engine = create_engine(url, pool_size=pool_size, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    refused = configure(dbapi_connection)
    if refused:
        raise StoreError(refused)


def _sqlite_on_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(BEGIN_IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

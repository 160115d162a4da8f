"""Reads in worker threads on pooled connections, a bounded number at a time.

SQLite in WAL mode (and PostgreSQL) let these run alongside the writer's transaction, each
seeing the last committed state. The bound keeps a burst of API reads from exhausting the
connection pool or the thread cache.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, TypeVarTuple, Unpack

import trio
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from smsgw.store.errors import ReadFailed, describe

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class Readers:
    def __init__(self, engine: Engine, *, concurrency: int = 8) -> None:
        self._engine = engine
        self._limiter = trio.CapacityLimiter(concurrency)

    async def read(self, fn: Callable[[Connection, Unpack[Ts]], T], *args: *Ts) -> T:
        """``fn(connection, *args)`` in a worker thread, inside one read-only transaction (one
        consistent snapshot for all its statements) that is rolled back afterwards. Database errors become
        ``ReadFailed``; ``fn``'s own exceptions pass through."""
        return await trio.to_thread.run_sync(self._call, fn, args, limiter=self._limiter)

    def _call(self, fn: Callable[[Connection, Unpack[Ts]], T], args: tuple[*Ts]) -> T:
        try:
            with self._engine.connect() as conn:
                if conn.dialect.name == "postgresql":
                    # READ COMMITTED would give each statement its own snapshot; a read-only
                    # REPEATABLE READ transaction never fails with a serialization error.
                    conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
                return fn(conn, *args)
        except SQLAlchemyError as exc:
            raise ReadFailed(f"read failed: {describe(exc)}") from exc

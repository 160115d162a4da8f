"""The daemon's handle on the database: one engine, the writer, the readers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar, TypeVarTuple, Unpack

import trio
from sqlalchemy import Connection, Engine

from smsgw.store.engine import make_engine
from smsgw.store.migrate import check_up_to_date
from smsgw.store.readers import Readers
from smsgw.store.writer import Op, Submitted, Writer

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True, slots=True)
class Store:
    engine: Engine
    writer: Writer
    readers: Readers

    async def execute(self, ops: Sequence[Op]) -> None:
        await self.writer.execute(ops)

    def submit(self, ops: Sequence[Op]) -> Submitted:
        return self.writer.submit(ops)

    def execute_nowait(self, ops: Sequence[Op]) -> None:
        self.writer.execute_nowait(ops)

    async def read(self, fn: Callable[[Connection, Unpack[Ts]], T], *args: *Ts) -> T:
        return await self.readers.read(fn, *args)


@asynccontextmanager
async def open_store(
    url: str, *, read_concurrency: int = 8, max_batch_ops: int = 5000, writer_process: bool = False
) -> AsyncIterator[Store]:
    """Open the database, refuse a schema that is not at head (``SchemaOutOfDate``), and
    on exit commit every queued write before disposing of the connections. With
    ``writer_process`` the writes run in a child process (writer_process.py)."""
    engine = await trio.to_thread.run_sync(lambda: make_engine(url, pool_size=read_concurrency + 1))
    try:
        await trio.to_thread.run_sync(check_up_to_date, engine)
        async with Writer(engine, max_batch_ops=max_batch_ops, process=writer_process) as writer:
            yield Store(engine, writer, Readers(engine, concurrency=read_concurrency))
    finally:
        engine.dispose()

"""Readers run beside the writer, see only committed whole requests, and are bounded."""

from __future__ import annotations

import threading
import time

import pytest
import trio
from sqlalchemy import Connection, Engine, text

from smsgw.store.errors import ReadFailed
from smsgw.store.readers import Readers
from smsgw.store.schema import segments
from smsgw.store.store import open_store
from smsgw.store.writer import Writer

from .helpers import count, message, segment, statuses, write_lock


async def test_read_passes_arguments_and_returns_the_result(engine: Engine) -> None:
    def lookup(conn: Connection, table: str, bias: int) -> int:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() + bias

    assert await Readers(engine).read(lookup, "messages", 7) == 7


async def test_reads_proceed_while_a_write_transaction_is_open(engine: Engine) -> None:
    readers = Readers(engine)
    async with Writer(engine) as writer:
        await writer.execute([message(1)])
    with engine.connect() as conn:
        conn.execute(text("SELECT 1")).close()  # make the pool hand out a second connection below
        with write_lock(engine):
            with trio.fail_after(2):
                assert await readers.read(count) == 1


async def test_concurrent_readers_see_only_whole_committed_requests(engine: Engine) -> None:
    """Each request inserts 5 messages and their 5 segments; a reader must never see part."""
    readers = Readers(engine, concurrency=4)
    seen: list[tuple[int, int]] = []

    def snapshot(conn: Connection) -> tuple[int, int]:
        return count(conn), count(conn, segments)

    async def read_until(done: trio.Event) -> None:
        while not done.is_set():
            seen.append(await readers.read(snapshot))

    async with Writer(engine) as writer:
        done = trio.Event()
        async with trio.open_nursery() as nursery:
            for _ in range(4):
                nursery.start_soon(read_until, done)
            for request in range(200):
                ids = range(request * 5 + 1, request * 5 + 6)
                await writer.execute([*map(message, ids), *map(segment, ids)])
            done.set()
    assert all(messages == segments and messages % 5 == 0 for messages, segments in seen)
    assert any(0 < messages < 1000 for messages, _ in seen), "no read ran during the writes"


async def test_concurrency_is_bounded(engine: Engine) -> None:
    readers = Readers(engine, concurrency=2)
    lock = threading.Lock()
    active = peak = 0

    def slow(_conn: Connection) -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.02)
        with lock:
            active -= 1

    async with trio.open_nursery() as nursery:
        for _ in range(8):
            nursery.start_soon(readers.read, slow)
    assert peak == 2


async def test_database_errors_are_typed_and_reader_errors_pass_through(engine: Engine) -> None:
    readers = Readers(engine)

    def broken(conn: Connection) -> None:
        conn.execute(text("SELECT * FROM no_such_table"))

    def refuses(_conn: Connection) -> None:
        raise LookupError("not found")

    with pytest.raises(ReadFailed, match="no_such_table"):
        await readers.read(broken)
    with pytest.raises(LookupError):
        await readers.read(refuses)


async def test_open_store_writes_and_reads(db_url: str) -> None:
    async with open_store(db_url) as store:
        await store.execute([message(1)])
        store.execute_nowait([message(2)])
    async with open_store(db_url) as store:
        assert await store.read(statuses) == {1: "accepted", 2: "accepted"}

"""The writer process (writer_process.py, writer_child.py): what happens when it dies, cannot start, or is
handed what it cannot load. The writer's own behaviour in process mode is covered by
test_writer.py's ``process`` variants."""

from __future__ import annotations

import os
import pickle
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
import trio
from sqlalchemy import Column, Engine, Integer, MetaData, Table, insert, make_url, update

from smsgw.store import sqlite, writer_child, writer_process
from smsgw.store.errors import CommitOutcomeUnknown, DatabaseUnavailable, WriteFailed, unique_violation
from smsgw.store.executor import plan
from smsgw.store.plans import Layout
from smsgw.store.schema import api_keys, messages
from smsgw.store.writer import Writer
from smsgw.store.writer_process import WriterProcess

from .helpers import message, segment, set_status, statuses, wait_taken, write_lock, writer_pids


class Unloadable:
    """Pickles by reference to this test module, which the child (``python -P``) cannot import."""


def wait_dead(pid: int) -> None:
    """Until ``pid`` is a zombie: dead, not yet reaped by its parent (this process)."""
    deadline = time.monotonic() + 10
    while True:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rpartition(")")[2].split()[0] == "Z":
                return
        assert time.monotonic() < deadline
        time.sleep(0.01)


async def test_a_writer_process_killed_while_idle_is_replaced_and_nothing_is_lost(engine: Engine) -> None:
    async with Writer(engine, process=True) as writer:
        await writer.execute([message(1)])
        [pid] = writer_pids()
        os.kill(pid, signal.SIGKILL)
        wait_dead(pid)
        with structlog.testing.capture_logs() as logs:
            await writer.execute([message(2)])  # sent to a new child: the dead one never saw it
        assert writer_pids() not in ([], [pid])
    assert "store.writer_process_lost" in [entry["event"] for entry in logs]
    with engine.connect() as conn:
        assert set(statuses(conn)) == {1, 2}
    assert writer_pids() == []  # closing the writer ends its process


async def test_the_writer_process_runs_without_sqlalchemy(engine: Engine) -> None:
    """Its plans arrive as plain values: unpickling one SQLAlchemy object (a column name is a
    ``quoted_name``) would import SQLAlchemy into the child, ~22 MB. Its compiled modules
    would then be mapped into the process. Rows the daemon makes itself (Boolean's processor:
    on PostgreSQL dicts keyed by the parameter names) are plain values too."""
    api_key = {"id": "k", "secret": "s", "name": "n", "created_at": 1.0, "is_admin": True}
    async with Writer(engine, process=True) as writer:
        await writer.execute([message(1), segment(1), set_status(1, "submitted"), (insert(api_keys), api_key)])
        [pid] = writer_pids()
        with open(f"/proc/{pid}/maps") as f:
            assert "sqlalchemy" not in f.read()


async def test_a_writer_process_killed_in_a_transaction_leaves_its_outcome_unknown(engine: Engine) -> None:
    async with Writer(engine, process=True) as writer:
        await writer.execute([message(1)])
        [pid] = writer_pids()
        outcome: list[BaseException] = []

        async def doomed() -> None:
            try:
                await writer.execute([message(2)])
            except CommitOutcomeUnknown as exc:
                outcome.append(exc)

        with write_lock(engine):  # the child waits for the lock inside the transaction
            async with trio.open_nursery() as nursery:
                nursery.start_soon(doomed)
                await trio.sleep(0.05)
                await wait_taken(writer)
                await trio.sleep(0.3)
                os.kill(pid, signal.SIGKILL)
        assert outcome and "writer process died" in str(outcome[0])
        await writer.execute([message(3)])
    with engine.connect() as conn:
        assert set(statuses(conn)) == {1, 3}


async def test_a_payload_the_child_cannot_load_fails_alone(engine: Engine) -> None:
    """Its statement was new: the child still takes it, so later writes of it go through."""
    async with Writer(engine, process=True) as writer:
        statement, params = message(1)
        with pytest.raises(WriteFailed):
            await writer.execute([(statement, {**params, "text": Unloadable()})])
        await writer.execute([message(2)])
        with pytest.raises(WriteFailed):  # not picklable at all: run on the writer thread, its driver refuses it
            await writer.execute([(statement, {**message(3)[1], "text": lambda: "x"})])
        await writer.execute([message(4)])
    with engine.connect() as conn:
        assert set(statuses(conn)) == {2, 4}


def test_a_writer_process_that_cannot_open_the_database_fails_start() -> None:
    url = "sqlite:////proc/no-such-dir/smsgw.db"

    class Unopenable:  # only the URL reaches the child
        def __init__(self) -> None:
            self.url = make_url(url)

    async def main() -> None:
        with pytest.raises(DatabaseUnavailable, match=r"store writer process: .*no-such-dir"):
            await Writer(Unopenable(), process=True).start()  # type: ignore[arg-type]

    trio.run(main)
    assert writer_pids() == []


def test_a_frame_that_cannot_be_made_leaves_the_plan_tables_as_they_were(engine: Engine,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon's table of the child's plan ids is full, so the next frame resets the
    child's; that frame fails before it is sent (a row the daemon makes itself is refused):
    the frame after it must still carry the reset, or the child's table grows past the limit."""
    monkeypatch.setattr(writer_process, "PLAN_CACHE_LIMIT", 2)
    process = WriterProcess(engine)
    process.spawn()
    with process.running() as run:
        for status in ("a", "b"):
            run([(update(messages).where(messages.c.id == 0).values(status=status), {})])
        not_a_boolean = {"id": "k", "secret": "s", "name": "n", "created_at": 1.0, "is_admin": "yes"}
        with pytest.raises(TypeError):  # Boolean's bind processor, run in the daemon (the child lacks it)
            run([(insert(api_keys), not_a_boolean)])
        sent: list[bytes] = []
        outbox = process._outbox
        assert outbox is not None
        send_bytes = outbox.send_bytes
        monkeypatch.setattr(outbox, "send_bytes", lambda frame: (sent.append(frame), send_bytes(frame)))
        run([message(1)])
        run([message(2)])
    [(_, first_reset, *_), (_, second_reset, *_)] = [pickle.loads(frame) for frame in sent]
    assert (first_reset, second_reset) == (True, False)
    with engine.connect() as conn:
        assert set(statuses(conn)) == {1, 2}


@pytest.fixture
def child_db(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[writer_child._Database]:
    """The writer process's database end, run here (its SQLite paths: the busy timeout, a
    failed COMMIT), with a busy timeout of 0.2 s."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    monkeypatch.setattr(sqlite, "SQLITE_BUSY_TIMEOUT_MS", 200)
    database = writer_child._Database(*writer_process._connect_args(engine.url))
    database.open()
    yield database
    database.close()


def child_plans(engine: Engine, *ops: Any) -> tuple[dict[int, Layout], bytes]:
    """The plans and payload of a frame of ``ops`` (one run each), as the child gets them."""
    plans, payload = {}, []
    for pid, (statement, params) in enumerate(ops):
        found = plan(statement, tuple(params), engine.dialect)
        assert found is not None
        wire = writer_process._wire(found, tuple(params))
        assert wire is not None
        plans[pid] = writer_child._plan(pickle.loads(pickle.dumps(wire)))
        payload.append((pid, False, [tuple(params.values())]))
    return plans, pickle.dumps(payload)


def test_the_child_waits_out_its_busy_timeout_then_fails_and_goes_on(engine: Engine,
                                                                    child_db: writer_child._Database) -> None:
    with write_lock(engine):
        started = time.monotonic()
        verdict = writer_child._verdict(child_db, *child_plans(engine, message(1)))
        assert 0.15 < time.monotonic() - started < 5
    assert verdict == ("failed", "write rolled back: database is locked")
    assert writer_child._verdict(child_db, *child_plans(engine, message(2)))[0] == "ok"
    with engine.connect() as conn:
        assert set(statuses(conn)) == {2}


def test_the_child_rolls_back_after_a_failed_commit_and_goes_on(engine: Engine,
                                                               child_db: writer_child._Database) -> None:
    """SQLite keeps the transaction open when COMMIT fails on a deferred foreign key: without
    the ROLLBACK the next BEGIN IMMEDIATE would fail."""
    conn = child_db._conn
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    conn.execute("CREATE TABLE child (id INTEGER PRIMARY KEY, "
                 "parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)")
    child = Table("child", MetaData(), Column("id", Integer, primary_key=True), Column("parent", Integer))
    kind, _seconds, text = writer_child._verdict(child_db, *child_plans(engine, message(1),
                                                                       (insert(child), {"id": 1, "parent": 42})))
    assert (kind, text) == ("commit_failed", "FOREIGN KEY constraint failed")
    assert not conn.in_transaction
    assert writer_child._verdict(child_db, *child_plans(engine, message(2)))[0] == "ok"
    with engine.connect() as conn:
        assert set(statuses(conn)) == {2}


def test_the_child_reports_unique_violations_by_constraint(engine: Engine, child_db: writer_child._Database) -> None:
    assert writer_child._verdict(child_db, *child_plans(engine, message(1, client_ref="r")))[0] == "ok"
    for op, constraint in [(message(1), "pk_messages"), (message(2, client_ref="r"), "uq_messages_key_id_client_ref"),
                           (segment(3), "pk_segments")]:
        kind, *rest = writer_child._verdict(child_db, *child_plans(engine, segment(3), op))
        assert kind == "unique"
        assert unique_violation(*rest).constraint == constraint
        assert not child_db._conn.in_transaction

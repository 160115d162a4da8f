"""The group-commit writer: ordering, executemany grouping, failure isolation, draining."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
import structlog
import trio
import trio.testing
from hypothesis import HealthCheck, example, given, settings
from hypothesis import event as note_event
from hypothesis import strategies as st
from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    PickleType,
    Table,
    bindparam,
    case,
    event,
    insert,
    select,
    text,
    update,
)

from smsgw import lists, queries
from smsgw.store import executor, sqlite, writer_process
from smsgw.store.engine import make_engine
from smsgw.store.errors import CommitOutcomeUnknown, UniqueViolation, WriteFailed, WriterClosed
from smsgw.store.executor import Op
from smsgw.store.schema import api_keys, messages, metadata, mo_parts, segments
from smsgw.store.writer import NEW_ROWS, Writer

from .helpers import (
    INSERT_MESSAGE,
    INSERT_SEGMENT,
    count,
    message,
    segment,
    set_status,
    statuses,
    wait_taken,
    write_lock,
    writer_pids,
)


@pytest.fixture(params=[False, True], ids=["thread", "process"])
def process(request: pytest.FixtureRequest) -> bool:
    """Where the transactions run: the writer thread, or the writer process (writer_process.py)."""
    return bool(request.param)


_DML = re.compile(r"^(INSERT) INTO (\w+)|^(UPDATE) (\w+)")


def record_statements(engine: Engine) -> list[tuple[str, int]]:
    """(DML kind and table, number of parameter sets) of every INSERT and UPDATE the driver
    runs (the writer sends pre-compiled SQL, so this looks at the cursor, not the clause)."""
    calls: list[tuple[str, int]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
        if match := _DML.match(statement):
            kind, table = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
            calls.append((f"{kind.lower()} {table}", len(parameters) if many else 1))

    return calls


async def test_execute_returns_after_commit_visible_to_a_fresh_connection(engine: Engine, db_url: str,
                                                                          process: bool) -> None:
    async with Writer(engine, process=process) as writer:
        await writer.execute([message(1), segment(1)])
        fresh = make_engine(db_url)
        try:
            with fresh.connect() as conn:
                assert count(conn) == 1
                assert count(conn, segments) == 1
        finally:
            fresh.dispose()
    assert writer.stats.batches == writer.stats.requests == 1
    assert writer.stats.ops == 2
    assert writer.stats.commit_seconds > 0


async def test_consecutive_ops_of_one_statement_run_as_one_executemany_in_order(engine: Engine) -> None:
    calls = record_statements(engine)
    async with Writer(engine) as writer:
        await writer.execute([
            message(1), message(2), message(3),
            set_status(1, "b"), set_status(2, "b"),
            message(4),
            set_status(1, "c"), set_status(4, "d"),
        ])
    assert calls == [("insert messages", 3), ("update messages", 2), ("insert messages", 1), ("update messages", 2)]
    with engine.connect() as conn:
        assert statuses(conn) == {1: "c", 2: "b", 3: "accepted", 4: "d"}


async def test_ops_with_different_parameter_names_are_not_grouped(engine: Engine) -> None:
    with_ref = message(2, client_ref="r")
    without_ref = message(1)
    del without_ref[1]["client_ref"]  # type: ignore[attr-defined]
    calls = record_statements(engine)
    async with Writer(engine) as writer:
        await writer.execute([without_ref, with_ref])
    assert calls == [("insert messages", 1), ("insert messages", 1)]


async def test_consecutive_requests_of_new_rows_are_grouped_by_statement_across_requests(engine: Engine) -> None:
    """Requests made only of NEW_ROWS inserts share one executemany per statement; a request
    with anything else ends the stretch and keeps its place."""
    new_message = INSERT_MESSAGE.execution_options(**{NEW_ROWS: True})
    new_segment = INSERT_SEGMENT.execution_options(**{NEW_ROWS: True})

    def accept(id: int) -> list[Any]:
        return [(new_message, message(id)[1]), (new_segment, segment(id)[1])]

    calls = record_statements(engine)
    async with Writer(engine) as writer:
        with write_lock(engine):
            writer.execute_nowait([message(100)])
            await wait_taken(writer)
            for id in (1, 2, 3):
                writer.execute_nowait(accept(id))
            writer.execute_nowait([set_status(2, "sent")])
            for id in (4, 5):
                writer.execute_nowait(accept(id))
        await wait_taken(writer)
        await writer.execute([message(200)])
    assert writer.stats.batches == 3
    assert calls[1:-1] == [("insert messages", 3), ("insert segments", 3), ("update messages", 1),
                           ("insert messages", 2), ("insert segments", 2)]
    with engine.connect() as conn:
        assert statuses(conn) == {100: "accepted", 2: "sent", 200: "accepted"} | dict.fromkeys((1, 3, 4, 5), "accepted")
        assert count(conn, segments) == 5


async def test_many_callers_share_one_commit_and_keep_their_order(engine: Engine) -> None:
    """While the first batch waits for the write lock, every later caller queues; they all
    go in the second batch, in queue order: an update never overtakes the insert before it."""
    calls = record_statements(engine)
    async with Writer(engine) as writer, trio.open_nursery() as nursery:
        with write_lock(engine):
            writer.execute_nowait([message(100)])
            await wait_taken(writer)
            for id in range(1, 51):
                nursery.start_soon(writer.execute, [message(id), segment(id)])
                await trio.testing.wait_all_tasks_blocked()
                writer.execute_nowait([set_status(id, "sent")])
        await wait_taken(writer)
    assert writer.stats.batches == 2
    assert writer.stats.requests == 101
    assert len(calls) == 1 + 3 * 50
    with engine.connect() as conn:
        assert statuses(conn) == {100: "accepted"} | dict.fromkeys(range(1, 51), "sent")


async def test_a_failing_request_fails_alone(engine: Engine, process: bool) -> None:
    outcomes: dict[int, BaseException | None] = {}

    async def call(id: int, client_ref: str) -> None:
        try:
            await writer.execute([message(id, client_ref=client_ref), segment(id)])
            outcomes[id] = None
        except WriteFailed as exc:
            outcomes[id] = exc

    async with Writer(engine, process=process) as writer:
        await writer.execute([message(1, client_ref="dup")])
        async with trio.open_nursery() as nursery:
            with write_lock(engine):
                writer.execute_nowait([message(2)])
                await wait_taken(writer)
                for id in range(10, 20):
                    nursery.start_soon(call, id, "dup" if id == 15 else f"ref{id}")
                await trio.testing.wait_all_tasks_blocked()
    failure = outcomes.pop(15)
    assert isinstance(failure, UniqueViolation)
    assert failure.constraint == "uq_messages_key_id_client_ref"
    assert outcomes == dict.fromkeys([*range(10, 15), *range(16, 20)])
    assert writer.stats.retried_batches == 1
    assert writer.stats.failed_requests == 1
    with engine.connect() as conn:
        assert set(statuses(conn)) == {1, 2, *range(10, 15), *range(16, 20)}
        seg_ids = set(conn.execute(select(segments.c.message_id)).scalars())
        assert seg_ids == {*range(10, 15), *range(16, 20)}  # the failing request's segment too


async def test_duplicate_primary_key_names_the_primary_key(engine: Engine, process: bool) -> None:
    async with Writer(engine, process=process) as writer:
        await writer.execute([message(1)])
        with pytest.raises(UniqueViolation) as caught:
            await writer.execute([message(1)])
    assert caught.value.constraint == "pk_messages"


async def test_a_malformed_op_fails_its_caller_and_the_writer_goes_on(engine: Engine, process: bool) -> None:
    async with Writer(engine, process=process) as writer:
        with pytest.raises(WriteFailed):
            await writer.execute([(message(1)[0], {"id": 1})])  # NOT NULL columns missing
        await writer.execute([message(2)])
    with engine.connect() as conn:
        assert set(statuses(conn)) == {2}


async def test_execute_nowait_failures_are_logged_and_counted(engine: Engine, process: bool) -> None:
    async with Writer(engine, process=process) as writer:
        await writer.execute([message(1)])
        with structlog.testing.capture_logs() as logs:
            writer.execute_nowait([message(1)])
            await writer.execute([message(2)])
    assert writer.stats.failed_nowait == 1
    assert [entry["event"] for entry in logs] == ["store.write_failed"]
    assert "pk_messages" in logs[0]["error"]


async def test_a_failed_commit_is_reported_as_unknown_outcome_and_not_retried(engine: Engine) -> None:
    """A deferred foreign key fails at COMMIT itself, the case where a real outcome can be
    unknown (a connection lost mid-COMMIT); the writer must not retry, and must go on."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
        conn.execute(text(
            "CREATE TABLE child (id INTEGER PRIMARY KEY, "
            "parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
        ))
    if engine.dialect.name == "sqlite":
        engine.dispose()
        event.listen(engine, "connect", lambda dbapi, _record: dbapi.execute("PRAGMA foreign_keys=ON"))
    orphan = text("INSERT INTO child (id, parent) VALUES (1, 42)")
    async with Writer(engine) as writer:
        await writer.execute([message(1)])
        writer.execute_nowait([message(2)])
        with pytest.raises(CommitOutcomeUnknown, match=r"(?i)foreign key"):
            await writer.execute([message(3), (orphan, {})])
        await writer.execute([message(4)])
    assert writer.stats.retried_batches == 0
    with engine.connect() as conn:
        assert set(statuses(conn)) == {1, 4} or set(statuses(conn)) == {1, 2, 4}


async def test_batches_respect_max_batch_ops_but_never_split_a_request(engine: Engine, process: bool) -> None:
    async with Writer(engine, max_batch_ops=10, process=process) as writer:
        with write_lock(engine):
            writer.execute_nowait([message(1000)])
            await wait_taken(writer)
            for id in range(1, 31):
                writer.execute_nowait([message(id)])
            writer.execute_nowait([message(id) for id in range(100, 125)])  # 25 ops > 10
    # 1 + three batches of 10 single-op requests + the 25-op request alone
    assert writer.stats.batches == 5
    with engine.connect() as conn:
        assert count(conn) == 56


async def test_aclose_commits_everything_queued_then_refuses_work(engine: Engine, process: bool) -> None:
    async with Writer(engine, process=process) as writer:
        for id in range(1, 2001):
            writer.execute_nowait([message(id)])
    with engine.connect() as conn:
        assert count(conn) == 2000
    with pytest.raises(WriterClosed):
        writer.execute_nowait([message(1)])
    with pytest.raises(WriterClosed):
        await writer.execute([message(1)])


async def test_statements_built_per_call_past_the_plan_cache_limit(engine: Engine, process: bool,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A statement built per call (api_content.py's updates) is planned and cached like any
    other; a transaction whose new statement finds the cache full empties it, and the
    statements planned before it in the same transaction must still run."""
    for module in (executor, writer_process):
        monkeypatch.setattr(module, "PLAN_CACHE_LIMIT", 4)
    async with Writer(engine, process=process) as writer:
        await writer.execute([message(0)])
        for id in range(1, 13):
            per_call = update(messages).where(messages.c.id == 0).values(status=f"s{id}")
            await writer.execute([message(id), (per_call, {})])
    with engine.connect() as conn:
        assert statuses(conn) == {0: "s12"} | dict.fromkeys(range(1, 13), "accepted")


MO_PART = {"channel": "cmcc", "from_number": "1", "to_number": "2", "reference": 7, "total": 2, "idx": 0,
           "payload": b"\x00ab", "coding": 8, "received_at": 1.5}


async def test_large_binary_values_whether_bound_literal_or_made_by_the_daemon(engine: Engine, process: bool) -> None:
    """LargeBinary's bind processor on SQLite makes a memoryview (sqlite3.Binary), which does not
    pickle: a literal in the statement (a plan's ``fixed``) and a run whose driver rows the daemon
    makes (another parameter needs a processor the child lacks, here Boolean) must still reach
    the writer process."""
    by_flag = (update(mo_parts).where(mo_parts.c.idx == bindparam("b_idx"))
               .values(payload=bindparam("b_payload"),
                       coding=case((bindparam("b_flag", type_=Boolean), 1), else_=0)))
    async with Writer(engine, process=process) as writer:
        await writer.execute([(insert(mo_parts), MO_PART)])
        await writer.execute([(insert(mo_parts).values(payload=b"lit\xff"), {**MO_PART, "idx": 1})])
        await writer.execute([(update(mo_parts).where(mo_parts.c.idx == 0).values(payload=b"\xfe"), {})])
        await writer.execute([(by_flag, {"b_idx": 1, "b_payload": bytearray(b"ba"), "b_flag": True})])
    with engine.connect() as conn:
        assert conn.execute(select(mo_parts.c.idx, mo_parts.c.payload, mo_parts.c.coding)
                            .order_by(mo_parts.c.idx)).all() == [(0, b"\xfe", 8), (1, b"ba", 1)]


async def test_memoryview_values_are_written_as_their_bytes(engine: Engine, process: bool) -> None:
    """Both drivers take a memoryview for a BLOB / bytea; it does not pickle, so the writer
    process gets its bytes."""
    async with Writer(engine, process=process) as writer:
        await writer.execute([(insert(mo_parts), {**MO_PART, "payload": memoryview(b"mv")})])
    with engine.connect() as conn:
        assert conn.execute(select(mo_parts.c.payload)).scalars().all() == [b"mv"]


async def test_a_variant_of_large_binary_keeps_its_own_processor(engine: Engine, process: bool) -> None:
    """The column is LargeBinary, but for this dialect a PickleType: its values are pickled,
    not taken as buffers (the writer process has no processor for it: the daemon makes the rows)."""
    pickled = Table("pickled", MetaData(), Column("id", Integer, primary_key=True),
                    Column("value", LargeBinary().with_variant(PickleType(), engine.dialect.name)))
    pickled.create(engine)
    async with Writer(engine, process=process) as writer:
        await writer.execute([(insert(pickled), {"id": 1, "value": {"a": [1, 2]}}),
                              (insert(pickled), {"id": 2, "value": b"raw"})])
    with engine.connect() as conn:
        assert conn.execute(select(pickled.c.value).order_by(pickled.c.id)).scalars().all() == [{"a": [1, 2]}, b"raw"]


@pytest.mark.parametrize("payload", [3, [1, 2], "text"], ids=["int", "list", "str"])
async def test_a_large_binary_value_that_is_no_buffer_is_refused(engine: Engine, process: bool, payload: Any) -> None:
    """Both drivers refuse it (sqlite3.Binary is memoryview; psycopg's Binary dumps buffers
    only): the writer process must not make ``bytes(3)``, three NULs, of it."""
    async with Writer(engine, process=process) as writer:
        with pytest.raises(WriteFailed):
            await writer.execute([(insert(mo_parts), {**MO_PART, "payload": payload})])
        await writer.execute([(insert(mo_parts), {**MO_PART, "payload": bytearray(b"ok")})])
    with engine.connect() as conn:
        assert conn.execute(select(mo_parts.c.payload)).scalars().all() == [b"ok"]


async def test_the_writer_thread_waits_out_its_busy_timeout_then_fails_and_goes_on(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process holds SQLite's write lock longer than the busy timeout: BEGIN IMMEDIATE
    fails, the write with it, and the connection begins the next one. (The writer process's
    end of this: test_writer_process.py, in-process.)"""
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite only")
    monkeypatch.setattr(sqlite, "SQLITE_BUSY_TIMEOUT_MS", 200)
    engine = make_engine(db_url)
    try:
        async with Writer(engine) as writer:
            await writer.execute([message(1)])
            with write_lock(engine), pytest.raises(WriteFailed, match="database is locked"):
                await writer.execute([message(2)])
            await writer.execute([message(3)])
        with engine.connect() as conn:
            assert set(statuses(conn)) == {1, 3}
    finally:
        engine.dispose()


@pytest.fixture
def pg_engine(engine: Engine) -> Engine:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: a SQLite connection cannot be lost")
    return engine


async def test_the_writer_reconnects_after_losing_its_postgresql_connection(pg_engine: Engine, process: bool) -> None:
    engine = pg_engine
    async with Writer(engine, process=process) as writer:
        await writer.execute([message(1)])
        with engine.begin() as conn:
            terminated = conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle'"
            )).scalars().all()
        assert terminated
        await writer.execute([message(2)])
    with engine.connect() as conn:
        assert set(statuses(conn)) == {1, 2}


def terminate(engine: Engine, where: str) -> list[int]:
    """pg_terminate_backend of this database's other backends matching ``where``; their pids."""
    with engine.begin() as conn:
        return list(conn.execute(text(
            "SELECT pid FROM pg_stat_activity, pg_terminate_backend(pid) "
            f"WHERE datname = current_database() AND pid <> pg_backend_pid() AND {where}"
        )).scalars())


def waiting_for_a_lock(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )).scalars())


#: an expanding IN: only SQLAlchemy's execution runs it (in process mode, on the writer thread)
SET_STATUSES = update(messages).where(messages.c.id.in_(bindparam("ids", expanding=True))).values(
    status=bindparam("b_status"))


async def test_the_writer_reconnects_when_its_postgresql_connection_is_dropped_mid_transaction(
        pg_engine: Engine, process: bool) -> None:
    """The server ends the writer's backend while it waits for a lock inside the transaction:
    nothing was committed, so the ops run again on a new connection (and wait again)."""
    engine = pg_engine
    async with Writer(engine, process=process) as writer:
        await writer.execute([message(1)])
        with write_lock(engine):
            writer.execute_nowait([message(2), segment(2)])
            await wait_taken(writer)
            with trio.fail_after(5):
                while not (terminated := terminate(engine, "wait_event_type = 'Lock'")):
                    await trio.sleep(0.01)
            with trio.fail_after(5):  # the ops run again on a new connection, which waits too
                while not set(waiting_for_a_lock(engine)) - set(terminated):
                    await trio.sleep(0.01)
        await writer.execute([message(3)])
    assert writer.stats.failed_requests == 0
    with engine.connect() as conn:
        assert set(statuses(conn)) == {1, 2, 3}
        assert count(conn, segments) == 1


async def test_the_writer_reconnects_both_its_connections_after_postgresql_dropped_them(
        pg_engine: Engine, process: bool) -> None:
    """In process mode a transaction with a statement the child cannot run goes on a connection
    of the writer thread: both it and the child's reconnect."""
    engine = pg_engine
    async with Writer(engine, process=process) as writer:
        await writer.execute([message(1), message(2)])
        await writer.execute([(SET_STATUSES, {"ids": [1, 2], "b_status": "a"})])
        assert terminate(engine, "state = 'idle'")
        await writer.execute([(SET_STATUSES, {"ids": [1], "b_status": "b"})])
        await writer.execute([set_status(2, "c")])
        assert terminate(engine, "state = 'idle'")
        await writer.execute([set_status(2, "d"), message(3)])
        await writer.execute([(SET_STATUSES, {"ids": [3], "b_status": "e"}), message(4)])
    with engine.connect() as conn:
        assert statuses(conn) == {1: "b", 2: "d", 3: "e", 4: "accepted"}


async def test_a_failed_commit_in_either_mode_is_unknown_outcome_and_the_writer_goes_on(
        engine: Engine, process: bool) -> None:
    """A deferred foreign key fails at COMMIT: here from a Core insert, which the writer
    process runs itself (a text() statement would make the transaction run on the writer
    thread). Its connection must be usable again after the failed COMMIT."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite enforces no foreign key without a PRAGMA the writer "
                    "process does not send (test_writer_process.py covers its failed COMMIT)")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
        conn.execute(text("CREATE TABLE child (id INTEGER PRIMARY KEY, "
                          "parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"))
    child = Table("child", MetaData(), Column("id", Integer, primary_key=True), Column("parent", Integer))
    async with Writer(engine, process=process) as writer:
        with pytest.raises(CommitOutcomeUnknown, match=r"(?i)foreign key"):
            await writer.execute([message(1), (insert(child), {"id": 1, "parent": 42})])
        await writer.execute([message(2), (insert(child), {"id": 2, "parent": None})])
    assert writer.stats.retried_batches == 0
    with engine.connect() as conn:
        assert set(statuses(conn)) == {2}


# --- the same writes in three ways ---------------------------------------------------------
# SQLAlchemy's own execution (every plan refused), the writer thread's plans and the writer
# process must leave the database alike and fail the same requests the same way.

_KEYS = st.sampled_from(["k1", "k2"])
_FLOAT = st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=64), st.integers(-10**6, 10**6))
_TEXT = st.text(st.sampled_from("ab\u00e9\u4e2d\U0001f600'%?:"), max_size=6)
# rarer: values some driver or processor refuses (PostgreSQL a NUL in text, both a NULL in NOT NULL)
_REFUSED_TEXT = st.sampled_from([None, "a\x00b"])
_BLOB = st.one_of(st.binary(max_size=6), st.binary(max_size=6), st.binary(max_size=6).map(bytearray),
                  st.binary(max_size=6).map(memoryview), st.sampled_from(["not bytes", None, 3]))
_ID = st.integers(1, 4)
_PER_CALL = "per call"  # a marker: the op's statement is built when the op is run (api_content.py's)


def _message_op(id: int, key: str, ref: Any, status: str, at: Any, body: Any) -> Op:
    params = {"id": id, "key_id": key, "to_number": "86138", "text": body, "encoding": "gsm7",
              "channel": "cmcc", "status": status, "segments": 1, "created_at": at, "expires_at": 9.5}
    if ref is not _PER_CALL:  # absent: another key set, another plan
        params["client_ref"] = ref
    return queries.INSERT_MESSAGE, params


def _segment_op(id: int, idx: int, attempts: int | None) -> Op:
    params: dict[str, Any] = {"message_id": id, "idx": idx, "channel": "cmcc", "status": "accepted"}
    if attempts is not None:
        params["attempts"] = attempts  # else the column's default
    return queries.INSERT_SEGMENT, params


def _api_key_op(id: str, admin: Any, disabled: Any) -> Op:
    params = {"id": id, "secret": "s", "name": "n", "created_at": 1.25, "is_admin": admin}
    if disabled is not _PER_CALL:
        params["disabled"] = disabled
    return INSERT_API_KEY, params


INSERT_API_KEY = insert(api_keys)  # Boolean: rows the daemon makes in process mode
SET_PAYLOAD = update(mo_parts).where(mo_parts.c.idx == bindparam("b_idx")).values(payload=bindparam("b_payload"))

_MESSAGE = st.builds(_message_op, _ID, _KEYS, st.sampled_from([_PER_CALL, None, "r1", "r2"]),
                     st.sampled_from(["accepted", "submitted"]), _FLOAT,
                     st.one_of(_TEXT, _TEXT, _TEXT, _REFUSED_TEXT))
_SEGMENT = st.builds(_segment_op, _ID, st.integers(0, 2), st.one_of(st.none(), st.integers(0, 3)))
_OPS = st.one_of(
    _MESSAGE, _MESSAGE, _MESSAGE, _MESSAGE, _SEGMENT, _SEGMENT,
    st.builds(set_status, _ID, st.sampled_from(["sent", "held", "x"])),
    st.builds(lambda id, idx, smsc, at: (queries.SEGMENT_SUBMITTED, {"m_id": id, "m_idx": idx, "smsc_id": smsc,
                                                                    "smsc_key": smsc, "at": at, "tries": 1}),
              _ID, st.integers(0, 2), st.one_of(st.none(), _TEXT), _FLOAT),
    st.builds(lambda id, st_, at: (queries.MESSAGE_FINAL, {"m_id": id, "st": st_, "code": None, "reason": None,
                                                          "at": at}),
              _ID, st.sampled_from(["delivered", "failed"]), _FLOAT),
    st.builds(lambda id, at: (_PER_CALL, (id, at)), _ID, _FLOAT),
    st.builds(lambda idx, payload, at: (queries.INSERT_MO_PART, {
        "channel": "c", "from_number": "1", "to_number": "2", "reference": 1, "total": 3, "idx": idx,
        "payload": payload, "coding": 0, "received_at": at}), st.integers(0, 2), _BLOB, _FLOAT),
    st.builds(lambda idx, payload: (SET_PAYLOAD, {"b_idx": idx, "b_payload": payload}), st.integers(0, 2), _BLOB),
    st.builds(lambda payload: (_PER_CALL, payload), st.binary(max_size=4)),
    st.builds(lambda idx: (queries.DELETE_MO_PART, {"ch": "c", "src": "1", "ref": 1, "tot": 3, "idx": idx}),
              st.integers(0, 2)),
    st.builds(_api_key_op, st.sampled_from(["a", "b"]), st.sampled_from([True, False, True, False, None, 1, "yes"]),
              st.sampled_from([_PER_CALL, True, False])),
    st.builds(lambda number, at: lists.blacklist_op(number, "", None, "admin", at), st.sampled_from(["1", "2"]),
              _FLOAT),
    st.builds(lambda number: (lists.DELETE_BLACKLIST_NUMBER, {"b_number": number}), st.sampled_from(["1", "2"])),
    st.builds(lambda id, at: (queries.INSERT_REPORT, {"message_id": id, "key_id": "k1", "to_number": "1",
                                                     "client_ref": None, "status": "delivered", "stat": "DELIVRD",
                                                     "err": None, "done_at": at}), _ID, _FLOAT),
    st.builds(lambda ids, status: (SET_STATUSES, {"ids": ids, "b_status": status}),  # the writer thread's
              st.lists(_ID, min_size=1, max_size=3), st.sampled_from(["in", "out"])),
    st.just((queries.BARRIER, {})),
)


def _built(op: Any) -> Op:
    """The op as its caller makes it when run: a statement built per call is a new object."""
    statement, params = op
    if statement is not _PER_CALL:
        return statement, params
    if isinstance(params, tuple):
        id, at = params
        return update(messages).where(messages.c.id == id).values(status="literal", done_at=at), {}
    return update(mo_parts).where(mo_parts.c.idx == 0).values(payload=params), {}


def _wipe(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            for table in metadata.sorted_tables:
                conn.execute(table.delete())
            conn.execute(text("DELETE FROM sqlite_sequence"))
        else:
            conn.execute(text(f"TRUNCATE {', '.join(metadata.tables)} RESTART IDENTITY"))


def _contents(engine: Engine) -> dict[str, list[Any]]:
    with engine.connect() as conn:
        return {name: [tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key.columns))]
                for name, table in metadata.tables.items()}


async def _apply(engine: Engine, mode: str, requests: list[list[Any]], one_batch: bool) -> list[Any]:
    """Each request's outcome: None, or its error's type and constraint."""
    outcomes: list[Any] = [None] * len(requests)
    async with Writer(engine, process=mode == "process") as writer:
        if one_batch:  # all requests in one transaction, retried one by one if it fails
            with write_lock(engine):
                writer.execute_nowait([message(999)])
                await wait_taken(writer)
                submitted = [writer.submit([_built(op) for op in ops]) for ops in requests]
        for index, ops in enumerate(requests):
            try:
                if one_batch:
                    await submitted[index].wait()
                else:
                    await writer.execute([_built(op) for op in ops])
            except WriteFailed as exc:
                outcomes[index] = (type(exc).__name__, getattr(exc, "constraint", None))
        if mode == "process":
            note_event(f"retried batches: {writer.stats.retried_batches}")
            for outcome in outcomes:
                note_event(f"outcome: {outcome}")
            [pid] = writer_pids()
            with open(f"/proc/{pid}/maps") as f:
                assert "sqlalchemy" not in f.read()
    return outcomes


@settings(max_examples=int(os.environ.get("SMSGW_WRITER_EXAMPLES", "25")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(requests=st.lists(st.lists(_OPS, min_size=1, max_size=4), min_size=1, max_size=8), one_batch=st.booleans())
# a unique violation in the first run, a value its processor refuses in the second: the first wins
@example(requests=[[message(1), message(1), (SET_PAYLOAD, {"b_idx": 0, "b_payload": "not bytes"})]],
         one_batch=False)
@example(requests=[[message(1), message(1), _api_key_op("a", "yes", _PER_CALL)]], one_batch=False)  # rows made here
def test_writes_leave_the_same_database_through_sqlalchemy_the_writer_thread_and_the_writer_process(
        engine: Engine, requests: list[list[Any]], one_batch: bool) -> None:
    results = {}
    for mode in ("sqlalchemy", "thread", "process"):
        _wipe(engine)
        with pytest.MonkeyPatch.context() as patch:
            if mode == "sqlalchemy":
                patch.setattr(executor, "plan", lambda *_: None)
            outcomes = trio.run(_apply, engine, mode, requests, one_batch)
        results[mode] = (outcomes, _contents(engine))
    assert results["thread"] == results["sqlalchemy"]
    assert results["process"] == results["sqlalchemy"]

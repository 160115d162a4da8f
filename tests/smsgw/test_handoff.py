"""Fresh rows handed from their write to the channel's queue (``Dispatcher.handing_over``) beside
the feeder's reads: whatever order writes commit, fail, wake their writers and interleave with
the feeder's reads, every committed row is queued exactly once and in id order, and none of
a write that did not commit is."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from smsgw import dispatch
from smsgw import queries as q
from smsgw.config import load
from smsgw.dispatch import Dispatcher, Handoff
from smsgw.intake import Intake
from smsgw.keys import new_key
from smsgw.store.ids import IdGenerator
from tests.e2e.harness import closed_port, write_config

CHANNEL = "smpp-sim"
KEY = new_key("test")


class FakeStore:
    """The feeder's page reads over an in-memory table; each read waits for the test to let it
    through, and sees what was committed when it began (``early``) or when it is let through."""

    def __init__(self, *, early: bool = False) -> None:
        self.early = early
        self.rows: list[q.QueuedMessage] = []
        self.gates: deque[trio.Event] = deque()
        self.reads = 0

    async def read(self, fn: Any, name: str, after: int, limit: int, *rest: Any) -> list[q.QueuedMessage]:
        assert fn is q.page_accepted and not rest
        gate = trio.Event()
        self.gates.append(gate)
        seen = list(self.rows) if self.early else None
        await gate.wait()
        self.reads += 1
        return [row for row in (self.rows if seen is None else seen) if row.id > after][:limit]

    def execute_nowait(self, ops: Any) -> None:
        raise AssertionError("nothing expires here")

    def release(self) -> None:
        while self.gates:
            self.gates.popleft().set()


@dataclass
class Write:
    """One write of fresh rows: registered when its ids were taken, committed (or not) in
    registration order like the store's writer, its writer task woken in any order."""

    ops: list[Any]
    manager: AbstractContextManager[Handoff]
    handoff: Handoff
    outcome: str = "pending"  # committed | unknown (committed, but the writer did not learn it) | failed
    woken: trio.Event = field(default_factory=trio.Event)


def dispatcher_for(tmp_path: Path, store: FakeStore) -> Dispatcher:
    config = load(write_config(tmp_path, {"smpp": closed_port()}))
    return Dispatcher(config, store, IdGenerator(0))  # type: ignore[arg-type]


def ops_for(intake: Intake, dispatcher: Dispatcher, count: int) -> list[Any]:
    draft = intake.draft({"to": "13000000001", "text": "hello"}, KEY)
    now = time.time()
    ops: list[Any] = []
    for message_id in dispatcher.ids.take(count):
        ops += intake.ops(KEY.id, draft, message_id, now)
    return ops


async def writer(write: Write) -> None:
    """The writer's task from its write's outcome on: only a write known to have committed tells
    its ops ("unknown": as when the task is cancelled after its COMMIT; "failed": nothing stored)."""
    await write.woken.wait()
    if write.outcome == "committed":
        write.handoff.committed(write.ops)
    write.manager.__exit__(None, None, None)


ACTIONS = st.lists(st.one_of(
    st.tuples(st.just("open"), st.integers(1, 5)),
    st.tuples(st.just("commit"), st.sampled_from(["committed", "unknown", "failed"])),
    st.tuples(st.just("wake"), st.integers(0, 7)),
    st.tuples(st.just("read"), st.just(0)),
    st.tuples(st.just("drain"), st.just(0)),
), max_size=40)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS, early=st.booleans())
# a full page read leaves a committed row unread; a later write must not be queued past it
@example(actions=[("open", 5), ("commit", "committed"), ("wake", 0), ("read", 0), ("open", 1),
                  ("commit", "committed"), ("wake", 0)], early=False)
# a big write left to the feeder, whose first page is full: a small write after it must wait for the rest
@example(actions=[("open", 3), ("commit", "committed"), ("wake", 0), ("read", 0), ("open", 5), ("commit", "committed"),
                  ("drain", 0), ("wake", 0), ("read", 0), ("open", 1), ("commit", "committed"), ("wake", 0)],
         early=False)
def test_every_committed_row_is_queued_once_in_id_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        actions: list[tuple[str, Any]], early: bool) -> None:
    # small pages, queue limits and no gathering pause, so that a few rows reach every branch
    monkeypatch.setattr(dispatch, "_PAGE", 4)
    monkeypatch.setattr(dispatch, "_LOW_WATER", 3)
    monkeypatch.setattr(dispatch, "_HANDOFF_LIMIT", 6)
    monkeypatch.setattr(dispatch, "_GATHER", 0)
    monkeypatch.setattr(dispatch, "_IDLE_READ", 0)  # reads while caught up, as every second
    trio.run(_scenario, tmp_path, actions, early)


async def _scenario(tmp_path: Path, actions: list[tuple[str, Any]], early: bool) -> None:
    store = FakeStore(early=early)
    dispatcher = dispatcher_for(tmp_path, store)
    intake = Intake(dispatcher)
    queue = dispatcher.channels[CHANNEL].queue
    sent: list[int] = []
    writes: list[Write] = []
    committed_ids: list[int] = []

    def commit(write: Write, outcome: str) -> None:
        write.outcome = outcome
        if outcome != "failed":
            rows = [q.QueuedMessage(p["id"], p["key_id"], p["to_number"], p["text"], p["segments"],
                                    p["client_ref"], p["callback_url"], p["expires_at"], q.NOTHING_DONE, None)
                    for statement, p in write.ops if statement is q.INSERT_MESSAGE]
            store.rows += rows
            committed_ids.extend(row.id for row in rows)

    def drain() -> None:
        sent.extend(job.message_id for job in queue)
        queue.clear()

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(dispatcher._feed, CHANNEL)
            await trio.testing.wait_all_tasks_blocked()
            for action, arg in actions:
                if action == "open":
                    ops = ops_for(intake, dispatcher, arg)
                    manager = dispatcher.handing_over((CHANNEL,))
                    write = Write(ops, manager, manager.__enter__())
                    writes.append(write)
                    nursery.start_soon(writer, write)
                elif action == "commit":
                    oldest = next((w for w in writes if w.outcome == "pending"), None)
                    if oldest is not None:
                        commit(oldest, arg)
                elif action == "wake":
                    ready = [w for w in writes if w.outcome != "pending" and not w.woken.is_set()]
                    if ready:
                        ready[arg % len(ready)].woken.set()
                elif action == "read":
                    store.release()
                else:
                    drain()
                await trio.testing.wait_all_tasks_blocked()
            for write in writes:
                if write.outcome == "pending":
                    commit(write, "committed")
                write.woken.set()
            await trio.testing.wait_all_tasks_blocked()
            for _ in range(len(committed_ids) + 3):  # the feeder reads what was left to it
                drain()
                dispatcher.accepted(CHANNEL)
                store.release()
                await trio.testing.wait_all_tasks_blocked()
            drain()
            nursery.cancel_scope.cancel()
    assert sent == sorted(set(sent)), "queued twice or out of id order"
    assert sent == sorted(committed_ids), "a committed row was never queued, or a failed one was"


@asynccontextmanager
async def feeding(tmp_path: Path, store: FakeStore, *, first_read: bool = True) -> AsyncIterator[Dispatcher]:
    """A dispatcher whose feeder runs on ``store``; with ``first_read``, its first read (empty)
    has ended, so it has read everything."""
    dispatcher = dispatcher_for(tmp_path, store)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(dispatcher._feed, CHANNEL)
            await trio.testing.wait_all_tasks_blocked()
            if first_read:
                store.release()
                await trio.testing.wait_all_tasks_blocked()
            yield dispatcher
            nursery.cancel_scope.cancel()


def message_ids(ops: list[Any]) -> list[int]:
    return [p["id"] for statement, p in ops if statement is q.INSERT_MESSAGE]


def commit(store: FakeStore, ops: list[Any]) -> None:
    """The write of ``ops`` committed: its rows are in the table."""
    store.rows += [q.QueuedMessage(p["id"], p["key_id"], p["to_number"], p["text"], 1, None, None, p["expires_at"],
                                   q.NOTHING_DONE, None) for statement, p in ops if statement is q.INSERT_MESSAGE]


def queued(dispatcher: Dispatcher) -> list[int]:
    return [job.message_id for job in dispatcher.channels[CHANNEL].queue]


async def test_a_committed_write_is_queued_without_a_read(tmp_path: Path) -> None:
    """The common case: the feeder has read everything, a write commits, its rows are queued
    at once and the database is not read again."""
    store = FakeStore()
    async with feeding(tmp_path, store) as dispatcher:
        reads = store.reads
        ops = ops_for(Intake(dispatcher), dispatcher, 3)
        with dispatcher.handing_over((CHANNEL,)) as handoff:
            commit(store, ops)
            handoff.committed(ops)
        assert queued(dispatcher) == message_ids(ops)
        assert store.reads == reads and not store.gates
        assert dispatcher.stats.handed_over == 3


async def test_a_later_write_waits_for_an_earlier_one(tmp_path: Path) -> None:
    """Two writes commit in id order but the later one's writer wakes first: its rows wait until
    the earlier write is settled, then both are queued in id order (queued at once, the later
    one's rows would have moved the cursor past the earlier one's)."""
    async with feeding(tmp_path, FakeStore()) as dispatcher:
        intake = Intake(dispatcher)
        first_ops, second_ops = ops_for(intake, dispatcher, 2), ops_for(intake, dispatcher, 2)
        first, second = dispatcher.handing_over((CHANNEL,)), dispatcher.handing_over((CHANNEL,))
        first_handoff, second_handoff = first.__enter__(), second.__enter__()
        second_handoff.committed(second_ops)
        second.__exit__(None, None, None)
        assert not queued(dispatcher)
        first_handoff.committed(first_ops)
        first.__exit__(None, None, None)
        assert queued(dispatcher) == message_ids(first_ops + second_ops)


async def test_a_write_settling_during_a_read_is_handed_over_after_it(tmp_path: Path) -> None:
    """A write commits and its writer wakes while the feeder reads (the read began before the
    commit, so it does not see it): its rows are handed over once the read has ended, not left
    to another read (under steady load every read had writes settling meanwhile, and each of
    those made the next read, so rows were read back nearly as often as before)."""
    store = FakeStore(early=True)
    async with feeding(tmp_path, store, first_read=False) as dispatcher:
        assert len(store.gates) == 1  # the first read, begun
        ops = ops_for(Intake(dispatcher), dispatcher, 2)
        with dispatcher.handing_over((CHANNEL,)) as handoff:
            commit(store, ops)
            handoff.committed(ops)
        assert not queued(dispatcher)  # waits for the read
        store.release()
        await trio.testing.wait_all_tasks_blocked()
        assert queued(dispatcher) == message_ids(ops)
        assert dispatcher.stats.handed_over == 2 and not store.gates  # no read after it

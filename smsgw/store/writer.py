"""The group-commit writer: every write of the process goes through one thread and one
connection, many callers' ops share one COMMIT.

Why: the database drivers block, so they cannot run on the trio thread; one commit per
request costs an fsync each (measured 25k rows/s with a commit per row, 57k/s batched), and
a single writer never contends for SQLite's write lock.

An op is ``(statement, params)``. A caller's op list is one atomic unit, applied in order.
The thread takes everything queued (up to ``max_batch_ops``), runs it in one transaction,
commits, then wakes the batch's waiters: ``await execute(ops)`` returning is the durability
point (what the HTTP 202 relies on). Consecutive ops with the same statement object and
the same parameter names run as one executemany, so reuse statement objects; order across
statements is kept exactly (executor.py runs them in this thread; in process mode
writer_process.py ships them as plans to writer_child.py). When a batch fails, each
caller's op list is retried in its own transaction, so one bad request (e.g. a duplicate
client_ref) fails alone.

Cancelling ``execute`` does not withdraw the ops: they may still commit.
"""

from __future__ import annotations

import operator
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TypeAlias

import structlog
import trio
from sqlalchemy import Connection, Engine
from sqlalchemy.sql.base import Executable

from smsgw.store.errors import CommitOutcomeUnknown, WriteFailed, WriterClosed, describe, write_error
from smsgw.store.executor import PLAN_CACHE_LIMIT, CommitFailed, Executor, Op, Transaction, connect

__all__ = ["NEW_ROWS", "Op", "Submitted", "Writer", "WriterStats"]

log = structlog.get_logger("smsgw.store.writer")

#: Execution option declaring a statement a plain INSERT of new rows that reads no other
#: row (no subquery, no ON CONFLICT): the writer may then run the ops of consecutive
#: requests made only of such statements grouped by statement (``_batch_ops``).
NEW_ROWS = "smsgw_new_rows"


@dataclass(frozen=True, slots=True)
class WriterStats:
    """Cumulative counters since start, for metrics."""

    batches: int  # transactions committed or attempted for a whole batch
    requests: int  # op lists (execute / execute_nowait calls) finished
    ops: int  # ops in those requests
    commit_seconds: float  # time spent in COMMIT (the fsync), successful or not
    retried_batches: int  # batches that failed and were retried request by request
    failed_requests: int  # requests whose ops were rolled back
    failed_nowait: int  # of which execute_nowait requests (logged, nobody to tell)
    pending_ops: int  # queued, not yet taken by the thread


@dataclass(slots=True)
class _Request:
    ops: Sequence[Op]
    done: trio.Event | None  # None for execute_nowait
    error: WriteFailed | None = None

    async def wait(self) -> None:
        """Return once committed; raise ``WriteFailed`` if not."""
        assert self.done is not None
        await self.done.wait()
        if self.error is not None:
            raise self.error


Submitted: TypeAlias = _Request


class Writer:
    """Use as ``async with Writer(engine) as writer:``; start and close from one trio run."""

    def __init__(self, engine: Engine, *, max_batch_ops: int = 5000, process: bool = False) -> None:
        if max_batch_ops < 1:
            raise ValueError("max_batch_ops must be at least 1")
        self._engine = engine
        self._process = process
        self._max_batch_ops = max_batch_ops
        self._cond = threading.Condition()
        self._queue: deque[_Request] = deque()
        self._running = False
        self._closing = False
        self._token: trio.lowlevel.TrioToken | None = None
        self._stopped = trio.Event()
        self._batches = self._requests = self._ops = self._pending_ops = 0
        self._retried = self._failed = self._failed_nowait = 0
        self._commit_seconds = 0.0

    async def __aenter__(self) -> Writer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Open the writer's connection (or start the writer process) from its thread; raises
        what opening it raised."""
        if self._token is not None:
            raise RuntimeError("Writer.start() called twice")
        self._token = trio.lowlevel.current_trio_token()
        opened: list[AbstractContextManager[Transaction] | BaseException] = []
        ready = trio.Event()

        def open_and_serve() -> None:
            try:
                opened.append(self._open())
                with self._cond:  # before _serve can fail and clear it
                    self._running = True
            except BaseException as exc:
                opened.append(exc)
            assert self._token is not None
            self._token.run_sync_soon(ready.set)
            if not isinstance(opened[0], BaseException):
                self._serve(opened[0])

        threading.Thread(target=open_and_serve, name="smsgw-store-writer", daemon=True).start()
        with trio.CancelScope(shield=True):  # the thread must not outlive a cancelled start
            await ready.wait()
        if isinstance(opened[0], BaseException):
            self._stopped.set()
            raise opened[0]

    def _open(self) -> AbstractContextManager[Transaction]:
        """Where the transactions run: a connection of this thread, or the writer process —
        started here, so that a child that cannot open the database fails ``start``. The
        child opens the bare driver with the URL's connect arguments and sqlite.configure:
        listeners and options added to ``engine`` (other than ``make_engine``'s) do not apply
        to it."""
        if self._process:
            from smsgw.store.writer_process import WriterProcess

            process = WriterProcess(self._engine)
            process.spawn()
            return process.running()
        return _local(connect(self._engine))

    async def execute(self, ops: Sequence[Op]) -> None:
        """Apply ``ops`` atomically; return once committed, raise ``WriteFailed`` if not."""
        if ops:
            await self.submit(ops).wait()

    def submit(self, ops: Sequence[Op]) -> Submitted:
        """Queue ``ops`` now and ``await submitted.wait()`` later: a caller can prepare its next
        ops while these are written (a batch upload). Requests are applied in queue order."""
        request = _Request(tuple(ops), trio.Event())  # the caller may reuse its list
        self._enqueue(request)
        return request

    def execute_nowait(self, ops: Sequence[Op]) -> None:
        """Queue ``ops`` without waiting; a failure is logged and counted in ``failed_nowait``."""
        if ops:
            self._enqueue(_Request(tuple(ops), None))

    async def aclose(self) -> None:
        """Stop taking ops, commit everything already queued, close the connection."""
        with self._cond:
            if self._token is None:
                return
            self._closing = True
            self._running = False
            self._cond.notify()
        with trio.CancelScope(shield=True):  # queued writes must not be abandoned midway
            await self._stopped.wait()

    @property
    def stats(self) -> WriterStats:
        with self._cond:
            return WriterStats(
                self._batches, self._requests, self._ops, self._commit_seconds,
                self._retried, self._failed, self._failed_nowait, self._pending_ops,
            )

    def _enqueue(self, request: _Request) -> None:
        with self._cond:
            if not self._running:
                raise WriterClosed("the store writer is not running")
            self._queue.append(request)
            self._pending_ops += len(request.ops)
            self._cond.notify()

    # --- the writer thread -------------------------------------------------------------

    def _serve(self, backend: AbstractContextManager[Transaction]) -> None:
        batch: list[_Request] = []
        try:
            with backend as run:
                while batch := self._take():
                    self._apply(run, batch)
                    self._finish(batch)
        except BaseException as exc:  # a bug, not a database error: fail waiters, don't hang them
            log.exception("store.writer_crashed")
            with self._cond:
                self._running = False
                orphans = [*batch, *self._queue]
                self._queue.clear()
            for request in orphans:
                request.error = WriteFailed(f"the store writer crashed: {exc!r}")
            self._finish(orphans)
        finally:
            assert self._token is not None
            self._token.run_sync_soon(self._stopped.set)

    def _take(self) -> list[_Request]:
        with self._cond:
            while not self._queue and not self._closing:
                self._cond.wait()
            batch: list[_Request] = []
            size = 0
            while self._queue and (not batch or size + len(self._queue[0].ops) <= self._max_batch_ops):
                request = self._queue.popleft()
                batch.append(request)
                size += len(request.ops)
            self._pending_ops -= size
            return batch

    def _apply(self, run: Transaction, batch: list[_Request]) -> None:
        """Run the batch, then each request alone if the batch failed; set their errors."""
        with self._cond:
            self._batches += 1
        try:
            self._run(run, _batch_ops(batch))
            return
        except CommitFailed as exc:
            for request in batch:
                request.error = _outcome_unknown(exc)
            return
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = write_error(exc)
                return
        with self._cond:
            self._retried += 1
        for request in batch:
            try:
                self._run(run, request.ops)
            except CommitFailed as exc:
                request.error = _outcome_unknown(exc)
            except Exception as exc:
                request.error = write_error(exc)

    def _run(self, run: Transaction, ops: Sequence[Op]) -> None:
        seconds = 0.0  # a rollback before COMMIT spent none in it
        try:
            seconds = run(ops)
        except CommitFailed as exc:
            seconds = exc.seconds
            raise
        finally:
            with self._cond:
                self._commit_seconds += seconds

    def _finish(self, batch: list[_Request]) -> None:
        waiters = [request.done for request in batch if request.done is not None]
        failed = [request for request in batch if request.error is not None]
        for request in failed:
            if request.done is None:
                log.error("store.write_failed", ops=len(request.ops), error=str(request.error))
        with self._cond:
            self._requests += len(batch)
            self._ops += sum(len(request.ops) for request in batch)
            self._failed += len(failed)
            self._failed_nowait += sum(1 for request in failed if request.done is None)
        if waiters:
            assert self._token is not None
            self._token.run_sync_soon(_wake, waiters)


@contextmanager
def _local(conn: Connection) -> Iterator[Transaction]:
    with conn:
        yield Executor(conn).transaction


def _outcome_unknown(exc: CommitFailed) -> CommitOutcomeUnknown:
    error = CommitOutcomeUnknown(f"commit failed, outcome unknown: {describe(exc.__cause__)}")
    error.__cause__ = exc.__cause__
    return error


def _wake(events: list[trio.Event]) -> None:
    for event in events:
        event.set()


class _NewRows(dict[Executable, bool]):
    """Whether a statement is declared ``NEW_ROWS``, remembered per statement object: looked up
    for every op of every request (``_batch_ops``). Emptied when it holds ``PLAN_CACHE_LIMIT``
    statements, as the plan caches are, so that statements made per call do not pile up."""

    def __missing__(self, statement: Executable) -> bool:
        if len(self) >= PLAN_CACHE_LIMIT:
            self.clear()
        flag = self[statement] = bool(statement.get_execution_options().get(NEW_ROWS))
        return flag


_NEW_ROWS_OF = _NewRows()  # used by the writer threads only; a race would only recompute a flag
_statement = operator.itemgetter(0)


def _batch_ops(batch: list[_Request]) -> list[Op]:
    """The ops of a batch in request order, except that each stretch of consecutive
    requests made only of ``NEW_ROWS`` statements (e.g. POST /v1/messages: a message and
    its segments) is grouped by statement, keeping the order within each statement: one
    executemany per table instead of one execute per row. The end state is the same: no op
    of the stretch reads what another wrote; rows of one statement keep their order
    (autoincrement ids); a failed batch is still retried request by request."""
    ops: list[Op] = []
    stretch: dict[Executable, list[Op]] = {}
    new_rows = _NEW_ROWS_OF.__getitem__
    for request in batch:
        if all(map(new_rows, map(_statement, request.ops))):  # C loops, no generator per request
            for op in request.ops:
                stretch.setdefault(op[0], []).append(op)
            continue
        for group in stretch.values():
            ops.extend(group)
        stretch.clear()
        ops.extend(request.ops)
    for group in stretch.values():
        ops.extend(group)
    return ops

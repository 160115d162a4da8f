"""The store writer's transactions in a process of its own (``[gateway] store_writer =
"process"``; the default is the writer thread). This is the daemon's end; the child is
writer_child.py.

Why: the daemon runs on one core at a time (the GIL), and the group-commit writer's share of
it — making driver rows of ops, the driver binding every value — was a quarter
(docs/benchmarks.md). Here that work runs on another core; the daemon only groups each batch
into runs of value tuples (plans.columns), pickles it (~2 µs per message, 2.9 with runs of
dicts) and waits for the verdict. The writer thread, its queue, its batching and its retries
stay in the daemon (writer.py), so the guarantees are the same: ``execute`` returns only
after the child's COMMIT returned.

The daemon compiles each statement (executor.plan) and sends the child the plan once, then
by id; the child needs neither SQLAlchemy nor the schema. A statement that needs SQLAlchemy's
own execution (an expanding IN, RETURNING, a SELECT such as queries.BARRIER: none on the hot
paths) makes its transaction run here, on a connection of the writer thread, as in thread
mode: the child is idle meanwhile. So does one whose frame cannot be made (a value that does
not pickle, a row made here refused).
An answer for another transaction, or none, makes the outcome unknown and the child is
replaced: answers must never be matched to the wrong transaction.

The child runs in a process group of its own and ignores SIGINT and SIGTERM (a terminal's
Ctrl-C, systemd's stop): the daemon drains its queue through it first, then closes the pipe,
and the child exits at end of input — also when the daemon is killed. A child found dead
before a frame was sent is replaced and the frame sent again (nothing was applied); one that
dies after, makes that transaction's outcome unknown (``CommitOutcomeUnknown``). Children are
started at most once a second: while the database is down, queued writes fail at once.
"""

from __future__ import annotations

import copyreg
import io
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from multiprocessing.connection import Connection
from typing import Any

import structlog
from sqlalchemy import Engine
from sqlalchemy.engine import URL
from sqlalchemy.sql.base import Executable

from smsgw.store.engine import PG_CONNECT_TIMEOUT_S, masked
from smsgw.store.errors import DatabaseUnavailable, StoreError, WriteFailed, unique_violation
from smsgw.store.executor import PLAN_CACHE_LIMIT, CommitFailed, Executor, Op, Transaction, connect, plan
from smsgw.store.plans import Plan, columns

log = structlog.get_logger("smsgw.store.writer")

_CLOSE_WAIT = 30.0  # seconds the child may take to close its connection and exit
_RESPAWN_PAUSE = 1.0  # seconds between attempts to start a child after one failed
_SLOW_ANSWER = 10.0  # seconds of waiting for an answer after which each further wait is logged
_PLAIN = (type(None), bool, int, float, str, bytes, memoryview)  # values a plan's ``fixed`` may hold

_Key = tuple[Executable, tuple[str, ...]]
_Wire = tuple[Any, ...]  # a plan as the child rebuilds it (writer_child._plan)


class WriterProcess:
    """The daemon's end, used by the writer thread: ``spawn()`` (raises if the child cannot
    open the database), then ``with process.running() as run:``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._proc: subprocess.Popen[bytes] | None = None
        self._outbox: Connection | None = None
        self._inbox: Connection | None = None
        self._plans: dict[_Key, tuple[Plan, _Wire | None] | None] = {}  # ours, whatever the child has
        self._ids: dict[_Key, int] = {}  # the plans the child has, by id
        self._next_id = 0  # never reused by one child: a stale id cannot name another plan
        self._seq = 0
        self._spawn_failed_at = -_RESPAWN_PAUSE
        self._local: Transaction | None = None
        self._resources = ExitStack()

    @contextmanager
    def running(self) -> Iterator[Transaction]:
        try:
            with self._resources:
                yield self.transaction
        finally:
            self._close()

    def transaction(self, ops: Sequence[Op]) -> float:
        grouped = list(columns(ops))
        # kept here, not looked up again: planning a new statement may empty the cache
        planned = [found for statement, keys, _ in grouped if (found := self._planned(statement, keys))]
        if len(planned) < len(grouped):
            return self._here(ops)
        for attempt in (1, 2):
            self._ensure_child()
            assert self._outbox is not None
            self._seq += 1
            try:
                frame, reset, new = self._frame(grouped, planned)
            except Exception:
                # rows made here were refused (a Boolean that is not one), or a value does not
                # pickle: the ops run here, as in the writer thread, where such an error comes
                # in its place among the ops' own (an earlier run's unique violation first)
                return self._here(ops)
            try:
                self._outbox.send_bytes(frame)
            except OSError as exc:
                # the child was gone before it had read the frame whole: nothing was applied
                self._lost(exc)
                if attempt == 2:
                    raise WriteFailed(f"the store writer process is gone: {exc!r}") from exc
                continue
            if reset:
                self._ids = {}
            self._ids.update(new)
            return self._verdict()
        raise AssertionError("unreachable")

    def spawn(self) -> None:
        """Start a child and hand it the database; ``DatabaseUnavailable`` if it cannot open it."""
        url: URL = self._engine.url
        pipes: list[int] = []
        try:
            pipes += os.pipe()  # to_child, from_parent
            pipes += os.pipe()  # to_parent, from_child
            to_child, from_parent, to_parent, from_child = pipes
            # -P: not the daemon's working directory first on sys.path (a ./smsgw there would
            # shadow the installed package); a process group of its own: a terminal's Ctrl-C
            # reaches the daemon, which drains through the child before closing its pipe
            proc = subprocess.Popen([sys.executable, "-P", "-m", "smsgw.store.writer_child", str(to_child),
                                     str(from_child)], pass_fds=(to_child, from_child), process_group=0)
        except OSError:
            for fd in pipes:
                os.close(fd)
            raise
        os.close(to_child)  # the child's ends: it has its own copies
        os.close(from_child)
        self._proc = proc
        self._outbox = Connection(from_parent, readable=False)
        self._inbox = Connection(to_parent, writable=False)
        self._ids, self._next_id = {}, 0
        try:
            self._outbox.send_bytes(pickle.dumps(_connect_args(url)))  # not argv: it may hold a password
            reply = pickle.loads(self._inbox.recv_bytes())
        except (OSError, EOFError) as exc:
            self._lost(exc)
            raise DatabaseUnavailable(masked(url), f"the store writer process did not start: {exc!r}") from exc
        if reply[0] != "ready":
            self._close()
            raise DatabaseUnavailable(masked(url), f"the store writer process: {reply[1]}")

    def _planned(self, statement: Executable, keys: tuple[str, ...]) -> tuple[Plan, _Wire | None] | None:
        """The plan and its wire form (``_wire``); None if only SQLAlchemy can run the statement."""
        key = (statement, keys)
        if key in self._plans:
            return self._plans[key]
        if len(self._plans) >= PLAN_CACHE_LIMIT:
            self._plans.clear()
        found = plan(statement, keys, self._engine.dialect)
        planned = self._plans[key] = None if found is None else (found, _wire(found, keys))
        return planned

    def _here(self, ops: Sequence[Op]) -> float:
        """A transaction the child cannot run (a statement without a plan, a frame that cannot
        be made), on the writer thread's own connection (opened at the first such one)."""
        if self._local is None:
            self._local = Executor(self._resources.enter_context(connect(self._engine))).transaction
        return self._local(ops)

    def _ensure_child(self) -> None:
        """A live child: the one there is, or a new one if it died (idle, or in the last
        transaction) — at most one start attempt a second, so a database that is down fails
        the queued requests at once instead of each waiting for a start that fails."""
        if self._proc is not None and self._proc.poll() is None:
            return
        if self._proc is not None:
            self._lost(StoreError(f"exited with {self._proc.returncode}"))
        if time.monotonic() - self._spawn_failed_at < _RESPAWN_PAUSE:
            raise WriteFailed("the store writer process is restarting; not applied")
        try:
            self.spawn()
        except Exception:
            self._spawn_failed_at = time.monotonic()
            raise

    def _frame(self, grouped: list[tuple[Executable, tuple[str, ...], list[tuple[Any, ...]]]],
               planned: list[tuple[Plan, _Wire | None]]) -> tuple[bytes, bool, dict[_Key, int]]:
        """The frame; whether it resets the child's plan table; the plans it introduces. Our
        table changes only once the frame is sent (``transaction``): a frame that cannot be
        made (a row the daemon makes fails, a value does not pickle) leaves both as they were.
        A run whose plan has a processor the child lacks goes as driver rows made here."""
        reset = len(self._ids) >= PLAN_CACHE_LIMIT
        known = {} if reset else self._ids
        new: dict[_Key, int] = {}
        wires: list[tuple[int, _Wire]] = []
        payload: list[tuple[int, bool, list[Any]]] = []
        for (statement, keys, values), (found, wire) in zip(grouped, planned, strict=True):
            key = (statement, keys)
            pid = known.get(key)
            if pid is None:
                pid = new.get(key)
                if pid is None:
                    pid = new[key] = self._next_id
                    self._next_id += 1
                    wires.append((pid, wire or (found.sql, None, (), {}, ())))
            if wire:
                payload.append((pid, False, values))
            else:
                payload.append((pid, True, found.rows([dict(zip(keys, row, strict=True)) for row in values])))
        frame = _dumps((self._seq, reset, wires, _dumps(payload)))
        return frame, reset, new

    def _verdict(self) -> float:
        """The child's answer to frame ``self._seq``, as the writer thread expects it of a
        transaction. No answer, or not this frame's: the outcome is unknown, and this child
        (whose answers can no longer be trusted to match) is stopped."""
        assert self._inbox is not None
        try:
            while not self._inbox.poll(_SLOW_ANSWER):
                log.warning("store.writer_process_slow", seconds=_SLOW_ANSWER, pid=self._proc and self._proc.pid)
            seq, kind, *rest = pickle.loads(self._inbox.recv_bytes())
            if seq != self._seq:
                raise StoreError(f"answer to frame {seq} where {self._seq} was expected")
        except Exception as exc:
            self._lost(exc)
            raise CommitFailed(0.0) from StoreError(f"the store writer process died or went astray: {exc!r}")
        if kind == "ok":
            return float(rest[0])
        if kind == "commit_failed":
            raise CommitFailed(rest[0]) from StoreError(rest[1])
        if kind == "unique":
            raise unique_violation(*rest)
        raise WriteFailed(rest[0])

    def _lost(self, exc: BaseException) -> None:
        log.error("store.writer_process_lost", error=repr(exc),
                  exit_code=self._proc.poll() if self._proc is not None else None)
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        self._close()

    def _close(self) -> None:
        """Close the pipe (the child exits when it reads its end) and reap the child."""
        for end in (self._outbox, self._inbox):
            if end is not None:
                end.close()
        self._outbox = self._inbox = None
        if self._proc is not None:
            try:
                self._proc.wait(_CLOSE_WAIT)
            except subprocess.TimeoutExpired:
                log.error("store.writer_process_killed", after_seconds=_CLOSE_WAIT)
                self._proc.kill()
                self._proc.wait()
            self._proc = None


def _connect_args(url: URL) -> tuple[str, list[Any], dict[str, Any]]:
    """What the child's driver ``connect`` takes, as SQLAlchemy's dialect makes it."""
    args, kwargs = url.get_dialect()().create_connect_args(url)
    if url.get_backend_name() == "sqlite":
        return "sqlite", list(args), dict(kwargs)
    kwargs.setdefault("connect_timeout", PG_CONNECT_TIMEOUT_S)
    return "psycopg", list(args), dict(kwargs)


def _wire(found: Plan, keys: tuple[str, ...]) -> _Wire | None:
    """The plan as the child rebuilds it (a ``plans.Layout`` for runs with ``keys``), or None
    if the child cannot make its rows (a name neither in ``keys`` nor fixed: the daemon's
    ``Plan.rows`` raises the thread's error). Its strings are plain ``str`` (executor.plan)."""
    if None in found.kinds or not all(type(value) in _PLAIN for value in found.fixed.values()):
        return None
    picks: list[int] = []
    consts: list[Any] = []
    for name in found.lookup:
        if name in found.fixed:  # fixed wins, as in Plan.rows
            picks.append(len(keys) + len(consts))
            consts.append(found.fixed[name])
        elif name in keys:
            picks.append(keys.index(name))
        else:
            return None
    same = not consts and picks == list(range(len(keys)))
    processors = tuple((index, kind) for (index, _), kind in zip(found.processors, found.kinds, strict=True))
    return found.sql, found.names, None if same else tuple(picks), tuple(consts), processors


#: A memoryview does not pickle; both drivers bind its bytes alike. One is a LargeBinary
#: literal or value on SQLite (its bind processor is sqlite3.Binary, i.e. memoryview), or a
#: caller's value. The table is consulted only for types pickle has no fast path for.
_DISPATCH = {**copyreg.dispatch_table, memoryview: lambda view: (bytes, (view.tobytes(),))}


def _dumps(obj: Any) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=5)
    pickler.dispatch_table = _DISPATCH
    # No memo ("fast" mode): memoizing every tuple and string of a batch was a third of the
    # pickling work, and a frame holds no shared or cyclic objects worth it (a cycle raises
    # ValueError here, and the transaction runs in the writer thread as for any unpicklable value).
    pickler.fast = True
    pickler.dump(obj)
    return buffer.getvalue()

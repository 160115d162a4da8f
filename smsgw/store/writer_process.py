"""The store writer's transactions in a process of its own (``[gateway] store_writer =
"process"``; the default is the writer thread).

Why: the daemon runs on one core at a time (the GIL), and the group-commit writer's share of
it — making driver rows of ops, the driver binding every value — was a quarter
(docs/benchmarks.md). Here that work runs on another core; the daemon only pickles each
batch (about 5 µs per message) and waits for the verdict. The writer thread, its queue,
its batching and its retries stay in the daemon (writer.py), so the guarantees are the
same: ``execute`` returns only after the child's COMMIT returned.

Two pipes, ``multiprocessing.connection`` framing, pickle. The daemon sends the database URL
(not on the command line: it may hold a password); the child answers ``("ready",)`` or
``("error", text)``. Then per transaction the daemon sends ``(reset, {id: statement}, [(id,
params), ...])`` — each SQLAlchemy statement travels once, pickled, then by id — and the
child answers ``("ok", commit_seconds)``, ``("commit_failed", seconds, text)``,
``("unique", constraint, detail)`` or ``("failed", text)``.

The child ignores SIGINT and SIGTERM (they reach the whole process group, and the daemon
drains its queue before it closes the pipe) and exits at end of input: when the daemon
closes it, exits or is killed. If the child dies, the transaction in flight has an unknown
outcome (``CommitOutcomeUnknown``) and the next transaction starts a new child.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

import structlog
from sqlalchemy.engine import URL
from sqlalchemy.sql.base import Executable

from smsgw.store.engine import make_engine, masked
from smsgw.store.errors import DatabaseUnavailable, StoreError, UniqueViolation, WriteFailed, describe, write_error
from smsgw.store.executor import CommitFailed, Executor, Op, Transaction, connect

log = structlog.get_logger("smsgw.store.writer")

_STATEMENT_LIMIT = 512  # statements built per call would otherwise grow both sides' tables for ever
_CLOSE_WAIT = 30.0  # seconds the child may take to finish its last COMMIT after the pipe closes
_TRIM_AFTER_BYTES = 1 << 20  # a frame this big (a 10,000-recipient batch is ~6 MB) leaves tens of MB free


class WriterProcess:
    """The daemon's end: ``with WriterProcess.start(url) as run:`` in the writer thread."""

    def __init__(self, url: URL) -> None:
        self._url = url
        self._proc: subprocess.Popen[bytes] | None = None
        self._outbox: Connection | None = None
        self._inbox: Connection | None = None
        self._ids: dict[Executable, int] = {}
        self._next_id = 0

    @classmethod
    @contextmanager
    def start(cls, url: URL) -> Iterator[Transaction]:
        process = cls(url)
        process._spawn()
        try:
            yield process.transaction
        finally:
            process._close()

    def transaction(self, ops: Sequence[Op]) -> float:
        if self._proc is None:
            self._spawn()  # the last child died; raises (the batch fails) if no new one starts
        assert self._outbox is not None and self._inbox is not None
        frame = self._frame(ops)
        try:
            self._outbox.send_bytes(frame)
            reply = pickle.loads(self._inbox.recv_bytes())
        except (OSError, EOFError) as exc:
            self._lost(exc)
            raise CommitFailed(0.0) from StoreError(f"the store writer process died: {exc!r}")
        return _verdict(reply)

    def _frame(self, ops: Sequence[Op]) -> bytes:
        reset = len(self._ids) >= _STATEMENT_LIMIT
        known = {} if reset else self._ids
        new: dict[Executable, int] = {}
        payload: list[tuple[int, Mapping[str, Any]]] = []
        for statement, params in ops:
            sid = known.get(statement)
            if sid is None:
                sid = new.get(statement)
                if sid is None:
                    sid = new[statement] = self._next_id
                    self._next_id += 1
            payload.append((sid, params))
        frame = pickle.dumps((reset, {sid: statement for statement, sid in new.items()}, payload), protocol=5)
        # only once pickled: a batch that cannot be sent must not leave ids the child never got
        if reset:
            self._ids = {}
        self._ids.update(new)
        return frame

    def _spawn(self) -> None:
        to_child, from_parent = os.pipe()
        to_parent, from_child = os.pipe()
        try:
            proc = subprocess.Popen([sys.executable, "-m", "smsgw.store.writer_process", str(to_child),
                                     str(from_child)], pass_fds=(to_child, from_child))
        except OSError:
            os.close(from_parent)
            os.close(to_parent)
            raise
        finally:
            os.close(to_child)  # the child's ends: it has its own copies
            os.close(from_child)
        self._proc = proc
        self._outbox = Connection(from_parent, readable=False)
        self._inbox = Connection(to_parent, writable=False)
        self._ids, self._next_id = {}, 0
        try:
            self._outbox.send_bytes(self._url.render_as_string(hide_password=False).encode())
            reply = pickle.loads(self._inbox.recv_bytes())
        except (OSError, EOFError) as exc:
            self._lost(exc)
            raise DatabaseUnavailable(masked(self._url), f"the store writer process did not start: {exc!r}") from exc
        if reply[0] != "ready":
            self._close()
            raise DatabaseUnavailable(masked(self._url), f"the store writer process: {reply[1]}")

    def _lost(self, exc: BaseException) -> None:
        log.error("store.writer_process_lost", error=repr(exc),
                  exit_code=self._proc.poll() if self._proc is not None else None)
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        self._close()

    def _close(self) -> None:
        """Close the pipe, so the child exits once its last COMMIT returned, and reap it."""
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


def _verdict(reply: tuple[Any, ...]) -> float:
    """The child's answer as the writer thread's code expects it of a transaction."""
    kind = reply[0]
    if kind == "ok":
        return float(reply[1])
    if kind == "commit_failed":
        raise CommitFailed(reply[1]) from StoreError(reply[2])
    if kind == "unique":
        raise UniqueViolation(reply[1], reply[2])
    raise WriteFailed(reply[1])


# --- the child ---------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso"),
                    structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
    )
    inbox = Connection(int(argv[1]), writable=False)
    outbox = Connection(int(argv[2]), readable=False)
    try:
        url = inbox.recv_bytes().decode()
    except EOFError:
        return 0
    try:
        engine = make_engine(url, pool_size=1)
        conn = connect(engine)
    except Exception as exc:
        outbox.send_bytes(pickle.dumps(("error", describe(exc))))
        return 1
    outbox.send_bytes(pickle.dumps(("ready",)))
    executor = Executor(conn)
    statements: dict[int, Executable] = {}
    with conn:
        while True:
            try:
                frame = inbox.recv_bytes()
            except EOFError:
                break
            reply = _transaction(executor, statements, frame)
            if len(frame) >= _TRIM_AFTER_BYTES:
                _trim()
            try:
                outbox.send_bytes(pickle.dumps(reply))
            except OSError:
                break  # the daemon is gone
    engine.dispose()
    return 0


def _trim() -> None:
    """Give the memory a big transaction freed back to the system: its op dicts are malloc'd
    one by one, and glibc keeps freed pages, so the child's RSS would stay at its largest
    transaction's (+30 MB at 20,000 ops) for ever."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _transaction(executor: Executor, statements: dict[int, Executable], frame: bytes) -> tuple[Any, ...]:
    try:
        reset, new, payload = pickle.loads(frame)
        if reset:
            statements.clear()
            executor.forget()
        statements.update(new)
        return ("ok", executor.transaction([(statements[sid], params) for sid, params in payload]))
    except CommitFailed as exc:
        return ("commit_failed", exc.seconds, describe(exc.__cause__))
    except Exception as exc:
        error = write_error(exc)
        if isinstance(error, UniqueViolation):
            return ("unique", error.constraint, describe(exc))
        return ("failed", str(error))


if __name__ == "__main__":
    sys.exit(main(sys.argv))

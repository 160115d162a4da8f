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
``("error", text)``. Then per transaction the daemon sends ``(seq, reset, statements, payload)``:
the SQLAlchemy statements new to the child, pickled with the schema's tables by name (each
statement travels once, then by id), and ``[(id, params), ...]``; the child answers ``(seq,
verdict...)``: ok with the COMMIT's seconds, commit_failed, unique (constraint, detail),
bad_statements or failed. An answer for another ``seq``, or none, makes the outcome unknown
and the child is replaced: answers must never be matched to the wrong transaction.

The child runs in a process group of its own and ignores SIGINT and SIGTERM (a terminal's
Ctrl-C, systemd's stop): the daemon drains its queue through it first, then closes the pipe,
and the child exits at end of input — also when the daemon is killed. A child found dead
before a frame was sent is replaced and the frame sent again (nothing was applied); one that
dies after, makes that transaction's outcome unknown (``CommitOutcomeUnknown``). Children are
started at most once a second: while the database is down, queued writes fail at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

import structlog
from sqlalchemy import Table
from sqlalchemy.engine import URL
from sqlalchemy.sql.base import Executable

from smsgw.store.engine import make_engine, masked
from smsgw.store.errors import DatabaseUnavailable, StoreError, UniqueViolation, WriteFailed, describe, write_error
from smsgw.store.executor import CommitFailed, Executor, Op, Transaction, connect
from smsgw.store.schema import metadata

log = structlog.get_logger("smsgw.store.writer")

_STATEMENT_LIMIT = 512  # statements built per call would otherwise grow both sides' tables for ever
_CLOSE_WAIT = 30.0  # seconds the child may take to dispose of its connection and exit
_RESPAWN_PAUSE = 1.0  # seconds between attempts to start a child after one failed
_SLOW_ANSWER = 10.0  # seconds of waiting for an answer after which each further wait is logged
_TRIM_AFTER_BYTES = 1 << 20  # a frame this big (a 10,000-recipient batch is ~6 MB) leaves tens of MB free


class WriterProcess:
    """The daemon's end, used by the writer thread: ``spawn()`` (raises if the child cannot
    open the database), then ``with process.running() as run:``."""

    def __init__(self, url: URL) -> None:
        self._url = url
        self._proc: subprocess.Popen[bytes] | None = None
        self._outbox: Connection | None = None
        self._inbox: Connection | None = None
        self._ids: dict[Executable, int] = {}
        self._next_id = 0
        self._reset = False  # the child's statement table is out of step: start both afresh
        self._seq = 0
        self._spawn_failed_at = -_RESPAWN_PAUSE

    @contextmanager
    def running(self) -> Iterator[Transaction]:
        try:
            yield self.transaction
        finally:
            self._close()

    def transaction(self, ops: Sequence[Op]) -> float:
        for attempt in (1, 2):
            self._ensure_child()
            assert self._outbox is not None
            self._seq += 1
            frame, new = self._frame(ops)
            try:
                self._outbox.send_bytes(frame)
            except OSError as exc:
                # the child was gone before it had read the frame whole: nothing was applied
                self._lost(exc)
                if attempt == 2:
                    raise WriteFailed(f"the store writer process is gone: {exc!r}") from exc
                continue
            self._ids.update(new)
            return self._verdict()
        raise AssertionError("unreachable")

    def spawn(self) -> None:
        """Start a child and hand it the database; ``DatabaseUnavailable`` if it cannot open it."""
        pipes: list[int] = []
        try:
            pipes += os.pipe()  # to_child, from_parent
            pipes += os.pipe()  # to_parent, from_child
            to_child, from_parent, to_parent, from_child = pipes
            # -P: not the daemon's working directory first on sys.path (a ./smsgw there would
            # shadow the installed package); a process group of its own: a terminal's Ctrl-C
            # reaches the daemon, which drains through the child before closing its pipe
            proc = subprocess.Popen([sys.executable, "-P", "-m", "smsgw.store.writer_process", str(to_child),
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
        self._ids, self._next_id, self._reset = {}, 0, False
        try:
            self._outbox.send_bytes(self._url.render_as_string(hide_password=False).encode())
            reply = pickle.loads(self._inbox.recv_bytes())
        except (OSError, EOFError) as exc:
            self._lost(exc)
            raise DatabaseUnavailable(masked(self._url), f"the store writer process did not start: {exc!r}") from exc
        if reply[0] != "ready":
            self._close()
            raise DatabaseUnavailable(masked(self._url), f"the store writer process: {reply[1]}")

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

    def _frame(self, ops: Sequence[Op]) -> tuple[bytes, dict[Executable, int]]:
        """The frame, and the statements it introduces (known to the child once it is sent)."""
        reset = self._reset or len(self._ids) >= _STATEMENT_LIMIT
        if reset:
            self._ids, self._reset = {}, False
        new: dict[Executable, int] = {}
        payload: list[tuple[int, Mapping[str, Any]]] = []
        for statement, params in ops:
            sid = self._ids.get(statement)
            if sid is None:
                sid = new.get(statement)
                if sid is None:
                    sid = new[statement] = self._next_id
                    self._next_id += 1
            payload.append((sid, params))
        statements = _dump_statements({sid: statement for statement, sid in new.items()})
        try:
            frame = pickle.dumps((self._seq, reset, statements, pickle.dumps(payload, protocol=5)), protocol=5)
        except Exception:
            self._reset = self._reset or reset  # the child did not get this reset either
            raise
        return frame, new

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
            raise UniqueViolation(rest[0], rest[1])
        if kind == "bad_statements":
            self._reset = True  # the child did not take the frame's statements
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


class _StatementPickler(pickle.Pickler):
    """Tables of the schema travel by name: a statement pickled whole drags a copy of the
    whole MetaData along (~36 KB, ~0.4 MB unpickled, one per statement)."""

    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, Table) and metadata.tables.get(obj.key) is obj:
            return obj.key
        return None


class _StatementUnpickler(pickle.Unpickler):
    def persistent_load(self, pid: Any) -> Any:
        return metadata.tables[pid]


def _dump_statements(statements: dict[int, Executable]) -> bytes:
    if not statements:
        return b""
    buffer = io.BytesIO()
    _StatementPickler(buffer, protocol=5).dump(statements)
    return buffer.getvalue()


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
            seq, reset, new, payload = pickle.loads(frame)  # bytes and plain values only
            reply = (seq, *_transaction(executor, statements, reset, new, payload))
            try:
                outbox.send_bytes(pickle.dumps(reply))
            except OSError:
                break  # the daemon is gone
            if len(frame) >= _TRIM_AFTER_BYTES:
                del frame, payload
                _trim()
    engine.dispose()
    return 0


def _trim() -> None:
    """Give the memory a big transaction freed back to the system: its op dicts are malloc'd
    one by one, and glibc keeps freed pages, so the child's RSS would stay at its largest
    transaction's (+30 MB at 20,000 ops) for ever."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _transaction(executor: Executor, statements: dict[int, Executable], reset: bool, new: bytes,
                 payload: bytes) -> tuple[Any, ...]:
    """The verdict on one frame. Its statements are taken before its payload is read, so a
    payload that cannot be loaded fails alone and the statement tables stay in step."""
    if reset:
        statements.clear()
        executor.forget()
    try:
        if new:
            statements.update(_StatementUnpickler(io.BytesIO(new)).load())
    except Exception as exc:
        return ("bad_statements", f"write rolled back: the writer process cannot load its statements: {exc!r}")
    try:
        ops = [(statements[sid], params) for sid, params in pickle.loads(payload)]
        return ("ok", executor.transaction(ops))
    except CommitFailed as exc:
        return ("commit_failed", exc.seconds, describe(exc.__cause__))
    except Exception as exc:
        error = write_error(exc)
        if isinstance(error, UniqueViolation):
            return ("unique", error.constraint, describe(exc))
        return ("failed", str(error))


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""The writer process itself: ``python -P -m smsgw.store.writer_child IN_FD OUT_FD``, started
and fed by writer_process.py. It applies plans (plans.py) made by the daemon with the bare
driver, sqlite3 or psycopg, and imports neither SQLAlchemy nor structlog: a second
interpreter with SQLAlchemy was ~41 MB, this one is ~17 MB with sqlite3.

Protocol (``multiprocessing.connection`` framing, pickle, plain values only):

* the daemon sends ``(driver, args, kwargs)``, what the driver's ``connect`` takes; the child
  answers ``("ready",)`` or ``("error", text)``;
* then per transaction ``(seq, reset, plans, payload)``: ``plans`` the new ones as ``[(id,
  (sql, names, picks, consts, processors))]`` (a ``plans.Layout``, processors by name,
  ``plans.PROCESSORS``), ``payload`` pickled apart as ``[(id, ready, data)]``: the value
  tuples of one run's ops (``plans.columns``), or
  (``ready``) the driver rows the daemon made itself. The child answers ``(seq, "ok",
  seconds of COMMIT)``, ``(seq, "commit_failed", seconds, text)``, ``(seq, "unique",
  constraint, sqlite message, text)`` or ``(seq, "failed", text)``.

SIGINT and SIGTERM are ignored (the daemon drains its queue through the child first); the
child exits at the end of its input, so also when the daemon is killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import pickle
import signal
import sqlite3
import sys
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from smsgw.store.plans import PROCESSORS, Layout
from smsgw.store.sqlite import configure

TRIM_AFTER_BYTES = 1 << 18  # a frame this big (~5,000 ops; pickled ops are small) leaves ~10 MB free
_UNIQUE_SQLITE = ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY")
_UNIQUE_SQLSTATE = "23505"


_Run = tuple[Layout, bool, list[Any]]  # the plan; whether the data are driver rows (else op values); the data


class _CommitFailed(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__("COMMIT failed")
        self.seconds = seconds


class _Database:
    """One connection, (re)opened on demand; transactions on it."""

    def __init__(self, driver: str, args: Sequence[Any], kwargs: dict[str, Any]) -> None:
        self._driver, self._args, self._kwargs = driver, args, kwargs
        self._conn: Any = None

    def open(self) -> None:
        self.close()
        if self._driver == "sqlite":
            try:
                conn = sqlite3.connect(*self._args, **self._kwargs)
                refused = configure(conn)
            except sqlite3.Error as exc:
                raise sqlite3.OperationalError(f"{exc} ({self._args[0]})") from exc
            if refused:
                conn.close()
                raise sqlite3.OperationalError(refused)
        else:
            import psycopg

            conn = psycopg.connect(*self._args, **self._kwargs)
        self._conn = conn

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def transaction(self, runs: list[_Run]) -> float:
        """Apply the runs and COMMIT; the seconds COMMIT took. A PostgreSQL connection found
        broken before COMMIT applied nothing: the runs are tried once more on a new one."""
        fresh = self._conn is None or self._broken()
        try:
            return self._attempt(runs)
        except _CommitFailed:
            raise
        except Exception as exc:
            if fresh or not self._broken():
                raise
            _log("store.writer_reconnecting", error=_describe(exc))
            return self._attempt(runs)

    def _broken(self) -> bool:
        return self._driver != "sqlite" and (self._conn is None or self._conn.broken)

    def _attempt(self, runs: list[_Run]) -> float:
        if self._conn is None or self._broken():
            self.open()
        conn = self._conn
        try:
            if self._driver == "sqlite":
                conn.execute("BEGIN IMMEDIATE")  # the write lock now: the busy timeout applies here
                for plan, ready, data in runs:
                    conn.executemany(plan.sql, data if ready else plan.rows(data))
            else:
                with conn.cursor() as cursor:
                    for plan, ready, data in runs:
                        cursor.executemany(plan.sql, data if ready else plan.rows(data))
        except BaseException:
            self._rollback()
            raise
        started = time.perf_counter()
        try:
            if self._driver == "sqlite":
                conn.execute("COMMIT")
            else:
                conn.commit()
        except Exception as exc:
            self._rollback()
            raise _CommitFailed(time.perf_counter() - started) from exc
        return time.perf_counter() - started

    def _rollback(self) -> None:
        """Roll back so the connection can begin again; one that cannot is dropped (the next
        transaction opens another)."""
        try:
            if self._driver == "sqlite":
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
            else:
                self._conn.rollback()
        except Exception:
            _log("store.writer_connection_discarded")
            self.close()


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    inbox = Connection(int(argv[1]), writable=False)
    outbox = Connection(int(argv[2]), readable=False)
    try:
        database = _Database(*pickle.loads(inbox.recv_bytes()))
    except EOFError:
        return 0
    try:
        database.open()
    except Exception as exc:
        outbox.send_bytes(pickle.dumps(("error", _describe(exc))))
        return 1
    outbox.send_bytes(pickle.dumps(("ready",)))
    plans: dict[int, Layout] = {}
    while True:
        try:
            frame = inbox.recv_bytes()
        except EOFError:
            break
        seq, reset, new, payload = pickle.loads(frame)
        if reset:
            plans.clear()
        plans.update((pid, _plan(wire)) for pid, wire in new)  # before the payload: tables stay in step
        reply = (seq, *_verdict(database, plans, payload))
        try:
            outbox.send_bytes(pickle.dumps(reply))
        except OSError:
            break  # the daemon is gone
        if len(frame) >= TRIM_AFTER_BYTES:
            del frame, payload
            _trim()
    database.close()
    return 0


def _plan(wire: tuple[Any, ...]) -> Layout:
    sql, names, picks, consts, processors = wire
    return Layout(sql, names, picks, consts, tuple((index, PROCESSORS[kind]) for index, kind in processors))


def _verdict(database: _Database, plans: dict[int, Layout], payload: bytes) -> tuple[Any, ...]:
    try:
        # each run's rows are made as it is reached, as the writer thread does: a value of a later
        # run that its processor refuses must not hide an earlier run's failure (a unique violation)
        runs = [(plans[pid], ready, data) for pid, ready, data in pickle.loads(payload)]
        return ("ok", database.transaction(runs))
    except _CommitFailed as exc:
        return ("commit_failed", exc.seconds, _describe(exc.__cause__))
    except Exception as exc:
        if getattr(exc, "sqlstate", None) == _UNIQUE_SQLSTATE:
            return ("unique", getattr(getattr(exc, "diag", None), "constraint_name", None), None, _describe(exc))
        if getattr(exc, "sqlite_errorname", None) in _UNIQUE_SQLITE:
            return ("unique", None, str(exc), _describe(exc))
        return ("failed", f"write rolled back: {_describe(exc)}")


def _describe(exc: BaseException | None) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _log(event: str, **fields: Any) -> None:
    """A JSON line on stdout, as the daemon's structlog writes them (journald takes both)."""
    line = {"event": event, "level": "warning", "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "logger": "smsgw.store.writer", **fields}
    print(json.dumps(line), flush=True)


def _trim() -> None:
    """Give the memory a big transaction freed back to the system: its op dicts are malloc'd
    one by one, and glibc keeps freed pages, so the child's RSS would stay at its largest
    transaction's (+30 MB at 20,000 ops) for ever."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

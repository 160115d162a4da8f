"""How every SQLite connection of smsgw is set up: SQLAlchemy's (engine.py) and the writer
process's (writer_child.py, which does without SQLAlchemy).

WAL (readers never block the single writer, nor it them), ``synchronous=FULL`` (a returned
COMMIT survives power loss; free once commits are batched), a busy timeout for other
processes (CLI, migrations) holding the write lock, and no implicit transactions: we send
``BEGIN`` ourselves (pysqlite's implicit ones would give a multi-statement read no snapshot).
"""

from __future__ import annotations

import sqlite3

# Long enough to outlast a CLI command or a migration holding the SQLite write lock.
SQLITE_BUSY_TIMEOUT_MS = 10_000


def configure(conn: sqlite3.Connection) -> str | None:
    """Set the connection up; the reason it cannot be used, if so."""
    conn.isolation_level = None
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode != "wal":
        return f"SQLite refused WAL mode (got {mode!r}); is the file on a network filesystem?"
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    return None

"""Typed store errors, and the translation of driver errors into them.

Callers (the HTTP API, the CLI) branch on these types, never on driver exceptions or
message text, so SQLite and PostgreSQL look the same to them.
"""

from __future__ import annotations

import re

from sqlalchemy import PrimaryKeyConstraint, UniqueConstraint

from smsgw.store.schema import metadata


class StoreError(Exception):
    """Base of every error the store raises."""


class UnsupportedDatabaseURL(StoreError):
    """The database URL is malformed or names a backend smsgw does not support."""


class DatabaseUnavailable(StoreError):
    """The database cannot be reached or opened. ``url`` has its password masked."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot open database {url}: {reason}")
        self.url = url
        self.reason = reason


class WriteFailed(StoreError):
    """The transaction holding the caller's ops rolled back: none of them were applied."""


class UniqueViolation(WriteFailed):
    """A row would duplicate a unique key. ``constraint`` is the schema's constraint name
    (e.g. ``uq_messages_key_id_client_ref``), the same on every backend."""

    def __init__(self, constraint: str | None, detail: str) -> None:
        super().__init__(f"unique constraint {constraint or '(unknown)'} violated: {detail}")
        self.constraint = constraint


class CommitOutcomeUnknown(WriteFailed):
    """COMMIT itself failed (e.g. the connection dropped during it): the ops may or may not
    be durable, so they are not retried and the caller must not assume either outcome."""


class WriterClosed(StoreError):
    """The writer is not running (not started yet, closing or closed)."""


class ReadFailed(StoreError):
    """A read hit a database error (the reader's own exceptions pass through unchanged)."""


class SchemaOutOfDate(StoreError):
    """The database schema is behind this smsgw's migrations."""


class UnknownSchemaRevision(StoreError):
    """The database was migrated by a newer smsgw than this one."""


class IdSpaceExhausted(StoreError):
    """The id generator's 41-bit millisecond field overflowed (after year 2093)."""


# SQLite names the columns, not the constraint: "UNIQUE constraint failed: t.a, t.b".
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)$")


def _constraint_for_columns(qualified: str) -> str | None:
    names = [part.strip() for part in qualified.split(",")]
    tables = {name.split(".", 1)[0] for name in names}
    if len(tables) != 1 or (table := metadata.tables.get(tables.pop())) is None:
        return None
    columns = [name.split(".", 1)[1] for name in names]
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint | PrimaryKeyConstraint) and [
            c.name for c in constraint.columns
        ] == columns:
            return str(constraint.name)
    return None


def _unique_violation(orig: BaseException, detail: str) -> UniqueViolation | None:
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is not None:  # psycopg
        if sqlstate != "23505":
            return None
        return UniqueViolation(getattr(getattr(orig, "diag", None), "constraint_name", None), detail)
    if getattr(orig, "sqlite_errorname", None) in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"):
        return unique_violation(None, str(orig), detail)
    return None


def unique_violation(constraint: str | None, sqlite_message: str | None, detail: str) -> UniqueViolation:
    """The error for a unique violation as the writer process reports it: PostgreSQL's
    constraint name, or SQLite's message (which names the columns)."""
    if sqlite_message is not None:
        match = _SQLITE_UNIQUE.search(sqlite_message)
        constraint = _constraint_for_columns(match.group(1)) if match else None
    return UniqueViolation(constraint, detail)


def describe(exc: BaseException | None) -> str:
    """The driver's one-line message (SQLAlchemy appends SQL and a help link on more lines)."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip()
    return text.splitlines()[0] if text else type(orig).__name__


def write_error(exc: BaseException) -> WriteFailed:
    """The typed error for a failed write; the original stays attached as ``__cause__``.
    A ``WriteFailed`` (e.g. the writer process's verdict, rebuilt by writer_process.py) is
    returned as it is."""
    if isinstance(exc, WriteFailed):
        return exc
    detail = describe(exc)
    error = _unique_violation(getattr(exc, "orig", None) or exc, detail) or WriteFailed(
        f"write rolled back: {detail}"
    )
    error.__cause__ = exc
    return error

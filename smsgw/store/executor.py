"""Op lists run as one transaction on one connection: the part of the store writer that
talks to the database through SQLAlchemy. The writer thread runs it (writer.py); in process
mode the writer thread only makes the plans here and the writer process (writer_child.py)
runs them with the bare driver.

An op is ``(statement, params)``. Consecutive ops with the same statement object and the same
parameter names run as one executemany. An INSERT/UPDATE/DELETE is compiled once per
statement object and parameter names (a ``plans.Plan``) and its rows go to the driver as
plain tuples or dicts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

import structlog
from sqlalchemy import Connection, Engine, LargeBinary
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.processors import to_float
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.dml import UpdateBase

from smsgw.store.engine import BEGIN_IMMEDIATE
from smsgw.store.errors import describe
from smsgw.store.plans import Plan, runs

Op: TypeAlias = tuple[Executable, Mapping[str, Any]]

log = structlog.get_logger("smsgw.store.writer")


_NO_PLAN = object()  # cached: the statement needs SQLAlchemy's full execution path
PLAN_CACHE_LIMIT = 512  # statements built per call would otherwise grow the cache for ever


def plan(statement: Executable, keys: Sequence[str], dialect: Dialect) -> Plan | None:
    """The plan, or None when a value needs work only SQLAlchemy's execution does (a
    Python-side default function, RETURNING, an expanding IN, a missing required value)."""
    if not isinstance(statement, UpdateBase):
        return None
    compiled: Any = statement.compile(dialect=dialect, column_keys=list(keys))
    if compiled.returning or compiled.post_compile_params or compiled.literal_execute_params:
        return None
    defaults: dict[str, Any] = {}
    for column in compiled.insert_prefetch + compiled.update_prefetch:
        if column.default is None or not column.default.is_scalar:
            return None
        defaults[column.key] = column.default.arg
    keyset = set(keys)
    by_name = {name: bind for bind, name in compiled.bind_names.items()}
    order = compiled.positiontup if compiled.positional else list(by_name)
    lookup: list[str] = []
    fixed: dict[str, Any] = {}
    processors: list[tuple[int, Callable[[Any], Any]]] = []
    kinds: list[str | None] = []
    for index, name in enumerate(order):
        bind = by_name[name]
        impl = bind.type.dialect_impl(dialect)
        processor = impl.bind_processor(dialect)
        if bind.key in keyset:
            lookup.append(_plain(bind.key))
            if processor is not None:
                processors.append((index, processor))
                kinds.append(_kind(impl, processor))
            continue
        if bind.key in defaults:
            value = defaults[bind.key]
        elif bind.required or bind.callable is not None:
            return None
        else:
            value = bind.value
        slot = f"\0{index}"  # no op key starts with NUL
        lookup.append(slot)
        fixed[slot] = value if processor is None else processor(value)
    names = None
    if not compiled.positional:
        escaped = compiled.escaped_bind_names
        names = tuple(_plain(escaped.get(name, name)) for name in order)
    return Plan.of(_plain(compiled.string), names, tuple(lookup), fixed, tuple(processors), tuple(kinds))


def _plain(name: str) -> str:
    """A plain ``str``: SQLAlchemy's names are a subclass (``quoted_name``), whose unpickling
    would import SQLAlchemy into the writer process (+22 MB), and they reach it as the keys
    of the driver rows the daemon makes."""
    return str.__str__(name)


def _kind(impl: Any, processor: Callable[[Any], Any]) -> str | None:
    """The name in ``plans.PROCESSORS`` of a processor that does the same, if there is one.
    ``impl`` is the type for the dialect: a variant (``with_variant``) or a subclass with a
    processor of its own is not LargeBinary's."""
    if processor is to_float:
        return "float"
    if isinstance(impl, LargeBinary) and type(impl).bind_processor is LargeBinary.bind_processor:
        return "bytes"
    return None


class CommitFailed(Exception):
    """COMMIT raised: the outcome is unknown, so the batch must not be retried."""

    def __init__(self, seconds: float) -> None:
        super().__init__("COMMIT failed")
        self.seconds = seconds  # spent in the failed COMMIT, for the stats


#: ``run(ops)``: apply the ops in one transaction and return the seconds COMMIT took; raise
#: ``CommitFailed`` when COMMIT itself failed, any other exception when the ops rolled back.
Transaction: TypeAlias = Callable[[Sequence[Op]], float]


class Executor:
    """Runs op lists as transactions on one connection: in the writer thread, or in the
    writer process (writer_process.py) with the same code."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._plans: dict[tuple[Executable, tuple[str, ...]], Any] = {}  # Plan or _NO_PLAN

    def transaction(self, ops: Sequence[Op]) -> float:
        try:
            return self._attempt(ops)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            # The connection died (e.g. PostgreSQL restarted) before COMMIT, so nothing was
            # applied: run the ops once more on the fresh connection SQLAlchemy opens.
            log.warning("store.writer_reconnecting", error=describe(exc))
            return self._attempt(ops)

    def forget(self) -> None:
        """Drop the compiled plans (their statements are gone)."""
        self._plans.clear()

    def _attempt(self, ops: Sequence[Op]) -> float:
        conn = self._conn
        conn.begin()
        try:
            for statement, keys, run in runs(ops):
                plan = self._plan_for(statement, keys, conn.dialect)
                if plan is None:
                    conn.execute(statement, run)
                else:
                    conn.exec_driver_sql(plan.sql, plan.rows(run))  # type: ignore[arg-type]
        except BaseException:
            _reset(conn)
            raise
        started = time.perf_counter()
        try:
            conn.commit()
        except Exception as exc:
            _reset(conn)
            raise CommitFailed(time.perf_counter() - started) from exc
        return time.perf_counter() - started

    def _plan_for(self, statement: Executable, keys: tuple[str, ...], dialect: Dialect) -> Plan | None:
        found = self._plans.get((statement, keys))
        if found is None:
            if len(self._plans) >= PLAN_CACHE_LIMIT:
                self._plans.clear()
            found = self._plans[(statement, keys)] = plan(statement, keys, dialect) or _NO_PLAN
        return None if found is _NO_PLAN else found


def connect(engine: Engine) -> Connection:
    """The writer's connection: on SQLite it takes the write lock at BEGIN."""
    conn = engine.connect()
    if conn.dialect.name == "sqlite":
        conn = conn.execution_options(**{BEGIN_IMMEDIATE: True})
    return conn


def _reset(conn: Connection) -> None:
    """Roll back after a failure, so the connection can begin again; a connection that
    cannot even roll back is discarded (the next begin gets a fresh one from the pool)."""
    try:
        conn.rollback()
        # SQLAlchemy considers a transaction whose COMMIT raised to be over, but the driver
        # may not (SQLite keeps it open after a deferred-constraint failure at COMMIT).
        conn.connection.dbapi_connection.rollback()  # type: ignore[union-attr]
    except Exception:
        log.warning("store.writer_connection_discarded", exc_info=True)
        conn.invalidate()

"""Op lists run as one transaction on one connection: the part of the store writer that
talks to the database, shared by the writer thread (writer.py) and the writer process
(writer_process.py). No trio here: the writer process imports only this and the driver.

An op is ``(statement, params)``. Consecutive ops with the same statement object and the same
parameter names run as one executemany. An INSERT/UPDATE/DELETE is compiled once per
statement object and parameter names (``_Plan``) and its rows go to the driver as plain
tuples or dicts: SQLAlchemy's per-row work in ``Connection.execute`` cost ~4 times the
sqlite3 call itself.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import structlog
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.dml import UpdateBase

from smsgw.store.engine import BEGIN_IMMEDIATE
from smsgw.store.errors import describe

Op: TypeAlias = tuple[Executable, Mapping[str, Any]]

log = structlog.get_logger("smsgw.store.writer")


@dataclass(frozen=True, slots=True)
class _Plan:
    """A DML statement compiled for one dialect and one set of parameter names: the SQL,
    and how to make a driver row of an op's parameters: ``getter`` reads every driver
    parameter in order from the parameters merged with ``fixed`` (the values that do not
    come from the op: literals, scalar column defaults), then ``processors`` convert the
    values of the positions whose type needs it (e.g. Float on SQLite)."""

    sql: str
    names: tuple[str, ...] | None  # the driver's parameter names; None: positional
    getter: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    fixed: dict[str, Any]
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]

    def rows(self, run: list[Mapping[str, Any]]) -> list[Any]:
        getter, fixed = self.getter, self.fixed
        values = [getter({**params, **fixed}) for params in run] if fixed else [getter(params) for params in run]
        if self.processors:
            converted = []
            for row in values:
                items = list(row)
                for index, processor in self.processors:
                    items[index] = processor(items[index])
                converted.append(tuple(items))
            values = converted
        if self.names is None:
            return values
        names = self.names
        return [dict(zip(names, row, strict=True)) for row in values]


_NO_PLAN = object()  # cached: the statement needs SQLAlchemy's full execution path
_PLAN_CACHE_LIMIT = 512  # statements built per call would otherwise grow the cache for ever


def _plan(statement: Executable, keys: Sequence[str], dialect: Dialect) -> _Plan | None:
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
    for index, name in enumerate(order):
        bind = by_name[name]
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if bind.key in keyset:
            lookup.append(bind.key)
            if processor is not None:
                processors.append((index, processor))
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
        names = tuple(escaped.get(name, name) for name in order)
    if len(lookup) == 1:
        only = lookup[0]
        getter: Callable[[Mapping[str, Any]], tuple[Any, ...]] = lambda params: (params[only],)  # noqa: E731
    else:
        getter = operator.itemgetter(*lookup)
    return _Plan(compiled.string, names, getter, fixed, tuple(processors))


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
        self._plans: dict[tuple[Executable, tuple[str, ...]], Any] = {}  # _Plan or _NO_PLAN

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
            for statement, keys, run in _runs(ops):
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

    def _plan_for(self, statement: Executable, keys: tuple[str, ...], dialect: Dialect) -> _Plan | None:
        plan = self._plans.get((statement, keys))
        if plan is None:
            if len(self._plans) >= _PLAN_CACHE_LIMIT:
                self._plans.clear()
            plan = self._plans[(statement, keys)] = _plan(statement, keys, dialect) or _NO_PLAN
        return None if plan is _NO_PLAN else plan


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


def _runs(ops: Sequence[Op]) -> Iterator[tuple[Executable, tuple[str, ...], list[Mapping[str, Any]]]]:
    """Maximal runs of consecutive ops sharing a statement object and parameter names."""
    statement: Executable | None = None
    keys: Any = None
    run: list[Mapping[str, Any]] = []
    for op_statement, params in ops:
        if op_statement is statement and params.keys() == keys:
            run.append(params)
            continue
        if statement is not None:
            yield statement, tuple(keys), run
        statement, keys, run = op_statement, params.keys(), [params]
    if statement is not None:
        yield statement, tuple(keys), run

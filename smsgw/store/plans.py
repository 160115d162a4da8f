"""Driver rows from op parameters: the part of a DML statement's execution that is repeated
per row, kept apart from SQLAlchemy so that the writer process (writer_child.py) can run it
without importing SQLAlchemy (~24 MB of a second interpreter's memory).

A ``Plan`` is made once per statement and set of parameter names by executor.py, which
compiles the statement; its rows then go to the driver's ``executemany`` as plain tuples or
dicts (SQLAlchemy's per-row work in ``Connection.execute`` cost ~4 times the sqlite3 call).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Plan:
    """A DML statement compiled for one dialect and one set of parameter names: the SQL, and
    how to make a driver row of an op's parameters: the driver's parameters in order are read
    by name (``lookup``) from the op's parameters merged with ``fixed`` (the values that do
    not come from the op: literals, scalar column defaults), then ``processors`` convert the
    values of the positions whose type needs it (e.g. Float on SQLite)."""

    sql: str
    names: tuple[str, ...] | None  # the driver's parameter names; None: positional
    lookup: tuple[str, ...]
    fixed: dict[str, Any]
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]
    kinds: tuple[str | None, ...]  # per processor: its name in ``PROCESSORS``, None if none fits
    getter: Callable[[Mapping[str, Any]], tuple[Any, ...]]

    @classmethod
    def of(cls, sql: str, names: tuple[str, ...] | None, lookup: tuple[str, ...], fixed: dict[str, Any],
           processors: tuple[tuple[int, Callable[[Any], Any]], ...], kinds: tuple[str | None, ...]) -> Plan:
        getter: Callable[[Mapping[str, Any]], tuple[Any, ...]]
        if not lookup:
            getter = lambda params: ()  # noqa: E731
        elif len(lookup) == 1:
            only = lookup[0]
            getter = lambda params: (params[only],)  # noqa: E731
        else:
            getter = operator.itemgetter(*lookup)
        return cls(sql, names, lookup, fixed, processors, kinds, getter)

    def rows(self, run: Sequence[Mapping[str, Any]]) -> list[Any]:
        getter, fixed = self.getter, self.fixed
        values = [getter({**params, **fixed}) for params in run] if fixed else [getter(params) for params in run]
        return _finish(values, self.processors, self.names)


@dataclass(frozen=True, slots=True)
class Layout:
    """A plan as the writer process applies it to a run sent as columns (``columns``): each
    op's values in the order of the run's keys. The driver's row is ``picks`` of those
    values followed by ``consts`` (the plan's ``fixed`` it reads); None: the values as
    they are. Then the processors, as in ``Plan.rows``."""

    sql: str
    names: tuple[str, ...] | None
    picks: tuple[int, ...] | None
    consts: tuple[Any, ...]
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]

    def rows(self, values: list[tuple[Any, ...]]) -> list[Any]:
        picks, consts = self.picks, self.consts
        if picks is not None:
            if not picks:
                values = [() for _ in values]
            elif len(picks) == 1:
                only = picks[0]
                values = [((row + consts)[only],) for row in values]
            else:
                getter = operator.itemgetter(*picks)
                values = [getter(row + consts) for row in values] if consts else list(map(getter, values))
        return _finish(values, self.processors, self.names)


def _finish(values: list[Any], processors: tuple[tuple[int, Callable[[Any], Any]], ...],
            names: tuple[str, ...] | None) -> list[Any]:
    """Driver rows of value tuples in the driver's order: processors applied, named if the
    driver takes names."""
    if processors:
        converted = []
        for row in values:
            items = list(row)
            for index, processor in processors:
                items[index] = processor(items[index])
            converted.append(tuple(items))
        values = converted
    if names is None:
        return values
    return [dict(zip(names, row, strict=True)) for row in values]


def _to_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _to_bytes(value: Any) -> bytes | None:
    """As sqlite3.Binary (memoryview) and psycopg's Binary take it: a buffer, nothing else
    (``bytes(3)`` would be three NULs, ``bytes([1, 2])`` two bytes, where both drivers fail)."""
    if value is None or type(value) is bytes:
        return value
    return memoryview(value).tobytes()


#: Bind processors the writer process applies itself, by name: SQLAlchemy's for Float on
#: SQLite, and for LargeBinary (a memoryview there, which does not pickle; both drivers take
#: bytes alike). Rows of a plan with any other processor are made by the writer thread.
PROCESSORS: dict[str, Callable[[Any], Any]] = {"float": _to_float, "bytes": _to_bytes}


def runs(ops: Sequence[tuple[Any, Mapping[str, Any]]]) -> Iterator[tuple[Any, tuple[str, ...],
                                                                         list[Mapping[str, Any]]]]:
    """Maximal runs of consecutive ops sharing a statement object and parameter names: each
    is one ``executemany``."""
    statement: Any = None
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


def columns(ops: Sequence[tuple[Any, Mapping[str, Any]]]) -> Iterator[tuple[Any, tuple[str, ...],
                                                                            list[tuple[Any, ...]]]]:
    """The runs of ``runs``, each op's parameters as the tuple of its values in the order of
    the run's keys: what the writer process is sent. Grouping and values in one step: an op
    of the same size that has every key of the run has its keys. For a message's seven ops
    (scripts/bench/rows.py; ops not in the CPU cache, as in the daemon) this and pickling the
    tuples cost the daemon ~2.0 µs where runs() and pickling the dicts cost ~2.9 µs; the
    child's unpickling and rows ~1.9 µs instead of ~6.5 µs (tuples unpickle ~6 times faster
    than dicts)."""
    statement: Any = None
    keys: tuple[str, ...] = ()
    size = 0
    getter: Callable[[Mapping[str, Any]], tuple[Any, ...]] = _values_of(keys)
    values: list[tuple[Any, ...]] = []
    for op_statement, params in ops:
        if op_statement is statement and len(params) == size:
            try:
                values.append(getter(params))
                continue
            except KeyError:
                pass
        if statement is not None:
            yield statement, keys, values
        statement, keys = op_statement, tuple(params)
        size, getter = len(keys), _values_of(keys)
        values = [getter(params)]
    if statement is not None:
        yield statement, keys, values


def _values_of(keys: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    if not keys:
        return lambda params: ()
    if len(keys) == 1:
        only = keys[0]
        return lambda params: (params[only],)
    return operator.itemgetter(*keys)

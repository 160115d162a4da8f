"""Data retention: ``[gateway] retention_days`` deletes what is final and older than that, so
the database does not grow for ever. Off (0) by default: nothing is deleted.

What goes, once older than the cutoff (now - retention_days): messages in a final status by
``done_at``, with their segments (not while their batch is unfinished: its final counts are
computed from them); reports by ``done_at``; unmatched receipts, stored MO and incomplete MO
parts by ``received_at``; callbacks ``delivered`` or ``dead`` by ``next_attempt_at`` (the last
try); ``done``/``cancelled`` batches by ``done_at``, with their rejected rows. Nothing pending
is deleted, whatever its age.

How, so that sending is not slowed:

* a chunk of a few thousand rows is one transaction through the group-commit writer, then the
  job sleeps a moment; the statements are module-level constants (compiled once by the writer)
  that repeat the conditions, so a row changed since it was read is left alone;
* message, MO, callback and batch ids are time-sortable: ``id < first_id_at(cutoff)`` bounds
  each scan to the old end of the primary key. ``reports`` and ``unmatched_reports`` have
  autoincrement ids whose times grow with them: their scan stops at the first chunk holding a
  newer row. ``mo_parts`` only holds MO still being reassembled (a few rows);
* one INFO line per run gives the rows deleted per table, as each chunk's read counted them
  (``smsgw_retention_deleted_total`` adds them up).
"""

from __future__ import annotations

import collections
import datetime as dt
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
import trio
from sqlalchemy import ColumnElement, Connection, Table, and_, bindparam, delete, exists, literal_column, select
from sqlalchemy.sql.base import Executable

from .queries import FINAL_MESSAGE, word
from .store.errors import ReadFailed, WriteFailed
from .store.ids import first_id_at
from .store.schema import (
    batch_rejects,
    batches,
    callbacks,
    messages,
    mo_messages,
    mo_parts,
    reports,
    segments,
    unmatched_reports,
)
from .store.store import Store

log = structlog.get_logger("smsgw.retention")

DAY = 86_400.0
CHUNK = 2000  # rows read and deleted per transaction
PAUSE = 0.05  # seconds between chunks: the writer is shared with sending
FIRST_RUN = 60.0  # seconds after start
EVERY = 300.0  # seconds between runs
TABLES = ("messages", "segments", "reports", "unmatched_reports", "mo_messages", "mo_parts", "callbacks",
          "batches", "batch_rejects")
_MAX_LINE = (1 << 31) - 1


def _one_of(column: ColumnElement[str], *values: str) -> ColumnElement[bool]:
    """``column IN ('a', 'b')`` with the words written into the SQL (an expanding IN is not
    batched by the writer) and the column as ``column || ''``, which no index serves: SQLite
    would otherwise pick the index on the status and read every final row for each chunk
    instead of the chunk's id range."""
    return column.concat(literal_column("''")).in_([word(value) for value in values])


_m, _b, _r = messages.c, batches.c, batch_rejects.c
_CUTOFF = bindparam("cutoff")
# a message's batch, if any, has its final counts (a batch's row is deleted only after that)
_BATCH_SETTLED = ~exists().where(_b.id == _m.batch_id, _b.done_at.is_(None))
_OLD_MESSAGE = and_(_one_of(_m.status, *FINAL_MESSAGE), _m.done_at < _CUTOFF, _BATCH_SETTLED)
_OLD_MO = mo_messages.c.received_at < _CUTOFF
_OLD_CALLBACK = and_(_one_of(callbacks.c.state, "delivered", "dead"), callbacks.c.next_attempt_at < _CUTOFF)
_OLD_BATCH = and_(_one_of(_b.state, "done", "cancelled"), _b.done_at < _CUTOFF)


def _in_range(table: Table, old: ColumnElement[bool]) -> ColumnElement[bool]:
    return and_(table.c.id >= bindparam("lo"), table.c.id <= bindparam("hi"), old)


DELETE_SEGMENTS = delete(segments).where(segments.c.message_id.in_(
    select(_m.id).where(_in_range(messages, _OLD_MESSAGE))))
DELETE_MESSAGES = delete(messages).where(_in_range(messages, _OLD_MESSAGE))
DELETE_MO = delete(mo_messages).where(_in_range(mo_messages, _OLD_MO))
DELETE_CALLBACKS = delete(callbacks).where(_in_range(callbacks, _OLD_CALLBACK))
DELETE_REPORTS = delete(reports).where(_in_range(reports, reports.c.done_at < _CUTOFF))
DELETE_UNMATCHED = delete(unmatched_reports).where(
    _in_range(unmatched_reports, unmatched_reports.c.received_at < _CUTOFF))
DELETE_MO_PART = delete(mo_parts).where(
    mo_parts.c.channel == bindparam("ch"), mo_parts.c.from_number == bindparam("src"),
    mo_parts.c.to_number == bindparam("dst"), mo_parts.c.reference == bindparam("ref"),
    mo_parts.c.total == bindparam("tot"), mo_parts.c.idx == bindparam("idx"), mo_parts.c.received_at < _CUTOFF)
DELETE_REJECTS = delete(batch_rejects).where(
    _r.batch_id == bindparam("b_id"), _r.line <= bindparam("line"),
    exists().where(_b.id == bindparam("b_id"), _OLD_BATCH))
DELETE_BATCH = delete(batches).where(_b.id == bindparam("b_id"), _OLD_BATCH)


@dataclass(frozen=True, slots=True)
class _Sorted:
    """A table with time-sortable ids: its old rows lie below ``first_id_at(cutoff)``."""

    name: str
    table: Table
    old: ColumnElement[bool]
    statements: tuple[Executable, ...]  # each deletes the old rows with ids in [lo, hi]
    children: tuple[str, ColumnElement[int]] | None = None  # a table deleted along, rows per row


_MESSAGES = _Sorted("messages", messages, _OLD_MESSAGE, (DELETE_SEGMENTS, DELETE_MESSAGES), ("segments", _m.segments))
_MO = _Sorted("mo_messages", mo_messages, _OLD_MO, (DELETE_MO,))
_CALLBACKS = _Sorted("callbacks", callbacks, _OLD_CALLBACK, (DELETE_CALLBACKS,))


def _old_sorted(conn: Connection, kind: _Sorted, after: int, upto: int, cutoff: float,
                limit: int) -> list[tuple[int, int]]:
    """The next old rows of ``kind`` after id ``after``: (id, child rows)."""
    t = kind.table.c
    weight = kind.children[1] if kind.children else literal_column("0")
    query = select(t.id, weight).where(t.id > after, t.id < upto, kind.old).order_by(t.id).limit(limit)
    return [(row[0], row[1]) for row in conn.execute(query, {"cutoff": cutoff})]


def _next_rows(conn: Connection, table: Table, at: str, after: int, limit: int) -> list[tuple[int, float]]:
    """The next rows of ``table`` after id ``after``, by primary key: (id, time)."""
    t = table.c
    return [(row[0], row[1]) for row in conn.execute(
        select(t.id, t[at]).where(t.id > after).order_by(t.id).limit(limit))]


def _old_parts(conn: Connection, cutoff: float, limit: int) -> list[dict[str, Any]]:
    p = mo_parts.c
    rows = conn.execute(select(p.channel, p.from_number, p.to_number, p.reference, p.total, p.idx)
                        .where(p.received_at < cutoff).limit(limit))
    return [{"ch": ch, "src": src, "dst": dst, "ref": ref, "tot": tot, "idx": idx, "cutoff": cutoff}
            for ch, src, dst, ref, tot, idx in rows]


def _old_batches(conn: Connection, after: int, upto: int, cutoff: float, limit: int) -> list[int]:
    query = select(_b.id).where(_b.id > after, _b.id < upto, _OLD_BATCH).order_by(_b.id).limit(limit)
    return list(conn.execute(query, {"cutoff": cutoff}).scalars())


def _reject_lines(conn: Connection, batch_id: int, after: int, limit: int) -> list[int]:
    query = select(_r.line).where(_r.batch_id == batch_id, _r.line > after).order_by(_r.line).limit(limit)
    return list(conn.execute(query).scalars())


class Retention:
    """The job; ``run`` is its task (started by ``app`` when ``retention_days`` > 0)."""

    def __init__(self, store: Store, days: float, *, wall_clock: Callable[[], float] = time.time,
                 chunk: int = CHUNK, pause: float = PAUSE) -> None:
        self.store = store
        self.days = days
        self.wall_clock = wall_clock
        self.chunk = chunk
        self.pause = pause
        self.deleted: collections.Counter[str] = collections.Counter()  # since start, for /metrics
        self._counts: dict[str, int] = {}

    async def run(self, *, first: float = FIRST_RUN, every: float = EVERY) -> None:
        await trio.sleep(first)
        while True:
            try:
                await self.run_once()
            except (ReadFailed, WriteFailed) as exc:  # the database is down: the next run tries again
                log.warning("retention failed; will retry", error=str(exc), counts=self._counts)
            await trio.sleep(every)

    async def run_once(self, now: float | None = None) -> dict[str, int]:
        """Delete what is older than ``now`` (default: the clock) minus ``days``; the counts."""
        cutoff = (self.wall_clock() if now is None else now) - self.days * DAY
        upto = first_id_at(cutoff)
        started = time.monotonic()
        self._counts = counts = dict.fromkeys(TABLES, 0)
        for kind in (_MESSAGES, _MO, _CALLBACKS):
            await self._sorted(kind, cutoff, upto)
        await self._by_time(reports, "done_at", DELETE_REPORTS, cutoff)
        await self._by_time(unmatched_reports, "received_at", DELETE_UNMATCHED, cutoff)
        await self._parts(cutoff)
        await self._batches(cutoff, upto)
        self.deleted.update(counts)
        log.info("retention", before=dt.datetime.fromtimestamp(cutoff, dt.UTC).isoformat(timespec="seconds"),
                 seconds=round(time.monotonic() - started, 2), **counts)
        return counts

    async def _write(self, ops: Sequence[tuple[Executable, dict[str, Any]]], **counts: int) -> None:
        await self.store.execute(ops)
        for name, count in counts.items():
            self._counts[name] += count
        await trio.sleep(self.pause)

    async def _sorted(self, kind: _Sorted, cutoff: float, upto: int) -> None:
        after = -1
        while rows := await self.store.read(_old_sorted, kind, after, upto, cutoff, self.chunk):
            bounds = {"lo": rows[0][0], "hi": rows[-1][0], "cutoff": cutoff}
            counts = {kind.name: len(rows)}
            if kind.children:
                counts[kind.children[0]] = sum(n for _, n in rows)
            await self._write([(statement, bounds) for statement in kind.statements], **counts)
            if len(rows) < self.chunk:
                return
            after = rows[-1][0]

    async def _by_time(self, table: Table, at: str, statement: Executable, cutoff: float) -> None:
        after = -1
        while rows := await self.store.read(_next_rows, table, at, after, self.chunk):
            old = [row_id for row_id, when in rows if when < cutoff]
            if old:
                await self._write([(statement, {"lo": old[0], "hi": old[-1], "cutoff": cutoff})],
                                  **{table.name: len(old)})
            if len(old) < self.chunk:  # a newer row, or the end of the table: the rest is newer
                return
            after = rows[-1][0]

    async def _parts(self, cutoff: float) -> None:
        while rows := await self.store.read(_old_parts, cutoff, self.chunk):
            await self._write([(DELETE_MO_PART, row) for row in rows], mo_parts=len(rows))
            if len(rows) < self.chunk:
                return

    async def _batches(self, cutoff: float, upto: int) -> None:
        """A batch goes with its rejected rows, in the same transaction as the last of them;
        a batch with more than a chunk of them has the others deleted a chunk at a time first."""
        rejects: list[tuple[Executable, dict[str, Any]]] = []
        rows: list[tuple[Executable, dict[str, Any]]] = []
        pending = 0
        after = -1
        while ids := await self.store.read(_old_batches, after, upto, cutoff, self.chunk):
            for batch_id in ids:
                line = -1
                while len(lines := await self.store.read(_reject_lines, batch_id, line, self.chunk)) == self.chunk:
                    line = lines[-1]
                    await self._write([(DELETE_REJECTS, {"b_id": batch_id, "line": line, "cutoff": cutoff})],
                                      batch_rejects=len(lines))
                rejects.append((DELETE_REJECTS, {"b_id": batch_id, "line": _MAX_LINE, "cutoff": cutoff}))
                rows.append((DELETE_BATCH, {"b_id": batch_id, "cutoff": cutoff}))
                pending += len(lines) + 1
                if pending >= self.chunk:
                    await self._write(rejects + rows, batches=len(rows), batch_rejects=pending - len(rows))
                    rejects, rows, pending = [], [], 0
            if len(ids) < self.chunk:
                break
            after = ids[-1]
        if rows:
            await self._write(rejects + rows, batches=len(rows), batch_rejects=pending - len(rows))


class RetentionCollector:
    """``smsgw_retention_deleted_total{table}`` (registered by ``app.Gateway``)."""

    def __init__(self, retention: Retention) -> None:
        self.retention = retention

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily

        family = CounterMetricFamily("smsgw_retention_deleted", "Rows deleted by the retention job",
                                     labels=["table"])
        for table in TABLES:
            family.add_metric([table], self.retention.deleted[table])
        yield family

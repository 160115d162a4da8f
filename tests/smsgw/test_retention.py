"""The retention job on hand-inserted rows (SQLite, and PostgreSQL when configured): what is final
and older than the cutoff goes, with its segments or rejects; anything pending stays whatever its
age; chunks are separate transactions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog
import trio
from sqlalchemy import Engine, Table, insert, select

from smsgw.retention import DAY, TABLES, Retention, RetentionCollector
from smsgw.store.ids import first_id_at
from smsgw.store.schema import (
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
from smsgw.store.store import open_store

NOW = dt.datetime(2025, 6, 1, tzinfo=dt.UTC).timestamp()
DAYS = 30
CUTOFF = NOW - DAYS * DAY
OLD = CUTOFF - 3600  # an hour before the cutoff
NEW = CUTOFF + 3600  # an hour after it


class Rows:
    """Rows of every table, written in one transaction; ids are time-sortable where the schema's are."""

    def __init__(self) -> None:
        self.rows: dict[Table, list[dict[str, Any]]] = {}
        self.seq = 0

    def _id(self, at: float) -> int:
        self.seq += 1
        return first_id_at(at) + self.seq

    def _add(self, table: Table, **row: Any) -> None:
        self.rows.setdefault(table, []).append(row)

    def message(self, created: float, status: str, done: float | None = None, *, parts: int = 1,
                batch: int | None = None) -> int:
        message_id = self._id(created)
        self._add(messages, id=message_id, key_id="k1", client_ref=None, batch_id=batch, to_number="13800138000",
                  text="x", encoding="ascii", channel="cm", status=status, segments=parts, error_code=None,
                  error_message=None, callback_url=None, template_id=None, signature=None, created_at=created,
                  submitted_at=None, done_at=done, expires_at=created + 172800)
        for idx in range(1, parts + 1):
            self._add(segments, message_id=message_id, idx=idx, channel="cm", status=status, smsc_id=None,
                      smsc_key=None, stat=None, err=None, attempts=1, submitted_at=None, done_at=done)
        return message_id

    def report(self, done: float) -> None:
        self._add(reports, message_id=1, key_id="k1", to_number="13800138000", client_ref=None, status="delivered",
                  stat="DELIVRD", err=None, done_at=done)

    def unmatched(self, received: float) -> None:
        self._add(unmatched_reports, channel="cm", smsc_id="1", smsc_key="1", stat="DELIVRD", err=None,
                  received_at=received, raw=None, matched_message_id=None)

    def mo(self, received: float) -> int:
        mo_id = self._id(received)
        self._add(mo_messages, id=mo_id, channel="cm", from_number="13800138000", to_number="106", text="hi",
                  received_at=received)
        return mo_id

    def part(self, received: float) -> None:
        self.seq += 1
        self._add(mo_parts, channel="cm", from_number="13800138000", to_number="106", reference=self.seq, total=2,
                  idx=1, payload=b"x", coding=0, received_at=received)

    def callback(self, created: float, state: str, last_try: float) -> int:
        callback_id = self._id(created)
        self._add(callbacks, id=callback_id, kind="report", ref_id=1, key_id="k1", url="http://example/cb",
                  payload="{}", state=state, attempts=1, next_attempt_at=last_try, last_error=None)
        return callback_id

    def batch(self, created: float, state: str, done: float | None, *, rejects: int = 0) -> int:
        batch_id = self._id(created)
        self._add(batches, id=batch_id, key_id="k1", state=state, total=rejects, accepted=0, rejected=rejects,
                  template_id=None, signature=None, text="x", channel=None, send_at=None, created_at=created,
                  started_at=None, done_at=done, submitted=None, delivered=None, failed=None, cancelled=None)
        for line in range(2, rejects + 2):
            self._add(batch_rejects, batch_id=batch_id, line=line, number="1", code="invalid_number", message="bad")
        return batch_id

    def write(self, engine: Engine) -> None:
        with engine.begin() as conn:
            for table, rows in self.rows.items():
                conn.execute(insert(table), rows)


def ids(engine: Engine, table: Table, column: str = "id") -> set[Any]:
    with engine.connect() as conn:
        return set(conn.execute(select(table.c[column])).scalars())


def count(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(table)).all())


async def prune(db_url: str, *, chunk: int = 3) -> tuple[dict[str, int], int]:
    """One run at NOW; the counts and how many write requests it made."""
    async with open_store(db_url) as store:
        retention = Retention(store, DAYS, wall_clock=lambda: NOW, chunk=chunk, pause=0)
        before = store.writer.stats.requests
        counts = await retention.run_once()
        assert retention.deleted == counts
        return counts, store.writer.stats.requests - before


async def test_only_final_rows_older_than_the_cutoff_go(db_url: str, engine: Engine) -> None:
    r = Rows()
    gone = {r.message(OLD - 600, status, OLD, parts=2) for status in ("delivered", "failed", "expired", "rejected")}
    kept = {r.message(OLD - 600, status, parts=2) for status in ("held", "accepted", "submitted")}  # pending, old
    kept.add(r.message(OLD, "delivered", NEW))  # created before the cutoff, final after it
    kept.add(r.message(NEW, "failed", NEW + 60))
    unfinished = r.batch(OLD - 7200, "running", None, rejects=2)  # its final counts will need its messages
    kept.add(r.message(OLD - 600, "delivered", OLD, batch=unfinished))
    settled = r.batch(OLD - 7200, "done", OLD, rejects=4)
    gone.add(r.message(OLD - 600, "delivered", OLD, batch=settled))
    cancelled = r.batch(OLD - 7200, "cancelled", OLD)
    cancelling = r.batch(OLD - 7200, "cancelled", None)  # its unsent rows are still being marked
    recent = r.batch(OLD - 7200, "done", NEW, rejects=1)
    for at in (OLD - 60, OLD, NEW, NEW + 60):
        r.report(at)
        r.unmatched(at)
        r.part(at)
    old_mo, new_mo = r.mo(OLD), r.mo(NEW)
    old_callbacks = {r.callback(OLD - 600, "delivered", OLD), r.callback(OLD - 600, "dead", OLD)}
    kept_callbacks = {r.callback(OLD - 600, "pending", OLD),  # still to be sent, however late
                      r.callback(OLD - 600, "dead", NEW),  # retried until after the cutoff
                      r.callback(NEW, "delivered", NEW)}
    r.write(engine)

    counts, _ = await prune(db_url)

    assert counts == {"messages": 5, "segments": 9, "reports": 2, "unmatched_reports": 2, "mo_messages": 1,
                      "mo_parts": 2, "callbacks": 2, "batches": 2, "batch_rejects": 4}
    assert ids(engine, messages) == kept
    assert ids(engine, segments, "message_id") == kept
    assert count(engine, segments) == 2 * 3 + 3  # the pending three have two each
    with engine.connect() as conn:
        assert set(conn.execute(select(reports.c.done_at)).scalars()) == {NEW, NEW + 60}
        assert set(conn.execute(select(unmatched_reports.c.received_at)).scalars()) == {NEW, NEW + 60}
        assert set(conn.execute(select(mo_parts.c.received_at)).scalars()) == {NEW, NEW + 60}
    assert ids(engine, mo_messages) == {new_mo} and old_mo not in kept
    assert ids(engine, callbacks) == kept_callbacks and not old_callbacks & kept_callbacks
    assert ids(engine, batches) == {unfinished, cancelling, recent}
    assert ids(engine, batch_rejects, "batch_id") == {unfinished, recent}
    assert settled not in ids(engine, batches) and cancelled not in ids(engine, batches)

    again, writes = await prune(db_url)
    assert again == dict.fromkeys(TABLES, 0) and writes == 0


async def test_more_rows_than_a_chunk_are_deleted_a_chunk_per_transaction(db_url: str, engine: Engine) -> None:
    r = Rows()
    for i in range(10):
        r.message(OLD - 900 + i, "delivered", OLD + i, parts=2)
    pending = [r.message(OLD - 900 + i, "accepted", parts=1) for i in range(3)]
    new = [r.message(NEW + i, "delivered", NEW + i) for i in range(3)]
    for i in range(9):
        r.report(OLD + i)
        r.unmatched(OLD + i)
        r.mo(OLD + i)
        r.part(OLD + i)
        r.callback(OLD - 600 + i, "delivered", OLD + i)
    r.report(NEW)
    r.batch(OLD - 7200, "done", OLD, rejects=10)  # more rejects than a chunk
    for i in range(5):
        r.batch(OLD - 7000 + i, "cancelled", OLD, rejects=1)
    r.write(engine)

    counts, writes = await prune(db_url, chunk=4)

    assert counts == {"messages": 10, "segments": 20, "reports": 9, "unmatched_reports": 9, "mo_messages": 9,
                      "mo_parts": 9, "callbacks": 9, "batches": 6, "batch_rejects": 15}
    assert ids(engine, messages) == set(pending + new)
    assert ids(engine, segments, "message_id") == set(pending + new)
    assert count(engine, reports) == 1
    assert count(engine, unmatched_reports) == count(engine, mo_messages) == count(engine, mo_parts) == 0
    assert count(engine, callbacks) == count(engine, batches) == count(engine, batch_rejects) == 0
    # messages 3 (4+4+2); reports, unmatched, MO, parts, callbacks 3 each (4+4+1); the big batch's
    # first 8 rejects 2 (4+4); then batches with their last rejects, grouped up to a chunk of rows:
    # big (2+1) with a small one (1+1), then two small ones, twice: 3
    assert writes == 3 + 5 * 3 + 2 + 3


async def test_segments_of_a_pending_message_stay_even_when_its_neighbours_go(db_url: str, engine: Engine) -> None:
    """A chunk's delete spans an id range: the pending message inside it keeps its rows."""
    r = Rows()
    r.message(OLD - 900, "delivered", OLD, parts=3)
    middle = r.message(OLD - 800, "submitted", parts=3)
    r.message(OLD - 700, "failed", OLD, parts=3)
    r.write(engine)
    counts, writes = await prune(db_url, chunk=10)
    assert counts["messages"] == 2 and counts["segments"] == 6 and writes == 1
    assert ids(engine, messages) == {middle}
    assert ids(engine, segments, "idx") == {1, 2, 3} and ids(engine, segments, "message_id") == {middle}


async def test_run_logs_one_line_and_counts_for_metrics(db_url: str, engine: Engine) -> None:
    r = Rows()
    r.message(OLD - 600, "delivered", OLD, parts=2)
    r.report(OLD)
    r.write(engine)
    async with open_store(db_url) as store:
        retention = Retention(store, DAYS, wall_clock=lambda: NOW, pause=0)
        with structlog.testing.capture_logs() as logs, trio.move_on_after(5):
            await retention.run(first=0, every=3600)
    (line,) = [entry for entry in logs if entry["event"] == "retention"]
    assert line["messages"] == 1 and line["segments"] == 2 and line["reports"] == 1 and line["batches"] == 0
    assert line["before"] == "2025-05-02T00:00:00+00:00" and line["log_level"] == "info"
    (family,) = RetentionCollector(retention).collect()
    samples = {s.labels["table"]: s.value for s in family.samples if s.name.endswith("_total")}
    assert samples["messages"] == 1 and samples["segments"] == 2 and samples["callbacks"] == 0
    assert family.name == "smsgw_retention_deleted"

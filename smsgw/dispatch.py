"""From accepted rows to final statuses: feeding channels, recording outcomes, matching
receipts, reassembling MO, expiring what never got a receipt.

The database is the queue. Each channel has a feeder that pages ``accepted`` messages
(in id order, which is commit order: ids are taken just before the write is queued) into
the channel's in-memory queue while it is short, so a million queued messages cost a
page of memory, not a million objects.

Fresh messages are handed over instead of read back (``handing_over``): a write of new
``accepted`` rows is registered when its ids are taken (so registrations are in id order,
which is commit order), and once it has committed its rows go straight into the queue, in
registration order whatever order their writers wake in, while the feeder has read
everything committed before (``_caught_up``), has no backfill waiting and the queue is
below ``_HANDOFF_LIMIT``; writes settling while the feeder reads wait for the read to end
(a short page holds every row committed before it: a write above the cursor is handed over
then, one below was read). Otherwise, or when a write's outcome is unknown, the rows stay
where they are and the feeder reads them: a row is queued by exactly one of the two, and
every committed row up to the cursor is queued.

Receipts are matched through the normalised operator id: first against the segments
submitted since start (``_sent``, bounded), then in the database. A receipt that matches
nothing is stored in ``unmatched_reports`` and parked: when the submit response it belongs
to arrives later (report before response), it is applied then. Nothing is dropped.

Batches (``smsgw.batches``) decide when their messages may go. A batch that is not running
is *held* here (``hold``): its jobs are dropped from the queues, and again when a re-queued
one is taken (``withdrawn``), and its rows are kept ``held`` in the store. When it starts or
resumes, its rows become ``accepted`` again with ids the feeder's cursor may have passed, so
``requeued`` has the feeder page that id range of the batch once ("backfill"), skipping the
messages that still have a job in memory. A backfill page is read behind a write barrier, so
a submit mark queued before it is committed and the message is not sent twice.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import math
import operator
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog
import trio

from protocols.receipts import NON_FINAL_STATS, is_final
from protocols.text import Reassembler

from . import queries as q
from .channel import Channel, Job
from .config import Config
from .link import Link, MoPart, OutboundText, Receipt, SubmitResult
from .links import link_for
from .store.errors import ReadFailed, WriteFailed
from .store.ids import IdGenerator
from .store.schema import mo_messages, segments
from .store.store import Store

log = structlog.get_logger("smsgw.dispatch")

_PAGE = 2000
_LOW_WATER = 2000
_GATHER = 0.005  # seconds a woken feeder waits for more commits before reading
_IDLE_READ = 1.0  # seconds after which a feeder with nothing new reads again all the same
# Committed fresh rows are handed to a queue shorter than this (jobs); a longer one is fed from the database
# (a page at a time), so an SMSC that is down holds ~this many jobs in memory, not every message accepted.
_HANDOFF_LIMIT = 10_000
# Submitted segments remembered for matching their receipts in memory (~500 bytes each) until
# their final receipt; older ones are matched in the database, one query per batch of receipts. 300,000 messages whose
# receipts lagged 30 s: 200,000 peaked at 242 MB, 50,000 at 169 MB, 20,000 at 143 MB, all done in 49-51 s.
_SENT_LIMIT = 50_000
# The bounded maps below are OrderedDicts: dropping a plain dict's first key again and again costs
# O(size) each time (CPython skips the freed slots from the start), ~11 µs per message at 50,000.
_LONG_LIMIT = 50_000  # records of long messages not final yet (see ``_long``)
_PARKED_LIMIT = 100_000
_EXPIRED_LIMIT = 100_000  # ids expired by ``expire_once`` remembered against late jobs and receipts
_EXPIRY_EVERY = 30.0
_EXPIRY_PAGE = 1000  # messages expired per transaction; a run takes pages until one is short
_MO_MAX_AGE = 600.0
_STORE_RETRY = 1.0  # seconds before a feeder or the expiry reads again after the database failed
#: widths of the columns that take what an operator sends (see ``storable``)
_ID_WIDTH: int = segments.c.smsc_id.type.length  # operator ids and their keys, also in unmatched_reports
_STAT_WIDTH: int = segments.c.stat.type.length  # receipt stat and err, also in reports and unmatched_reports
_NUMBER_WIDTH: int = mo_messages.c.from_number.type.length  # MO sender and recipient, also in mo_parts

#: a message row's values (INSERT_MESSAGE's params) in the order of QueuedMessage's first fields
_QUEUED_FIELDS = operator.itemgetter("id", "key_id", "to_number", "text", "segments", "client_ref", "callback_url",
                                     "expires_at")
_FINAL_SEGMENT = frozenset({"delivered", "failed", "expired"})
#: receipt stat -> segment status; anything absent is a failure, None is not final
# A stat of an intermediate receipt (ENROUTE, SMPP 5.0's SCHEDULED, ...) changes nothing: the final one follows.
_STAT_STATUS: dict[str, str | None] = {"DELIVRD": "delivered", "EXPIRED": "expired", **dict.fromkeys(NON_FINAL_STATS)}


def segment_status(stat: str) -> str | None:
    return _STAT_STATUS.get(stat.upper(), "failed")


def storable(value: str, width: int | None = None) -> str:
    """Text an operator sent, made fit for a column ``width`` characters wide: NUL as U+FFFD, cut
    to the width. The codecs take any octets in ids, stats, addresses and texts (and over-long
    C-strings), SQLite stores them, PostgreSQL refuses both a NUL in text and a value wider than
    its column. A receipt or MO whose write is refused is not acknowledged, so the operator sends
    it again after the reconnect, the store refuses it again, for ever, and the session is dropped
    each time with everything in its window."""
    if "\0" in value:
        value = value.replace("\0", "\ufffd")
    return value if width is None or len(value) <= width else value[:width]


def _storable_receipt(receipt: Receipt) -> Receipt:
    """``receipt`` with an id, stat and err that fit their columns wherever they are written."""
    # nearly every receipt: short and without NUL, nothing to change (one test instead of three calls)
    if (len(receipt.smsc_id) <= _ID_WIDTH and len(receipt.stat) <= _STAT_WIDTH and len(receipt.err) <= _STAT_WIDTH
            and "\0" not in f"{receipt.smsc_id}{receipt.stat}{receipt.err}"):
        return receipt
    smsc_id, stat, err = (storable(receipt.smsc_id, _ID_WIDTH), storable(receipt.stat, _STAT_WIDTH),
                          storable(receipt.err, _STAT_WIDTH))
    if smsc_id is receipt.smsc_id and stat is receipt.stat and err is receipt.err:
        return receipt
    return dataclasses.replace(receipt, smsc_id=smsc_id, stat=stat, err=err)


def _storable_mo(part: MoPart) -> MoPart:
    """``part`` with a sender, recipient and text that fit their columns."""
    source, dest, text = storable(part.source, _NUMBER_WIDTH), storable(part.dest, _NUMBER_WIDTH), storable(part.text)
    if source is part.source and dest is part.dest and text is part.text:
        return part
    return dataclasses.replace(part, source=source, dest=dest, text=text)


class GroupedOps:
    """Ops grouped by statement, each group in arrival order, groups in the order their
    statement first came: the writer runs each group as one executemany instead of one
    execute per row. Only for writes whose order across statements does not matter (the
    receipt and final-status writes: each updates its own row or inserts a new one); MO
    part writes depend on their order and stay in a plain list."""

    __slots__ = ("_groups",)

    def __init__(self) -> None:
        self._groups: dict[Any, list[Any]] = {}

    def append(self, op: Any) -> None:
        group = self._groups.get(op[0])
        if group is None:
            self._groups[op[0]] = [op]
        else:
            group.append(op)

    def __bool__(self) -> bool:
        return bool(self._groups)

    def ops(self) -> list[Any]:
        return [op for group in self._groups.values() for op in group]


@dataclass(slots=True)
class MessageMeta:
    """What the dispatcher remembers of a message while its segments are out."""

    id: int
    key_id: str
    to: str
    client_ref: str | None
    callback_url: str | None
    statuses: list[str]  # per segment
    unsent: int = 0
    final: str | None = None
    batch_id: int | None = None
    live: int = 0  # a batch message's jobs in a queue or a window
    sent_at: float = 0.0  # wall time of its first submit response (submit -> report latency)
    expires_at: float = math.inf  # end of its validity: a job taken later is not sent
    out: bool = False  # a job of it was handed to a session: it may have reached the operator


@dataclass(slots=True)
class _Backfill:
    """Rows of a batch in (after, upto] made ``accepted`` behind the feeder's cursor."""

    batch_id: int
    after: int
    upto: int
    clamped: bool = False  # upto was cut to the cursor when the feeder first took it


class Handoff:
    """A write of fresh ``accepted`` rows, from the taking of their ids to the write's outcome
    (see ``Dispatcher.handing_over``)."""

    __slots__ = ("channels", "ops", "settled")

    def __init__(self, channels: tuple[str, ...]) -> None:
        self.channels = channels
        self.ops: Sequence[Any] | None = None  # the committed ops; None: not committed, or not known to be
        self.settled = False

    def committed(self, ops: Sequence[Any]) -> None:
        """The write of ``ops`` (its ``INSERT_MESSAGE`` ops are the rows) has committed."""
        self.ops = ops


@dataclass(slots=True)
class DispatchStats:
    accepted_loaded: int = 0
    submitted: int = 0
    failed: int = 0
    receipts_matched: int = 0
    receipts_unmatched: int = 0
    receipts_late_matched: int = 0
    receipts_duplicate: int = 0
    finals: dict[str, int] = field(default_factory=dict)
    mo_messages: int = 0
    handed_over: int = 0  # of accepted_loaded: rows queued from their write, not read back


class Dispatcher:
    """Owns the channels and implements their ``ChannelSink``."""

    def __init__(self, config: Config, store: Store, ids: IdGenerator, *,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.store = store
        self.ids = ids
        self.wall_clock = wall_clock
        self.links: dict[str, Link] = {c.name: link_for(c) for c in config.channels}
        self.channels: dict[str, Channel] = {
            c.name: Channel(c, self.links[c.name], self) for c in config.channels
        }
        self.stats = DispatchStats()
        self._sent: OrderedDict[tuple[str, str], tuple[MessageMeta, int]] = OrderedDict()
        # Long messages not final yet, by id: a message loaded again (its batch resumed, its first
        # segments sent before a restart) and a receipt matched in the database update the one
        # record that decides when the message is final, not a copy that misses other segments.
        self._long: OrderedDict[int, MessageMeta] = OrderedDict()
        self._parked: OrderedDict[tuple[str, str], Receipt] = OrderedDict()
        self._wake = {name: trio.lowlevel.ParkingLot() for name in self.channels}
        self._fresh = dict.fromkeys(self.channels, False)  # accepted() since the feeder's last read
        # The feeder's last read was short and nothing came since that it has not read or been handed:
        # every accepted row committed up to now with an id above the cursor is a registered write's.
        self._caught_up = dict.fromkeys(self.channels, False)
        self._reading = dict.fromkeys(self.channels, False)
        self._handoffs: dict[str, collections.deque[Handoff]] = {name: collections.deque() for name in self.channels}
        self._mo = Reassembler(_MO_MAX_AGE)
        self._mo_lock = trio.Lock()  # held from reassembling MO parts until their write committed
        self.callback_observers: list[Callable[[], None]] = []  # a callback row was queued
        # Whole MO messages as (channel, from, to, text, wall, ops); an observer may append ops to the
        # MO's own transaction (e.g. an unsubscribe reply blacklists its sender atomically with it).
        self.mo_observers: list[Callable[[str, str, str, str, float, list[Any]], None]] = []
        self.latency_observer: Callable[[float], None] | None = None  # submit -> response seconds
        self.report_latency_observer: Callable[[float], None] | None = None  # submit response -> final receipt
        self._submitted_segments: list[Any] = []
        self._submitted_messages: list[Any] = []
        self._submitted_other = GroupedOps()  # late-matched receipts of those segments
        self._flush_scheduled = False
        self.held_batches: set[int] = set()
        # Messages ``expire_once`` finalized while a job or a submitted segment of theirs may still be
        # in memory: a queued job is dropped, a late receipt reports nothing (it would be a second report).
        self._expired: OrderedDict[int, None] = OrderedDict()
        self._batch_live: dict[int, MessageMeta] = {}  # batch messages with a job in memory
        self._cursor = dict.fromkeys(self.channels, 0)
        self._backfills: dict[str, collections.deque[_Backfill]] = {
            name: collections.deque() for name in self.channels}

    # ------------------------------------------------------------------- running
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self._restore()
        async with trio.open_nursery() as nursery:
            for name, channel in self.channels.items():
                nursery.start_soon(channel.run)
                nursery.start_soon(self._feed, name)
            nursery.start_soon(self._expire_loop)
            task_status.started()

    async def stop(self) -> None:
        """Stop sending, drain the windows within the configured bound, unbind."""
        async with trio.open_nursery() as nursery:
            for channel in self.channels.values():
                nursery.start_soon(channel.stop, self.config.gateway.drain_timeout)
        self._flush_submitted()

    def accepted(self, channel: str) -> None:
        """New rows for ``channel`` are committed: its feeder reads them."""
        self._fresh[channel] = True
        self._caught_up[channel] = False
        self._wake[channel].unpark_all()

    @contextmanager
    def handing_over(self, channels: Iterable[str]) -> Iterator[Handoff]:
        """Register a write of fresh ``accepted`` rows for ``channels``; enter it right after
        taking the rows' ids and before queuing the write, with no await in between (so
        registrations are in id order), and call ``committed(ops)`` once the write has committed.
        On leaving, the rows are queued, or left to the feeder: also when the write failed or its
        outcome is unknown (a read finds what did commit), or when an earlier write is pending
        (its rows are handed over first)."""
        handoff = Handoff(tuple(channels))
        for name in handoff.channels:
            self._handoffs[name].append(handoff)
        try:
            yield handoff
        finally:
            handoff.settled = True
            for name in handoff.channels:
                self._settle(name)

    def _settle(self, name: str) -> None:
        """Hand over or leave to the feeder the settled writes at the head of ``name``'s registrations;
        while the feeder reads they wait (the read may or may not see them: its end tells which)."""
        if self._reading[name]:
            return
        pending = self._handoffs[name]
        while pending and pending[0].settled:
            ops, handed = pending.popleft().ops, False
            try:
                handed = ops is not None and self._hand_over(name, ops)
            finally:
                if not handed:
                    self.accepted(name)

    def _hand_over(self, name: str, ops: Sequence[Any]) -> bool:
        """Queue the committed rows of ``ops`` for ``name`` if nothing before them is left unread."""
        insert, fields, queued, nothing = q.INSERT_MESSAGE, _QUEUED_FIELDS, q.QueuedMessage, q.NOTHING_DONE
        rows = [queued(*fields(p), nothing, p["batch_id"])
                for statement, p in ops if statement is insert and p["channel"] == name and p["status"] == "accepted"]
        cursor = self._cursor[name]
        if not rows or rows[-1].id <= cursor:
            return True  # queued already: every committed row up to the cursor is (a read that ended first saw it)
        channel = self.channels[name]
        if (not self._caught_up[name] or self._fresh[name] or self._backfills[name] or rows[0].id <= cursor
                or len(rows) > _PAGE or channel.depth >= _HANDOFF_LIMIT):
            return False  # rows before them may be unread, or a big batch (read a page at a time), or a long queue
        channel.enqueue(self._jobs(name, self.links[name], rows))
        self._cursor[name] = rows[-1].id
        self.stats.handed_over += len(rows)
        return True

    # -------------------------------------------------------------------- batches
    def hold(self, batch_id: int) -> None:
        """Send nothing more of ``batch_id``: drop its queued jobs (a job still in a window
        finishes; the batch's rows are the caller's to mark ``held``)."""
        self.held_batches.add(batch_id)
        for channel in self.channels.values():
            queue = channel.queue
            kept = [job for job in queue if not self._dropped(job)]
            if len(kept) != len(queue):
                queue.clear()
                queue.extend(kept)

    def release(self, batch_id: int) -> None:
        """``batch_id`` may be sent again (its rows are flipped to ``accepted`` next)."""
        self.held_batches.discard(batch_id)

    def requeued(self, batch_id: int, first: int, last: int) -> None:
        """Committed: the batch's rows with ids in [first, last] are ``accepted`` again."""
        for name, backfills in self._backfills.items():
            backfills.append(_Backfill(batch_id, first - 1, last))
            # Rows above the cursor are the main feed's now: no hand-over may move the cursor past them unread.
            self._caught_up[name] = False
            self._wake[name].unpark_all()

    def live_messages(self, batch_id: int) -> set[int]:
        """Ids of the batch's messages with a job in memory; their pending submit marks are
        queued for writing first, so a write queued after this call lands after them."""
        self._flush_submitted()
        return {mid for mid, meta in self._batch_live.items() if meta.batch_id == batch_id}

    def withdrawn(self, job: Job) -> bool:
        """ChannelSink: drop a job when it is taken if ``_dropped``; else it goes out now."""
        if self._dropped(job):
            return True
        job.meta.out = True
        return False

    def _dropped(self, job: Job) -> bool:
        """Whether a job must not be sent: its batch is held (its row stays held), its message is
        final already (a segment failed, or the expiry job expired it) or its validity has ended
        (checked here too, or it could go out until the next expiry run, 30 s later)."""
        meta: MessageMeta = job.meta
        if meta.final is not None or (self._expired and job.message_id in self._expired):
            # final already: another segment failed (the rest would be charged for a broken text), or
            # the validity ended while it was queued
            if meta.batch_id is not None:
                self._unlive(meta)
            return True
        if meta.batch_id is not None and meta.batch_id in self.held_batches:
            self._unlive(meta)
            return True
        wall = self.wall_clock()
        if meta.expires_at < wall:
            if meta.batch_id is not None:
                self._unlive(meta)
            ops = GroupedOps()
            self._too_late(meta, wall, ops)
            if ops:
                self.store.execute_nowait(ops.ops())
            return True
        return False

    def _unlive(self, meta: MessageMeta) -> None:
        meta.live -= 1
        if meta.live <= 0:
            self._batch_live.pop(meta.id, None)

    async def _restore(self) -> None:
        """Parked receipts and MO parts survive restarts: reload the recent ones. The newest
        receipts are read, but parked oldest first, as they arrived (``_keep_parked`` decides which
        of two for the same operator id stays), and the oldest are evicted first."""
        since = self.wall_clock() - self.config.gateway.validity
        for row in reversed(await self.store.read(q.unmatched_since, since, _PARKED_LIMIT)):
            stat = row.stat or ""
            self._keep_parked((row.channel, row.smsc_key),
                              Receipt(row.smsc_id, stat, row.err or "", stat == "DELIVRD", is_final(stat)))
        now = trio.current_time()
        for row in await self.store.read(q.pending_mo_parts):
            self._mo.add((row.channel, row.from_number, row.to_number), row.reference, row.total, row.idx,
                         row.payload, now)

    # ------------------------------------------------------------------- feeding
    async def _feed(self, name: str) -> None:
        channel, link, wake = self.channels[name], self.links[name], self._wake[name]
        backfills = self._backfills[name]
        while True:
            if channel.depth >= _LOW_WATER:
                with trio.move_on_after(0.2):
                    await wake.park()
                continue
            try:
                if backfills:
                    await self._backfill(name, link, backfills)
                    continue
                rows = await self._read_page(name, channel, link)
            except (ReadFailed, WriteFailed) as exc:  # the database is down for a moment: read again later
                log.warning("reading the queue failed; will retry", channel=name, error=str(exc))
                await trio.sleep(_STORE_RETRY)
                continue
            # A short page holds every row committed before the read began (commits are in id
            # order), and a later commit calls accepted(): read again only then, not once more
            # to see it empty (one reader-thread round trip per wake-up instead of two).
            if len(rows) == _PAGE:
                continue
            if not self._fresh[name]:
                with trio.move_on_after(_IDLE_READ):
                    await wake.park()
            # Under a trickle of single submits every commit would cost a page read (a reader-thread
            # round trip) for one or two rows: gather a few milliseconds' worth per read instead.
            await trio.sleep(_GATHER)

    async def _read_page(self, name: str, channel: Channel, link: Link) -> list[q.QueuedMessage]:
        """Queue the next page after the cursor. Writes settling meanwhile are handed over after it:
        a short page holds every row committed before the read, so a write above the cursor then
        committed after it, and one at or below it was read."""
        self._fresh[name] = self._caught_up[name] = False
        self._reading[name] = True
        try:
            rows = await self.store.read(q.page_accepted, name, self._cursor[name], _PAGE)
            if rows:
                self._cursor[name] = rows[-1].id
                channel.enqueue(self._jobs(name, link, rows))
            self._caught_up[name] = len(rows) < _PAGE and not self._fresh[name]
            return rows
        finally:
            self._reading[name] = False
            self._settle(name)

    async def _backfill(self, name: str, link: Link, backfills: collections.deque[_Backfill]) -> None:
        """One page of the first backfill. Rows above the cursor are the main feed's: no main
        page is read while backfills wait, so cutting ``upto`` to the cursor once is exact."""
        entry = backfills[0]
        if not entry.clamped:
            entry.upto, entry.clamped = min(entry.upto, self._cursor[name]), True
        if entry.batch_id in self.held_batches or entry.after >= entry.upto:
            backfills.popleft()
            return
        live = self.live_messages(entry.batch_id)
        await self.store.execute([(q.BARRIER, {})])
        rows = await self.store.read(q.page_accepted, name, entry.after, _PAGE, entry.batch_id, entry.upto)
        if not rows:
            backfills.popleft()
            return
        entry.after = rows[-1].id
        self.channels[name].enqueue(self._jobs(name, link, [row for row in rows if row.id not in live]))

    def _jobs(self, channel: str, link: Link, rows: list[q.QueuedMessage]) -> list[Job]:
        jobs: list[Job] = []
        now = self.wall_clock()
        expired: list[Any] = []
        held, live = self.held_batches, self._batch_live
        for row in rows:
            batch_id, message_id = row.batch_id, row.id
            if batch_id is not None and (batch_id in held or message_id in live):
                continue  # held: the batch's resume feeds it; live: a job of it is in memory
            pdus = link.submits(OutboundText(row.to, row.text, message_id & 0xFFFF))
            late = row.expires_at < now
            if len(pdus) == 1 and not row.done:
                # nearly every message: one part, not sent before (the loop below, 0.5 µs less a message)
                meta = MessageMeta(message_id, row.key_id, row.to, row.client_ref, row.callback_url, ["accepted"],
                                   batch_id=batch_id, expires_at=row.expires_at)
                if late:
                    expired.append(meta)
                    continue
                meta.unsent = 1
                jobs.append(Job(message_id, 1, 1, pdus[0], 0, meta))
                if batch_id is not None:
                    meta.live = 1
                    live[message_id] = meta
                continue
            meta = self._long.get(message_id) if len(pdus) > 1 else None
            if meta is None:
                meta = MessageMeta(message_id, row.key_id, row.to, row.client_ref, row.callback_url,
                                   ["accepted"] * len(pdus), batch_id=batch_id)
                if len(pdus) > 1:
                    self._long[message_id] = meta
                    if len(self._long) > _LONG_LIMIT:
                        self._long.popitem(last=False)
            meta.unsent, meta.expires_at = 0, row.expires_at
            for index, pdu in enumerate(pdus, 1):
                done = row.done.get(index)
                if done is not None:
                    if meta.statuses[index - 1] == "accepted":  # else this record knows better (a receipt)
                        meta.statuses[index - 1] = done
                    continue
                if not late:
                    meta.unsent += 1
                    jobs.append(Job(message_id, index, len(pdus), pdu, meta=meta))
            if late:
                expired.append(meta)
            elif batch_id is not None and meta.unsent:
                meta.live = meta.unsent
                live[message_id] = meta
        self.stats.accepted_loaded += len(rows)
        if expired:
            ops = GroupedOps()
            for meta in expired:
                self._too_late(meta, now, ops)
            self.store.execute_nowait(ops.ops())
        return jobs

    def _too_late(self, meta: MessageMeta, wall: float, ops: GroupedOps) -> None:
        """The message's validity ended before all its parts were sent: none is sent any more.
        One never sent is expired now; one sent in part (or with a part in a window) waits like a
        sent message for the receipts of its sent parts until the expiry job ends it (``no_receipt``)."""
        if not meta.out and all(status == "accepted" for status in meta.statuses):
            self._finalize(meta, "expired", "validity_expired",
                           "the validity period ended before the message could be sent", wall, ops)

    # ------------------------------------------------------- channel outcomes (sink)
    def submitted(self, channel: str, job: Job, result: SubmitResult, sent_at: float, now: float) -> None:
        meta: MessageMeta = job.meta
        wall = self.wall_clock()
        smsc_id = storable(result.smsc_id or "", _ID_WIDTH)
        key = _key(self.links[channel].resp_key, smsc_id)
        self._submitted_segments.append((q.SEGMENT_SUBMITTED, {
            "m_id": job.message_id, "m_idx": job.index, "smsc_id": smsc_id, "smsc_key": key, "at": wall,
            "tries": job.attempts + 1}))
        ops = self._submitted_other
        if meta.statuses[job.index - 1] == "accepted":
            meta.statuses[job.index - 1] = "submitted"
        meta.unsent -= 1
        if not meta.sent_at:
            meta.sent_at = wall
        if meta.batch_id is not None:
            self._unlive(meta)
        if meta.unsent == 0:
            self._submitted_messages.append((q.MESSAGE_SUBMITTED, {"m_id": job.message_id, "at": wall}))
        sent = self._sent
        sent[(channel, key)] = (meta, job.index)
        if len(sent) > _SENT_LIMIT:
            sent.popitem(last=False)
        parked = self._parked.pop((channel, key), None)
        if parked is not None:
            self.stats.receipts_late_matched += 1
            ops.append((q.UNMATCHED_MATCHED, {"ch": channel, "key": key, "m_id": job.message_id}))
            self._apply_receipt(meta, job.index, parked, wall, ops)
        self.stats.submitted += 1
        if self.latency_observer is not None:
            self.latency_observer(now - sent_at)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            trio.lowlevel.current_trio_token().run_sync_soon(self._flush_submitted)

    def _flush_submitted(self) -> None:
        """One write request for every submit response of this scheduler pass, grouped by
        statement so the writer runs each group as one executemany."""
        self._flush_scheduled = False
        ops = self._submitted_segments + self._submitted_messages + self._submitted_other.ops()
        self._submitted_segments, self._submitted_messages, self._submitted_other = [], [], GroupedOps()
        if ops:
            self.store.execute_nowait(ops)

    def failed(self, channel: str, job: Job, code: str, reason: str, now: float) -> None:
        meta: MessageMeta = job.meta
        wall = self.wall_clock()
        meta.statuses[job.index - 1] = "failed"
        meta.unsent -= 1
        if meta.batch_id is not None:
            self._unlive(meta)
        ops = GroupedOps()
        ops.append((q.SEGMENT_FINAL, {"m_id": job.message_id, "m_idx": job.index, "st": "failed",
                                      "r_stat": None, "r_err": code, "at": wall}))
        self._finalize(meta, "failed", code, reason, wall, ops)
        self.stats.failed += 1
        self.store.execute_nowait(ops.ops())

    async def inbound(self, channel: str, items: list[Receipt | MoPart]) -> None:
        groups = {((channel, item.source, item.dest), *item.concat[:2]) for item in items
                  if isinstance(item, MoPart) and item.concat is not None}
        if not groups:
            await self._store_inbound(channel, items, self._mo)  # no part of a long MO: nothing to reassemble
            return
        # Reassembly changes only once its write has committed, one write at a time: a part resent
        # after its message was completed is acknowledged unstored, so that message must be stored
        # (a failed write, or a crash before another bind's write committed, lost it).
        async with self._mo_lock:
            mo = self._mo.fork(groups)
            await self._store_inbound(channel, items, mo)
            self._mo.merge(mo)

    async def _store_inbound(self, channel: str, items: list[Receipt | MoPart], mo: Reassembler) -> None:
        link, wall = self.links[channel], self.wall_clock()
        ops = GroupedOps()  # receipts
        mo_ops: list[Any] = []
        misses: list[tuple[str, Receipt]] = []
        dlr_key, sent = link.dlr_key, self._sent  # once per batch, not per receipt
        for item in items:
            if isinstance(item, MoPart):
                self._mo_part(channel, _storable_mo(item), wall, mo_ops, mo)
                continue
            item = _storable_receipt(item)
            key = _key(dlr_key, item.smsc_id)
            hit = sent.get((channel, key))
            if hit is None:
                misses.append((key, item))
            else:
                self.stats.receipts_matched += 1
                meta, idx = hit
                self._apply_receipt(meta, idx, item, wall, ops)
                if meta.statuses[idx - 1] in _FINAL_SEGMENT:
                    # Its last receipt came: a repeat is rare and matched in the database. Kept, the
                    # map held _SENT_LIMIT segments instead of those awaiting a receipt, and its
                    # lookups, inserts and evictions missed the CPU caches (0.75 µs per message
                    # more in a micro-benchmark of the map alone).
                    del sent[(channel, key)]
        if misses:
            found = await self.store.read(q.find_sent, channel, [key for key, _ in misses])
            # One record per message for the whole read: receipts of several of its segments (or a
            # repeated one) each update what the others see, or none would find it final.
            metas: dict[int, MessageMeta] = {}
            for key, receipt in misses:
                row = found.get(key)
                if row is None:
                    # The submit response may have arrived while we were reading the database
                    # (report before response): ``submitted`` looked for a parked receipt then
                    # and found none, so look again now, before parking, or it parks for ever.
                    hit = self._sent.get((channel, key))
                    if hit is not None:
                        self.stats.receipts_matched += 1
                        self._apply_receipt(hit[0], hit[1], receipt, wall, ops)
                    else:
                        self._park(channel, key, receipt, wall, ops)
                    continue
                self.stats.receipts_matched += 1
                meta = metas.get(row.message_id) or self._long.get(row.message_id)
                if meta is None:
                    meta = MessageMeta(
                        row.message_id, row.key_id, row.to, row.client_ref, row.callback_url, list(row.statuses),
                        final=row.message_status if row.message_status in q.FINAL_MESSAGE else None,
                        sent_at=row.submitted_at or 0.0)
                metas[row.message_id] = meta
                self._apply_receipt(meta, row.idx, receipt, wall, ops)
        if ops or mo_ops:
            await self.store.execute(ops.ops() + mo_ops)

    # ------------------------------------------------------------------ receipts
    def _park(self, channel: str, key: str, receipt: Receipt, wall: float, ops: GroupedOps) -> None:
        self.stats.receipts_unmatched += 1
        self._keep_parked((channel, key), receipt)
        ops.append((q.INSERT_UNMATCHED, {"channel": channel, "smsc_id": receipt.smsc_id, "smsc_key": key,
                                         "stat": receipt.stat, "err": receipt.err, "received_at": wall,
                                         "raw": None, "matched_message_id": None}))
        log.info("receipt matches no message (yet)", channel=channel, smsc_id=receipt.smsc_id, stat=receipt.stat)

    def _keep_parked(self, where: tuple[str, str], receipt: Receipt) -> None:
        """Park ``receipt`` for its submit response. A later receipt for the same id replaces an
        earlier one (ENROUTE, then DELIVRD), but an intermediate one never replaces a final one:
        operators do send a late ENROUTE after the DELIVRD, and the message would never be final."""
        parked = self._parked
        earlier = parked.get(where)
        if earlier is not None and earlier.final and not receipt.final:
            return
        parked[where] = receipt
        if len(parked) > _PARKED_LIMIT:
            parked.popitem(last=False)

    def _apply_receipt(self, meta: MessageMeta, idx: int, receipt: Receipt, wall: float, ops: GroupedOps) -> None:
        status = segment_status(receipt.stat)
        if status is None:
            return  # intermediate (ACCEPTD, ENROUTE): the final one follows
        if meta.statuses[idx - 1] in _FINAL_SEGMENT:
            self.stats.receipts_duplicate += 1
            return
        statuses = meta.statuses
        statuses[idx - 1] = status
        if meta.sent_at and self.report_latency_observer is not None:
            self.report_latency_observer(wall - meta.sent_at)
        ops.append((q.SEGMENT_FINAL, {"m_id": meta.id, "m_idx": idx, "st": status, "r_stat": receipt.stat,
                                      "r_err": receipt.err, "at": wall}))
        if status == "failed":
            self._finalize(meta, "failed", receipt.stat, f"receipt {receipt.stat} err:{receipt.err}", wall, ops,
                           stat=receipt.stat, err=receipt.err)
            return
        # every segment delivered or expired? counted in C: two all(generator) were 0.4 µs a receipt
        delivered = statuses.count("delivered")
        if delivered + statuses.count("expired") == len(statuses):
            final = "delivered" if delivered == len(statuses) else "expired"
            self._finalize(meta, final, None if final == "delivered" else receipt.stat,
                           None if final == "delivered" else "the operator reported the message expired",
                           wall, ops, stat=receipt.stat, err=receipt.err)

    def _finalize(self, meta: MessageMeta, status: str, code: str | None, reason: str | None, wall: float,
                  ops: GroupedOps, *, stat: str | None = None, err: str | None = None) -> None:
        if meta.final is not None:
            return
        if self._long:
            self._long.pop(meta.id, None)
        if self._expired and meta.id in self._expired:
            meta.final = "expired"  # a receipt after expiry: the segment row says what came, no report
            return
        meta.final = status
        self.stats.finals[status] = self.stats.finals.get(status, 0) + 1
        ops.append((q.MESSAGE_FINAL, {"m_id": meta.id, "st": status, "code": code, "reason": reason, "at": wall}))
        ops.append((q.INSERT_REPORT, {"message_id": meta.id, "key_id": meta.key_id, "to_number": meta.to,
                                      "client_ref": meta.client_ref, "status": status, "stat": stat,
                                      "err": err, "done_at": wall}))
        if meta.callback_url:
            report = {"message_id": str(meta.id), "to": meta.to, "status": status, "stat": stat, "err": err,
                      "done_at": wall, "client_ref": meta.client_ref}
            ops.append((q.INSERT_CALLBACK, {"id": self.ids.next(), "kind": "report", "ref_id": meta.id,
                                            "key_id": meta.key_id, "url": meta.callback_url,
                                            "payload": json.dumps(report), "state": "pending", "attempts": 0,
                                            "next_attempt_at": wall, "last_error": None}))
            for observer in self.callback_observers:
                observer()

    # ----------------------------------------------------------------------- MO
    def _mo_part(self, channel: str, part: MoPart, wall: float, ops: list[Any], mo: Reassembler) -> None:
        if part.concat is None:
            self._mo_message(channel, part.source, part.dest, part.text, wall, ops)
            return
        reference, total, index = part.concat
        payload = part.text.encode("utf-8")
        group = (channel, part.source, part.dest)
        if mo.completed_repeat(group, reference, total, index, payload):
            return  # a part of a message already stored: storing it again would leave a row for ever
        whole = mo.add(group, reference, total, index, payload, trio.current_time())
        if whole is None:
            # An operator resends a deliver whose response it missed (the line dropped after our
            # commit): a plain INSERT of the same part would violate the key, fail the whole
            # store, drop the session, and the operator would resend it again, for ever.
            ops.append((q.DELETE_MO_PART, {"ch": channel, "src": part.source, "dst": part.dest, "ref": reference,
                                           "tot": total, "idx": index}))
            ops.append((q.INSERT_MO_PART, {"channel": channel, "from_number": part.source, "to_number": part.dest,
                                           "reference": reference, "total": total, "idx": index,
                                           "payload": payload, "coding": part.coding, "received_at": wall}))
            return
        ops.append((q.DELETE_MO_PARTS, {"ch": channel, "src": part.source, "dst": part.dest, "ref": reference,
                                        "tot": total}))
        self._mo_message(channel, part.source, part.dest, whole.decode("utf-8", "replace"), wall, ops)

    def _mo_message(self, channel: str, source: str, dest: str, text: str, wall: float, ops: list[Any]) -> None:
        mo_id = self.ids.next()
        self.stats.mo_messages += 1
        ops.append((q.INSERT_MO, {"id": mo_id, "channel": channel, "from_number": source, "to_number": dest,
                                  "text": text, "received_at": wall}))
        for observer in self.mo_observers:
            observer(channel, source, dest, text, wall, ops)
        url = self.config.gateway.mo_callback_url
        if url:
            payload = {"id": str(mo_id), "channel": channel, "from": source, "to": dest, "text": text,
                       "received_at": wall}
            ops.append((q.INSERT_CALLBACK, {"id": self.ids.next(), "kind": "mo", "ref_id": mo_id, "key_id": None,
                                            "url": url, "payload": json.dumps(payload, ensure_ascii=False),
                                            "state": "pending", "attempts": 0, "next_attempt_at": wall,
                                            "last_error": None}))
            for observer in self.callback_observers:
                observer()

    # ------------------------------------------------------------------- expiry
    async def _expire_loop(self) -> None:
        while True:
            await trio.sleep(_EXPIRY_EVERY)
            try:
                while await self.expire_once() == _EXPIRY_PAGE:
                    pass
            except (ReadFailed, WriteFailed) as exc:  # the database is down: the next run tries again
                log.warning("expiry failed; will retry", error=str(exc))

    async def expire_once(self) -> int:
        """Finalize messages whose validity ended without a final receipt; flush
        MO groups that never completed."""
        wall = self.wall_clock()
        rows = await self.store.read(q.expired, wall, _EXPIRY_PAGE)
        ops = GroupedOps()
        for row in rows:
            meta = MessageMeta(row.id, row.key_id, row.to_number, row.client_ref, row.callback_url, [])
            if not row.sent:  # never sent (e.g. the operator unreachable all along)
                self._finalize(meta, "expired", "validity_expired",
                               "the validity period ended before the message could be sent", wall, ops)
            elif row.status == "accepted":  # a long message of which some parts were sent
                self._finalize(meta, "expired", "no_receipt",
                               "the validity period ended before every part was sent and reported", wall, ops)
            else:
                self._finalize(meta, "expired", "no_receipt", "no final receipt within the validity period", wall,
                               ops)
        expired = self._expired
        for row in rows:
            expired[row.id] = None
        while len(expired) > _EXPIRED_LIMIT:
            expired.popitem(last=False)
        async with self._mo_lock:  # MO groups are dropped only once their flush is stored
            now = trio.current_time()
            mo_ops: list[Any] = []
            for group in self._mo.stale(now):
                channel, source, dest = group.key  # type: ignore[misc]
                mo_ops.append((q.DELETE_MO_PARTS, {"ch": channel, "src": source, "dst": dest,
                                                   "ref": group.reference, "tot": group.total}))
                self._mo_message(channel, source, dest, group.joined().decode("utf-8", "replace"), wall, mo_ops)
            if ops or mo_ops:
                try:
                    await self.store.execute(ops.ops() + mo_ops)
                except WriteFailed:
                    for row in rows:  # not finalized after all (or not known to be): the next run does it
                        expired.pop(row.id, None)
                    raise
            self._mo.expire(now)
        return len(rows)


def _key(normalise: Callable[[str], str], smsc_id: str) -> str:
    """The matching key of an operator id; ``storable``, as it is written and looked up in the database."""
    try:
        key = normalise(smsc_id)
    except ValueError:
        key = smsc_id.strip().casefold()
    return storable(key, _ID_WIDTH)

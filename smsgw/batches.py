"""Batch jobs: many recipients, one content, a lifecycle (docs/platform-batches.md).

    loading ──> scheduled ──> running ──> done
       │            │  ^         │  ^
       │            v  │         v  │
       │           paused <──────┘  │      (resume: running, or scheduled if send_at is ahead)
       │            │               │
       └─ deleted   └──> cancelled <┘      (from scheduled, running or paused)

Rows are drafted and admitted by ``Intake`` like single messages, de-duplicated within the
batch, and written a chunk at a time; refused rows go to ``batch_rejects`` with their code.
A message of a batch that is not running has the status ``held``: the feeders page only
``accepted`` rows, expiry only ``accepted``/``submitted`` ones. Starting (or resuming) flips
``held`` to ``accepted`` a page at a time, setting ``expires_at`` then, and hands each page to
the dispatcher (``Dispatcher.requeued``); pausing holds the batch in the dispatcher first (its
queued jobs are dropped) and flips ``accepted`` back to ``held``; cancelling marks what was not
sent ``rejected`` with the code ``batch_cancelled``.

An upload streamed as multipart is verified only when its body ends (the signature covers the
body's hash), so its rows are written ``held`` under a batch in state ``loading``; a failed
check or a broken upload has them deleted again by the background task's discarder (the
request waits for it), as is any batch found ``loading`` at start; their sends are uncounted.

The background task (``run``) starts due scheduled batches, flips started ones, finishes
cancellations and marks a running batch ``done`` with its final counts once none of its
messages is pending.
"""

from __future__ import annotations

import collections
import contextlib
import math
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
import trio
from sqlalchemy import Connection, and_, bindparam, delete, func, insert, or_, select, update

from .dispatch import Dispatcher
from .http.errors import HTTPError, Refused
from .intake import Draft, Intake
from .keys import ApiKey, load_key
from .numberset import NumberSet
from .store.errors import WriteFailed
from .store.schema import batch_rejects, batches, messages, segments
from .store.writer import Submitted

log = structlog.get_logger("smsgw.batches")

STATES = ("loading", "scheduled", "running", "paused", "done", "cancelled")
CHUNK = 1000  # rows per write while loading
PAGE = 5000  # messages per flip (start, pause, cancel) and per delete
MAX_JSON_RECIPIENTS = 10_000
MODELS = 64  # distinct row contents a loader keeps: 1000 made rows that all differ (a code per row) 3 µs slower
BIG_JSON = 1000  # recipients above which JSON batches are drafted and stored one at a time (memory)
BATCH_FIELDS = ("template_id", "signature", "channel", "callback_url")  # a refusal naming one fails the upload
PENDING = ("held", "accepted", "submitted")
CANCELLED_CODE = "batch_cancelled"
_TICK = 1.0


def parse_send_at(value: object) -> float | None:
    """``send_at``: unix seconds (number or digits) or ISO 8601 (without a zone: the server's local time)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise HTTPError(400, "invalid_send_at", "\"send_at\" must be unix seconds or an ISO 8601 time", "send_at")
    seconds: float | None = None
    try:
        if isinstance(value, int | float):
            seconds = float(value)
        elif isinstance(value, str):
            try:
                seconds = float(value)
            except ValueError:
                seconds = datetime.fromisoformat(value.strip().replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError, OSError):
        pass  # not a time, or an integer too large for a float (was a 500)
    if seconds is not None and math.isfinite(seconds):  # inf: never started; both broke the JSON answers
        return seconds
    raise HTTPError(400, "invalid_send_at",
                    f"\"send_at\" must be unix seconds or an ISO 8601 time like 2026-12-01T09:30:00+08:00,"
                    f" not {value!r}", "send_at")


@dataclass(slots=True)
class BatchFields:
    """What every row of a batch shares."""

    template_id: str | None
    signature: str | None
    channel: str | None
    text: str | None
    callback_url: str | None
    send_at: float | None

    @classmethod
    def parse(cls, body: Mapping[str, Any], channels: Iterable[str]) -> BatchFields:
        values: dict[str, str | None] = {}
        for name in (*BATCH_FIELDS, "text"):
            value = body.get(name)
            if value == "":
                value = None
            if value is not None and not isinstance(value, str):
                raise HTTPError(400, f"invalid_{name}", f"\"{name}\" must be a string", name)
            if value is not None and "\x00" in value:  # a multipart field (JSON ones are checked on parsing)
                raise HTTPError(400, f"invalid_{name}", f"\"{name}\" must not contain U+0000 (NUL)", name)
            values[name] = value
        if values["template_id"] is None and values["text"] is None:
            raise HTTPError(400, "missing_content", "give \"template_id\" (and params per recipient) or \"text\"",
                            "template_id")
        known = list(channels)
        if values["channel"] is not None and values["channel"] not in known:
            raise HTTPError(400, "unknown_channel",
                            f"channel {values['channel']!r} is not configured; known: {', '.join(known)}", "channel")
        return cls(values["template_id"], values["signature"], values["channel"], values["text"],
                   values["callback_url"], parse_send_at(body.get("send_at")))

    def message_body(self, to: object, params: dict[str, str]) -> dict[str, Any]:
        """One recipient's request as ``Intake.draft`` takes it. With raw text, ``{column}``
        placeholders are filled from the recipient's params (the content rules still apply)."""
        body: dict[str, Any] = {"to": to, "signature": self.signature, "channel": self.channel,
                                "callback_url": self.callback_url}
        if self.template_id is not None:
            body |= {"template_id": self.template_id, "params": params}
        if self.text is not None:
            body["text"] = self.filled(params)
        return {k: v for k, v in body.items() if v is not None}

    def filled(self, params: dict[str, str]) -> str | None:
        """The raw text with the recipient's params in its ``{column}`` placeholders."""
        text = self.text
        if text is not None:
            for name, value in params.items():
                text = text.replace("{" + name + "}", value)
        return text

    def content_key(self, params: dict[str, str]) -> tuple[Any, ...]:
        """What, besides the route, decides a row's draft (``Loader.row``): its filled text, and
        the params for a template."""
        return self.filled(params), tuple(params.items()) if self.template_id is not None else None


@dataclass(frozen=True, slots=True)
class _Model:
    """What the rows of one content on one channel share: their draft and ops (``Loader.models``)."""

    draft: Draft
    message_op: tuple[Any, dict[str, Any]]
    segment_ops: list[tuple[Any, dict[str, Any]]]


class Loader:
    """The rows of one upload: drafted, de-duplicated, admitted, written ``CHUNK`` at a time."""

    def __init__(self, batches: Batches, key: ApiKey, fields: BatchFields, *, status: str) -> None:
        self.batches, self.intake, self.key, self.fields = batches, batches.intake, key, fields
        self.status = status  # of the messages written: "held", or "accepted" for a batch verified and running
        self.id = self.intake.ids.next()
        self.now = self.intake.wall_clock()
        self.total = self.accepted = self.rejected = 0
        self.seen = NumberSet()
        self.sample: str | None = None  # the first accepted text: what the history's content filter sees
        self.message_ops: list[Any] = []  # of the chunk not yet written, as are the three below
        self.segment_ops: list[Any] = []
        self.drafts: list[Draft] = []
        self.rejects: list[dict[str, Any]] = []
        self.writing: collections.deque[tuple[Submitted, list[Draft]]] = collections.deque()  # in flight
        # (channel, *content_key), or the channel for rows without params → a draft of such a
        # row and its ops: the content checks ran once for all the rows alike (a batch repeats one text:
        # ~3 µs a row saved); valid for one version of the content rules.
        self.models: dict[tuple[Any, ...] | str, _Model] = {}
        self.models_version = -1
        # message ids taken ahead, one per row (those of refused rows are left over): a JSON batch's,
        # whose write is queued before any await (``IdGenerator.take``); None: one per accepted row
        self.ids: Iterator[int] | None = None

    def batch_row(self, state: str) -> dict[str, Any]:
        f = self.fields
        return {"id": self.id, "key_id": self.key.id, "state": state, "total": self.total, "accepted": self.accepted,
                "rejected": self.rejected, "template_id": f.template_id, "signature": f.signature,
                "text": f.text if f.text is not None else self.sample, "channel": f.channel, "send_at": f.send_at,
                "created_at": self.now, "started_at": None, "done_at": None, "submitted": None, "delivered": None,
                "failed": None, "cancelled": None}

    def row(self, line: int, to: object, params: dict[str, str],
            routes: dict[tuple[str, ...], str] | None = None) -> None:
        """One recipient; a refusal is recorded (``Refused`` naming a batch-wide field is raised).
        The checks are ``Intake.draft``'s, those past the route run once per distinct content.
        ``routes``: the caller's ``Intake.route`` choices since it last awaited."""
        self.total += 1
        intake = self.intake
        try:
            number = intake.number(to)
            channel = intake.route(number, self.fields.channel, routes)
            model = self._model(number, channel, to, params)
            draft = model.draft.to_number(number)
            if not self.seen.add(number):
                raise Refused(400, "duplicate", f"{number} is already a recipient of this batch", "to")
            intake.admit(self.key, draft, self.now, quota=False)
        except Refused as exc:
            if exc.field in BATCH_FIELDS:
                raise
            self._reject(line, to, exc.code, exc.message)
            return
        self.accepted += 1
        if self.sample is None:
            self.sample = draft.text
        self.drafts.append(draft)
        message_id = intake.ids.next() if self.ids is None else next(self.ids)
        # the model's rows copied: 0.1 µs, where building the message's dict was 0.4
        statement, values = model.message_op
        values = values.copy()
        values["id"], values["to_number"] = message_id, number
        self.message_ops.append((statement, values))
        for statement, values in model.segment_ops:
            values = values.copy()
            values["message_id"] = message_id
            self.segment_ops.append((statement, values))

    def _model(self, number: str, channel: str, to: object, params: dict[str, str]) -> _Model:
        version = self.intake.content.version
        if version != self.models_version:
            self.models.clear()
            self.models_version = version
        # rows without params (one text for all) are keyed by the channel alone: 0.2 µs a row less
        key = (channel, *self.fields.content_key(params)) if params else channel
        model = self.models.get(key)
        if model is None:
            intake = self.intake
            draft = intake.draft_to(number, channel, self.fields.message_body(to, params), self.key)
            model = _Model(draft, intake.message_op(self.key.id, draft, 0, self.now, self.id, self.status),
                           intake.segment_ops(draft, 0))
            if len(self.models) >= MODELS:
                self.models.clear()  # rows that differ (template params): bounded memory
            self.models[key] = model
        return model

    def refuse(self, line: int, to: object, code: str, message: str) -> None:
        """A row the caller found unusable before drafting (wrong shape)."""
        self.total += 1
        self._reject(line, to, code, message)

    def _reject(self, line: int, to: object, code: str, message: str) -> None:
        self.rejected += 1
        self.rejects.append({"batch_id": self.id, "line": line, "number": str(to if to is not None else "")[:64],
                             "code": code[:32], "message": message[:255]})

    def chunk_ops(self) -> list[Any]:
        """The pending rows as ops, grouped by statement (each group runs as one executemany):
        messages, their segments, the rejected rows."""
        return [*self.message_ops, *self.segment_ops, *((_INSERT_REJECT, row) for row in self.rejects)]

    async def flush(self) -> None:
        """Queue the pending chunk's write, then wait for the one before it: the next chunk is
        parsed and checked while this one is written (at most two chunks in flight).
        On a failed write its sends are uncounted and ``WriteFailed`` raised."""
        ops = self.chunk_ops()
        drafts = self.drafts
        self.message_ops, self.segment_ops, self.drafts, self.rejects = [], [], [], []
        if ops:
            self.writing.append((self.intake.store.submit(ops), drafts))
        await self._wait(keep=1)

    async def settle(self) -> None:
        """Flush and wait until every chunk is written (or one failed: ``WriteFailed``)."""
        await self.flush()
        await self._wait(keep=0)

    async def drop_writes(self) -> None:
        """The upload failed: uncount the sends of the rows not written yet, and wait out the
        writes still in flight (so that nothing of the batch commits after its rows are
        deleted), uncounting the sends of those that failed."""
        self.intake.release(self.key, self.drafts, quota=False)
        self.message_ops, self.segment_ops, self.drafts, self.rejects = [], [], [], []
        while self.writing:
            with contextlib.suppress(WriteFailed):
                await self._wait(keep=0)

    async def _wait(self, *, keep: int) -> None:
        """Until at most ``keep`` writes are in flight; a write leaves the deque only once its
        outcome is known (a cancelled wait leaves it for ``drop_writes``)."""
        while len(self.writing) > keep:
            submitted, drafts = self.writing[0]
            try:
                await submitted.wait()
            except WriteFailed:
                self.intake.release(self.key, drafts, quota=False)
                raise
            finally:
                if submitted.done is not None and submitted.done.is_set():
                    self.writing.popleft()

    @property
    def full(self) -> bool:
        return len(self.drafts) + len(self.rejects) >= CHUNK


_INSERT_REJECT = insert(batch_rejects)


@dataclass(slots=True)
class _Cached:
    until: float
    counts: dict[str, int]


@dataclass(slots=True)
class _Work:
    activate: set[int] = field(default_factory=set)  # running batches with held rows to flip
    pause: set[int] = field(default_factory=set)  # paused batches with accepted rows to flip back
    cancel: set[int] = field(default_factory=set)  # cancelled batches with rows left to mark
    running: set[int] = field(default_factory=set)  # to watch for done
    discard: dict[int, ApiKey | None] = field(default_factory=dict)  # failed uploads to delete (key: to uncount)


class Batches:
    """The batch service behind api_batches: creating, controlling, reading; ``run`` is its task."""

    def __init__(self, intake: Intake) -> None:
        self.intake = intake
        self.store = intake.store
        self.work = _Work()
        self._locks: dict[int, trio.Lock] = collections.defaultdict(trio.Lock)
        self._wake = trio.lowlevel.ParkingLot()
        self._cache: dict[int, _Cached] = {}
        self._discarded: dict[int, trio.Event] = {}
        self._discard_wake = trio.lowlevel.ParkingLot()
        self._big_json = trio.Semaphore(1)

    @property
    def dispatcher(self) -> Dispatcher:
        return self.intake.dispatcher

    # ------------------------------------------------------------------ creating
    def upload_loader(self, key: ApiKey, fields: BatchFields) -> Loader:
        """Rows of a streamed upload: held until the body is verified and the batch starts."""
        self.intake._check_open()
        return Loader(self, key, fields, status="held")

    async def create_json(self, key: ApiKey, body: Mapping[str, Any]) -> dict[str, Any]:
        """A JSON batch (verified already): one transaction for the batch and all its rows."""
        fields = BatchFields.parse(body, self.dispatcher.channels)
        recipients = body.get("recipients")
        if not isinstance(recipients, list) or not recipients:
            raise HTTPError(400, "missing_recipients", "\"recipients\" must be a non-empty list", "recipients")
        if len(recipients) > MAX_JSON_RECIPIENTS:
            raise HTTPError(413, "batch_too_large",
                            f"at most {MAX_JSON_RECIPIENTS} recipients per JSON batch; upload a CSV file for more",
                            "recipients")
        self.intake._check_open()
        async with self._big_json if len(recipients) > BIG_JSON else contextlib.nullcontext():
            return await self._create_json(key, fields, recipients)

    async def _create_json(self, key: ApiKey, fields: BatchFields, recipients: list[Any]) -> dict[str, Any]:
        starts_now = fields.send_at is None or fields.send_at <= self.intake.wall_clock()
        # verified and starting now: straight to "accepted" (fresh ids: the main feed takes them)
        loader = Loader(self, key, fields, status="accepted" if starts_now else "held")
        loader.ids = iter(self.intake.ids.take(len(recipients)))
        routes: dict[tuple[str, ...], str] = {}  # no await in this loop
        for line, item in enumerate(recipients, 1):
            if not isinstance(item, dict):
                loader.refuse(line, None, "malformed_row", "a recipient must be an object {\"to\", \"params\"}")
                continue
            params = item.get("params")
            if not params:  # none: the checks below would pass it as {}
                loader.row(line, item.get("to"), {}, routes)
                continue
            if not isinstance(params, dict) or not all(isinstance(v, str | int | float) for v in params.values()):
                loader.refuse(line, item.get("to"), "invalid_params", "\"params\" must be an object of strings")
                continue
            loader.row(line, item.get("to"), {str(k): str(v) for k, v in params.items()}, routes)
        state = "running" if starts_now else "scheduled"
        row = loader.batch_row(state)
        row["started_at"] = loader.now if state == "running" else None
        ops = [(_INSERT_BATCH, row), *loader.chunk_ops()]
        drafts = loader.drafts
        # fresh accepted rows (their ids were taken above, with no await since): handed to the feeders
        channels = {d.channel for d in drafts} if loader.status == "accepted" else ()
        try:
            with self.dispatcher.handing_over(channels) as handoff:
                await self.store.execute(ops)
                handoff.committed(ops)
        except WriteFailed:
            self.intake.release(key, drafts, quota=False)
            raise
        self._started(loader.id, state, held=loader.status == "held")
        return {"id": str(loader.id), "total": loader.total, "accepted": loader.accepted, "rejected": loader.rejected}

    async def begin_upload(self, loader: Loader) -> None:
        """The ``loading`` batch row, before the first rows of a streamed upload."""
        self.dispatcher.hold(loader.id)
        await self.store.execute([(_INSERT_BATCH, loader.batch_row("loading"))])

    async def finish_upload(self, loader: Loader) -> dict[str, Any]:
        """The body was verified: the batch becomes scheduled or running."""
        await loader.settle()
        now = self.intake.wall_clock()
        send_at = loader.fields.send_at
        state = "scheduled" if send_at is not None and send_at > now else "running"
        await self.store.execute([(_UPDATE_BATCH, {
            "b_id": loader.id, "state": state, "total": loader.total, "accepted": loader.accepted,
            "rejected": loader.rejected, "text": loader.batch_row(state)["text"],
            "started_at": now if state == "running" else None})])
        self._started(loader.id, state, held=True)
        return {"id": str(loader.id), "total": loader.total, "accepted": loader.accepted, "rejected": loader.rejected}

    async def abandon_upload(self, loader: Loader) -> None:
        """The upload failed (bad signature, broken body, refused field): delete what it wrote and
        uncount its sends. The deleting is the background task's (``_discarder``), so that it
        finishes even if the caller stops waiting (a million rows take a while)."""
        await loader.drop_writes()
        await self._discard_later(loader.id, loader.key).wait()

    def _discard_later(self, batch_id: int, key: ApiKey | None) -> trio.Event:
        """Hand a batch that never became valid to the discarder; the event is set once it is gone."""
        self.dispatcher.hold(batch_id)
        self.work.discard[batch_id] = key
        self._discard_wake.unpark_all()
        return self._discarded.setdefault(batch_id, trio.Event())

    def _started(self, batch_id: int, state: str, *, held: bool) -> None:
        if state == "running":
            self.dispatcher.release(batch_id)
            self.work.running.add(batch_id)
            if held:
                self.work.activate.add(batch_id)
                self._wake.unpark_all()
        else:
            self.dispatcher.release(batch_id)  # scheduled: rows are held in the store

    # --------------------------------------------------------------- controlling
    async def pause(self, batch_id: int, key_id: str | None) -> dict[str, Any]:
        row = await self._row_or_404(batch_id, key_id)
        if row.state not in ("scheduled", "running"):
            raise _bad_state(row.state, "pause", "scheduled or running")
        held_before = batch_id in self.dispatcher.held_batches
        self.dispatcher.hold(batch_id)
        async with self._locks[batch_id]:
            row = await self._current(batch_id, key_id)
            if row.state not in ("scheduled", "running"):
                if not held_before:
                    self.dispatcher.release(batch_id)
                raise _bad_state(row.state, "pause", "scheduled or running")
            await self.store.execute([(_SET_STATE, {"b_id": batch_id, "st": "paused"})])
            self.work.running.discard(batch_id)
            self.work.activate.discard(batch_id)
            await self._flip(batch_id, "accepted", "held")
        return {"id": str(batch_id), "state": "paused"}

    async def resume(self, batch_id: int, key_id: str | None) -> dict[str, Any]:
        async with self._locks[batch_id]:
            row = await self._row_or_404(batch_id, key_id)
            if row.state != "paused":
                raise _bad_state(row.state, "resume", "paused")
            now = self.intake.wall_clock()
            state = "scheduled" if row.send_at is not None and row.send_at > now else "running"
            values = {"b_id": batch_id, "state": state}
            if state == "running" and row.started_at is None:
                values["started_at"] = now
            await self.store.execute([(_UPDATE_BATCH, values)])
            self._started(batch_id, state, held=True)
        return {"id": str(batch_id), "state": state}

    async def cancel(self, batch_id: int, key_id: str | None) -> dict[str, Any]:
        row = await self._row_or_404(batch_id, key_id)
        if row.state not in ("scheduled", "running", "paused"):
            raise _bad_state(row.state, "cancel", "scheduled, running or paused")
        held_before = batch_id in self.dispatcher.held_batches
        self.dispatcher.hold(batch_id)
        async with self._locks[batch_id]:
            row = await self._current(batch_id, key_id)
            if row.state not in ("scheduled", "running", "paused"):
                if not held_before:
                    self.dispatcher.release(batch_id)
                raise _bad_state(row.state, "cancel", "scheduled, running or paused")
            await self.store.execute([(_SET_STATE, {"b_id": batch_id, "st": "cancelled"})])
            self.work.running.discard(batch_id)
            self.work.activate.discard(batch_id)
            await self._cancel_rows(batch_id)
        return {"id": str(batch_id), "state": "cancelled"}

    async def _current(self, batch_id: int, key_id: str | None) -> Any:
        """The batch's row, under its lock; a running batch with nothing pending is recorded
        ``done`` first. ``progress`` reports such a batch done before the background task records
        it (within a second): a pause or cancel in that second was taken, and a finished batch
        became ``paused`` (or ``cancelled``) after its client had been told it was done."""
        row = await self._row_or_404(batch_id, key_id)
        if (row.state != "running" or batch_id in self.work.activate
                or await self.store.read(_has_pending, batch_id)):
            return row
        await self._settle(batch_id, "done")
        self.work.running.discard(batch_id)
        return await self._row_or_404(batch_id, key_id)

    # ---------------------------------------------------------------- background
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Recover (before the dispatcher starts: held batches must be known to its feeders),
        then start, flip, finish and close batches as they fall due."""
        await self._recover()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._discarder)
            task_status.started()
            while True:
                try:
                    await self.tick()
                except WriteFailed as exc:
                    log.error("batch_tick_failed", error=str(exc))
                with trio.move_on_after(_TICK):
                    await self._wake.park()

    async def _discarder(self) -> None:
        """Delete the batches handed over by ``_discard_later``, one at a time."""
        while True:
            while self.work.discard:
                batch_id, key = next(iter(self.work.discard.items()))
                try:
                    await discard(self, batch_id, key)
                except WriteFailed as exc:
                    log.error("batch_discard_failed", batch=batch_id, error=str(exc))
                    await trio.sleep(_TICK)
                    continue
                del self.work.discard[batch_id]
                self._discarded.pop(batch_id, trio.Event()).set()
            await self._discard_wake.park()

    async def _recover(self) -> None:
        rows = await self.store.read(_unfinished)
        for row in rows:
            if row.state == "loading":
                # Limits.load has replayed its rows' sends (held rows count like any other):
                # uncount them with the rows, under the batch's key. Held rows are never sent.
                log.info("batch_upload_abandoned", batch=row.id)
                self._discard_later(row.id, await self.store.read(load_key, row.key_id))
            elif row.state in ("paused", "cancelled", "scheduled"):
                self.dispatcher.hold(row.id)
                if row.state == "paused":
                    self.work.pause.add(row.id)
                elif row.state == "cancelled":
                    self.work.cancel.add(row.id)
            else:  # running: rows still held if a flip was cut short
                self.work.running.add(row.id)
                self.work.activate.add(row.id)

    async def tick(self) -> None:
        now = self.intake.wall_clock()
        for batch_id in await self.store.read(_due, now):
            async with self._locks[batch_id]:
                row = await self.store.read(_batch_row, batch_id, None)
                if row is None or row.state != "scheduled":
                    continue  # paused or cancelled while this waited for the lock: it must not start
                await self.store.execute([(update(batches).where(and_(batches.c.id == batch_id,
                                                                      batches.c.state == "scheduled")),
                                           {"state": "running", "started_at": now})])
                self._started(batch_id, "running", held=True)
        for batch_id in list(self.work.pause):
            async with self._locks[batch_id]:
                await self._flip(batch_id, "accepted", "held")
                self.work.pause.discard(batch_id)
        for batch_id in list(self.work.activate):
            async with self._locks[batch_id]:
                if batch_id in self.work.activate:
                    await self._activate(batch_id)
        for batch_id in list(self.work.cancel):
            async with self._locks[batch_id]:
                await self._cancel_rows(batch_id)
        for batch_id in list(self.work.running):
            if batch_id in self.work.activate:
                continue
            async with self._locks[batch_id]:
                if batch_id in self.work.running and not await self.store.read(_has_pending, batch_id):
                    await self._settle(batch_id, "done")
                    self.work.running.discard(batch_id)

    def wake(self) -> None:
        self._wake.unpark_all()

    async def _activate(self, batch_id: int) -> None:
        """Flip the batch's held rows to accepted a page at a time, each page handed to the feeders;
        stops early if the batch is held again (paused or cancelled meanwhile)."""
        dispatcher = self.dispatcher
        after = 0
        while batch_id not in dispatcher.held_batches:
            last = await self.store.read(_page_end, batch_id, "held", after, PAGE)
            if last is None:
                self.work.activate.discard(batch_id)
                return
            expires = self.intake.wall_clock() + self.intake.validity
            await self.store.execute([(_FLIP["held", "accepted"],
                                       {"b_id": batch_id, "lo": after, "hi": last, "exp": expires})])
            dispatcher.requeued(batch_id, after + 1, last)
            after = last

    async def _flip(self, batch_id: int, old: str, new: str) -> None:
        after = 0
        while (last := await self.store.read(_page_end, batch_id, old, after, PAGE)) is not None:
            await self.store.execute([(_FLIP[old, new], {"b_id": batch_id, "lo": after, "hi": last})])
            after = last

    async def _cancel_rows(self, batch_id: int) -> None:
        """Mark the batch's unsent messages ``rejected``/``batch_cancelled``, except those with a
        job in a window (they finish as sent); settle the batch once none is pending (the sent
        ones have their receipts: the counts stored then are final)."""
        live = self.dispatcher.live_messages(batch_id)
        now = self.intake.wall_clock()
        for status in ("held", "accepted"):
            after = 0
            while rows := await self.store.read(_unsent_page, batch_id, status, after, PAGE):
                last = rows[-1].id
                await self.store.execute([(_CANCEL_ROWS, {"b_id": batch_id, "old": status, "lo": after, "hi": last,
                                                          "live": sorted(live), "at": now})])
                # never sent: the frequency limits count them no longer (a restart skips them too)
                self.intake.limits.uncount((r.signature, r.to_number) for r in rows if r.id not in live)
                after = last
        if not await self.store.read(_has_pending, batch_id):
            await self._settle(batch_id, "cancelled")
            self.work.cancel.discard(batch_id)
        else:
            self.work.cancel.add(batch_id)

    async def _settle(self, batch_id: int, state: str) -> None:
        counts = _progress_counts(await self.store.read(_status_counts, batch_id))
        await self.store.execute([(_UPDATE_BATCH, {
            "b_id": batch_id, "state": state, "done_at": self.intake.wall_clock(), "submitted": counts["submitted"],
            "delivered": counts["delivered"], "failed": counts["failed"], "cancelled": counts["cancelled"]})])
        self._cache.pop(batch_id, None)
        log.info("batch_settled", batch=batch_id, state=state, **counts)

    # ------------------------------------------------------------------- reading
    async def progress(self, batch_id: int, key_id: str | None) -> dict[str, Any]:
        row = await self._row_or_404(batch_id, key_id)
        if row.done_at is not None:
            counts = {"submitted": row.submitted, "delivered": row.delivered, "failed": row.failed,
                      "cancelled": row.cancelled, "pending": 0}
        else:
            counts = await self._live_counts(batch_id)
        state = row.state
        if state == "running" and counts["pending"] == 0 and batch_id not in self.work.activate:
            state = "done"  # the background task records it within a second
        return {**describe(row), "state": state, **counts}

    async def _live_counts(self, batch_id: int) -> dict[str, int]:
        """Counted by status on the (batch_id, status, id) index; a million rows take a while, so a
        count is reused for five times as long as it took (at least a second)."""
        now = time.monotonic()
        cached = self._cache.get(batch_id)
        if cached is not None and cached.until > now:
            return cached.counts
        counts = _progress_counts(await self.store.read(_status_counts, batch_id))
        took = time.monotonic() - now
        if len(self._cache) > 1000:
            self._cache.clear()
        self._cache[batch_id] = _Cached(time.monotonic() + max(1.0, 5 * took), counts)
        return counts

    async def row(self, batch_id: int, key_id: str | None) -> Any:
        return await self._row_or_404(batch_id, key_id)

    async def _row_or_404(self, batch_id: int, key_id: str | None) -> Any:
        row = await self.store.read(_batch_row, batch_id, key_id)
        if row is None or row.state == "loading":
            raise HTTPError(404, "not_found", f"no batch {batch_id} for this key")
        return row


# ------------------------------------------------------------------------ SQL
#: Built once: the store writer compiles a statement object once (a statement built per call
#: was compiled per batch, ~3% of the daemon's time at 60 batches/s).
_INSERT_BATCH = insert(batches)
_UPDATE_BATCH = update(batches).where(batches.c.id == bindparam("b_id"))
_SET_STATE = update(batches).where(batches.c.id == bindparam("b_id")).values(state=bindparam("st"))


def _flip_statement(old: str, new: str) -> Any:
    """Built once per (old, new) (``_FLIP``): the writer compiles a statement object once."""
    m = messages.c
    statement = update(messages).where(and_(m.batch_id == bindparam("b_id"), m.status == old,
                                            m.id > bindparam("lo"), m.id <= bindparam("hi")))
    values: dict[str, Any] = {"status": new}
    if new == "accepted":
        values["expires_at"] = bindparam("exp")
    return statement.values(**values)


_FLIP = {pair: _flip_statement(*pair) for pair in (("held", "accepted"), ("accepted", "held"))}
_CANCEL_ROWS = update(messages).where(
    messages.c.batch_id == bindparam("b_id"), messages.c.status == bindparam("old"),
    messages.c.id > bindparam("lo"), messages.c.id <= bindparam("hi"),
    messages.c.id.not_in(bindparam("live", expanding=True)),
).values(status="rejected", error_code=CANCELLED_CODE, done_at=bindparam("at"),
         error_message="the batch was cancelled before this message was sent")


def _bad_state(state: str, action: str, allowed: str) -> HTTPError:
    return HTTPError(409, "invalid_state", f"cannot {action} a batch that is {state}; it must be {allowed}")


def describe(row: Any) -> dict[str, Any]:
    return {"id": str(row.id), "state": row.state, "total": row.total, "accepted": row.accepted,
            "rejected": row.rejected, "template_id": row.template_id, "signature": row.signature,
            "text": row.text, "channel": row.channel, "send_at": row.send_at, "created_at": row.created_at,
            "started_at": row.started_at, "done_at": row.done_at}


def _progress_counts(by_status: Mapping[str, int]) -> dict[str, int]:
    delivered = by_status.get("delivered", 0)
    failed = by_status.get("failed", 0) + by_status.get("expired", 0)
    return {"submitted": by_status.get("submitted", 0) + delivered + failed, "delivered": delivered,
            "failed": failed, "pending": sum(by_status.get(s, 0) for s in PENDING),
            "cancelled": by_status.get("rejected", 0)}


def _batch_row(conn: Connection, batch_id: int, key_id: str | None) -> Any:
    query = select(batches).where(batches.c.id == batch_id)
    if key_id is not None:
        query = query.where(batches.c.key_id == key_id)
    return conn.execute(query).first()


def _status_counts(conn: Connection, batch_id: int) -> dict[str, int]:
    m = messages.c
    return {status: n for status, n in conn.execute(
        select(m.status, func.count()).where(m.batch_id == batch_id).group_by(m.status))}


def _has_pending(conn: Connection, batch_id: int) -> bool:
    m = messages.c
    return conn.execute(select(m.id).where(m.batch_id == batch_id, m.status.in_(PENDING)).limit(1)).first() is not None


def _unsent_page(conn: Connection, batch_id: int, status: str, after: int, size: int) -> list[Any]:
    """The next page of the batch's messages in ``status`` after ``after``: id, number, signature."""
    m = messages.c
    return list(conn.execute(select(m.id, m.to_number, m.signature)
                             .where(m.batch_id == batch_id, m.status == status, m.id > after)
                             .order_by(m.id).limit(size)).all())


def _page_end(conn: Connection, batch_id: int, status: str, after: int, size: int) -> int | None:
    """The id ending the next page of ``size`` messages of the batch in ``status`` after ``after``."""
    m = messages.c
    ids = conn.execute(select(m.id).where(m.batch_id == batch_id, m.status == status, m.id > after)
                       .order_by(m.id).limit(size)).scalars().all()
    return ids[-1] if ids else None


def _unfinished(conn: Connection) -> list[Any]:
    b = batches.c
    return list(conn.execute(select(b.id, b.state, b.key_id).where(or_(
        b.state.in_(("loading", "scheduled", "running", "paused")),
        and_(b.state == "cancelled", b.done_at.is_(None))))).all())


def _due(conn: Connection, now: float) -> list[int]:
    b = batches.c
    return list(conn.execute(select(b.id).where(b.state == "scheduled", b.send_at <= now)).scalars().all())


async def discard(service: Batches, batch_id: int, key: ApiKey | None) -> None:
    """Delete a batch that never became valid (its rows are all ``held``), its messages and
    rejects, ``PAGE`` messages a transaction; uncount their sends under ``key`` (None: the key
    is gone). The statements are constants: one compiled plan, no per-page id lists."""
    store, intake = service.store, service.intake
    service.dispatcher.hold(batch_id)
    after = 0
    while rows := await store.read(_unsent_page, batch_id, "held", after, PAGE):
        bounds = {"b_id": batch_id, "lo": after, "hi": rows[-1].id}
        await store.execute([(_DELETE_SEGMENTS_IN_RANGE, bounds), (_DELETE_MESSAGES_IN_RANGE, bounds)])
        if key is not None:
            intake.limits.uncount((r.signature, r.to_number) for r in rows)
        after = rows[-1].id
    everything = {"b_id": batch_id, "lo": 0, "hi": _MAX_ID}  # nothing else is expected; none is left
    await store.execute([(_DELETE_SEGMENTS_IN_RANGE, everything), (_DELETE_MESSAGES_IN_RANGE, everything),
                         (delete(batch_rejects).where(batch_rejects.c.batch_id == batch_id), {}),
                         (delete(batches).where(batches.c.id == batch_id), {})])
    service.dispatcher.release(batch_id)


_MAX_ID = (1 << 63) - 1
_IN_RANGE = (messages.c.batch_id == bindparam("b_id"), messages.c.id > bindparam("lo"),
             messages.c.id <= bindparam("hi"))
_DELETE_MESSAGES_IN_RANGE = delete(messages).where(*_IN_RANGE)
_DELETE_SEGMENTS_IN_RANGE = delete(segments).where(segments.c.message_id.in_(select(messages.c.id).where(*_IN_RANGE)))

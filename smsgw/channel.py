"""One channel to an operator: ``binds`` sessions sharing a queue and a TPS budget.

Each bind slot is a loop: connect, bind, run the session, and on any loss reconnect with
exponential backoff and jitter — one connection per slot at a time, so a slot never holds
two binds. A bound session runs four tasks around its sans-IO ``Session``:

* the reader feeds received bytes to the session and handles the events it returns
  (submit responses are judged here, synchronously, without awaiting anything);
* the writer sends everything the session queued in one ``send_all`` (coalescing);
* the sender moves queued segments into free window slots as the shared token bucket
  allows, many per wake-up;
* the inbound worker stores receipts and MO durably, then acknowledges them — an
  acknowledged receipt is never lost. The reader hands it what it read through a bounded
  channel and waits when that is full: a store slower than the operator's delivers stops
  the reading, never grows memory.
"""

from __future__ import annotations

import collections
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
import trio

from protocols.errors import ProtocolError
from protocols.session import (
    CAN_SUBMIT,
    BindRefused,
    Bound,
    Closed,
    ProtocolViolation,
    Response,
    ResponseTimeout,
    Session,
)

from .config import ChannelConfig
from .link import Ignored, Link, MoPart, Outcome, Receipt, SubmitResult

log = structlog.get_logger("smsgw.channel")

_READ_SIZE = 256 * 1024
_TIMER_GRANULARITY = 1.0
_RECEIPT_STATS = 32  # distinct receipt stat words per channel in the metrics
_THROTTLE_MIN, _THROTTLE_MAX = 0.2, 10.0
_OK = Outcome.OK  # an enum member read through its class costs ~0.15 µs; once per submit response
#: reads of inbound requests waiting for the inbound worker before the reader waits for it
_INBOUND_BACKLOG = 64


@dataclass(slots=True)
class Job:
    """One segment of one message, waiting for or occupying a window slot."""

    message_id: int
    index: int  # 1-based
    total: int
    pdu: Any
    attempts: int = 0
    meta: Any = None  # the dispatcher's record of the message


class ChannelSink(Protocol):
    """Where a channel reports what happened to its jobs and what it received."""

    def submitted(self, channel: str, job: Job, result: SubmitResult, sent_at: float, now: float) -> None: ...

    def failed(self, channel: str, job: Job, code: str, reason: str, now: float) -> None: ...

    def withdrawn(self, job: Job) -> bool:
        """Checked when a job is taken: True drops it unsent (its batch was paused or cancelled)."""

    async def inbound(self, channel: str, items: list[Receipt | MoPart]) -> None:
        """Store receipts and MO parts durably; return only once they are committed."""


class TokenBucket:
    """``rate`` tokens per second shared by a channel's binds; burst of 1/10 s worth."""

    __slots__ = ("burst", "last", "rate", "tokens")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.burst = max(1.0, rate / 10.0)
        self.tokens = self.burst
        self.last = now

    def take(self, wanted: int, now: float) -> int:
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        granted = min(wanted, int(self.tokens))
        self.tokens -= granted
        return granted

    def next_token_at(self, now: float) -> float:
        return now + max(0.0, 1.0 - self.tokens) / self.rate


@dataclass(slots=True)
class SlotStatus:
    """What `smsgw channels` shows per session."""

    index: int
    state: str = "idle"
    in_flight: int = 0
    bound_since: float | None = None
    last_error: str | None = None
    reconnects: int = 0
    session: Session | None = None
    wake: Callable[[], None] | None = None  # flush the session's writer now


@dataclass(slots=True)
class ChannelStats:
    submits: int = 0
    responses: collections.Counter[str] = field(default_factory=collections.Counter)
    timeouts: int = 0
    resent: int = 0
    throttled: int = 0
    receipts: int = 0
    receipt_stats: dict[str, int] = field(default_factory=dict)  # by stat word (metrics label)
    mo_parts: int = 0
    #: delivers that are neither a readable receipt nor an MO (a receipt without an id): they are
    #: acknowledged, since the operator would only send them again, and counted here, not stored
    unreadable: int = 0
    #: delivers of a kind that carries nothing to store (``Ignored``: SMPP SME acknowledgements,
    #: intermediate notifications, ...) by kind: acknowledged, counted here
    ignored: collections.Counter[str] = field(default_factory=collections.Counter)
    reconnects: int = 0
    violations: int = 0

    def count_receipt(self, stat: str) -> None:
        """One more receipt; the stat word is an operator's free text, so at most
        ``_RECEIPT_STATS`` distinct words are kept as labels and the rest counted as ``OTHER``."""
        self.receipts += 1
        counts = self.receipt_stats
        word = stat[:16].upper() or "NONE"
        if word not in counts and len(counts) >= _RECEIPT_STATS:
            word = "OTHER"
        counts[word] = counts.get(word, 0) + 1


class Channel:
    """The binds, queue and budget of one configured channel."""

    def __init__(
        self,
        config: ChannelConfig,
        link: Link,
        sink: ChannelSink,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.link = link
        self.sink = sink
        self.queue: collections.deque[Job] = collections.deque()
        self.slots = [SlotStatus(i) for i in range(config.binds)]
        self.stats = ChannelStats()
        self.bucket = TokenBucket(config.tps, trio.current_time())
        self.paused_until = 0.0
        self._throttle_backoff = _THROTTLE_MIN
        self._pause_started = float("-inf")  # when the current throttling pause began
        self._work = trio.lowlevel.ParkingLot()
        self._rng = rng or random.Random()
        self._stopping = False
        self._tracers: set[Callable[[str, Any, int], None]] = set()
        self._cancel = trio.CancelScope()

    # ------------------------------------------------------------------ public API
    @property
    def depth(self) -> int:
        return len(self.queue)

    @property
    def bound_sessions(self) -> int:
        return sum(1 for s in self.slots if s.session is not None and s.session.state in CAN_SUBMIT)

    @property
    def in_flight(self) -> int:
        return sum(len(s.session.window) for s in self.slots if s.session is not None)

    def enqueue(self, jobs: list[Job], *, front: bool = False) -> None:
        if front:
            self.queue.extendleft(reversed(jobs))
        else:
            self.queue.extend(jobs)
        self._work.unpark_all()

    def add_tracer(self, tracer: Callable[[str, Any, int], None]) -> None:
        self._tracers.add(tracer)
        for slot in self.slots:
            if slot.session is not None:
                slot.session.tracer = self._tracer_for(slot.index)

    def remove_tracer(self, tracer: Callable[[str, Any, int], None]) -> None:
        self._tracers.discard(tracer)
        if not self._tracers:
            for slot in self.slots:
                if slot.session is not None:
                    slot.session.tracer = None

    async def run(self) -> None:
        """Run every bind slot until ``stop`` or cancellation."""
        with self._cancel:
            async with trio.open_nursery() as nursery:
                for slot in self.slots:
                    nursery.start_soon(self._slot_loop, slot)

    async def stop(self, drain_timeout: float) -> None:
        """Stop sending, wait up to ``drain_timeout`` for the windows to empty, unbind."""
        self._stopping = True
        self._work.unpark_all()
        with trio.move_on_after(drain_timeout):
            while self.in_flight:
                await trio.sleep(0.05)
        for slot in self.slots:
            session = slot.session
            if session is not None and session.is_bound:
                with contextlib.suppress(ProtocolError):
                    session.unbind(trio.current_time())
            if slot.wake is not None:
                slot.wake()
        with trio.move_on_after(2.0):
            while any(s.session is not None and not s.session.is_closed for s in self.slots):
                await trio.sleep(0.02)
        self._cancel.cancel()

    # ------------------------------------------------------------------ bind slots
    async def _slot_loop(self, slot: SlotStatus) -> None:
        config = self.config
        backoff = config.reconnect_min
        while not self._stopping:
            slot.state = "connecting"
            try:
                with trio.fail_after(config.connect_timeout):
                    stream = await trio.open_tcp_stream(config.host, config.port)
            except (OSError, trio.TooSlowError) as exc:
                slot.last_error = f"connect to {config.host}:{config.port} failed: {exc or 'timed out'}"
                log.warning("connect failed", channel=self.name, slot=slot.index, error=slot.last_error)
                bound = False
            else:
                bound = await self._run_session(slot, stream)
            slot.session = None
            slot.bound_since = None
            if self._stopping:
                break
            slot.state = "backoff"
            slot.reconnects += 1
            self.stats.reconnects += 1
            backoff = config.reconnect_min if bound else min(backoff * 2, config.reconnect_max)
            await trio.sleep(backoff * self._rng.uniform(0.5, 1.0))
        slot.state = "stopped"

    async def _run_session(self, slot: SlotStatus, stream: trio.SocketStream) -> bool:
        """Bind and serve one connection; return whether it got bound."""
        now = trio.current_time()
        session = self.link.new_session(now)
        if self._tracers:
            session.tracer = self._tracer_for(slot.index)
        slot.session = session
        slot.state = "binding"
        conn = _Connection(self, slot, session, stream)
        self.link.bind(session, now, time.time())
        try:
            async with stream, trio.open_nursery() as nursery:
                conn.nursery = nursery
                nursery.start_soon(conn.writer)
                nursery.start_soon(conn.timer)
                nursery.start_soon(conn.inbound_worker)
                conn.flush()
                await conn.reader()
                conn.flush()  # the writer sends the last answers (unbind_resp) and stops
                with trio.move_on_after(1.0):
                    await conn.writer_done.wait()
                nursery.cancel_scope.cancel()
        except* (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as group:
            slot.last_error = f"connection error: {group.exceptions[0]}"
        finally:
            closed = session.connection_lost("connection closed")
            if closed is not None:
                self._on_closed(slot, closed)
        return conn.was_bound

    # ------------------------------------------------------------------- outcomes
    def on_response(self, event: Response, now: float) -> None:
        job: Job = event.request.context
        result = self.link.submit_result(event.pdu)
        self.stats.responses[result.code] += 1
        outcome = result.outcome
        if outcome is _OK:
            self._throttle_backoff = _THROTTLE_MIN
            self.sink.submitted(self.name, job, result, event.request.sent_at, now)
        elif outcome is Outcome.THROTTLED:
            self.stats.throttled += 1
            # One pause per throttling episode: the other requests of the same window, sent
            # before the pause began, are answered "throttled" too and must neither extend the
            # pause nor double the backoff (16 such answers would pause the channel 10 s).
            if event.request.sent_at >= self._pause_started:
                self._pause_started = now
                self.paused_until = max(self.paused_until, now + self._throttle_backoff)
                self._throttle_backoff = min(self._throttle_backoff * 2, _THROTTLE_MAX)
            self.enqueue([job], front=True)
        elif outcome is Outcome.TRANSIENT and job.attempts + 1 < self.config.max_retries:
            job.attempts += 1
            self.stats.resent += 1
            self.enqueue([job])
        else:
            self.sink.failed(self.name, job, result.code, result.description, now)

    def on_timeout(self, event: ResponseTimeout, now: float) -> None:
        job: Job = event.request.context
        self.stats.timeouts += 1
        job.attempts += 1
        if job.attempts < self.config.max_retries:
            self.stats.resent += 1
            self.enqueue([job], front=True)
        else:
            self.sink.failed(self.name, job, "response_timeout",
                             f"no submit response after {job.attempts} tries", now)

    def _on_closed(self, slot: SlotStatus, event: Closed) -> None:
        slot.state = "closed"
        slot.last_error = event.reason
        jobs = [entry.context for entry in event.outstanding if isinstance(entry.context, Job)]
        if jobs:
            self.enqueue(jobs, front=True)  # the operator may have them: at-least-once
        log.info("session closed", channel=self.name, slot=slot.index, reason=event.reason, requeued=len(jobs))

    def _tracer_for(self, index: int) -> Callable[[str, Any], None]:
        def trace(direction: str, pdu: Any) -> None:
            for tracer in list(self._tracers):
                tracer(direction, pdu, index)

        return trace


class _Connection:
    """The tasks of one bound (or binding) session."""

    def __init__(self, channel: Channel, slot: SlotStatus, session: Session, stream: trio.SocketStream) -> None:
        self.channel = channel
        self.slot = slot
        self.session = session
        self.stream = stream
        self.was_bound = False
        self.nursery: trio.Nursery | None = None
        self._dirty = trio.Event()
        self.writer_done = trio.Event()
        self._window = trio.lowlevel.ParkingLot()
        self._inbound_send, self._inbound_recv = trio.open_memory_channel[list[Any]](_INBOUND_BACKLOG)
        self._sender_started = False
        slot.wake = self._wake_all

    def flush(self) -> None:
        self._dirty.set()

    def _wake_all(self) -> None:
        self._window.unpark_all()
        self.flush()

    async def reader(self) -> None:
        session = self.session
        while True:
            data = await self.stream.receive_some(_READ_SIZE)
            if not data:
                # The peer is gone: close the session now, so that the writer (waiting to
                # flush the last answers) stops at once instead of holding the slot for its
                # 1 s grace period, and the outstanding submits are requeued right away.
                closed = session.connection_lost("operator closed the connection")
                if closed is not None:
                    self.channel._on_closed(self.slot, closed)
                self.flush()
                return
            now = trio.current_time()
            closed, inbound = self._handle(session.receive_data(data, now), now)
            if closed:
                return
            self.flush()
            self.slot.in_flight = len(session.window)
            if inbound:
                # Backpressure: while the inbound worker is behind, this socket is not read, so
                # an operator flooding delivers is held by its own window, not by our memory.
                # Its submit responses wait unread meanwhile: the session's timers stop, or a
                # store stalled longer than response_timeout would resend the window (duplicates).
                try:
                    self._inbound_send.send_nowait(inbound)
                except trio.WouldBlock:
                    session.stop_reading(trio.current_time())
                    await self._inbound_send.send(inbound)
                    session.resume_reading(trio.current_time())

    def _handle(self, events: list[Any], now: float) -> tuple[bool, list[Any]]:
        """Handle events; return whether the session closed, and the inbound requests (receipts,
        MO) for the inbound worker, which the caller hands over unless the session closed (then
        they go unacknowledged: the operator sends them again)."""
        channel, link = self.channel, self.link_
        inbound: list[Any] = []
        responded = False
        for event in events:
            kind = type(event)
            if kind is Response:
                channel.on_response(event, now)
                responded = True
            elif link.is_inbound(event):
                inbound.append(event)
            elif kind is ResponseTimeout:
                channel.on_timeout(event, now)
                responded = True  # its window slot is free as well: a sender waiting for one must wake
            elif kind is Bound:
                self._on_bound(now)
            elif kind is BindRefused:
                self.slot.last_error = f"bind refused: {event.reason} (status {event.status})"
                log.warning("bind refused", channel=channel.name, slot=self.slot.index, reason=event.reason)
            elif kind is Closed:
                channel._on_closed(self.slot, event)
                return True, inbound
            elif kind is ProtocolViolation:
                channel.stats.violations += 1
                log.warning("protocol violation", channel=channel.name, slot=self.slot.index, error=str(event.error))
        if responded:
            self._window.unpark_all()
        return self.session.is_closed, inbound

    @property
    def link_(self) -> Link:
        return self.channel.link

    def _on_bound(self, now: float) -> None:
        self.was_bound = True
        self.slot.state = self.session.state.value
        self.slot.bound_since = time.time()
        self.slot.last_error = None
        log.info("bound", channel=self.channel.name, slot=self.slot.index, state=self.session.state.value)
        if self.session.state in CAN_SUBMIT and not self._sender_started and self.nursery is not None:
            self._sender_started = True
            self.nursery.start_soon(self.sender)

    async def writer(self) -> None:
        """Send what the session queued, one ``send_all`` per wake-up. A write the operator does
        not take within ``response_timeout`` gives the session up: an operator that stops reading
        but goes on sending (keepalives, delivers) would otherwise keep it bound for ever, its
        answers piling up in memory, every submit of the window timing out on a line that is
        never dropped; the keepalive does not notice, since the operator is not silent."""
        session, stream = self.session, self.stream
        limit = self.channel.config.response_timeout
        try:
            while True:
                await self._dirty.wait()
                self._dirty = trio.Event()
                data = session.data_to_send()
                if data:
                    with trio.move_on_after(limit) as write:
                        await stream.send_all(data)
                    if write.cancelled_caught:
                        self._give_up(f"the operator did not read what we sent within {limit:g} s")
                        return
                if session.is_closed:
                    return
        finally:
            self.writer_done.set()

    def _give_up(self, reason: str) -> None:
        """Close the session from our side (its outstanding requests are requeued) and end its tasks."""
        closed = self.session.connection_lost(reason)
        if closed is not None:
            self.channel._on_closed(self.slot, closed)
        log.warning("session given up", channel=self.channel.name, slot=self.slot.index, reason=reason)
        if self.nursery is not None:
            self.nursery.cancel_scope.cancel()

    async def timer(self) -> None:
        session = self.session
        while True:
            now = trio.current_time()
            deadline = session.next_deadline()
            limit = now + _TIMER_GRANULARITY
            await trio.sleep_until(limit if deadline is None else min(deadline, limit))
            now = trio.current_time()
            events = session.poll(now)
            if events and self._handle(events, now)[0]:  # timers raise no inbound requests
                self.flush()
                if self.nursery is not None:
                    self.nursery.cancel_scope.cancel()
                return
            self.flush()
            self.slot.in_flight = len(session.window)

    async def sender(self) -> None:
        session, channel = self.session, self.channel
        queue, bucket, window = channel.queue, channel.bucket, session.window
        while not channel._stopping and session.state in CAN_SUBMIT:
            if not queue:
                await channel._work.park()
                continue
            now = trio.current_time()
            if now < channel.paused_until:
                await trio.sleep_until(channel.paused_until)
                continue
            free = window.available
            if not free:
                await self._window.park()
                continue
            granted = bucket.take(min(free, len(queue)), now)
            if not granted:
                await trio.sleep_until(bucket.next_token_at(now))
                continue
            sent, withdrawn = 0, channel.sink.withdrawn
            while sent < granted and queue:
                job = queue.popleft()
                if withdrawn(job):
                    continue
                try:
                    session.send(job.pdu, now, context=job)
                except ProtocolError as exc:
                    queue.appendleft(job)
                    log.warning("send refused", channel=channel.name, error=str(exc))
                    break
                sent += 1
            bucket.tokens += granted - sent  # dropped jobs use no budget
            channel.stats.submits += sent
            self.slot.in_flight = len(window)
            self.flush()
            await trio.sleep(0)  # let the reader run between bursts

    async def inbound_worker(self) -> None:
        channel, link, session = self.channel, self.channel.link, self.session
        async for pdus in self._inbound_recv:
            items: list[Receipt | MoPart] = []
            for pdu in pdus:
                item = link.inbound(pdu)
                if item is None:
                    channel.stats.unreadable += 1
                    log.warning("unreadable receipt acknowledged, not stored", channel=channel.name,
                                pdu=type(pdu).__name__, sequence=pdu.sequence)
                    continue
                if isinstance(item, Ignored):
                    channel.stats.ignored[item.kind] += 1
                    continue
                items.append(item)
                if isinstance(item, Receipt):
                    channel.stats.count_receipt(item.stat)
                else:
                    channel.stats.mo_parts += 1
            if items:
                try:
                    await channel.sink.inbound(channel.name, items)
                except Exception as exc:  # the store failed: acknowledge nothing, the operator resends
                    log.error("storing receipts/MO failed; dropping the session", channel=channel.name,
                              error=str(exc))
                    if self.nursery is not None:
                        self.nursery.cancel_scope.cancel()
                    return
            if session.is_closed:
                return  # not acknowledged: the operator sends them again
            now = trio.current_time()
            for pdu in pdus:
                session.send(link.inbound_response(pdu, ok=True), now)
            self.flush()

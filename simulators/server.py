"""The generic simulator engine: any protocol's server-role ``Session`` driven by trio.

One task reads each connection and feeds its session; one writer task per connection
sends everything the session queued as a single ``send_all`` (the coalescing that lets a
Python SMSC absorb tens of thousands of submits per second); a timer task runs the
session's keepalive and timeouts. Receipts and MO messages are scheduled centrally and
handed to a receiving session of the right account, waiting (never dropped) while the
account has no receiver bound or its window is full.
"""

from __future__ import annotations

import collections
import json
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TextIO

import trio

from protocols.errors import ProtocolError, WindowFull
from protocols.session import (
    BindRequest,
    Closed,
    ProtocolViolation,
    Response,
    ResponseTimeout,
    Session,
    State,
)

from .adapter import Accepted, Adapter, SubmitInfo
from .behaviours import Behaviour
from .config import SimConfig

_READ_SIZE = 256 * 1024
_TIMER_GRANULARITY = 1.0
_CLOSED = State.CLOSED  # an Enum member is slow to look up; the per-submit code uses this


@dataclass(slots=True)
class Stats:
    """The counters of the JSON summary printed on SIGTERM."""

    connections: int = 0
    binds: int = 0
    bind_refused: int = 0
    submits: int = 0
    accepted: int = 0
    throttled: int = 0
    window_refused: int = 0
    errors_injected: int = 0
    responses_dropped: int = 0
    reports_sent: int = 0
    delivers_acked: int = 0
    mo_sent: int = 0
    disconnects: int = 0
    protocol_violations: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class TokenBucket:
    """``rate`` tokens per second, burst of one second's worth."""

    __slots__ = ("capacity", "last", "rate", "tokens")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.capacity = max(rate, 1.0)
        self.tokens = self.capacity
        self.last = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Account:
    __slots__ = ("bucket", "connections", "id", "pending", "secret")

    def __init__(self, account_id: str, secret: str, tps: float, now: float) -> None:
        self.id = account_id
        self.secret = secret
        self.connections: list[Connection] = []
        self.pending: collections.deque[Any] = collections.deque()  # deliver PDUs, no receiver yet
        self.bucket = TokenBucket(tps, now) if tps > 0 else None


class Recorder:
    """``--record FILE``: one JSON line per received submit."""

    def __init__(self, path: str | None) -> None:
        self._file: TextIO | None = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115

    @property
    def active(self) -> bool:
        return self._file is not None

    def write(self, entry: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@dataclass(slots=True)
class Outgoing:
    """A request the simulator originates: a receipt or an MO part."""

    kind: str  # "report" | "mo"
    pdu: Any


class Connection:
    """One accepted TCP connection and its server-role session."""

    def __init__(self, server: SimServer, stream: trio.abc.Stream, session: Session, number: int) -> None:
        self.server = server
        self.stream = stream
        self.session = session
        self.number = number
        self.account: Account | None = None
        self.outbox: collections.deque[Outgoing] = collections.deque()  # waiting for a window slot
        self.raw_out = bytearray()  # deliberately broken bytes of the misbehaving-SMSC zoo
        self.slow_pending = 0  # responses held back by --slow-resp-ms: still outstanding
        self._dirty = trio.Event()
        self._cancel = trio.CancelScope()
        self._closing = False

    # --------------------------------------------------------------------- plumbing
    def flush(self) -> None:
        self._dirty.set()

    def close(self) -> None:
        """Close after what is queued has been written (refusals, unbind answers)."""
        self._closing = True
        self._dirty.set()

    def abort(self) -> None:
        """Drop the TCP connection at once (``--disconnect-every``)."""
        self._cancel.cancel()

    def pump(self) -> None:
        """Move waiting requests into free window slots."""
        session, outbox = self.session, self.outbox
        if not outbox or not session.is_bound:
            return
        free = session.window.available  # each request sent takes one; nothing frees one meanwhile
        if not free:
            return
        now = trio.current_time()
        send = session.send
        reports = mo = 0
        while outbox and free:
            item = outbox.popleft()
            try:
                send(item.pdu, now, item)
            except WindowFull:
                outbox.appendleft(item)
                break
            except ProtocolError as exc:  # e.g. a receipt for an address too long to write back
                self.server.log(f"session {self.number}: {item.kind} dropped, it cannot be encoded: {exc}")
                continue
            free -= 1
            if item.kind == "mo":
                mo += 1
            else:
                reports += 1
        if reports or mo:
            stats = self.server.stats
            stats.reports_sent += reports
            stats.mo_sent += mo
            self.flush()

    async def run(self) -> None:
        with self._cancel:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._writer)
                nursery.start_soon(self._timer)
                await self._reader()
                nursery.cancel_scope.cancel()

    async def _reader(self) -> None:
        session, server = self.session, self.server
        while not self._closing:
            try:
                data = await self.stream.receive_some(_READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                closed = session.connection_lost("peer closed the connection")
                if closed is not None:
                    server.on_closed(self, closed)
                return
            now = trio.current_time()
            server.on_events(self, session.receive_data(data, now), now)
            self.flush()
        await trio.sleep_forever()  # the writer finishes the close

    async def _writer(self) -> None:
        session = self.session
        while True:
            await self._dirty.wait()
            self._dirty = trio.Event()
            data = session.data_to_send()
            if self.raw_out:
                data = bytes(self.raw_out) + data
                self.raw_out.clear()
            if data:
                try:
                    await self.stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    self._cancel.cancel()
                    return
            if self._closing:
                self._cancel.cancel()
                return

    async def _timer(self) -> None:
        session = self.session
        while True:
            now = trio.current_time()
            deadline = session.next_deadline()
            limit = now + _TIMER_GRANULARITY
            await trio.sleep_until(limit if deadline is None else min(deadline, limit))
            now = trio.current_time()
            events = session.poll(now)
            if events:
                self.server.on_events(self, events, now)
            self.pump()
            self.flush()


class SimServer:
    """One simulated SMSC: accounts, sessions, receipts, MO, faults and counters."""

    def __init__(
        self,
        config: SimConfig,
        adapter: Adapter,
        *,
        wall_clock: Callable[[], float] = time.time,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.adapter = adapter
        self.behaviour = Behaviour(config)
        self.stats = Stats()
        self.wall_clock = wall_clock
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        now = 0.0
        self.accounts: dict[str, Account] = {
            account: Account(account, secret, config.tps, now) for account, secret in config.accounts.items()
        }
        self.connections: set[Connection] = set()
        self.recorder = Recorder(config.record)
        self._reports: collections.deque[tuple[float, Account, Connection, SubmitInfo, Accepted]] = (
            collections.deque()
        )
        self._reports_added = trio.Event()
        self._slow: collections.deque[tuple[float, Connection, Any]] = collections.deque()
        self._slow_added = trio.Event()
        self._numbers = 0
        self.port: int | None = None

    # ------------------------------------------------------------------- life cycle
    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(self.config.port, host=self.config.host)
        self.port = listeners[0].socket.getsockname()[1]
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._report_loop)
                nursery.start_soon(self._slow_loop)
                nursery.start_soon(self._flush_loop)
                if self.config.mo_rate > 0:
                    nursery.start_soon(self._mo_loop)
                if self.config.disconnect_every > 0:
                    nursery.start_soon(self._disconnect_loop)
                await nursery.start(trio.serve_listeners, self._handle, listeners)
                self.log(f"smsc-sim {self.adapter.name} listening on {self.config.host}:{self.port}")
                task_status.started(self.port)
        finally:
            self.recorder.close()

    async def _handle(self, stream: trio.SocketStream) -> None:
        self.stats.connections += 1
        session = self.adapter.new_session(trio.current_time())
        conn = Connection(self, stream, session, self.stats.connections)
        self.connections.add(conn)
        try:
            if "deliver-before-bind" in self.config.zoo:
                self._zoo_deliver_before_bind(conn)
            await conn.run()
        except Exception as exc:  # a bug met on one session must not stop every other one
            self.log(f"session {conn.number}: dropped after an internal error: {exc!r}\n"
                     + "".join(traceback.format_exception(exc)))
        finally:
            self.connections.discard(conn)
            closed = session.connection_lost("connection dropped")
            if closed is not None:
                self.on_closed(conn, closed)
            with trio.CancelScope(shield=True):
                await stream.aclose()

    # ---------------------------------------------------------------------- events
    def on_events(self, conn: Connection, events: list[Any], now: float) -> None:
        """``events`` of one read (or timer pass) of ``conn`` at ``now``, which times their
        receipts; the token bucket still reads the clock per submit."""
        is_submit, on_submit = self.adapter.is_submit, self._on_submit
        submits = 0
        for event in events:
            if isinstance(event, Response):  # half the events: the answers to receipts
                self.stats.delivers_acked += 1
            elif is_submit(event):
                submits += 1
                on_submit(conn, event, submits, now)
            elif isinstance(event, BindRequest):
                self._on_bind(conn, event.pdu)
            elif isinstance(event, Closed):
                self.on_closed(conn, event)
                conn.close()
            elif isinstance(event, ProtocolViolation):
                self.stats.protocol_violations += 1
                self.log(f"session {conn.number}: protocol violation: {event.error}")
            elif isinstance(event, ResponseTimeout) and event.request.context is not None:
                conn.outbox.appendleft(event.request.context)  # send it again
        conn.pump()

    def _on_bind(self, conn: Connection, request: Any) -> None:
        adapter, session = self.adapter, conn.session
        account = self.accounts.get(adapter.bind_account(request))
        if self.config.reject_bind or account is None:
            self.stats.bind_refused += 1
            adapter.reject_bind(session, request, adapter.auth_status)
            conn.close()
            return
        if self.config.max_binds and len(account.connections) >= self.config.max_binds:
            self.stats.bind_refused += 1
            adapter.reject_bind(session, request, adapter.too_many_binds_status)
            conn.close()
            return
        if not adapter.accept_bind(session, request, account.secret):
            self.stats.bind_refused += 1
            conn.close()
            return
        self.stats.binds += 1
        conn.account = account
        account.connections.append(conn)
        if adapter.can_receive(session):
            self._hand_over(account, conn)

    def on_closed(self, conn: Connection, event: Closed) -> None:
        """Delivers never answered and those still waiting go back to the account:
        receipts and MO are never dropped."""
        account = conn.account
        if account is None:
            return
        conn.account = None
        if conn in account.connections:
            account.connections.remove(conn)
        account.pending.extend(e.context for e in event.outstanding if e.context is not None)
        account.pending.extend(conn.outbox)
        conn.outbox.clear()
        target = self._receiver(account, None)
        if target is not None:
            self._hand_over(account, target)

    def _hand_over(self, account: Account, conn: Connection) -> None:
        conn.outbox.extend(account.pending)
        account.pending.clear()
        conn.pump()

    # --------------------------------------------------------------------- submits
    def _on_submit(self, conn: Connection, pdu: Any, in_chunk: int, now: float) -> None:
        stats, adapter, behaviour, config = self.stats, self.adapter, self.behaviour, self.config
        stats.submits += 1
        info = adapter.submit_info(pdu)
        account = conn.account
        accepted: Accepted | None = None
        # held-back responses of this chunk are already in slow_pending: count each submit once
        outstanding = conn.slow_pending + 1 if config.slow_resp_ms > 0 else in_chunk
        if outstanding > config.window:
            status = adapter.window_status
            stats.window_refused += 1
        elif account is not None and account.bucket is not None and not account.bucket.take(trio.current_time()):
            status = adapter.throttle_status
            stats.throttled += 1
        elif config.error_ratio and (injected := behaviour.injected_error()) is not None:
            status = injected
            stats.errors_injected += 1
        else:
            status = 0
            accepted = adapter.new_message_id(self.wall_clock())
            stats.accepted += 1
        if self.recorder.active:
            self._record(conn, info, status, accepted)
        if accepted is not None and info.wants_report and account is not None:
            if config.dlr_before_resp:
                # queued ahead of the response
                self._deliver_report(account, info, accepted, self._receiver(account, conn))
                conn.pump()
            else:
                if not self._reports:
                    self._reports_added.set()  # the report loop waits for the first one
                self._reports.append((now + config.dlr_delay, account, conn, info, accepted))
        if config.drop_resp_ratio > 0 and behaviour.drop_response():
            stats.responses_dropped += 1
            return
        if conn.session.state is _CLOSED:
            return  # the same read also closed the session (a broken frame, an unbind)
        if config.zoo and self._zoo_answered(conn, pdu, status, accepted, now):
            return
        response = adapter.submit_response(pdu, status, accepted)
        if config.slow_resp_ms > 0:
            conn.slow_pending += 1
            self._slow.append((now + config.slow_resp_ms / 1000.0, conn, response))
            self._slow_added.set()
        else:
            conn.session.send(response, now)

    def _record(self, conn: Connection, info: SubmitInfo, status: int, accepted: Accepted | None) -> None:
        entry: dict[str, Any] = {
            "time": round(self.wall_clock(), 3),
            "protocol": self.adapter.name,
            "account": conn.account.id if conn.account else None,
            "session": conn.number,
            "status": status,
            "message_id": accepted.text_id if accepted else None,
            "source": info.source,
            "dests": info.dests,
            "coding": info.coding,
            "text": info.text,
            "report": info.wants_report,
            "segment": (
                {"reference": info.segment[0], "total": info.segment[1], "index": info.segment[2]}
                if info.segment
                else None
            ),
        }
        entry.update(info.fields)
        self.recorder.write(entry)

    # ---------------------------------------------------------------- receipts, MO
    async def _report_loop(self) -> None:
        reports = self._reports
        while True:
            if not reports:
                await self._reports_added.wait()
                self._reports_added = trio.Event()
                continue
            due = reports[0][0]
            if due > trio.current_time():
                await trio.sleep_until(due)
            now = trio.current_time()
            # receiver of each submitting session: nothing binds or closes during this pass
            receivers: dict[Connection, Connection | None] = {}
            deliver, popleft = self._deliver_report, reports.popleft
            while reports and reports[0][0] <= now:
                _, account, conn, info, accepted = popleft()
                if conn in receivers:
                    target = receivers[conn]
                else:
                    target = receivers[conn] = self._receiver(account, conn)
                deliver(account, info, accepted, target)
            for target in set(receivers.values()):
                if target is not None:
                    target.pump()

    def _deliver_report(self, account: Account, info: SubmitInfo, accepted: Accepted,
                        target: Connection | None) -> None:
        """Queue the receipt on ``target``, a receiver of ``account`` (see ``_receiver``), or
        with the account until one binds."""
        pdu = self.adapter.receipt(info, accepted, self.behaviour.outcome(), self.wall_clock())
        if pdu is None:
            return  # e.g. SMPP registered_delivery asked for failures only
        item = Outgoing("report", pdu)
        if target is None:
            account.pending.append(item)
        else:
            target.outbox.append(item)

    def _receiver(self, account: Account, preferred: Connection | None) -> Connection | None:
        """A session of ``account`` that may be sent delivers now: ``preferred`` (the
        submitting one) if it may, else the first that may; None if none may."""
        can_receive = self.adapter.can_receive
        if preferred is not None and preferred.account is account and can_receive(preferred.session):
            return preferred
        for conn in account.connections:
            if can_receive(conn.session):
                return conn
        return None

    async def _mo_loop(self) -> None:
        interval = 1.0 / self.config.mo_rate
        texts = [
            "TD",
            "Hello from a handset",
            "您好，我想咨询一下订单的物流情况。" * 6,  # long: several segments
            "Long reply " + "x" * 300,
        ]
        while True:
            await trio.sleep(interval)
            receivers = [
                c for c in self.connections if c.account is not None and self.adapter.can_receive(c.session)
            ]
            if not receivers:
                continue
            conn = receivers[self.behaviour.rng.randrange(len(receivers))]
            text = texts[self.behaviour.rng.randrange(len(texts))]
            self._numbers = (self._numbers + 1) % 0xFFFF
            pdus = self.adapter.mo_messages(self.config.mo_source, self.config.mo_dest, text, self._numbers)
            if len(pdus) > 1 and self.behaviour.chance(0.5):
                self.behaviour.rng.shuffle(pdus)  # parts out of order, as real networks do
            conn.outbox.extend(Outgoing("mo", pdu) for pdu in pdus)
            conn.pump()

    async def _slow_loop(self) -> None:
        slow = self._slow
        while True:
            if not slow:
                await self._slow_added.wait()
                self._slow_added = trio.Event()
                continue
            due = slow[0][0]
            if due > trio.current_time():
                await trio.sleep_until(due)
            now = trio.current_time()
            while slow and slow[0][0] <= now:
                _, conn, response = slow.popleft()
                conn.slow_pending -= 1
                if not conn.session.is_closed:
                    conn.session.send(response, now)
                    conn.flush()

    async def _disconnect_loop(self) -> None:
        while True:
            await trio.sleep(self.config.disconnect_every)
            for conn in list(self.connections):
                self.stats.disconnects += 1
                conn.abort()

    async def _flush_loop(self) -> None:
        while True:
            await trio.sleep(0.5)
            self.recorder.flush()

    def _zoo_deliver_before_bind(self, conn: Connection) -> None:
        """Misbehaving SMSC: a report before the client has even bound."""
        info = SubmitInfo("10690000", ["13800138000"], b"", 0, "", True, None, {})
        accepted = self.adapter.new_message_id(self.wall_clock())
        pdu = self.adapter.receipt(info, accepted, "DELIVRD", self.wall_clock())
        pdu.sequence = 1
        conn.raw_out += self.adapter.encode(pdu)
        conn.flush()

    def _zoo_answered(self, conn: Connection, pdu: Any, status: int, accepted: Accepted | None, now: float) -> bool:
        """Misbehaving SMSC: answer this submit the wrong way; True if it was."""
        zoo, chance = self.config.zoo, self.behaviour.chance
        nack = getattr(self.adapter, "nack_without_sequence", None)
        if "generic-nack-no-seq" in zoo and nack is not None and chance(0.02):
            conn.raw_out += nack()  # names no request: the client must time the submit out
            conn.flush()
            return True
        if "bad-length" in zoo and chance(0.002):
            raw = self.adapter.encode(self.adapter.submit_response(pdu, status, accepted))
            conn.raw_out += b"\xff\xff\xff\xf0" + raw[4:]  # a length no frame can have
            conn.flush()
            return True
        if "unbind-mid-window" in zoo and self.stats.submits % 500 == 0 and conn.session.is_bound:
            conn.session.unbind(now)  # the client's later submits are still in its window
            conn.flush()
            return True
        return False

    def summary(self) -> dict[str, Any]:
        return {"protocol": self.adapter.name, "port": self.port, **self.stats.as_dict()}


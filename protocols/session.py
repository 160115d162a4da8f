"""The session state machine shared by SMPP, CMPP and SMGP, for both roles.

Theory of operation
-------------------
A ``Session`` sits between a byte stream and the application. It never reads a clock or
touches a socket: the caller passes ``now`` (seconds, any monotonic origin) into every
call, feeds received bytes to :meth:`Session.receive_data` and writes whatever
:meth:`Session.data_to_send` returns. Everything the session decides on its own (answering
a keepalive, refusing a PDU sent in the wrong state, sending its own keepalive when the
line is idle) is queued in the same outgoing buffer, so one ``send`` call of the I/O layer
carries every queued PDU: the coalescing writer the daemon relies on for throughput.

The three protocols differ in their PDUs but share one life cycle::

    OPEN ──bind──▶ BINDING ──ok──▶ BOUND_TX | BOUND_RX | BOUND_TRX ──unbind──▶ UNBINDING
      │               └──refused──▶ CLOSED                  │                      │
      └────────────── peer unbind / fatal error / timeouts ─┴──────▶ CLOSED ◀──────┘

(CMPP has one logged-in state, reported as ``BOUND_TRX``; SMGP's LoginMode 0/1/2 map to
TX/RX/TRX.) Which requests each side may send in which state is one table per protocol,
``LEGAL``: command id -> (states in which the client may send it, states in which the
server may send it). Responses are legal exactly when their request is outstanding.

What the application sees, as a list of events from ``receive_data`` and ``poll``:

* a request PDU of the peer (``SubmitSm``, ``CmppDeliver``, ...) -- answer it with ``send``;
* :class:`Response` -- the answer to one of our requests, with the ``context`` we gave;
* :class:`ResponseTimeout` -- a request of ours got no answer within ``response_timeout``;
* :class:`BindRequest` (server) -- call ``accept_bind`` or ``reject_bind``;
* :class:`Bound` / :class:`BindRefused` (client);
* :class:`ProtocolViolation` -- the peer broke the rules; the answer the protocol demands
  is already queued;
* :class:`Closed` -- the session is over; close the transport. It lists the requests that
  were still outstanding so the application can requeue them.

Subclasses supply the protocol: the class constants below and a handful of hooks.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from .errors import LocalProtocolError, RemoteProtocolError, WindowFull
from .framing import FrameReader
from .window import Outstanding, SequenceAllocator, Window

RESPONSE_BIT = 0x80000000


class Pdu(Protocol):
    """What every PDU dataclass of the three protocols provides."""

    command_id: ClassVar[int]
    sequence: int


class Role(enum.Enum):
    CLIENT = "client"  # the gateway: ESME / SP
    SERVER = "server"  # the operator: SMSC / ISMG / SMGW (our simulators)


class State(enum.Enum):
    OPEN = "open"
    BINDING = "binding"
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    UNBINDING = "unbinding"
    CLOSED = "closed"

    # Members are singletons that compare by identity, so hash them by identity too, in C:
    # Enum's default hashes the name in Python, and every PDU looks its state up in a
    # frozenset of states (legality, BOUND).
    __hash__ = object.__hash__


BOUND = frozenset({State.BOUND_TX, State.BOUND_RX, State.BOUND_TRX})
#: States in which a transmitter may submit / a receiver may be delivered to.
CAN_SUBMIT = frozenset({State.BOUND_TX, State.BOUND_TRX})
CAN_DELIVER = frozenset({State.BOUND_RX, State.BOUND_TRX})
NEVER: frozenset[State] = frozenset()
OPEN_ONLY = frozenset({State.OPEN})
# Enum members are class attributes that are slow to look up; the per-PDU code uses these.
_CLOSED = State.CLOSED
_CLIENT = Role.CLIENT


# ---------------------------------------------------------------------------- events


@dataclass(slots=True)
class Response:
    """The peer answered our request ``request`` with ``pdu``."""

    pdu: Any
    request: Outstanding


@dataclass(slots=True)
class ResponseTimeout:
    """``request`` got no response in time; its window slot is already free again."""

    request: Outstanding


@dataclass(slots=True)
class BindRequest:
    """Server role: the peer asks to bind/log in. Answer with accept_bind/reject_bind."""

    pdu: Any


@dataclass(slots=True)
class Bound:
    """Client role: the bind/login succeeded; ``state`` is the bound state."""

    state: State
    pdu: Any


@dataclass(slots=True)
class BindRefused:
    """Client role: the peer refused the bind (or failed to authenticate itself)."""

    status: int
    reason: str
    pdu: Any


@dataclass(slots=True)
class ProtocolViolation:
    """The peer broke the protocol; the protocol's answer (if any) is already queued."""

    error: RemoteProtocolError


@dataclass(slots=True)
class Closed:
    """The session is over: close the transport. ``outstanding`` were never answered."""

    reason: str
    outstanding: list[Outstanding] = field(default_factory=list)


Event = Any  # a request PDU or one of the event classes above

Tracer = Callable[[str, Any], None]


class Session:
    """One protocol session (one TCP connection) in the client or the server role."""

    # ----------------------------------------------------- protocol constants (subclass)
    HEADER_SIZE: ClassVar[int]
    MAX_PDU_SIZE: ClassVar[int]
    #: status for a length prefix that is impossible (sent in the fatal error)
    LENGTH_STATUS: ClassVar[int]
    SEQUENCE_RANGE: ClassVar[tuple[int, int]]
    KEEPALIVE_ID: ClassVar[int]
    UNBIND_ID: ClassVar[int]
    BIND_IDS: ClassVar[frozenset[int]]
    #: SMPP's generic_nack: a response that may answer any request
    GENERIC_NACK_ID: ClassVar[int | None] = None
    #: status for a request received in a state that does not allow it
    WRONG_STATE_STATUS: ClassVar[int]
    LEGAL: ClassVar[Mapping[int, tuple[frozenset[State], frozenset[State]]]]

    def __init__(
        self,
        role: Role,
        *,
        now: float = 0.0,
        window: int = 16,
        response_timeout: float = 60.0,
        keepalive_interval: float | None = 60.0,
        inactivity_timeout: float | None = None,
        first_sequence: int | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.role = role
        self.state = State.OPEN
        self.window = Window(window)
        self.response_timeout = response_timeout
        self.keepalive_interval = keepalive_interval
        self.inactivity_timeout = inactivity_timeout
        self.tracer = tracer
        self.last_received = now
        self.closed_reason: str | None = None
        lo, hi = self.SEQUENCE_RANGE
        self._next_sequence = SequenceAllocator(lo, hi, first_sequence)
        self._reader = FrameReader(
            min_size=self.HEADER_SIZE, max_size=self.MAX_PDU_SIZE, length_status=self.LENGTH_STATUS
        )
        self._out = bytearray()
        self._keepalive_pending = False
        self._peer_role = Role.SERVER if role is Role.CLIENT else Role.CLIENT
        self._not_reading_since: float | None = None

    # ------------------------------------------------------------------ protocol hooks
    def _decode(self, frame: bytes) -> Any:
        """Decode one whole frame; raise only ``RemoteProtocolError``."""
        raise NotImplementedError

    def _encode(self, pdu: Any) -> bytes:
        raise NotImplementedError

    def _make_request(self, command_id: int) -> Any:
        """A body-less request (keepalive, unbind) with sequence 0."""
        raise NotImplementedError

    def _make_response(self, command_id: int, sequence: int, status: int) -> Any | None:
        """The response to request ``command_id`` carrying ``status`` (for refusals,
        keepalives and unbinds), or ``None`` when the protocol has no way to answer."""
        raise NotImplementedError

    def _bind_outcome(self, response: Any, request: Outstanding) -> Bound | BindRefused:
        """Client role: judge a bind response (status, authenticator)."""
        raise NotImplementedError

    def _refusal_status(self, command_id: int) -> int:
        """Status for a request the peer may not send now (SMPP refines "already bound")."""
        return self.WRONG_STATE_STATUS

    # ------------------------------------------------------------------------- public
    @property
    def is_bound(self) -> bool:
        return self.state in BOUND

    @property
    def is_closed(self) -> bool:
        return self.state is _CLOSED

    def data_to_send(self) -> bytes:
        """Everything queued for the peer since the last call, as one buffer."""
        if not self._out:
            return b""
        data = bytes(self._out)
        self._out.clear()
        return data

    def receive_data(self, data: bytes | bytearray | memoryview, now: float) -> list[Event]:
        """Feed bytes from the peer; return the events they complete."""
        if self.state is _CLOSED:
            return []
        self.last_received = now
        events: list[Event] = []
        reader = self._reader
        reader.feed(data)
        next_frame, receive_frame = reader.next_frame, self._receive_frame
        while self.state is not _CLOSED:
            try:
                frame = next_frame()
            except RemoteProtocolError as exc:
                events.append(ProtocolViolation(exc))
                self._framing_error(exc)
                events.append(self._close(f"unrecoverable framing error: {exc}"))
                break
            if frame is None:
                break
            receive_frame(frame, now, events)
        return events

    def send(self, pdu: Any, now: float, context: Any = None) -> int:
        """Queue ``pdu`` for the peer and return its sequence number.

        A request gets the next sequence number (written into ``pdu.sequence``) and a
        window slot; ``WindowFull`` is raised when none is free (check
        ``window.available`` first). A response keeps the sequence the caller set.
        """
        command_id = pdu.command_id
        if self.state is _CLOSED:
            raise LocalProtocolError(f"session is closed ({self.closed_reason})")
        if command_id & RESPONSE_BIT:
            self._write(pdu)
            return int(pdu.sequence)
        if not self._may_send(self.role, command_id):
            raise LocalProtocolError(
                f"{self.role.value} may not send command 0x{command_id:08X} in state {self.state.value}"
            )
        if command_id in self.BIND_IDS or command_id == self.UNBIND_ID:
            raise LocalProtocolError("use bind()/unbind() to change the session state")
        return self._send_request(pdu, now, context)

    def unbind(self, now: float) -> None:
        """Start a graceful close; ``Closed`` follows when the peer answers (or times out)."""
        if self.state not in BOUND:
            raise LocalProtocolError(f"cannot unbind in state {self.state.value}")
        self._send_request(self._make_request(self.UNBIND_ID), now, None, exempt=True)
        self.state = State.UNBINDING

    def connection_lost(self, reason: str = "connection lost") -> Closed | None:
        """The transport is gone. Returns the ``Closed`` event, or ``None`` if the
        session had already closed."""
        if self.state is State.CLOSED:
            return None
        return self._close(reason)

    def stop_reading(self, now: float) -> None:
        """The caller stops reading the peer's bytes for a while (its own backpressure: what it
        read is not handled yet). Until ``resume_reading`` no timer runs: the peer's answers may
        be waiting unread, so neither a response timeout nor its silence is the peer's doing."""
        if self._not_reading_since is None:
            self._not_reading_since = now

    def resume_reading(self, now: float) -> None:
        """The caller reads again: every timer restarts where it stopped (response deadlines and
        the keepalive/inactivity clocks move on by the time spent not reading)."""
        since, self._not_reading_since = self._not_reading_since, None
        if since is not None and now > since:
            self.window.postpone(now - since)
            self.last_received += now - since

    def next_deadline(self) -> float | None:
        """When ``poll`` next has something to do, or ``None``."""
        if self.state is _CLOSED or self._not_reading_since is not None:
            return None
        candidates = []
        if (deadline := self.window.next_deadline()) is not None:
            candidates.append(deadline)
        if self.keepalive_interval and self.state in BOUND and not self._keepalive_pending:
            candidates.append(self.last_received + self.keepalive_interval)
        if self.inactivity_timeout:
            candidates.append(self.last_received + self.inactivity_timeout)
        return min(candidates) if candidates else None

    def poll(self, now: float) -> list[Event]:
        """Run the timers: response timeouts, keepalive, inactivity (none while not reading)."""
        if self.state is _CLOSED or self._not_reading_since is not None:
            return []
        events: list[Event] = []
        for entry in self.window.expired(now):
            if entry.command_id == self.KEEPALIVE_ID:
                events.append(self._close("keepalive not answered", [entry]))
                return events
            if entry.command_id in self.BIND_IDS or entry.command_id == self.UNBIND_ID:
                events.append(self._close("bind/unbind not answered", [entry]))
                return events
            events.append(ResponseTimeout(entry))
        if self.inactivity_timeout and now - self.last_received >= self.inactivity_timeout:
            events.append(self._close("peer silent for too long"))
            return events
        if (
            self.keepalive_interval
            and self.state in BOUND
            and not self._keepalive_pending
            and now - self.last_received >= self.keepalive_interval
        ):
            self._send_request(self._make_request(self.KEEPALIVE_ID), now, None, exempt=True)
            self._keepalive_pending = True
        return events

    # --------------------------------------------------------------- server: binding
    def _accept(self, request: Any, response: Any, state: State) -> None:
        """Server role: answer a pending bind with ``response`` and enter ``state``."""
        if self.role is not Role.SERVER or self.state is not State.BINDING:
            raise LocalProtocolError("no bind request is waiting for an answer")
        self._write(response)
        self.state = state

    def _refuse(self, response: Any, reason: str) -> None:
        """Server role: answer a pending bind with an error response and close."""
        if self.role is not Role.SERVER or self.state is not State.BINDING:
            raise LocalProtocolError("no bind request is waiting for an answer")
        self._write(response)
        self._close(reason)

    def _start_bind(self, pdu: Any, now: float) -> int:
        """Client role: queue a bind request."""
        if self.role is not Role.CLIENT or self.state is not State.OPEN:
            raise LocalProtocolError(f"cannot bind in state {self.state.value}")
        seq = self._send_request(pdu, now, None, exempt=True)
        self.state = State.BINDING
        return seq

    # ---------------------------------------------------------------------- internals
    def _may_send(self, role: Role, command_id: int) -> bool:
        allowed = self.LEGAL.get(command_id)
        if allowed is None:
            return False
        return self.state in allowed[0 if role is _CLIENT else 1]

    def _send_request(self, pdu: Any, now: float, context: Any, *, exempt: bool = False) -> int:
        window = self.window
        if not exempt and len(window) >= window.size:
            raise WindowFull(f"window of {window.size} outstanding requests is full")
        seq = self._next_sequence()
        pdu.sequence = seq
        data = self._encode(pdu)  # a field too long for the wire raises here, before a slot is taken
        window.add(seq, pdu.command_id, now, self.response_timeout, context, exempt=exempt)
        if self.tracer is not None:
            self.tracer("out", pdu)
        self._out += data
        return seq

    def _write(self, pdu: Any) -> None:
        if self.tracer is not None:
            self.tracer("out", pdu)
        self._out += self._encode(pdu)

    def _close(self, reason: str, outstanding: list[Outstanding] | None = None) -> Closed:
        self.state = State.CLOSED
        self.closed_reason = reason
        pending = (outstanding or []) + self.window.drain()
        return Closed(reason, [e for e in pending if not self._is_session_request(e)])

    def _is_session_request(self, entry: Outstanding) -> bool:
        cid = entry.command_id
        return cid == self.KEEPALIVE_ID or cid == self.UNBIND_ID or cid in self.BIND_IDS

    def _framing_error(self, exc: RemoteProtocolError) -> None:
        """The stream cannot be framed any more and the session closes; a protocol whose peer
        expects a last word first (SMPP's generic_nack) writes it here."""

    def _answer(self, command_id: int, sequence: int, status: int) -> None:
        response = self._make_response(command_id, sequence, status)
        if response is not None:
            self._write(response)

    def _receive_frame(self, frame: bytes, now: float, events: list[Event]) -> None:
        try:
            pdu = self._decode(frame)
        except RemoteProtocolError as exc:
            events.append(ProtocolViolation(exc))
            if exc.fatal:
                events.append(self._close(f"unrecoverable protocol error: {exc}"))
            elif (
                exc.command_id is not None
                and exc.sequence is not None
                and not exc.command_id & RESPONSE_BIT
            ):
                self._answer(exc.command_id, exc.sequence, exc.status)
            return
        if self.tracer is not None:
            self.tracer("in", pdu)
        command_id = pdu.command_id
        if command_id & RESPONSE_BIT:
            self._receive_response(pdu, events)
            return
        if not self._may_send(self._peer_role, command_id):
            status = self._refusal_status(command_id)
            self._answer(command_id, pdu.sequence, status)
            events.append(
                ProtocolViolation(
                    RemoteProtocolError(
                        f"command 0x{command_id:08X} not allowed from the {self._peer_role.value}"
                        f" in state {self.state.value}",
                        status=status,
                        command_id=command_id,
                        sequence=pdu.sequence,
                    )
                )
            )
            return
        if command_id == self.KEEPALIVE_ID:
            self._answer(command_id, pdu.sequence, 0)
        elif command_id == self.UNBIND_ID:
            self._answer(command_id, pdu.sequence, 0)
            events.append(self._close("peer unbound"))
        elif command_id in self.BIND_IDS:
            self.state = State.BINDING
            events.append(BindRequest(pdu))
        else:
            events.append(pdu)

    def _receive_response(self, pdu: Any, events: list[Event]) -> None:
        entry = self.window.peek(pdu.sequence)
        command_id = pdu.command_id
        if entry is None or (
            command_id != entry.command_id | RESPONSE_BIT and command_id != self.GENERIC_NACK_ID
        ):
            # unknown sequence, or a response of the wrong type: keep waiting for the right one
            events.append(
                ProtocolViolation(
                    RemoteProtocolError(
                        f"response 0x{command_id:08X} with sequence {pdu.sequence}"
                        " matches no outstanding request",
                        status=0,
                        command_id=command_id,
                        sequence=pdu.sequence,
                    )
                )
            )
            return
        self.window.complete(pdu.sequence)
        request_id = entry.command_id
        if request_id == self.KEEPALIVE_ID:
            self._keepalive_pending = False
        elif request_id in self.BIND_IDS:
            outcome = self._bind_outcome(pdu, entry)
            events.append(outcome)
            if isinstance(outcome, Bound):
                self.state = outcome.state
            else:
                events.append(self._close(f"bind refused: {outcome.reason}"))
        elif request_id == self.UNBIND_ID:
            events.append(self._close("unbound"))
        else:
            events.append(Response(pdu, entry))

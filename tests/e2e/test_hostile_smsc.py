"""The daemon against a hostile SMSC, one protocol at a time.

protocols/ is fuzzed on its own (tests/protocols); this is what smsgw/ does with hostile or
odd input arriving on a *bound* channel session. A fake SMSC (``FakeSmsc``: a trio TCP
server with a real server-role session from protocols/, so the gateway's bind/login is
answered correctly) takes the channel of the protocol under test; the two other protocols
run against the real simulators, as the "other channels" that must not notice anything.
The fake writes hostile bytes straight onto the socket and reads the gateway's answers.

For every kind of input the tests assert that

* the daemon does not crash: an exception escaping a channel task would cancel the test
  through the harness nursery, and no error is logged (a task that dies quietly after
  catching, e.g. the inbound worker dropping its session, logs one);
* the session answers with the protocol's error response (generic_nack, a deliver
  response with an error status) or the gateway closes it and binds again;
* malformed receipts and MO are stored or counted as the design says (unknown receipts
  in ``unmatched_reports``, MO as sent, unreadable receipts counted and acknowledged);
* an ``smsgw trace`` client watching meanwhile gets every PDU described, none failing;
* afterwards a normal message is delivered on the hostile channel and on the others.

The store-heavy tests also run on PostgreSQL when SMSGW_TEST_PG_URL is set: PostgreSQL
refuses NULs and over-long values that SQLite takes, and a deliver the store refuses
would be refused again on every resend.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import socket
import struct
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from protocols import cmpp, smgp, smpp
from protocols.errors import RemoteProtocolError
from protocols.session import RESPONSE_BIT, BindRequest
from protocols.text import Alphabet, decode
from protocols.tlv import Tlv
from simulators.adapter import Accepted
from simulators.cli import adapter_for
from simulators.encoded import Encoded
from smsgw.http.auth import sign
from smsgw.store.schema import mo_messages, mo_parts, unmatched_reports

from .harness import ACCOUNTS, FINAL, Harness, gateway_with_sims, number, sim_config

PROTOCOLS = ("smpp", "cmpp", "smgp")
HEADER = {"smpp": 16, "cmpp": 12, "smgp": 12}
MAX_PDU = {"smpp": smpp.MAX_PDU_SIZE, "cmpp": cmpp.CmppSession.MAX_PDU_SIZE, "smgp": smgp.SmgpSession.MAX_PDU_SIZE}
DELIVER = {"smpp": smpp.CommandId.DELIVER_SM, "cmpp": cmpp.CommandId.DELIVER, "smgp": smgp.CommandId.DELIVER}
KEEPALIVE = {"smpp": smpp.CommandId.ENQUIRE_LINK, "cmpp": cmpp.CommandId.ACTIVE_TEST,
             "smgp": smgp.CommandId.ACTIVE_TEST}
#: a deliver's sender and recipient
MO_FROM, MO_TO = "13912345678", "10690000"
RECEIPTED_ID, MESSAGE_STATE, MESSAGE_PAYLOAD = (smpp.Tag.RECEIPTED_MESSAGE_ID, smpp.Tag.MESSAGE_STATE,
                                              smpp.Tag.MESSAGE_PAYLOAD)
#: sequence numbers of the frames the fake writes itself, far from the ones its session gives out
RAW_SEQUENCES = 0x40000000


# ------------------------------------------------------------------------------ waiting


async def wait_for(predicate: Callable[[], object], what: str, timeout: float = 5.0) -> None:
    with trio.move_on_after(timeout):
        while not predicate():
            await trio.sleep(0.005)
        return
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# --------------------------------------------------------------------------- frames


def head(proto: str, command_id: int, sequence: int, body: bytes = b"", *, status: int = 0,
         length: int | None = None) -> bytes:
    """A frame of ``proto`` with ``body``; ``length`` overrides the length prefix."""
    size = HEADER[proto] + len(body) if length is None else length
    if proto == "smpp":
        return struct.pack(">IIII", size, command_id, status, sequence) + body
    return struct.pack(">III", size, command_id, sequence) + body


def with_sequence(proto: str, frame: bytes, sequence: int) -> bytes:
    at = 12 if proto == "smpp" else 8
    return frame[:at] + struct.pack(">I", sequence) + frame[at + 4:]


def fix_length(frame: bytes) -> bytes:
    return struct.pack(">I", len(frame)) + frame[4:]


def tlv(tag: int, value: bytes) -> bytes:
    return struct.pack(">HH", tag, len(value)) + value


def sm_body(*, source: bytes = MO_FROM.encode(), dest: bytes = MO_TO.encode(), esm: int = 0, dcs: int = 0,
            sm: bytes = b"", tlvs: bytes = b"", sm_length: int | None = None) -> bytes:
    """A deliver_sm / submit_sm body written by hand: any field may be out of spec."""
    return (b"\0" + b"\x01\x01" + source + b"\0" + b"\x01\x01" + dest + b"\0" + bytes((esm, 0, 0)) + b"\0\0"
            + bytes((0, 0, dcs, 0, len(sm) if sm_length is None else sm_length)) + sm + tlvs)


def smpp_deliver(sequence: int, **fields: Any) -> bytes:
    return head("smpp", smpp.CommandId.DELIVER_SM, sequence, sm_body(**fields))


def data_sm(sequence: int, *, esm: int = 0, dcs: int = 0, tlvs: bytes = b"") -> bytes:
    body = b"\0\x01\x01" + MO_FROM.encode() + b"\0\x01\x01" + MO_TO.encode() + b"\0" + bytes((esm, 0, dcs)) + tlvs
    return head("smpp", smpp.CommandId.DATA_SM, sequence, body)


def smpp_receipt_text(smsc_id: str, stat: str = "DELIVRD") -> bytes:
    return (f"id:{smsc_id} sub:001 dlvrd:001 submit date:2401010000 done date:2401010000 stat:{stat} err:000"
            " text:").encode()


def cmpp_deliver(sequence: int, *, layout: int = 3, **fields: Any) -> bytes:
    pdu = cmpp.Deliver(sequence=sequence, **{"dest_id": MO_TO, "src_terminal_id": MO_FROM, **fields})
    return cmpp.encode(pdu, layout)


def cmpp_report(msg_id: int, stat: bytes = b"DELIVRD", *, layout: int = 3) -> bytes:
    """Msg_Content of a report written by hand (``stat`` may be any 7 octets)."""
    fmt = ">Q7s10s10s32sI" if layout == 3 else ">Q7s10s10s21sI"
    return struct.pack(fmt, msg_id, stat, b"2401010000", b"2401010000", MO_FROM.encode(), 1)


def smgp_deliver(sequence: int, *, tlvs: list[Any] | None = None, **fields: Any) -> bytes:
    pdu = smgp.Deliver(sequence=sequence, **{"recv_time": "20240101000000", "src_term_id": MO_FROM,
                                             "dest_term_id": MO_TO, **fields})
    pdu.tlvs = list(tlvs or [])
    return smgp.encode(pdu)


def smgp_report(msg_id: bytes, stat: str = "DELIVRD", *, lower_case: bool = False) -> bytes:
    return smgp.encode_report(smgp.Report(msg_id=msg_id, stat=stat, err="000", submit_date="2401010000",
                                          done_date="2401010000", text="005hello"), lower_case=lower_case)


def keepalive(proto: str, sequence: int) -> bytes:
    return head(proto, KEEPALIVE[proto], sequence)


def mo(proto: str, sequence: int, data: bytes, *, coding: int | None = None, udhi: bool = False,
       source: str = MO_FROM) -> bytes:
    """An MO deliver of ``proto`` carrying ``data`` (user data, a UDH included when ``udhi``)."""
    if proto == "smpp":
        return smpp_deliver(sequence, sm=data, dcs=0 if coding is None else coding, esm=0x40 if udhi else 0,
                            source=source.encode("latin-1"))
    if proto == "cmpp":
        return cmpp_deliver(sequence, msg_content=data, msg_fmt=coding or 0, tp_udhi=int(udhi),
                            src_terminal_id=source)
    tlvs = [Tlv(smgp.TlvTag.TP_UDHI, b"\x01")] if udhi else []
    return smgp_deliver(sequence, msg_content=data, msg_format=coding or 0, src_term_id=source, tlvs=tlvs)


def receipt(proto: str, sequence: int, smsc_id: str, stat: str = "DELIVRD") -> bytes:
    """A well-formed receipt for the operator id ``smsc_id`` (as the receipt writes it)."""
    if proto == "smpp":
        return smpp_deliver(sequence, esm=0x04, sm=smpp_receipt_text(smsc_id, stat))
    if proto == "cmpp":
        return cmpp_deliver(sequence, registered_delivery=1, msg_content=cmpp_report(int(smsc_id), stat.encode()))
    return smgp_deliver(sequence, is_report=1, msg_content=smgp_report(bytes.fromhex(smsc_id), stat))


def status_of(pdu: Any) -> int:
    """The status of any response (CMPP's Result included)."""
    return int(pdu.status)


# ------------------------------------------------------------------------- the fake SMSC


class FakeConn:
    """One connection of the gateway to the fake SMSC."""

    def __init__(self, smsc: FakeSmsc, stream: trio.SocketStream) -> None:
        self.smsc = smsc
        self.proto = smsc.proto
        self.stream = stream
        self.session = smsc.adapter.new_session(trio.current_time())
        self.session.tracer = self._trace
        self.inbox: list[Any] = []  # every PDU the gateway sent on this connection
        self.is_bound = False
        self.gone = False  # closed, by the gateway or by us
        self.deaf = False  # read and drop what the gateway sends: answer nothing, not even keepalives
        self.reading = trio.Event()  # replaced by an unset one: stop reading the socket at all
        self.reading.set()
        self._lock = trio.Lock()
        self._sequences = itertools.count(RAW_SEQUENCES + 1)

    def _trace(self, direction: str, pdu: Any) -> None:
        if direction == "in":
            self.inbox.append(pdu)

    def next_sequence(self) -> int:
        return next(self._sequences)

    async def run(self) -> None:
        try:
            while True:
                await self.reading.wait()
                try:
                    data = await self.stream.receive_some(256 * 1024)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return
                if not data:
                    return
                if self.deaf:
                    continue
                now = trio.current_time()
                for event in self.session.receive_data(data, now):
                    self._on_event(event, now)
                await self.write()
        finally:
            self.gone = True
            with trio.CancelScope(shield=True):
                await self.stream.aclose()

    def _on_event(self, event: Any, now: float) -> None:
        smsc, adapter, session = self.smsc, self.smsc.adapter, self.session
        if isinstance(event, BindRequest):
            if smsc.garbage_binds:
                smsc.garbage_binds -= 1
                session._out += smsc.garbage_bind_answer(event.pdu)
                return
            assert adapter.accept_bind(session, event.pdu, smsc.secret)
            self.is_bound = True
        elif adapter.is_submit(event):
            smsc.submits.append(event)
            if not smsc.behave:
                return
            if smsc.answers:  # an odd answer the test chose, and the id to send a receipt for
                response, accepted = smsc.answers.pop(0)(event)
                session.send(response, now)
                if accepted is not None:
                    session.send(adapter.receipt(adapter.submit_info(event), accepted, "DELIVRD", time.time()), now)
                return
            accepted = adapter.new_message_id(time.time())
            smsc.accepted.append(accepted)
            for _ in range(2 if smsc.duplicate_responses else 1):
                session.send(smsc.submit_response(event, accepted), now)
            info = adapter.submit_info(event)
            if smsc.receipts and info.wants_report:
                session.send(adapter.receipt(info, accepted, "DELIVRD", time.time()), now)

    # ----------------------------------------------------------------- for the tests
    async def write(self, raw: bytes = b"") -> None:
        """Send what the session queued, then ``raw``."""
        async with self._lock:
            data = self.session.data_to_send() + raw
            if data and not self.gone:
                try:
                    await self.stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    self.gone = True

    def _answer(self, sequence: int) -> Any | None:
        for pdu in self.inbox:
            if pdu.command_id & RESPONSE_BIT and pdu.sequence == sequence:
                return pdu
        return None

    async def answer(self, sequence: int, timeout: float = 5.0) -> Any | None:
        """The gateway's response carrying ``sequence``; None if the connection closed without one."""
        await wait_for(lambda: self._answer(sequence) is not None or self.gone, f"an answer to {sequence}",
                       timeout)
        return self._answer(sequence)

    async def request(self, frame: Callable[[int], bytes], timeout: float = 5.0) -> Any | None:
        sequence = self.next_sequence()
        await self.write(frame(sequence))
        return await self.answer(sequence, timeout)

    async def alive(self) -> bool:
        """A keepalive is answered (True) or the gateway closes the connection (False)."""
        return await self.request(lambda seq: keepalive(self.proto, seq)) is not None

    async def closed_by_gateway(self, timeout: float = 5.0) -> None:
        await wait_for(lambda: self.gone, "the gateway to close the connection", timeout)

    async def hang_up(self) -> None:
        self.gone = True
        await self.stream.aclose()


class FakeSmsc:
    """A controllable SMSC for ``proto``: binds correctly; with ``behave`` it answers submits
    (and sends their receipts when ``receipts``), otherwise the test decides what is sent."""

    def __init__(self, proto: str) -> None:
        self.proto = proto
        self.adapter = adapter_for(sim_config(proto))
        self.secret = ACCOUNTS[proto][1]
        self.conns: list[FakeConn] = []
        self.submits: list[Any] = []
        self.accepted: list[Accepted] = []
        self.behave = True
        self.receipts = True
        self.duplicate_responses = False
        self.garbage_binds = 0  # answer that many binds with ``garbage_bind_answer``
        self.garbage_bind_answer: Callable[[Any], bytes] = lambda request: b""
        self.message_id: Callable[[Accepted], bytes] | None = None  # the message_id of submit_sm_resp (SMPP)
        #: answers for the next submits: (response, the id a receipt then names, or None for no receipt)
        self.answers: list[Callable[[Any], tuple[Any, Accepted | None]]] = []

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, self._handle, listeners)
            task_status.started(listeners[0].socket.getsockname()[1])

    async def _handle(self, stream: trio.SocketStream) -> None:
        conn = FakeConn(self, stream)
        self.conns.append(conn)
        await conn.run()

    def submit_response(self, request: Any, accepted: Accepted) -> Any:
        if self.message_id is None:
            return self.adapter.submit_response(request, 0, accepted)
        frame = head("smpp", smpp.CommandId.SUBMIT_SM_RESP, request.sequence, self.message_id(accepted) + b"\0")
        return Encoded(smpp.CommandId.SUBMIT_SM_RESP, bytearray(frame), 12, request.sequence)

    async def bound(self, timeout: float = 5.0) -> FakeConn:
        """The newest connection that is bound and open (waits for the gateway to bind)."""

        def live() -> FakeConn | None:
            return next((c for c in reversed(self.conns) if c.is_bound and not c.gone), None)

        await wait_for(lambda: live() is not None, "the gateway to bind", timeout)
        conn = live()
        assert conn is not None
        return conn

    async def next_bind(self, after: FakeConn, timeout: float = 5.0) -> FakeConn:
        """The gateway closed ``after``: the connection it binds next."""
        await after.closed_by_gateway(timeout)
        return await self.bound(timeout)


@dataclass
class Hostile:
    h: Harness
    smsc: FakeSmsc
    proto: str

    @property
    def channel(self) -> Any:
        return self.h.gateway.dispatcher.channels[f"{self.proto}-sim"]

    async def rows(self, table: Any) -> list[Any]:
        return await self.h.gateway.store.read(lambda conn: conn.execute(select(table)).all())

    async def channel_stats(self) -> dict[str, Any]:
        """The channel's counters as ``GET /v1/channels`` shows them."""
        listed = (await self.h.call("GET", "/v1/channels")).json()
        [found] = [c for c in listed if c["name"] == f"{self.proto}-sim"]
        return dict(found["stats"])

    async def mo_texts(self) -> list[str]:
        return sorted(row.text for row in await self.rows(mo_messages))


@contextlib.asynccontextmanager
async def hostile(tmp_path: Path, proto: str, *, db_url: str | None = None, channel: dict[str, Any] | None = None,
                  smsc: FakeSmsc | None = None) -> AsyncIterator[Hostile]:
    """The gateway with the fake SMSC on ``proto``'s channel and the real simulators on the
    others. On a clean exit: a normal message is delivered on every channel, the other
    channels never noticed anything, no write failed and no error was logged."""
    others = tuple(p for p in PROTOCOLS if p != proto)
    smsc = smsc or FakeSmsc(proto)
    with structlog.testing.capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(smsc.serve)
            async with gateway_with_sims(tmp_path, protocols=others, ports={proto: port}, db_url=db_url,
                                         channel_options={proto: channel or {}}) as h:
                env = Hostile(h, smsc, proto)
                await smsc.bound()
                await wait_for(lambda: env.channel.bound_sessions == 1, "the gateway to see the bind")
                yield env
                await still_works(env, others)
            nursery.cancel_scope.cancel()
    errors = [entry for entry in logs if entry.get("log_level") in ("error", "critical", "exception")]
    assert not errors, errors


@contextlib.asynccontextmanager
async def traced(env: Hostile) -> AsyncIterator[list[dict[str, Any]]]:
    """An ``smsgw trace`` client on the hostile channel meanwhile: the lines it read. Every PDU
    the gateway decoded is described for it; none may fail to be."""
    h, path = env.h, f"/v1/channels/{env.proto}-sim/trace"
    lines: list[dict[str, Any]] = []

    async def read(response: httpx.Response) -> None:
        async for line in response.aiter_lines():
            if line.strip():
                lines.append(json.loads(line))

    async with httpx.AsyncClient(timeout=None) as client:
        request = client.build_request("GET", h.base + path, headers=sign(h.secret, "GET", path, b"", key_id=h.key))
        response = await client.send(request, stream=True)
        try:
            assert response.status_code == 200
            async with trio.open_nursery() as nursery:
                nursery.start_soon(read, response)
                yield lines
                await wait_for(lambda: not any(sub.buffer for sub in h.gateway.trace.subscriptions),
                               "the trace to catch up")
                await trio.sleep(0.05)
                nursery.cancel_scope.cancel()
        finally:
            await response.aclose()
    assert [line for line in lines if "error" in line] == []
    assert sum(1 for line in lines if line.get("direction") == "in") > 0


async def still_works(env: Hostile, others: tuple[str, ...]) -> None:
    h, smsc = env.h, env.smsc
    smsc.behave = smsc.receipts = True
    smsc.duplicate_responses, smsc.message_id = False, None
    ids = {proto: await h.send(number(proto, 999_999)) for proto in (env.proto, *others)}
    for proto, message_id in ids.items():
        found = await h.wait_status(message_id, FINAL, timeout=10)
        assert found["status"] == "delivered", (proto, found)
    for proto in others:
        stats = h.gateway.dispatcher.channels[f"{proto}-sim"].stats
        assert (stats.reconnects, stats.violations) == (0, 0), proto
    writer = h.gateway.store.writer.stats
    assert writer.failed_requests == 0, writer
    assert not h.stopped.is_set()


# ------------------------------------------------------------------------ the oracle

CLOSE = "close"
DATA_SM = int(smpp.CommandId.DATA_SM)
_DECODE: dict[str, Callable[[bytes], Any]] = {"smpp": smpp.decode, "cmpp": lambda frame: cmpp.decode(frame, 3),
                                              "smgp": smgp.decode}
_UNBIND = {"smpp": smpp.CommandId.UNBIND, "cmpp": cmpp.CommandId.TERMINATE, "smgp": smgp.CommandId.EXIT}
_SMPP_NACKED = {smpp.Status.ESME_RINVCMDLEN, smpp.Status.ESME_RINVCMDID}


def expected_answer(proto: str, frame: bytes) -> tuple[int, int] | str | None:
    """What the gateway must do with ``frame`` (a whole frame, length right) on a bound session,
    as protocols/ reads it: ``(response command id, status)`` for a deliver, well-formed or
    not; ``CLOSE`` for a frame that ends the session; None where any answer (or none) will do,
    as long as the session stays up."""
    try:
        pdu = _DECODE[proto](frame)
    except RemoteProtocolError as exc:
        if exc.fatal:
            return CLOSE
        command_id = exc.command_id
        if command_id not in (DELIVER[proto], DATA_SM if proto == "smpp" else None) or exc.sequence is None:
            return None
        if proto == "smpp" and exc.status in _SMPP_NACKED:
            return smpp.CommandId.GENERIC_NACK, exc.status
        return command_id | RESPONSE_BIT, exc.status
    if pdu.command_id == _UNBIND[proto]:
        return CLOSE
    if pdu.command_id in (DELIVER[proto], DATA_SM if proto == "smpp" else None):
        return pdu.command_id | RESPONSE_BIT, 0
    return None


async def expect(env: Hostile, conn: FakeConn, frame: Callable[[int], bytes], what: str) -> FakeConn:
    """Send ``frame``, check the gateway's reaction against the oracle; the connection to go on with."""
    sequence = conn.next_sequence()
    raw = frame(sequence)
    wanted = expected_answer(env.proto, raw)
    await conn.write(raw)
    if wanted == CLOSE:
        return await env.smsc.next_bind(conn)
    if wanted is not None:
        reply = await conn.answer(sequence)
        assert reply is not None, f"{what}: no answer, the session closed"
        assert (reply.command_id, status_of(reply)) == wanted, what
    assert await conn.alive(), f"{what}: the session closed"
    return conn


# ------------------------------------------------------------------------ the stream


@pytest.mark.parametrize("proto", PROTOCOLS)
async def test_random_bytes_close_the_session_and_it_binds_again(tmp_path: Path, proto: str) -> None:
    rng = random.Random(f"random bytes {proto}")
    with trio.fail_after(30):
        async with hostile(tmp_path, proto) as env:
            conn = await env.smsc.bound()
            for size in (5, 64, 4096, 100_000):
                blob = rng.randbytes(size)
                assert not HEADER[proto] <= int.from_bytes(blob[:4]) <= MAX_PDU[proto]  # framing cannot go on
                await conn.write(blob)
                old, conn = conn, await env.smsc.next_bind(conn)
                if proto == "smpp":  # the last word SMPP gives a stream it cannot frame
                    assert [(type(p), p.status) for p in old.inbox if p.command_id == smpp.CommandId.GENERIC_NACK] \
                        == [(smpp.GenericNack, smpp.Status.ESME_RINVCMDLEN)]
            assert env.channel.stats.reconnects == 4
            assert env.channel.stats.violations == 4


@pytest.mark.parametrize("proto", PROTOCOLS)
async def test_impossible_length_prefix_closes_the_session(tmp_path: Path, proto: str) -> None:
    lengths = (0, 1, HEADER[proto] - 1, MAX_PDU[proto] + 1, 0xFFFFFFFF)
    with trio.fail_after(30):
        async with hostile(tmp_path, proto) as env:
            conn = await env.smsc.bound()
            for length in lengths:
                sequence = conn.next_sequence()
                await conn.write(head(proto, DELIVER[proto], sequence, b"x" * 40, length=length))
                old, conn = conn, await env.smsc.next_bind(conn)
                if proto == "smpp":  # generic_nack naming the offending PDU, then the close
                    nacks = [(p.status, p.sequence) for p in old.inbox if p.command_id == smpp.CommandId.GENERIC_NACK]
                    assert nacks == [(smpp.Status.ESME_RINVCMDLEN, sequence)], length
            assert env.channel.stats.reconnects == len(lengths)
            assert await env.rows(mo_messages) == []


@pytest.mark.parametrize("proto", PROTOCOLS)
async def test_truncated_pdu_then_close(tmp_path: Path, proto: str) -> None:
    """The SMSC dies in the middle of a PDU: nothing of it is stored or acknowledged, the
    gateway binds again and takes the whole PDU sent on the new session."""
    with trio.fail_after(30):
        async with hostile(tmp_path, proto) as env:
            frame = mo(proto, RAW_SEQUENCES, b"cut short")
            for cut in (3, HEADER[proto], len(frame) // 2, len(frame) - 1):
                conn = await env.smsc.bound()
                await conn.write(frame[:cut])
                await trio.sleep(0.05)
                await conn.hang_up()
                assert conn._answer(RAW_SEQUENCES) is None
            conn = await env.smsc.bound()
            reply = await conn.request(lambda seq: mo(proto, seq, b"whole"))
            assert reply is not None and status_of(reply) == 0
            assert await env.mo_texts() == ["whole"]
            assert env.channel.stats.reconnects == 4


@pytest.mark.parametrize("proto", PROTOCOLS)
async def test_truncated_pdu_then_silence(tmp_path: Path, proto: str) -> None:
    """The SMSC stops in the middle of a PDU and says nothing more, without closing: the
    keepalive goes unanswered, the gateway gives the session up and binds again."""
    with trio.fail_after(20):
        async with hostile(tmp_path, proto, channel={"keepalive": 0.3, "response_timeout": 0.3}) as env:
            conn = await env.smsc.bound()
            frame = mo(proto, conn.next_sequence(), b"never finished")
            conn.deaf = True
            await conn.write(frame[:HEADER[proto] + 3])
            again = await env.smsc.next_bind(conn)
            assert await again.alive()
            assert env.channel.stats.reconnects == 1
            assert env.channel.slots[0].last_error is None
            assert await env.rows(mo_messages) == []


@pytest.mark.parametrize("proto", PROTOCOLS)
async def test_an_smsc_that_stops_reading_but_keeps_talking_is_given_up(tmp_path: Path, proto: str) -> None:
    """Its keepalives keep the line from looking idle, so only the writer can tell: what the
    gateway sends is not taken within response_timeout, and the session is dropped, not kept
    bound for ever with its answers piling up in memory."""
    with trio.fail_after(20):
        async with hostile(tmp_path, proto, channel={"response_timeout": 0.5}) as env:
            conn = await env.smsc.bound()
            conn.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
            conn.reading = trio.Event()  # reads nothing any more
            chunk = b"".join(keepalive(proto, RAW_SEQUENCES + i) for i in range(500))
            started = trio.current_time()
            with contextlib.suppress(trio.BrokenResourceError):
                while True:  # ... and talks on, until the gateway hangs up
                    await conn.stream.send_all(chunk)
                    await trio.sleep(0.01)
            assert trio.current_time() - started < 5
            conn.reading.set()
            assert await env.smsc.next_bind(conn) is not conn
            assert env.channel.stats.reconnects == 1


async def test_stopping_against_a_deaf_smsc_is_bounded(tmp_path: Path) -> None:
    """Submits outstanding and an unbind nobody answers: the gateway still stops, within
    drain_timeout and the unbind's grace."""
    smsc = FakeSmsc("smpp")
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(smsc.serve)
            async with gateway_with_sims(tmp_path, protocols=(), ports={"smpp": port},
                                         gateway_options={"drain_timeout": 1}) as h:
                conn = await smsc.bound()
                conn.deaf = True
                for i in range(3):
                    await h.send(number("smpp", i))
                channel = h.gateway.dispatcher.channels["smpp-sim"]
                await wait_for(lambda: channel.in_flight == 3, "three submits in the window")
                started = trio.current_time()
                h.gateway.stop.set()
                with trio.fail_after(6):
                    await h.stopped.wait()
                assert trio.current_time() - started < 1 + 2 + 1  # drain_timeout, the unbind's 2 s, slack
            nursery.cancel_scope.cancel()


# ---------------------------------------------------------------- commands and responses


def odd_requests(proto: str) -> list[tuple[str, Callable[[int], bytes], tuple[int, int] | None]]:
    """Requests a bound gateway must not take: unknown command ids and requests only the
    client sends, each with the answer the protocol gives (None: it has no way to answer)."""
    if proto == "smpp":
        C, S = smpp.CommandId, smpp.Status
        bind = b"smsc\0pw\0\0\x34\x00\x00\0"
        return [
            ("unknown 0x99", lambda seq: head(proto, 0x99, seq), (C.GENERIC_NACK, S.ESME_RINVCMDID)),
            ("unknown 0x7FFFFFFF", lambda seq: head(proto, 0x7FFFFFFF, seq, b"junk"),
             (C.GENERIC_NACK, S.ESME_RINVCMDID)),
            ("broadcast_sm (5.0)", lambda seq: head(proto, 0x111, seq), (C.GENERIC_NACK, S.ESME_RINVCMDID)),
            ("unknown response id", lambda seq: head(proto, 0x80000099, seq), None),
            ("submit_sm", lambda seq: head(proto, C.SUBMIT_SM, seq, sm_body(sm=b"x")),
             (C.SUBMIT_SM_RESP, S.ESME_RINVBNDSTS)),
            ("bind_transmitter", lambda seq: head(proto, C.BIND_TRANSMITTER, seq, bind),
             (C.BIND_TRANSMITTER_RESP, S.ESME_RINVBNDSTS)),
            ("outbind", lambda seq: head(proto, C.OUTBIND, seq, b"smsc\0pw\0"), (C.GENERIC_NACK, S.ESME_RINVBNDSTS)),
            ("query_sm", lambda seq: head(proto, C.QUERY_SM, seq, b"1\0\x01\x01123\0"),
             (C.QUERY_SM_RESP, S.ESME_RINVBNDSTS)),
            ("alert_notification", lambda seq: head(proto, C.ALERT_NOTIFICATION, seq, b"\x01\x01123\0\x01\x01456\0"),
             None),
        ]
    if proto == "cmpp":
        C3, R = cmpp.CommandId, cmpp.Result
        submit = cmpp.Submit(msg_src="901234", src_id="1069", dest_terminal_ids=["13800138000"], msg_content=b"x")
        connect = cmpp.Connect(source_addr="901234", timestamp=101000000)
        return [
            ("unknown 0x99", lambda seq: head(proto, 0x99, seq), None),
            ("FWD (ISMG to ISMG)", lambda seq: head(proto, C3.FWD, seq, bytes(100)), None),
            ("unknown response id", lambda seq: head(proto, 0x80000099, seq), None),
            ("SUBMIT", lambda seq: cmpp.encode(_sequenced(submit, seq), 3), (C3.SUBMIT_RESP, R.COMMAND_ERROR)),
            ("CONNECT", lambda seq: cmpp.encode(_sequenced(connect, seq), 3),
             (C3.CONNECT_RESP, cmpp.ConnectStatus.OTHER_ERROR)),
            ("QUERY", lambda seq: cmpp.encode(_sequenced(cmpp.Query(time="20240101"), seq), 3), None),
        ]
    C4, St = smgp.CommandId, smgp.Status
    submit4 = smgp.Submit(src_term_id="1069", dest_term_ids=["13300000000"], msg_content=b"x")
    login = smgp.Login(client_id="12345678", timestamp=101000000)
    return [
        ("unknown 0x99", lambda seq: head(proto, 0x99, seq), None),
        ("Forward", lambda seq: head(proto, C4.FORWARD, seq, bytes(100)), None),
        ("unknown response id", lambda seq: head(proto, 0x80000099, seq), None),
        ("Submit", lambda seq: smgp.encode(_sequenced(submit4, seq)), (C4.SUBMIT_RESP, St.COMMAND_WORD_ERROR)),
        ("Login", lambda seq: smgp.encode(_sequenced(login, seq)), (C4.LOGIN_RESP, St.COMMAND_WORD_ERROR)),
        ("Query", lambda seq: smgp.encode(_sequenced(smgp.Query(query_time="20240101"), seq)), None),
    ]


def _sequenced(pdu: Any, sequence: int) -> Any:
    pdu.sequence = sequence
    return pdu


@pytest.mark.parametrize("proto", PROTOCOLS)
async def test_unknown_and_misdirected_requests_are_refused(tmp_path: Path, proto: str) -> None:
    with trio.fail_after(20):
        async with hostile(tmp_path, proto) as env:
            conn = await env.smsc.bound()
            requests = odd_requests(proto)
            for what, frame, wanted in requests:
                sequence = conn.next_sequence()
                await conn.write(frame(sequence))
                assert await conn.alive(), what  # answered in order: whatever came for ``frame`` is in
                reply = conn._answer(sequence)
                assert (None if reply is None else (reply.command_id, status_of(reply))) == wanted, what
            assert env.channel.stats.violations == len(requests) - (proto == "smpp")  # alert_notification is legal
            assert env.channel.stats.reconnects == 0


def unsolicited_responses(proto: str) -> list[Callable[[int], bytes]]:
    """Responses to requests the gateway never sent (sequence numbers it never used)."""
    if proto == "smpp":
        C = smpp.CommandId
        return [
            lambda seq: smpp.encode(smpp.SubmitSmResp(sequence=seq, message_id="123")),
            lambda seq: smpp.encode(smpp.SubmitSmResp(sequence=seq, status=smpp.Status.ESME_RTHROTTLED)),
            lambda seq: smpp.encode(smpp.DeliverSmResp(sequence=seq)),
            lambda seq: head(proto, C.ENQUIRE_LINK_RESP, seq),
            lambda seq: smpp.encode(smpp.BindTransceiverResp(sequence=seq, system_id="SMSC")),
            lambda seq: head(proto, C.UNBIND_RESP, seq),
            lambda seq: head(proto, C.GENERIC_NACK, 0, status=smpp.Status.ESME_RSYSERR),  # names no request
            lambda seq: head(proto, C.GENERIC_NACK, seq, status=0),
        ]
    if proto == "cmpp":
        return [
            lambda seq: cmpp.encode(cmpp.SubmitResp(sequence=seq, msg_id=1, result=0), 3),
            lambda seq: cmpp.encode(cmpp.DeliverResp(sequence=seq, msg_id=1, result=0), 3),
            lambda seq: cmpp.encode(cmpp.ActiveTestResp(sequence=seq), 3),
            lambda seq: cmpp.encode(cmpp.ConnectResp(sequence=seq), 3),
            lambda seq: cmpp.encode(cmpp.TerminateResp(sequence=seq), 3),
        ]
    return [
        lambda seq: smgp.encode(smgp.SubmitResp(sequence=seq, msg_id=bytes(10))),
        lambda seq: smgp.encode(smgp.DeliverResp(sequence=seq, msg_id=bytes(10))),
        lambda seq: smgp.encode(smgp.ActiveTestResp(sequence=seq)),
        lambda seq: smgp.encode(smgp.LoginResp(sequence=seq)),
        lambda seq: smgp.encode(smgp.ExitResp(sequence=seq)),
    ]


@pytest.mark.parametrize("proto", PROTOCOLS)
async def test_unsolicited_and_duplicate_responses_change_nothing(tmp_path: Path, proto: str) -> None:
    with trio.fail_after(20):
        async with hostile(tmp_path, proto) as env:
            conn = await env.smsc.bound()
            responses = unsolicited_responses(proto)
            for frame in responses:
                await conn.write(frame(conn.next_sequence()))
            assert await conn.alive()
            assert env.channel.stats.violations == len(responses)
            assert not any(p.sequence >= RAW_SEQUENCES and p.command_id & RESPONSE_BIT for p in conn.inbox[:-1])
            # every submit answered twice: the second answer matches nothing any more
            env.smsc.duplicate_responses = True
            message_id = await env.h.send(number(proto, 1))
            assert (await env.h.wait_status(message_id, FINAL))["status"] == "delivered"
            assert len(env.smsc.submits) == 1
            assert env.channel.stats.violations == len(responses) + 1
            assert sum(env.channel.stats.responses.values()) == 1
            assert env.channel.stats.reconnects == 0


@pytest.mark.parametrize("proto", PROTOCOLS)
async def test_keepalive_flood_is_answered_and_messages_still_flow(tmp_path: Path, proto: str) -> None:
    flood = 3000
    with trio.fail_after(30):
        async with hostile(tmp_path, proto) as env:
            conn = await env.smsc.bound()
            first = conn.next_sequence()
            sequences = [first, *(conn.next_sequence() for _ in range(flood - 1))]
            message_id = await env.h.send(number(proto, 1))
            await conn.write(b"".join(keepalive(proto, seq) for seq in sequences))
            await wait_for(lambda: len({p.sequence for p in conn.inbox if p.sequence >= first}) >= flood,
                           "every keepalive answered", 20)
            answers = {p.sequence: p for p in conn.inbox if p.sequence >= first}
            assert sorted(answers) == sequences
            assert {p.command_id for p in answers.values()} == {KEEPALIVE[proto] | RESPONSE_BIT}
            assert (await env.h.wait_status(message_id, FINAL))["status"] == "delivered"
            assert (env.channel.stats.reconnects, env.channel.stats.violations) == (0, 0)


def odd_submit_answers(proto: str) -> list[tuple[list[Callable[[Any], tuple[Any, Accepted | None]]], str, str | None]]:
    """Answers to one message's submits (then the SMSC behaves), the message's final status and error code."""
    now = time.time()

    def smpp_resp(status: int, message_id: bytes = b"") -> Callable[[Any], tuple[Any, Accepted | None]]:
        def answer(request: Any) -> tuple[Any, Accepted | None]:
            frame = head("smpp", smpp.CommandId.SUBMIT_SM_RESP, request.sequence, message_id + b"\0", status=status)
            return Encoded(smpp.CommandId.SUBMIT_SM_RESP, bytearray(frame), 12, request.sequence), None
        return answer

    if proto == "smpp":
        S = smpp.Status

        def nack(status: int) -> Callable[[Any], tuple[Any, Accepted | None]]:
            return lambda request: (smpp.GenericNack(sequence=request.sequence, status=status), None)

        return [
            ([nack(S.ESME_RSYSERR)], "delivered", None),  # transient: sent again
            ([nack(0)], "delivered", None),  # a generic_nack saying "no error": sent again
            ([smpp_resp(S.ESME_RTHROTTLED)], "delivered", None),
            ([nack(S.ESME_RTHROTTLED)], "delivered", None),
            ([smpp_resp(0xFFFFFFFF)], "failed", "0xFFFFFFFF"),  # unknown status: permanent
            ([smpp_resp(0x400)], "failed", "0x00000400"),  # vendor-specific
            ([smpp_resp(0, b"\xff\xfe id with spaces ")], "submitted", None),  # no receipt names that id
        ]
    if proto == "cmpp":
        def cmpp_resp(result: int, msg_id: int | None = None) -> Callable[[Any], tuple[Any, Accepted | None]]:
            def answer(request: Any) -> tuple[Any, Accepted | None]:
                response = cmpp.SubmitResp(sequence=request.sequence, msg_id=msg_id or 0, result=result)
                return response, None if msg_id is None else Accepted(msg_id, str(msg_id), now)
            return answer

        return [
            ([cmpp_resp(0xFFFFFFFF)], "delivered", None),  # >= 14: transient, sent again
            ([cmpp_resp(cmpp.Result.FLOW_CONTROL)], "delivered", None),
            ([cmpp_resp(cmpp.Result.TOO_LONG)], "failed", "6"),
            ([cmpp_resp(99)], "delivered", None),
            ([cmpp_resp(0xFFFFFFFF)] * 3, "failed", "4294967295"),  # max_retries
            ([cmpp_resp(0, 0)], "delivered", None),  # Msg_Id 0, and its receipt
            ([cmpp_resp(0, 2**64 - 1)], "delivered", None),
        ]

    def smgp_resp(status: int, msg_id: bytes | None = None) -> Callable[[Any], tuple[Any, Accepted | None]]:
        def answer(request: Any) -> tuple[Any, Accepted | None]:
            response = smgp.SubmitResp(sequence=request.sequence, msg_id=msg_id or bytes(10), status=status)
            return response, None if msg_id is None else Accepted(msg_id, msg_id.hex(), now)
        return answer

    return [
        ([smgp_resp(0xFFFFFFFF)], "failed", "4294967295"),
        ([smgp_resp(smgp.Status.SYSTEM_BUSY)], "delivered", None),
        ([smgp_resp(12)], "delivered", None),  # transient
        ([smgp_resp(0, bytes(10))], "delivered", None),  # MsgID all zero, and its receipt
        ([smgp_resp(0, b"\xff" * 10)], "delivered", None),
    ]


@pytest.mark.parametrize("proto", PROTOCOLS)
async def test_odd_submit_answers_are_judged_and_the_channel_goes_on(tmp_path: Path, proto: str) -> None:
    """Statuses nobody defined, generic_nacks, ids of zeros: each message gets a fair verdict."""
    cases = odd_submit_answers(proto)
    with trio.fail_after(30):
        async with hostile(tmp_path, proto) as env:
            for i, (answers, status, code) in enumerate(cases):
                env.smsc.answers = list(answers)
                message_id = await env.h.send(number(proto, i))
                found = await env.h.wait_status(message_id, FINAL | {status})
                assert (found["status"], (found.get("error") or {}).get("code")) == (status, code), (i, found)
                assert env.smsc.answers == []
            assert (env.channel.stats.reconnects, env.channel.stats.violations) == (0, 0)


@pytest.mark.parametrize("proto", PROTOCOLS)
async def test_a_flood_of_delivers_is_stored_and_acknowledged(tmp_path: Path, proto: str) -> None:
    """Two thousand MO and receipts in one write, no window respected: every one stored, then answered."""
    flood = 2000
    with trio.fail_after(30):
        async with hostile(tmp_path, proto) as env:
            conn = await env.smsc.bound()
            first = conn.next_sequence()
            sequences = [first, *(conn.next_sequence() for _ in range(flood - 1))]
            smsc_id = {"smpp": lambda i: f"F{i}", "cmpp": lambda i: str(10**6 + i),
                       "smgp": lambda i: f"{10**6 + i:020d}"}[proto]
            await conn.write(b"".join(mo(proto, seq, f"mo {i}".encode()) if i % 2 else receipt(proto, seq, smsc_id(i))
                                      for i, seq in enumerate(sequences)))
            await wait_for(lambda: {p.sequence for p in conn.inbox if p.command_id & RESPONSE_BIT} >= set(sequences),
                           "every deliver answered", 20)
            assert {status_of(conn._answer(seq)) for seq in sequences} == {0}
            assert len(await env.rows(mo_messages)) == flood // 2
            assert len(await env.rows(unmatched_reports)) == flood // 2
            assert (env.channel.stats.reconnects, env.channel.stats.violations) == (0, 0)


def block_inbound(env: Hostile, monkeypatch: pytest.MonkeyPatch) -> trio.Event:
    """Receipts and MO are stored only once the returned event is set (a store that is stalled)."""
    dispatcher = env.h.gateway.dispatcher
    store_inbound, gate = dispatcher.inbound, trio.Event()

    async def blocked(channel: str, items: list[Any]) -> None:
        await gate.wait()
        await store_inbound(channel, items)

    monkeypatch.setattr(dispatcher, "inbound", blocked)
    return gate


def task_count() -> int:
    """Tasks alive in this trio run."""

    def count(task: trio.lowlevel.Task) -> int:
        return 1 + sum(count(child) for nursery in task.child_nurseries for child in nursery.child_tasks)

    return count(trio.lowlevel.current_root_task())


@pytest.mark.parametrize("proto", PROTOCOLS)
async def test_delivers_faster_than_the_store_stop_the_reading(tmp_path: Path, proto: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The store takes nothing while the SMSC sends delivers in many small writes, no window
    respected: the gateway holds a bounded backlog of reads and stops reading the socket (no
    task per read parked on a full channel, as before), and once the store takes writes again
    every deliver is stored and answered, in order."""
    reads, per_read = 300, 5
    with trio.fail_after(40):
        async with hostile(tmp_path, proto) as env:
            conn = await env.smsc.bound()
            gate = block_inbound(env, monkeypatch)
            backlog = env.channel.slots[0].wake.__self__._inbound_send  # the session's reads for the worker
            tasks = task_count()
            batches = [[conn.next_sequence() for _ in range(per_read)] for _ in range(reads)]
            sequences = [seq for batch in batches for seq in batch]

            async def flood() -> None:
                for i, batch in enumerate(batches):  # 1,500 delivers, ~120 kB
                    await conn.write(b"".join(mo(proto, seq, f"mo {i} {j}".encode()) for j, seq in enumerate(batch)))
                    await trio.sleep(0.001)  # one read each

            # in a task of its own: what the gateway does not read waits in the socket buffers, and when
            # those are smaller than the flood (a busy machine), the rest waits here until reading resumes
            env.h.nursery.start_soon(flood)
            await wait_for(lambda: backlog.statistics().tasks_waiting_send, "the reader to wait for the worker")
            await trio.sleep(0.2)
            stats = backlog.statistics()
            assert (stats.current_buffer_used, stats.tasks_waiting_send) == (stats.max_buffer_size, 1)  # the reader
            assert task_count() <= tasks + 3, "a task per read beyond the backlog"
            sent = set(sequences)
            assert not any(p.command_id & RESPONSE_BIT for p in conn.inbox if p.sequence in sent)
            gate.set()
            await wait_for(lambda: {p.sequence for p in conn.inbox if p.command_id & RESPONSE_BIT} >= sent,
                           "every deliver answered", 30)
            assert {status_of(conn._answer(seq)) for seq in sequences} == {0}
            rows = await env.rows(mo_messages)
            assert [row.text for row in sorted(rows, key=lambda row: row.id)] == [
                f"mo {i} {j}" for i in range(reads) for j in range(per_read)]
            assert (env.channel.stats.reconnects, env.channel.stats.violations) == (0, 0)


@pytest.mark.parametrize("proto", PROTOCOLS)
async def test_a_store_stalled_beyond_the_response_timeout_resends_nothing(tmp_path: Path, proto: str,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The store takes no receipt for three response timeouts while the socket is not read (the
    backpressure above) and a submit's answer waits unread in it: that is no response timeout,
    so nothing is resent (before: the window's submits timed out and went again, duplicates)."""
    timeout = 0.5
    with trio.fail_after(40):
        async with hostile(tmp_path, proto, channel={"response_timeout": timeout}) as env:
            conn = await env.smsc.bound()
            gate = block_inbound(env, monkeypatch)
            backlog = env.channel.slots[0].wake.__self__._inbound_send
            for i in range(200):  # more reads than the backlog holds
                await conn.write(mo(proto, conn.next_sequence(), f"mo {i}".encode()))
                await trio.sleep(0.001)
            await wait_for(lambda: backlog.statistics().tasks_waiting_send, "the reader to wait for the worker")
            message_id = await env.h.send(number(proto, 1))
            await wait_for(lambda: len(env.smsc.accepted) == 1, "the submit to reach the SMSC")
            await trio.sleep(3 * timeout + 1.0)  # the timer task runs once a second
            assert (env.channel.stats.timeouts, env.channel.stats.resent) == (0, 0)
            gate.set()
            assert (await env.h.wait_status(message_id, FINAL))["status"] == "delivered"
            assert len(env.smsc.accepted) == 1, "the submit was sent again"
            assert (env.channel.stats.timeouts, env.channel.stats.reconnects) == (0, 0)


def garbage_bind_answers(proto: str) -> list[Callable[[Any], bytes]]:
    """Answers to a bind that must not bind: random bytes, a response naming another request,
    a refusal, a broken body, and (CMPP, SMGP) a server that cannot prove it knows the secret."""
    answers: list[Callable[[Any], bytes]] = [lambda request: b"\xff" * 64]
    if proto == "smpp":
        return [*answers,
                lambda request: smpp.encode(smpp.BindTransceiverResp(sequence=request.sequence + 1)),
                lambda request: head(proto, request.command_id | RESPONSE_BIT, request.sequence,
                                     status=smpp.Status.ESME_RBINDFAIL),
                lambda request: head(proto, request.command_id | RESPONSE_BIT, request.sequence, b"no NUL"),
                lambda request: head(proto, smpp.CommandId.GENERIC_NACK, request.sequence)]
    if proto == "cmpp":
        return [*answers,
                lambda request: cmpp.encode(cmpp.ConnectResp(sequence=request.sequence + 1), 3),
                lambda request: cmpp.encode(cmpp.ConnectResp(sequence=request.sequence, status=3), 3),
                lambda request: head(proto, cmpp.CommandId.CONNECT_RESP, request.sequence, b"short"),
                lambda request: cmpp.encode(cmpp.ConnectResp(sequence=request.sequence, status=0), 3)]
    return [*answers,
            lambda request: smgp.encode(smgp.LoginResp(sequence=request.sequence + 1)),
            lambda request: smgp.encode(smgp.LoginResp(sequence=request.sequence, status=21)),
            lambda request: head(proto, smgp.CommandId.LOGIN_RESP, request.sequence, b"short"),
            lambda request: smgp.encode(smgp.LoginResp(sequence=request.sequence, status=0))]


@pytest.mark.parametrize("proto", PROTOCOLS)
async def test_garbage_bind_answers_back_off_then_bind(tmp_path: Path, proto: str) -> None:
    answers = garbage_bind_answers(proto)
    smsc = FakeSmsc(proto)
    smsc.garbage_binds = len(answers)
    smsc.garbage_bind_answer = lambda request: answers[len(answers) - smsc.garbage_binds - 1](request)
    with trio.fail_after(30):
        async with hostile(tmp_path, proto, smsc=smsc, channel={"response_timeout": 0.3, "reconnect_max": 0.1}) as env:
            assert len(env.smsc.conns) == len(answers) + 1
            assert all(conn.gone for conn in env.smsc.conns[:-1])
            slot = env.channel.slots[0]
            assert slot.last_error is None and slot.state == "bound_trx"


# ------------------------------------------------------------------------- receipts

LONG_STAT = "UNDELIVERABLE_FOR_A_LONG_TIME"


def odd_receipts(proto: str) -> tuple[list[Callable[[int], bytes]], set[tuple[str, str]], int]:
    """Receipts no message matches, all to be acknowledged: their frames, the (smsc_id, stat)
    rows they leave in unmatched_reports, and how many of them cannot be read at all."""
    if proto == "smpp":
        return [
            lambda seq: smpp_deliver(seq, esm=0x04),  # no text, no TLV: unreadable
            lambda seq: smpp_deliver(seq, esm=0x04, sm=b"\xff\x00garbage\x01 id: stat:"),  # unreadable
            lambda seq: smpp_deliver(seq, esm=0x04, tlvs=tlv(RECEIPTED_ID, b"\0")),  # an empty id: unreadable
            lambda seq: smpp_deliver(seq, esm=0x04, sm=smpp_receipt_text("ZZZ-unknown")),
            lambda seq: smpp_deliver(seq, esm=0x04, tlvs=tlv(RECEIPTED_ID, b"AB12CD\0") + tlv(MESSAGE_STATE, b"\5")),
            lambda seq: smpp_deliver(seq, esm=0x04, tlvs=tlv(RECEIPTED_ID, b"9" * 300 + b"\0")
                                     + tlv(MESSAGE_STATE, b"\2")),
            lambda seq: smpp_deliver(seq, esm=0x04, sm=b"id:12\x0034 stat:DELIVRD"),
            lambda seq: smpp_deliver(seq, esm=0x04, sm=b"id:777 stat:DEL\x00X err:1"),
            lambda seq: smpp_deliver(seq, esm=0x04, sm=f"id:778 stat:{LONG_STAT} err:{'9' * 30}".encode()),
            lambda seq: smpp_deliver(seq, esm=0x04, tlvs=tlv(RECEIPTED_ID, b"555\0") + tlv(MESSAGE_STATE, b"")),
            lambda seq: smpp_deliver(seq, esm=0x04, tlvs=tlv(RECEIPTED_ID, b"556\0") + tlv(MESSAGE_STATE, b"\xff")),
            lambda seq: data_sm(seq, esm=0x04, tlvs=tlv(RECEIPTED_ID, b"DS-1\0") + tlv(MESSAGE_STATE, b"\2")),
        ], {
            ("ZZZ-unknown", "DELIVRD"), ("AB12CD", "UNDELIV"), ("9" * 80, "DELIVRD"), ("12\ufffd34", "DELIVRD"),
            ("777", "DEL\ufffdX"), ("778", LONG_STAT[:16]), ("555", "UNKNOWN"), ("556", "UNKNOWN"),
            ("DS-1", "DELIVRD"),
        }, 3
    if proto == "cmpp":
        return [
            lambda seq: cmpp_deliver(seq, registered_delivery=1),  # no report: unreadable
            lambda seq: cmpp_deliver(seq, registered_delivery=1, msg_content=bytes(range(50))),  # unreadable
            lambda seq: cmpp_deliver(seq, registered_delivery=1, msg_content=cmpp_report(12345)),
            lambda seq: cmpp_deliver(seq, registered_delivery=1, msg_content=cmpp_report(12346, layout=2)),
            lambda seq: cmpp_deliver(seq, registered_delivery=1, msg_content=cmpp_report(0)),
            lambda seq: cmpp_deliver(seq, registered_delivery=1, msg_content=cmpp_report(2**64 - 1)),
            lambda seq: cmpp_deliver(seq, registered_delivery=1, msg_content=cmpp_report(12347, b"\xffU\0\1ABC")),
            lambda seq: cmpp_deliver(seq, registered_delivery=1, msg_content=cmpp_report(12348, bytes(7))),
        ], {
            ("12345", "DELIVRD"), ("12346", "DELIVRD"), ("0", "DELIVRD"), (str(2**64 - 1), "DELIVRD"),
            ("12347", "\xffU\ufffd\x01ABC"), ("12348", ""),
        }, 2
    ids = [bytes.fromhex("0123456789abcdef0123"), b"\xff" * 10, bytes.fromhex("00000000000000000001"),
           bytes.fromhex("00000000000000000002")]
    return [
        lambda seq: smgp_deliver(seq, is_report=1),  # unreadable
        lambda seq: smgp_deliver(seq, is_report=1, msg_content=b"id:\1\2\3 garbage"),  # unreadable
        lambda seq: smgp_deliver(seq, is_report=1, msg_content=smgp_report(ids[0])),
        lambda seq: smgp_deliver(seq, is_report=1, msg_content=smgp_report(ids[1])),
        lambda seq: smgp_deliver(seq, is_report=1, msg_content=smgp_report(ids[2], lower_case=True)),
        lambda seq: smgp_deliver(seq, is_report=1, msg_content=smgp_report(ids[3], "DE\0LIV")),
    ], {
        (smgp.msg_id_hex(ids[0]), "DELIVRD"), (smgp.msg_id_hex(ids[1]), "DELIVRD"),
        (smgp.msg_id_hex(ids[2]), "DELIVRD"), (smgp.msg_id_hex(ids[3]), "DE\ufffdLIV"),
    }, 2


def odd_stat_receipt(proto: str, accepted: Accepted) -> Callable[[int], bytes]:
    """A receipt for a message the gateway did send, with a stat no column was made for."""
    if proto == "smpp":
        return lambda seq: smpp_deliver(seq, esm=0x04, tlvs=tlv(RECEIPTED_ID, accepted.text_id.encode() + b"\0"),
                                        sm=f"id:{accepted.text_id} stat:{LONG_STAT}\0 err:\0{'9' * 20}".encode())
    if proto == "cmpp":
        return lambda seq: cmpp_deliver(seq, registered_delivery=1, msg_content=cmpp_report(accepted.wire_id,
                                                                                            b"UN\0DELV"))
    report = (b"id:" + accepted.wire_id + b" sub:001 dlvrd:000 submit date:2401010000 done date:2401010000 stat:"
              + LONG_STAT.encode() + b" err:\0" + b"9" * 20 + b" text:005hello")
    return lambda seq: smgp_deliver(seq, is_report=1, msg_content=report)


@pytest.mark.parametrize("proto", PROTOCOLS)
async def test_odd_receipts_are_acknowledged_and_stored_or_counted(tmp_path: Path, proto: str,
                                                                   db_url: str | None) -> None:
    frames, unmatched, unreadable = odd_receipts(proto)
    with trio.fail_after(30):
        async with hostile(tmp_path, proto, db_url=db_url) as env, traced(env):
            conn = await env.smsc.bound()
            for i, frame in enumerate(frames):
                reply = await conn.request(frame)
                assert reply is not None and status_of(reply) == 0, (i, reply)
            rows = await env.rows(unmatched_reports)
            assert {(row.smsc_id, row.stat) for row in rows} == unmatched
            assert env.h.gateway.dispatcher.stats.receipts_unmatched == len(unmatched)
            assert env.channel.stats.unreadable == unreadable
            assert await env.h.metric("smsgw_receipts_unreadable_total") == unreadable
            assert (await env.channel_stats())["unreadable"] == unreadable
            assert env.channel.stats.receipts == len(frames) - unreadable
            # a receipt for a message sent, with a stat longer than any column (and NULs)
            env.smsc.receipts = False
            message_id = await env.h.send(number(proto, 1))
            await env.h.wait_status(message_id, {"submitted"})
            reply = await conn.request(odd_stat_receipt(proto, env.smsc.accepted[-1]))
            assert reply is not None and status_of(reply) == 0
            found = await env.h.wait_status(message_id, FINAL)
            assert found["status"] == "failed"
            assert (env.channel.stats.reconnects, env.channel.stats.violations) == (0, 0)


async def test_an_smsc_message_id_longer_than_the_column(tmp_path: Path, db_url: str | None) -> None:
    """submit_sm_resp takes a message_id of any length (the decoder is lenient): the segment
    records it cut to its column, and the receipt naming it matches."""
    long_id = "7" * 100
    with trio.fail_after(20):
        async with hostile(tmp_path, "smpp", db_url=db_url) as env:
            env.smsc.receipts = False
            env.smsc.message_id = lambda accepted: long_id.encode()
            message_id = await env.h.send(number("smpp", 1))
            await env.h.wait_status(message_id, {"submitted"})
            conn = await env.smsc.bound()
            reply = await conn.request(lambda seq: smpp_deliver(
                seq, esm=0x04, tlvs=tlv(RECEIPTED_ID, long_id.encode() + b"\0") + tlv(MESSAGE_STATE, b"\2")))
            assert reply is not None and status_of(reply) == 0
            assert (await env.h.wait_status(message_id, FINAL))["status"] == "delivered"
            assert env.h.gateway.store.writer.stats.failed_nowait == 0
            assert await env.rows(unmatched_reports) == []


async def test_smpp_delivers_that_are_neither_receipt_nor_mo_are_acknowledged_and_counted(tmp_path: Path) -> None:
    """SME acknowledgements, a conversation abort, intermediate notifications and a reserved
    type (esm_class bits 5-2, PROTOCOLS.md A.6) are answered OK and counted by type: no MO text,
    no unmatched receipt, and an intermediate notification for a message sent, whatever stat it
    carries, leaves it to the final receipt."""
    with trio.fail_after(20):
        async with hostile(tmp_path, "smpp") as env, traced(env):
            env.smsc.receipts = False
            message_id = await env.h.send(number("smpp", 1))
            await env.h.wait_status(message_id, {"submitted"})
            smsc_id = env.smsc.accepted[-1].text_id
            conn = await env.smsc.bound()
            frames = [
                lambda seq: smpp_deliver(seq, esm=0x08, sm=b"delivered to the handset"),
                lambda seq: smpp_deliver(seq, esm=0x10 | 0x40, sm=b"\x05\x00\x03\x01\x02\x01user ack"),
                lambda seq: data_sm(seq, esm=0x10, tlvs=tlv(MESSAGE_PAYLOAD, b"user ack")),
                lambda seq: smpp_deliver(seq, esm=0x18),
                lambda seq: smpp_deliver(seq, esm=0x20, sm=smpp_receipt_text(smsc_id, "UNDELIV")),
                lambda seq: data_sm(seq, esm=0x20, tlvs=tlv(RECEIPTED_ID, smsc_id.encode() + b"\0")
                                    + tlv(MESSAGE_STATE, b"\5")),
                lambda seq: smpp_deliver(seq, esm=0x20 | 0x03, sm=b"no id at all"),
                lambda seq: smpp_deliver(seq, esm=0x24, sm=b"reserved"),
            ]
            for i, frame in enumerate(frames):
                reply = await conn.request(frame)
                assert reply is not None and status_of(reply) == 0, (i, reply)
            assert env.channel.stats.ignored == {"sme_delivery_ack": 1, "sme_manual_ack": 2, "conversation_abort": 1,
                                                 "intermediate_notification": 3, "reserved_0x24": 1}
            assert await env.h.metric("smsgw_delivers_ignored_total") == len(frames)
            assert (await env.channel_stats())["ignored"] == env.channel.stats.ignored
            assert (env.channel.stats.receipts, env.channel.stats.mo_parts, env.channel.stats.unreadable) == (0, 0, 0)
            assert await env.rows(mo_messages) == await env.rows(mo_parts) == await env.rows(unmatched_reports) == []
            assert (await env.h.wait_status(message_id, {"submitted"}))["status"] == "submitted"
            reply = await conn.request(lambda seq: smpp_deliver(seq, esm=0x04, sm=smpp_receipt_text(smsc_id)))
            assert reply is not None and status_of(reply) == 0
            assert (await env.h.wait_status(message_id, FINAL))["status"] == "delivered"


# ------------------------------------------------------------------------------- MO

GSM7, UCS2 = Alphabet.GSM7, Alphabet.UCS2
CONCAT_EDGES = (  # UDH with a concatenation IE that makes no sense: the IE is ignored, the text kept
    (b"\x05\x00\x03\x07\x00\x01", b"zero"),  # total 0
    (b"\x05\x00\x03\x07\x02\x00", b"idx0"),  # index 0
    (b"\x05\x00\x03\x07\x02\x03", b"over"),  # index > total
    (b"\x06\x08\x04\x01\x02\x02\x03", b"big"),  # the same with a 16-bit reference
    (b"\x04\x00\x02\x01\x02", b"short IE"),  # an IE of the wrong length
    (b"\x00", b"no IE"),  # UDHL 0
)
#: one long MO in two parts, the first sent twice
TWICE = (b"\x05\x00\x03\x09\x02\x01Hello ", b"\x05\x00\x03\x09\x02\x01Hello ", b"\x05\x00\x03\x09\x02\x02world")


def storable(text: str) -> str:
    """A text as the gateway stores what an operator sent: NUL (refused by PostgreSQL) as U+FFFD."""
    return text.replace("\0", "\ufffd")


def odd_mo(proto: str) -> tuple[list[Callable[[int], bytes]], list[str], dict[str, str]]:
    """MO the gateway must store as they come: their frames, the texts stored, and the sender
    stored for some texts."""
    frames: list[Callable[[int], bytes]] = []
    texts: list[str] = []
    senders: dict[str, str] = {}

    def add(text: str | None, frame: Callable[[int], bytes]) -> None:
        frames.append(frame)
        if text is not None:
            texts.append(text)

    binary, ucs2, text = {"smpp": (0xF4, 8, 0), "cmpp": (4, 8, 0), "smgp": (4, 8, 0)}[proto]
    plain = GSM7 if proto == "smpp" else Alphabet.ASCII
    add("0102ff", lambda seq: mo(proto, seq, b"\1\2\xff", coding=binary))
    add("6f6464", lambda seq: mo(proto, seq, b"odd", coding=0x55 if proto == "smpp" else 255))  # reserved coding
    add("A\ufffd", lambda seq: mo(proto, seq, b"\0A\0", coding=ucs2))  # UCS-2 of an odd length
    add(storable(decode(b"ab\0cd", plain)), lambda seq: mo(proto, seq, b"ab\0cd", coding=text))
    add(decode(b"\x80\xffAB", plain), lambda seq: mo(proto, seq, b"\x80\xffAB", coding=text))
    if proto != "smpp":  # GBK / GB18030 cut in the middle of a character
        add("\u554a\ufffd", lambda seq: mo(proto, seq, b"\xb0\xa1\xb0", coding=15))
    add(storable(decode(b"\x10\0\3\1", plain)), lambda seq: mo(proto, seq, b"\x10\0\3\1", udhi=True))  # UDHL > data
    add(storable(decode(b"\3\0\5\1\2", plain)), lambda seq: mo(proto, seq, b"\3\0\5\1\2", udhi=True))  # IE > UDHL
    add("", lambda seq: mo(proto, seq, b"", udhi=True))  # UDHI without user data
    # characters many line readers break lines at (not NDJSON's): the trace must keep them in one line
    add("a\u2028b\u2029c\x85d", lambda seq: mo(proto, seq, "a\u2028b\u2029c\x85d".encode("utf-16-be"), coding=ucs2))
    if proto == "smpp":
        add("NEL\x85latin-1", lambda seq: mo(proto, seq, b"NEL\x85latin-1", coding=3))
    for udh, body in CONCAT_EDGES:
        add(body.decode(), lambda seq, data=udh + body: mo(proto, seq, data, udhi=True))
    for part in TWICE:
        add(None, lambda seq, data=part: mo(proto, seq, data, udhi=True))
    texts.append("Hello world")
    add("long sender", lambda seq: mo(proto, seq, b"long sender", source="1" * (100 if proto == "smpp" else 21)))
    senders["long sender"] = "1" * (32 if proto == "smpp" else 21)
    if proto != "smpp":  # a fixed-size field, where an SMPP C-string would end at the NUL
        add("NUL sender", lambda seq: mo(proto, seq, b"NUL sender", source="139\x0012345678"))
        senders["NUL sender"] = "139\ufffd12345678"
    if proto == "smpp":
        add("x" * 60_000, lambda seq: smpp_deliver(seq, tlvs=tlv(MESSAGE_PAYLOAD, b"x" * 60_000)))
        add("short wins", lambda seq: smpp_deliver(seq, sm=b"short wins", tlvs=tlv(MESSAGE_PAYLOAD, b"payload")))
        add("sent as data sm", lambda seq: data_sm(seq, tlvs=tlv(MESSAGE_PAYLOAD, b"sent as data sm")))
        add("status ignored", lambda seq: head(proto, smpp.CommandId.DELIVER_SM, seq, sm_body(sm=b"status ignored"),
                                               status=0x45))
    elif proto == "cmpp":
        add("odd flag", lambda seq: cmpp_deliver(seq, registered_delivery=2, msg_content=b"odd flag"))
        add("id 0", lambda seq: cmpp_deliver(seq, msg_id=0, msg_content=b"id 0"))
        add("id max", lambda seq: cmpp_deliver(seq, msg_id=2**64 - 1, msg_content=b"id max"))
    else:
        add("empty udhi", lambda seq: smgp_deliver(seq, msg_content=b"empty udhi",
                                                   tlvs=[Tlv(smgp.TlvTag.TP_UDHI, b"")]))
        add("one", lambda seq: smgp_deliver(seq, msg_content=b"\x05\x00\x03\x05\x01\x01one",
                                            tlvs=[Tlv(smgp.TlvTag.TP_UDHI, b"\x40")]))
        add("id max", lambda seq: smgp_deliver(seq, msg_id=b"\xff" * 10, msg_content=b"id max"))
    return frames, texts, senders


@pytest.mark.parametrize("proto", PROTOCOLS)
async def test_odd_mo_is_acknowledged_and_stored(tmp_path: Path, proto: str, db_url: str | None) -> None:
    frames, texts, senders = odd_mo(proto)
    with trio.fail_after(30):
        async with hostile(tmp_path, proto, db_url=db_url) as env, traced(env):
            conn = await env.smsc.bound()
            for i, frame in enumerate(frames):
                sequence = conn.next_sequence()
                raw = frame(sequence)
                await conn.write(raw)
                reply = await conn.answer(sequence)
                assert reply is not None and status_of(reply) == 0, (i, reply)
                if proto != "smpp":  # CMPP and SMGP echo the deliver's Msg_Id
                    assert reply.msg_id == _DECODE[proto](raw).msg_id
            rows = await env.rows(mo_messages)
            assert sorted(row.text for row in rows) == sorted(texts)
            by_text = {row.text: row.from_number for row in rows}
            assert {text: by_text[text] for text in senders} == senders
            assert await env.rows(mo_parts) == []  # the long one is complete, its repeated part not kept
            assert env.channel.stats.mo_parts == len(frames)
            assert (env.channel.stats.reconnects, env.channel.stats.violations) == (0, 0)


# ----------------------------------------------------------------- malformed delivers


def malformed_delivers(proto: str) -> list[tuple[Callable[[int], bytes], tuple[int, int]]]:
    """Delivers protocols/ cannot read, with the answer each must get."""
    if proto == "smpp":
        C, S = smpp.CommandId, smpp.Status
        return [
            (lambda seq: smpp_deliver(seq, sm=b"x", tlvs=b"\x04\x24"), (C.DELIVER_SM_RESP, S.ESME_RINVOPTPARSTREAM)),
            (lambda seq: smpp_deliver(seq, sm=b"x", tlvs=b"\x04\x24\x00\x10ab"),
             (C.DELIVER_SM_RESP, S.ESME_RINVOPTPARSTREAM)),
            (lambda seq: smpp_deliver(seq, sm=b"abc", sm_length=200), (C.DELIVER_SM_RESP, S.ESME_RINVMSGLEN)),
            (lambda seq: head(proto, C.DELIVER_SM, seq), (C.GENERIC_NACK, S.ESME_RINVCMDLEN)),
            (lambda seq: head(proto, C.DELIVER_SM, seq, b"\0\1\1" + b"1" * 10), (C.GENERIC_NACK, S.ESME_RINVCMDLEN)),
            (lambda seq: data_sm(seq, tlvs=b"\x04\x24\x00\x10ab"), (C.DATA_SM_RESP, S.ESME_RINVOPTPARSTREAM)),
            (lambda seq: head(proto, C.DATA_SM, seq, b"\0\1\1"), (C.GENERIC_NACK, S.ESME_RINVCMDLEN)),
        ]
    if proto == "cmpp":
        C3, R = cmpp.CommandId, cmpp.Result
        at = 12 + 8 + 21 + 10 + 3 + 32 + 2  # Msg_Length in a 3.0 DELIVER

        def msg_length(seq: int, value: int) -> bytes:
            frame = bytearray(cmpp_deliver(seq, msg_content=b"twelve octet"))
            frame[at] = value
            return bytes(frame)

        return [
            (lambda seq: msg_length(seq, 200), (C3.DELIVER_RESP, R.LENGTH_ERROR)),
            (lambda seq: msg_length(seq, 3), (C3.DELIVER_RESP, R.LENGTH_ERROR)),
            (lambda seq: head(proto, C3.DELIVER, seq, bytes(20)), (C3.DELIVER_RESP, R.LENGTH_ERROR)),
            (lambda seq: cmpp_deliver(seq, msg_content=b"2.0 layout", layout=2), (C3.DELIVER_RESP, R.LENGTH_ERROR)),
        ]
    C4, St = smgp.CommandId, smgp.Status

    def msg_length4(seq: int) -> bytes:
        frame = bytearray(smgp_deliver(seq, msg_content=b"content"))
        frame[12 + 10 + 2 + 14 + 21 + 21] = 200
        return bytes(frame)

    return [
        (msg_length4, (C4.DELIVER_RESP, St.MESSAGE_STRUCTURE_ERROR)),
        (lambda seq: fix_length(smgp_deliver(seq, msg_content=b"x") + b"\0\2\0\x09a"),
         (C4.DELIVER_RESP, St.MESSAGE_STRUCTURE_ERROR)),
        (lambda seq: fix_length(smgp_deliver(seq, msg_content=b"x") + b"\0"), (C4.DELIVER_RESP,
                                                                                St.MESSAGE_STRUCTURE_ERROR)),
        (lambda seq: head(proto, C4.DELIVER, seq, bytes(20)), (C4.DELIVER_RESP, St.MESSAGE_STRUCTURE_ERROR)),
    ]


@pytest.mark.parametrize("proto", PROTOCOLS)
async def test_malformed_delivers_get_the_protocols_error_answer(tmp_path: Path, proto: str) -> None:
    cases = malformed_delivers(proto)
    with trio.fail_after(20):
        async with hostile(tmp_path, proto) as env:
            conn = await env.smsc.bound()
            for i, (frame, wanted) in enumerate(cases):
                assert expected_answer(proto, frame(1)) == wanted, i  # the oracle agrees
                reply = await conn.request(frame)
                assert reply is not None and (reply.command_id, status_of(reply)) == wanted, (i, reply)
            assert await conn.alive()
            assert env.channel.stats.violations == len(cases)
            assert await env.rows(mo_messages) == [] and await env.rows(unmatched_reports) == []
            assert env.channel.stats.reconnects == 0


# -------------------------------------------------------------- mutations (hypothesis)


def base_frames(proto: str) -> list[bytes]:
    """Valid frames of ``proto`` for the mutations to start from."""
    frames = [mo(proto, 0, b"hello"), mo(proto, 0, b"\x05\x00\x03\x2a\x02\x01part one", udhi=True),
              mo(proto, 0, "中文".encode("utf-16-be"), coding=8),
              receipt(proto, 0, "00000000000000004242" if proto == "smgp" else "4242"), keepalive(proto, 0)]
    if proto == "smpp":
        frames += [data_sm(0, tlvs=tlv(MESSAGE_PAYLOAD, b"payload")),
                   smpp_deliver(0, esm=0x04, tlvs=tlv(RECEIPTED_ID, b"77\0") + tlv(MESSAGE_STATE, b"\2"))]
    return frames


EDITS = st.one_of(
    st.tuples(st.just("set"), st.integers(0, 1 << 16), st.integers(0, 255)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 16), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("delete"), st.integers(0, 1 << 16), st.integers(1, 8)),
    st.tuples(st.just("cut"), st.integers(0, 1 << 16), st.just(0)),
)


def mutate(proto: str, frame: bytes, edits: list[tuple[str, int, Any]]) -> bytes:
    """``frame`` with ``edits`` applied after its length prefix, which is then made right again
    (an impossible length is test_impossible_length_prefix's)."""
    data = bytearray(frame)
    for kind, at, arg in edits:
        where = 4 + at % (len(data) - 3)  # 4 ..= len(data): anywhere after the length prefix
        if kind == "set" and where < len(data):
            data[where] = arg
        elif kind == "insert":
            data[where:where] = arg
        elif kind == "delete":
            del data[where:where + arg]
        elif kind == "cut":
            del data[where:]
        data += bytes(max(0, HEADER[proto] - len(data)))
    return fix_length(bytes(data))


@pytest.mark.parametrize("proto", PROTOCOLS)
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_mutated_delivers_get_their_answer_and_nothing_breaks(proto: str, data: st.DataObject) -> None:
    """Valid delivers and keepalives, mutated: each gets the answer protocols/ says it must get
    (the deliver response, with an error status when it cannot be read) or ends the session
    when it must; anything else leaves the session up."""
    bases = base_frames(proto)
    picks = data.draw(st.lists(st.tuples(st.integers(0, len(bases) - 1), st.lists(EDITS, min_size=1, max_size=4)),
                               min_size=30, max_size=30))
    with tempfile.TemporaryDirectory() as tmp, trio.fail_after(60):
        async with hostile(Path(tmp), proto) as env, traced(env):
            conn, closes = await env.smsc.bound(), 0
            for i, (base, edits) in enumerate(picks):
                raw = mutate(proto, bases[base], edits)
                after = await expect(env, conn, lambda seq, raw=raw: with_sequence(proto, raw, seq),
                                     f"frame {i}: {raw.hex()}")
                closes += after is not conn
                conn = after
            assert env.channel.stats.reconnects == closes

"""A test client for the simulators: a ``protocols`` client session over a trio TCP stream.

The tests talk to the simulators the way the gateway will: real bytes on 127.0.0.1, a
client-role session doing framing, windows and keepalives. This module adds only what a
test needs on top: per-protocol bind and submit builders, deliver acknowledgement (with
the receipts sorted out from MO messages) and waiting for a condition under a deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from protocols import cmpp, smgp, smpp
from protocols.session import BindRefused, Bound, Closed, ProtocolViolation, Response, ResponseTimeout, Role, State
from protocols.text import Alphabet, split
from protocols.tlv import Tlv
from simulators.adapter import Adapter
from simulators.cli import adapter_for
from simulators.config import SimConfig
from simulators.server import SimServer

UCS2 = {"smpp": smpp.DataCoding.UCS2, "cmpp": cmpp.MsgFmt.UCS2, "smgp": smgp.MsgFormat.UCS2}


def login_timestamp() -> int:
    """Local time as MMDDHHMMSS, the CMPP/SMGP login timestamp."""
    return int(time.strftime("%m%d%H%M%S"))


@dataclass
class Client:
    """One client connection. Events land in the lists below as they arrive."""

    protocol: str
    stream: trio.SocketStream
    session: Any
    version: int = 3
    auto_ack: bool = True
    bound: Bound | BindRefused | None = None
    responses: dict[int, Any] = field(default_factory=dict)  # sequence -> submit response
    receipts: list[Any] = field(default_factory=list)  # deliver PDUs that are reports
    mo: list[Any] = field(default_factory=list)  # deliver PDUs that are MO messages
    violations: list[ProtocolViolation] = field(default_factory=list)
    timeouts: list[ResponseTimeout] = field(default_factory=list)
    requests: list[Any] = field(default_factory=list)  # other requests of the server (unbind, ...)
    closed: Closed | None = None
    eof: bool = False

    # ------------------------------------------------------------------- plumbing
    async def flush(self) -> None:
        data = self.session.data_to_send()
        if data:
            await self.stream.send_all(data)

    async def pump(self) -> None:
        """Read once (or run the session's timers when one is due first), feed the
        session, answer what must be answered."""
        data = None
        deadline = self.session.next_deadline()
        with trio.move_on_at(float("inf") if deadline is None else deadline):
            try:
                data = await self.stream.receive_some(65536)
            except trio.BrokenResourceError:
                data = b""
        if data is None:
            for event in self.session.poll(trio.current_time()):
                self._on_event(event)
            await self.flush()
            return
        if not data:
            self.eof = True
            closed = self.session.connection_lost("server closed")
            self.closed = self.closed or closed
            return
        for event in self.session.receive_data(data, trio.current_time()):
            self._on_event(event)
        if not self.session.is_closed:
            await self.flush()

    def _on_event(self, event: Any) -> None:
        if isinstance(event, Bound | BindRefused):
            self.bound = event
        elif isinstance(event, Response):
            self.responses[event.request.sequence] = event.pdu
        elif isinstance(event, ProtocolViolation):
            self.violations.append(event)
        elif isinstance(event, ResponseTimeout):
            self.timeouts.append(event)
        elif isinstance(event, Closed):
            self.closed = event
        elif event.command_id == DELIVER_IDS[self.protocol]:
            (self.receipts if is_receipt(self.protocol, event) else self.mo).append(event)
            if self.auto_ack:
                self.session.send(deliver_resp(self.protocol, event), trio.current_time())
        else:
            self.requests.append(event)

    async def until(self, condition: Callable[[], bool]) -> None:
        """Pump until ``condition()`` holds (the caller bounds the time with fail_after)."""
        while not condition():
            if self.eof:
                raise AssertionError("connection closed before the condition held")
            await self.pump()

    async def bind(self, account: str = "test", secret: str = "test", mode: State = State.BOUND_TRX) -> Any:
        now = trio.current_time()
        if self.protocol == "smpp":
            self.session.bind(now, mode, account, secret)
        elif self.protocol == "cmpp":
            self.session.login(now, account, secret, login_timestamp())
        else:
            modes = {State.BOUND_TX: smgp.LoginMode.SEND, State.BOUND_RX: smgp.LoginMode.RECEIVE,
                     State.BOUND_TRX: smgp.LoginMode.TRANSMIT}
            self.session.login(now, account, secret, login_timestamp(), modes[mode])
        await self.flush()
        await self.until(lambda: self.bound is not None or self.eof)
        return self.bound

    async def submit(self, pdu: Any) -> int:
        sequence = self.session.send(pdu, trio.current_time())
        await self.flush()
        return sequence

    async def submit_all(self, pdus: list[Any]) -> list[int]:
        """Send ``pdus`` as the window allows, and wait for every response."""
        sequences = []
        for pdu in pdus:
            await self.until(lambda: self.session.window.available > 0)
            sequences.append(self.session.send(pdu, trio.current_time()))
            await self.flush()
        await self.until(lambda: all(s in self.responses for s in sequences))
        return sequences

    async def aclose(self) -> None:
        await self.stream.aclose()


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait for the server side to catch up (its counters) without reading the socket."""
    while not condition():
        await trio.sleep(0.005)


async def connect(protocol: str, port: int, *, version: int = 3, window: int = 64, **session: Any) -> Client:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    now = trio.current_time()
    options = {"now": now, "window": window, "keepalive_interval": None, **session}
    if protocol == "smpp":
        sess: Any = smpp.SmppSession(Role.CLIENT, **options)
    elif protocol == "cmpp":
        sess = cmpp.CmppSession(Role.CLIENT, version, **options)
    else:
        sess = smgp.SmgpSession(Role.CLIENT, **options)
    return Client(protocol, stream, sess, version)


async def bound_client(protocol: str, port: int, **kwargs: Any) -> Client:
    account = kwargs.pop("account", "test")
    secret = kwargs.pop("secret", "test")
    mode = kwargs.pop("mode", State.BOUND_TRX)
    client = await connect(protocol, port, **kwargs)
    outcome = await client.bind(account, secret, mode)
    assert isinstance(outcome, Bound), outcome
    return client


async def start_server(nursery: trio.Nursery, config: SimConfig, adapter: Adapter | None = None,
                       log: Callable[[str], None] | None = None) -> SimServer:
    server = SimServer(config, adapter or adapter_for(config), log=log or (lambda line: None))
    await nursery.start(server.serve)
    return server


def sim_config(protocol: str, **overrides: Any) -> SimConfig:
    """A quick simulator on port 0 with account test:test and short timers."""
    base: dict[str, Any] = {"protocol": protocol, "port": 0, "accounts": {"test": "test"}, "dlr_delay": 0.05,
                            "seed": 7, "window": 64}
    base.update(overrides)
    return SimConfig(**base)


# ------------------------------------------------------------------ submit builders
def submit(protocol: str, text: str = "hello", *, report: bool = True, dest: str = "13800138000") -> Any:
    """A single-part ASCII submit."""
    return submit_part(protocol, text.encode("ascii"), coding="ascii", report=report, dest=dest)


def submit_part(protocol: str, data: bytes, *, coding: str = "ascii", report: bool = True,
                dest: str = "13800138000", udhi: bool = False, pk: tuple[int, int] | None = None,
                tlvs: list[Tlv] | None = None) -> Any:
    if protocol == "smpp":
        return smpp.SubmitSm(
            source_addr="SMSGW", destination_addr=dest, esm_class=smpp.Esm.UDHI if udhi else 0,
            registered_delivery=1 if report else 0, data_coding=UCS2["smpp"] if coding == "ucs2" else 0,
            short_message=data, tlvs=tlvs or [],
        )
    if protocol == "cmpp":
        total, number = pk or (1, 1)
        return cmpp.Submit(
            pk_total=total, pk_number=number, registered_delivery=1 if report else 0, service_id="SMSGW",
            tp_udhi=1 if udhi else 0, msg_fmt=UCS2["cmpp"] if coding == "ucs2" else 0, msg_src="901234",
            src_id="10690000", dest_terminal_ids=[dest], msg_content=data,
        )
    pdu = smgp.Submit(
        need_report=1 if report else 0, service_id="SMSGW",
        msg_format=UCS2["smgp"] if coding == "ucs2" else smgp.MsgFormat.ASCII,
        src_term_id="10690000", dest_term_ids=[dest], msg_content=data,
    )
    if udhi:
        pdu.tp_udhi = 1
    if pk:
        pdu.pk_total, pdu.pk_number = pk
    return pdu


def long_submits(protocol: str, text: str, reference: int, *, sar: bool = False) -> list[Any]:
    """A long UCS-2 message as UDH-concatenated parts (or SMPP SAR TLVs with ``sar``); CMPP
    and SMGP parts also carry Pk_total/Pk_number."""
    parts = split(text, Alphabet.UCS2, reference=reference)
    out = []
    for part in parts:
        if sar:
            tlvs = [Tlv(smpp.Tag.SAR_MSG_REF_NUM, reference.to_bytes(2, "big")),
                    Tlv(smpp.Tag.SAR_TOTAL_SEGMENTS, bytes((part.total,))),
                    Tlv(smpp.Tag.SAR_SEGMENT_SEQNUM, bytes((part.index,)))]
            out.append(submit_part(protocol, part.payload, coding="ucs2", tlvs=tlvs))
        else:
            pk = (part.total, part.index) if protocol != "smpp" else None
            out.append(submit_part(protocol, part.user_data, coding="ucs2", udhi=True, pk=pk))
    return out


def pk_submits(protocol: str, text: str) -> list[Any]:
    """A long message carried by Pk_total/Pk_number alone (no UDH), as some SPs send it."""
    data = text.encode("utf-16-be")
    chunks = [data[i:i + 134] for i in range(0, len(data), 134)]
    return [submit_part(protocol, chunk, coding="ucs2", pk=(len(chunks), i + 1)) for i, chunk in enumerate(chunks)]


# ----------------------------------------------------------------- reading answers
DELIVER_IDS = {"smpp": smpp.CommandId.DELIVER_SM, "cmpp": cmpp.CommandId.DELIVER, "smgp": smgp.CommandId.DELIVER}


def is_receipt(protocol: str, pdu: Any) -> bool:
    if protocol == "smpp":
        return smpp.is_receipt(pdu)
    if protocol == "cmpp":
        return pdu.registered_delivery == 1
    return pdu.is_report == 1


def deliver_resp(protocol: str, pdu: Any) -> Any:
    if protocol == "smpp":
        return smpp.DeliverSmResp(sequence=pdu.sequence)
    if protocol == "cmpp":
        return cmpp.DeliverResp(sequence=pdu.sequence, msg_id=pdu.msg_id)
    return smgp.DeliverResp(sequence=pdu.sequence, msg_id=pdu.msg_id)


def response_id(protocol: str, response: Any) -> str:
    """The message id of a submit response, in the form its receipt will name it."""
    if protocol == "smpp":
        return str(response.message_id)
    if protocol == "cmpp":
        return str(response.msg_id)
    return smgp.msg_id_hex(response.msg_id)


def status_of(response: Any) -> int:
    return int(response.status)


def receipt_id_and_stat(protocol: str, pdu: Any, version: int = 3) -> tuple[str, str]:
    if protocol == "smpp":
        raw = pdu.get_tlv(smpp.Tag.RECEIPTED_MESSAGE_ID) or b""
        stat = pdu.short_message.decode("ascii").split("stat:")[1].split()[0]
        return raw.rstrip(b"\0").decode(), stat
    if protocol == "cmpp":
        report = cmpp.report_of(pdu, version)
        assert report is not None
        return str(report.msg_id), report.stat
    report = smgp.decode_report(pdu.msg_content)
    return smgp.msg_id_hex(report.msg_id), report.stat

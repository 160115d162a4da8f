"""SmppSession: every (state, command id) pair for both roles against the A.14 table, and
the behaviour of a client/server pair (bind, refusal, window, matching, timers,
keepalive, unbind, sequence wrap, generic_nack and malformed-PDU handling, fuzzing)."""

from __future__ import annotations

import itertools
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols.errors import LocalProtocolError, WindowFull
from protocols.session import (
    BindRefused,
    BindRequest,
    Bound,
    Closed,
    ProtocolViolation,
    Response,
    ResponseTimeout,
    Role,
    State,
)
from protocols.smpp import (
    AlertNotification,
    BindReceiver,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    CancelSm,
    CommandId,
    DataSm,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Outbind,
    QuerySm,
    ReplaceSm,
    SmppSession,
    Status,
    SubmitMulti,
    SubmitSm,
    SubmitSmResp,
    Tag,
    Unbind,
    UnbindResp,
    decode,
    encode,
)
from protocols.smpp.pdus import PDU_CLASSES
from protocols.tlv import Tlv

from .strategies import any_pdu

E, S = Role.CLIENT, Role.SERVER
BOUND = {State.BOUND_TX, State.BOUND_RX, State.BOUND_TRX}
TX = {State.BOUND_TX, State.BOUND_TRX}
RX = {State.BOUND_RX, State.BOUND_TRX}
LINK = BOUND | {State.UNBINDING}
#: A.14 written out independently of SmppSession.LEGAL: request -> {sender role: states}
SPEC = {
    BindTransmitter: {E: {State.OPEN}},
    BindReceiver: {E: {State.OPEN}},
    BindTransceiver: {E: {State.OPEN}},
    Outbind: {S: {State.OPEN}},
    Unbind: {E: LINK, S: LINK},
    EnquireLink: {E: LINK, S: LINK},
    SubmitSm: {E: TX},
    SubmitMulti: {E: TX},
    QuerySm: {E: TX},
    CancelSm: {E: TX},
    ReplaceSm: {E: TX},  # BOUND_TRX too: CONFLICT resolved in A.14
    DeliverSm: {S: RX},
    AlertNotification: {S: RX},
    DataSm: {E: BOUND, S: BOUND},
}
NO_RESPONSE = {Outbind, AlertNotification}
STATES = [State.OPEN, State.BINDING, State.BOUND_TX, State.BOUND_RX, State.BOUND_TRX, State.UNBINDING]


def frames(data: bytes) -> list[Any]:
    out = []
    while data:
        length = struct.unpack_from(">I", data)[0]
        out.append(decode(data[:length]))
        data = data[length:]
    return out


def session_in(role: Role, state: State) -> SmppSession:
    session = SmppSession(role, keepalive_interval=None)
    session.state = state  # white-box: the pairs are about the table, not about getting there
    return session


@pytest.mark.parametrize("receiver", [E, S], ids=["client", "server"])
@pytest.mark.parametrize("state", STATES, ids=lambda s: s.value)
@pytest.mark.parametrize("cls", list(SPEC), ids=lambda c: c.__name__)
def test_every_state_and_request(receiver: Role, state: State, cls: type) -> None:
    session = session_in(receiver, state)
    sender = S if receiver is E else E
    events = session.receive_data(encode(cls(sequence=42)), now=1.0)
    out = frames(session.data_to_send())
    if state in SPEC[cls].get(sender, set()):
        if cls in (BindTransmitter, BindReceiver, BindTransceiver):
            assert [type(e) for e in events] == [BindRequest] and session.state is State.BINDING
            assert out == []
        elif cls is EnquireLink:
            assert out == [EnquireLinkResp(sequence=42)] and events == []
        elif cls is Unbind:
            assert out == [UnbindResp(sequence=42)]
            assert [type(e) for e in events] == [Closed] and session.is_closed
        else:
            assert events == [cls(sequence=42)] and out == []
            assert session.state is state
        return
    bind_again = cls in (BindTransmitter, BindReceiver, BindTransceiver) and receiver is S
    status = Status.ESME_RALYBND if bind_again else Status.ESME_RINVBNDSTS
    response = GenericNack if cls in NO_RESPONSE else PDU_CLASSES[cls.command_id | 0x80000000]
    assert out == [response(sequence=42, status=status)]
    assert [type(e) for e in events] == [ProtocolViolation]
    assert events[0].error.status == status
    assert session.state is state


@pytest.mark.parametrize("receiver", [E, S], ids=["client", "server"])
@pytest.mark.parametrize("state", STATES, ids=lambda s: s.value)
@pytest.mark.parametrize("command_id", [0x00000111, 0x00000113, 0x0000000A, 0x00010200, 0x00000000])
def test_unknown_commands_get_generic_nack(receiver: Role, state: State, command_id: int) -> None:
    session = session_in(receiver, state)
    events = session.receive_data(struct.pack(">IIII", 16, command_id, 0, 42), now=1.0)
    assert frames(session.data_to_send()) == [GenericNack(sequence=42, status=Status.ESME_RINVCMDID)]
    assert [type(e) for e in events] == [ProtocolViolation] and session.state is state


@pytest.mark.parametrize("receiver", [E, S], ids=["client", "server"])
@pytest.mark.parametrize("state", STATES, ids=lambda s: s.value)
@pytest.mark.parametrize(
    "cls", [c for c in PDU_CLASSES.values() if c.command_id & 0x80000000], ids=lambda c: c.__name__
)
def test_unexpected_responses_are_reported_not_answered(receiver: Role, state: State, cls: type) -> None:
    session = session_in(receiver, state)
    for sequence in (0, 42):
        events = session.receive_data(encode(cls(sequence=sequence)), now=1.0)
        assert [type(e) for e in events] == [ProtocolViolation]
    assert session.data_to_send() == b"" and session.state is state


# ---------------------------------------------------------------------- behaviour


def exchange(a: SmppSession, b: SmppSession, now: float) -> tuple[list[Any], list[Any]]:
    """Carry bytes both ways until both sides are quiet; return (events of a, events of b)."""
    ea: list[Any] = []
    eb: list[Any] = []
    while True:
        ab, ba = a.data_to_send(), b.data_to_send()
        if not ab and not ba:
            return ea, eb
        if ab:
            eb += b.receive_data(ab, now)
        if ba:
            ea += a.receive_data(ba, now)


def bound_pair(mode: State = State.BOUND_TRX, **kwargs: Any) -> tuple[SmppSession, SmppSession]:
    client = SmppSession(Role.CLIENT, **kwargs)
    server = SmppSession(Role.SERVER, **kwargs)
    client.bind(0.0, mode, "esme", "secret")
    _, server_events = exchange(client, server, 0.0)
    (request,) = server_events
    server.accept_bind(request.pdu)
    client_events, _ = exchange(client, server, 0.0)
    assert [type(e) for e in client_events] == [Bound]
    return client, server


@pytest.mark.parametrize("mode", [State.BOUND_TX, State.BOUND_RX, State.BOUND_TRX])
def test_bind_success(mode: State) -> None:
    client = SmppSession(Role.CLIENT)
    server = SmppSession(Role.SERVER)
    sequence = client.bind(0.0, mode, "esme", "secret", system_type="SMS", address_range="^49")
    assert client.state is State.BINDING
    _, server_events = exchange(client, server, 0.0)
    (request,) = server_events
    assert isinstance(request, BindRequest)
    assert request.pdu.system_id == "esme" and request.pdu.password == "secret"
    assert request.pdu.interface_version == 0x34 and request.pdu.sequence == sequence
    server.accept_bind(request.pdu, system_id="SIM")
    (bound,), _ = exchange(client, server, 0.0)
    assert bound.state is mode and client.state is mode and server.state is mode
    assert bound.pdu.system_id == "SIM"
    assert bound.pdu.get_tlv(Tag.SC_INTERFACE_VERSION) == b"\x34"


def test_bind_resp_to_a_33_esme_carries_no_tlv() -> None:
    server = SmppSession(Role.SERVER)
    (request,) = server.receive_data(encode(BindTransceiver(sequence=1, interface_version=0x33)), 0.0)
    server.accept_bind(request.pdu)
    assert frames(server.data_to_send()) == [BindTransceiverResp(sequence=1, system_id="SMSC")]


@pytest.mark.parametrize("status", [Status.ESME_RINVPASWD, Status.ESME_RINVSYSID, Status.ESME_RBINDFAIL])
def test_bind_refused(status: int) -> None:
    client = SmppSession(Role.CLIENT)
    server = SmppSession(Role.SERVER)
    client.bind(0.0, State.BOUND_TX, "esme", "wrong")
    _, (request,) = exchange(client, server, 0.0)
    server.reject_bind(request.pdu, status)
    wire = server.data_to_send()
    assert len(wire) == 16 and server.is_closed
    events = client.receive_data(wire, 0.0)
    assert [type(e) for e in events] == [BindRefused, Closed]
    assert events[0].status == status and client.is_closed
    with pytest.raises(LocalProtocolError):
        SmppSession(Role.SERVER).reject_bind(request.pdu, 0)


def test_bind_refused_by_generic_nack() -> None:
    client = SmppSession(Role.CLIENT)
    sequence = client.bind(0.0, State.BOUND_TRX, "esme", "pw")
    client.data_to_send()
    events = client.receive_data(encode(GenericNack(sequence=sequence, status=Status.ESME_RINVCMDID)), 0.0)
    assert [type(e) for e in events] == [BindRefused, Closed]


def test_bind_arguments_are_checked_before_anything_is_sent() -> None:
    client = SmppSession(Role.CLIENT)
    with pytest.raises(LocalProtocolError):
        client.bind(0.0, State.OPEN, "esme", "pw")
    with pytest.raises(LocalProtocolError):
        client.bind(0.0, State.BOUND_TX, "esme", "password-too-long")
    assert client.state is State.OPEN and client.data_to_send() == b""


def test_bind_while_bound_is_ralybnd() -> None:
    _client, server = bound_pair()
    events = server.receive_data(encode(BindTransmitter(sequence=99, system_id="again")), 1.0)
    assert [type(e) for e in events] == [ProtocolViolation]
    (resp,) = frames(server.data_to_send())
    assert resp.command_id == CommandId.BIND_TRANSMITTER_RESP and resp.status == Status.ESME_RALYBND


def test_window_full_and_out_of_order_matching() -> None:
    client, server = bound_pair(window=2)
    s1 = client.send(SubmitSm(destination_addr="1"), 1.0, context="first")
    s2 = client.send(SubmitSm(destination_addr="2"), 1.0, context="second")
    with pytest.raises(WindowFull):
        client.send(SubmitSm(destination_addr="3"), 1.0)
    received = server.receive_data(client.data_to_send(), 1.0)
    assert [p.sequence for p in received] == [s1, s2]
    server.send(SubmitSmResp(sequence=s2, message_id="B"), 1.0)
    server.send(SubmitSmResp(sequence=s1, message_id="A"), 1.0)
    events = client.receive_data(server.data_to_send(), 1.0)
    assert [(type(e), e.request.context, e.pdu.message_id) for e in events] == [
        (Response, "second", "B"), (Response, "first", "A")]
    assert client.window.available == 2


def test_generic_nack_answers_an_outstanding_request() -> None:
    client, _server = bound_pair()
    seq = client.send(SubmitSm(), 1.0, context="ctx")
    client.data_to_send()
    (event,) = client.receive_data(encode(GenericNack(sequence=seq, status=Status.ESME_RTHROTTLED)), 1.0)
    assert isinstance(event, Response) and isinstance(event.pdu, GenericNack)
    assert event.request.context == "ctx" and event.pdu.status == Status.ESME_RTHROTTLED


def test_generic_nack_with_sequence_zero_or_unknown_does_not_crash() -> None:
    client, _ = bound_pair()
    for sequence in (0, 12345):
        (event,) = client.receive_data(encode(GenericNack(sequence=sequence, status=3)), 1.0)
        assert isinstance(event, ProtocolViolation)
    assert client.is_bound and client.data_to_send() == b""


def test_response_timeout() -> None:
    client, _ = bound_pair(response_timeout=10.0, keepalive_interval=None)
    client.send(SubmitSm(), 1.0, context="late")
    assert client.poll(10.9) == []
    (event,) = client.poll(11.0)
    assert isinstance(event, ResponseTimeout) and event.request.context == "late"
    assert client.window.available == client.window.size


def test_no_timer_runs_while_the_caller_does_not_read() -> None:
    """Between stop_reading and resume_reading the peer's answers may wait unread: no response
    timeout, keepalive or inactivity close; afterwards each timer has what it had left."""
    client, _ = bound_pair(response_timeout=10.0, keepalive_interval=30.0, inactivity_timeout=60.0)
    client.send(SubmitSm(), 1.0, context="waiting")
    client.data_to_send()
    client.stop_reading(5.0)
    assert client.next_deadline() is None
    assert client.poll(500.0) == [] and client.data_to_send() == b""
    client.resume_reading(505.0)
    assert client.next_deadline() == 511.0  # 6 s of its 10 were left
    assert client.poll(510.9) == []
    (event,) = client.poll(511.0)
    assert isinstance(event, ResponseTimeout) and event.request.context == "waiting"
    assert client.next_deadline() == 530.0  # keepalive: 30 s after the last PDU (t=0), plus 500 s not read
    client.resume_reading(600.0)  # not stopped: nothing moves
    assert client.next_deadline() == 530.0


@given(st.lists(st.floats(0.0, 50.0), min_size=1, max_size=8), st.floats(0.0, 100.0), st.floats(0.0, 1000.0))
def test_not_reading_postpones_every_deadline_alike(gaps: list[float], stop_after: float, paused: float) -> None:
    """Requests sent at any times, reading stopped a while after the last: each times out
    exactly the time not read later than it would have, in the order sent."""
    client, _ = bound_pair(response_timeout=10.0, keepalive_interval=None, window=len(gaps))
    sent = list(itertools.accumulate(gaps))
    for i, at in enumerate(sent):
        client.send(SubmitSm(), at, context=i)
    stop = sent[-1] + stop_after
    client.stop_reading(stop)
    assert client.poll(stop + paused) == []
    client.resume_reading(stop + paused)
    delay = (stop + paused) - stop
    timed_out: list[int] = []
    for deadline in sorted({at + 10.0 + delay for at in sent}):
        assert client.next_deadline() == deadline
        events = client.poll(deadline)
        assert all(sent[e.request.context] + 10.0 + delay == deadline for e in events)
        timed_out += [e.request.context for e in events]
    assert timed_out == list(range(len(gaps))) and client.window.available == len(gaps)


def test_keepalive_sent_when_idle_answered_and_unanswered_closes() -> None:
    client, server = bound_pair(keepalive_interval=30.0, response_timeout=5.0)
    assert client.next_deadline() == 30.0
    assert client.poll(29.0) == []
    assert client.poll(30.0) == []
    (link,) = frames(client.data_to_send())
    assert isinstance(link, EnquireLink)
    assert server.receive_data(encode(link), 30.0) == []
    (resp,) = frames(server.data_to_send())
    assert resp == EnquireLinkResp(sequence=link.sequence)
    assert client.receive_data(encode(resp), 30.5) == []
    client.poll(61.0)
    client.data_to_send()
    (closed,) = client.poll(66.0)
    assert isinstance(closed, Closed) and client.is_closed


def test_peer_unbind_is_answered_and_closes() -> None:
    client, _server = bound_pair()
    pending = client.send(SubmitSm(), 1.0, context="requeue me")
    client.data_to_send()
    events = client.receive_data(encode(Unbind(sequence=500)), 2.0)
    assert frames(client.data_to_send()) == [UnbindResp(sequence=500)]
    (closed,) = events
    assert isinstance(closed, Closed)
    assert [o.sequence for o in closed.outstanding] == [pending]


def test_own_unbind_closes_on_response() -> None:
    client, server = bound_pair()
    client.unbind(1.0)
    assert client.state is State.UNBINDING
    client_events, server_events = exchange(client, server, 1.0)
    assert [type(e) for e in server_events] == [Closed]
    assert [type(e) for e in client_events] == [Closed]


def test_deliver_sm_flow_and_receipt() -> None:
    client, server = bound_pair(State.BOUND_RX)
    receipt = DeliverSm(esm_class=0x04, short_message=b"id:1 stat:DELIVRD",
                        tlvs=[Tlv(Tag.RECEIPTED_MESSAGE_ID, b"1\0"), Tlv(Tag.MESSAGE_STATE, b"\x02")])
    seq = server.send(receipt, 1.0, context="dlr")
    (got,) = client.receive_data(server.data_to_send(), 1.0)
    assert got == receipt
    client.send(DeliverSmResp(sequence=got.sequence), 1.0)
    (response,) = server.receive_data(client.data_to_send(), 1.0)
    assert isinstance(response, Response) and response.request.sequence == seq
    with pytest.raises(LocalProtocolError):
        client.send(SubmitSm(), 1.0)  # a receiver may not submit


def test_outbind_takes_no_window_slot_and_client_binds_receiver() -> None:
    server = SmppSession(Role.SERVER)
    client = SmppSession(Role.CLIENT)
    server.send(Outbind(system_id="SMSC", password="pw"), 0.0)
    assert len(server.window) == 0
    (outbind,) = client.receive_data(server.data_to_send(), 0.0)
    assert isinstance(outbind, Outbind) and outbind.system_id == "SMSC"
    client.bind(0.0, State.BOUND_RX, "esme", "pw")
    _, (request,) = exchange(client, server, 0.0)
    assert isinstance(request.pdu, BindReceiver)


def test_sequence_wraps_to_one() -> None:
    client = SmppSession(Role.CLIENT, first_sequence=0x7FFFFFFE)
    server = SmppSession(Role.SERVER)
    assert client.bind(0.0, State.BOUND_TRX, "a", "b") == 0x7FFFFFFE
    _, (request,) = exchange(client, server, 0.0)
    server.accept_bind(request.pdu)
    exchange(client, server, 0.0)
    assert client.send(SubmitSm(), 1.0) == 0x7FFFFFFF
    assert client.send(SubmitSm(), 1.0) == 1


def test_malformed_requests_get_the_right_answer() -> None:
    _, server = bound_pair()
    frame = bytearray(encode(SubmitSm(sequence=7, short_message=b"hello")))
    frame[-6] = 200  # sm_length past the end
    events = server.receive_data(bytes(frame), 1.0)
    assert frames(server.data_to_send()) == [SubmitSmResp(sequence=7, status=Status.ESME_RINVMSGLEN)]
    assert [type(e) for e in events] == [ProtocolViolation]
    truncated = struct.pack(">IIII", 18, CommandId.SUBMIT_SM, 0, 8) + b"ab"  # no NUL
    server.receive_data(truncated, 1.0)
    assert frames(server.data_to_send()) == [GenericNack(sequence=8, status=Status.ESME_RINVCMDLEN)]
    assert server.is_bound


def test_impossible_length_closes_the_session() -> None:
    _, server = bound_pair()
    events = server.receive_data(struct.pack(">I", 8), 1.0)
    assert [type(e) for e in events] == [ProtocolViolation, Closed] and server.is_closed
    # the header is incomplete, so the last word carries sequence 0
    assert frames(server.data_to_send()) == [GenericNack(sequence=0, status=Status.ESME_RINVCMDLEN)]


def test_impossible_length_is_answered_with_the_headers_sequence() -> None:
    client, _ = bound_pair()
    events = client.receive_data(struct.pack(">IIII", 10_000_000, CommandId.DELIVER_SM, 0, 77), 1.0)
    assert [type(e) for e in events] == [ProtocolViolation, Closed] and client.is_closed
    assert frames(client.data_to_send()) == [GenericNack(sequence=77, status=Status.ESME_RINVCMDLEN)]


def test_byte_at_a_time_and_coalesced_input() -> None:
    _client, server = bound_pair()
    pdus = [SubmitSm(sequence=i, short_message=b"x" * i) for i in range(1, 4)]
    stream = b"".join(encode(p) for p in pdus)
    got: list[Any] = []
    for i in range(len(stream)):
        got += server.receive_data(stream[i : i + 1], 1.0)
    assert got == pdus
    assert server.receive_data(stream, 1.0) == pdus


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=200)
@given(data=st.data())
def test_fuzz_receive_data_never_raises(data: st.DataObject) -> None:
    role = data.draw(st.sampled_from([Role.CLIENT, Role.SERVER]))
    session = session_in(role, data.draw(st.sampled_from(STATES)))
    wire = bytearray(b"".join(encode(p) for p in data.draw(st.lists(any_pdu, max_size=3))))
    for _ in range(data.draw(st.integers(0, 4))):
        if not wire:
            break
        kind = data.draw(st.sampled_from(["flip", "cut", "junk"]))
        at = data.draw(st.integers(0, len(wire) - 1))
        if kind == "flip":
            wire[at] ^= data.draw(st.integers(1, 255))
        elif kind == "cut":
            del wire[at:]
        else:
            wire[at:at] = data.draw(st.binary(max_size=20))
    chunk = data.draw(st.integers(1, 64))
    for i in range(0, len(wire), chunk):
        session.receive_data(bytes(wire[i : i + chunk]), 1.0)
    session.poll(1000.0)
    session.data_to_send()

"""The SMGP session: login in both roles, the (state, command) table, error answers,
window, timers, keepalive, Exit, sequence wrap, and fuzzed input."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import LocalProtocolError, RemoteProtocolError, WindowFull
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
from protocols.smgp import codec
from protocols.smgp.constants import CommandId, LoginMode, Status
from protocols.smgp.pdus import (
    ActiveTest,
    ActiveTestResp,
    Deliver,
    DeliverResp,
    Exit,
    ExitResp,
    Login,
    LoginResp,
    Query,
    QueryResp,
    Submit,
    SubmitResp,
)
from protocols.smgp.session import SmgpSession, authenticator_client

from .strategies import ANY_PDU

CLIENT_ID, SECRET, TS = "12345678", "secret", 301000000
MSG_ID = bytes.fromhex("01006101161700012345")


def decode_all(data: bytes) -> list[Any]:
    out = []
    while data:
        n = int.from_bytes(data[:4], "big")
        out.append(codec.decode(data[:n]))
        data = data[n:]
    return out


def pair(mode: LoginMode = LoginMode.TRANSMIT, **kw: Any) -> tuple[SmgpSession, SmgpSession]:
    client = SmgpSession(Role.CLIENT, **kw)
    server = SmgpSession(Role.SERVER, **kw)
    client.login(0.0, CLIENT_ID, SECRET, TS, mode)
    (request,) = server.receive_data(client.data_to_send(), 0.0)
    assert isinstance(request, BindRequest)
    assert server.accept_bind(request.pdu, SECRET)
    (bound,) = client.receive_data(server.data_to_send(), 0.0)
    assert isinstance(bound, Bound)
    return client, server


# ------------------------------------------------------------------------------ login


@pytest.mark.parametrize(
    ("mode", "state"),
    [(LoginMode.SEND, State.BOUND_TX), (LoginMode.RECEIVE, State.BOUND_RX),
     (LoginMode.TRANSMIT, State.BOUND_TRX)],
)
def test_login_modes(mode: LoginMode, state: State) -> None:
    client, server = pair(mode)
    assert client.state is server.state is state


def test_login_bytes_match_spec_vector() -> None:
    client = SmgpSession(Role.CLIENT)
    client.login(0.0, CLIENT_ID, SECRET, TS)
    (login,) = decode_all(client.data_to_send())
    assert login.authenticator_client.hex() == "95898c46dedbcf393dcd4c2a861481e9"
    server = SmgpSession(Role.SERVER)
    server.receive_data(codec.encode(login), 0.0)
    server.accept_bind(login, SECRET)
    (resp,) = decode_all(server.data_to_send())
    assert resp.status == 0
    assert resp.authenticator_server.hex() == "778071b4bb5722eda0905422b00fb6a8"


def test_bad_secret_is_refused_with_status_21() -> None:
    client = SmgpSession(Role.CLIENT)
    server = SmgpSession(Role.SERVER)
    client.login(0.0, CLIENT_ID, "wrong", TS)
    (request,) = server.receive_data(client.data_to_send(), 0.0)
    assert server.accept_bind(request.pdu, SECRET) is False
    assert server.is_closed
    data = server.data_to_send()
    (resp,) = decode_all(data)
    assert resp == LoginResp(sequence=request.pdu.sequence, status=21, authenticator_server=bytes(16))
    events = client.receive_data(data, 1.0)
    assert isinstance(events[0], BindRefused) and events[0].status == 21
    assert "authentication error" in events[0].reason
    assert isinstance(events[1], Closed) and client.is_closed


def test_client_rejects_a_server_that_does_not_know_the_secret() -> None:
    client = SmgpSession(Role.CLIENT)
    seq = client.login(0.0, CLIENT_ID, SECRET, TS)
    forged = LoginResp(sequence=seq, status=0, authenticator_server=bytes(range(16)))
    events = client.receive_data(codec.encode(forged), 1.0)
    assert isinstance(events[0], BindRefused)
    assert events[0].status == Status.AUTHENTICATION_ERROR
    assert "AuthenticatorServer" in events[0].reason
    assert client.is_closed


@pytest.mark.parametrize("status", [2, 22])
def test_reject_bind(status: int) -> None:
    client = SmgpSession(Role.CLIENT)
    server = SmgpSession(Role.SERVER)
    client.login(0.0, CLIENT_ID, SECRET, TS, version=0x40)
    (request,) = server.receive_data(client.data_to_send(), 0.0)
    assert request.pdu.client_version == 0x40
    server.reject_bind(request.pdu, status)
    events = client.receive_data(server.data_to_send(), 0.0)
    assert isinstance(events[0], BindRefused) and events[0].status == status
    assert server.is_closed and client.is_closed


def test_unknown_login_mode_is_refused_with_status_10() -> None:
    server = SmgpSession(Role.SERVER)
    login = Login(sequence=1, client_id=CLIENT_ID, login_mode=7, timestamp=TS,
                  authenticator_client=authenticator_client(CLIENT_ID, SECRET, TS))
    (request,) = server.receive_data(codec.encode(login), 0.0)
    assert server.accept_bind(request.pdu, SECRET) is False
    assert decode_all(server.data_to_send())[0].status == Status.MESSAGE_STRUCTURE_ERROR


def test_login_misuse() -> None:
    server = SmgpSession(Role.SERVER)
    with pytest.raises(LocalProtocolError):
        server.login(0.0, CLIENT_ID, SECRET, TS)
    with pytest.raises(LocalProtocolError):
        server.accept_bind(Login(), SECRET)  # no Login received
    client, _ = pair()
    with pytest.raises(LocalProtocolError):
        client.login(0.0, CLIENT_ID, SECRET, TS)
    with pytest.raises(LocalProtocolError):
        client.send(Login(), 0.0)


def test_login_not_answered_closes() -> None:
    client = SmgpSession(Role.CLIENT, response_timeout=60.0)
    client.login(0.0, CLIENT_ID, SECRET, TS)
    events = client.poll(60.0)
    assert isinstance(events[-1], Closed) and client.is_closed


# ------------------------------------------------------------------- traffic and timers


def test_submit_response_matching_and_deliver() -> None:
    client, server = pair()
    seq = client.send(Submit(dest_term_ids=["13300000000"], msg_content=b"hi"), 1.0, context="m1")
    (submit,) = server.receive_data(client.data_to_send(), 1.0)
    assert isinstance(submit, Submit) and submit.sequence == seq
    server.send(SubmitResp(sequence=seq, msg_id=MSG_ID), 1.0)
    (resp,) = client.receive_data(server.data_to_send(), 1.0)
    assert isinstance(resp, Response) and resp.request.context == "m1"
    assert resp.pdu.msg_id == MSG_ID and len(client.window) == 0

    dseq = server.send(Deliver(msg_id=MSG_ID, msg_content=b"mo"), 2.0)
    (deliver,) = client.receive_data(server.data_to_send(), 2.0)
    assert isinstance(deliver, Deliver)
    client.send(DeliverResp(sequence=dseq, msg_id=deliver.msg_id), 2.0)
    (dresp,) = server.receive_data(client.data_to_send(), 2.0)
    assert isinstance(dresp, Response) and dresp.pdu.status == 0


def test_window_full() -> None:
    client, _ = pair(window=16)
    for _ in range(16):
        client.send(Submit(), 0.0)
    assert client.window.available == 0
    with pytest.raises(WindowFull):
        client.send(Submit(), 0.0)


def test_response_timeout() -> None:
    client, _ = pair(response_timeout=60.0, keepalive_interval=None)
    client.send(Submit(), 10.0, context="x")
    assert client.poll(69.9) == []
    (event,) = client.poll(70.0)
    assert isinstance(event, ResponseTimeout) and event.request.context == "x"
    assert not client.is_closed


def test_keepalive_sent_when_idle_and_answered() -> None:
    client, server = pair(keepalive_interval=180.0)
    assert client.next_deadline() == 180.0
    assert client.poll(179.0) == [] and client.data_to_send() == b""
    client.poll(180.0)
    (probe,) = decode_all(client.data_to_send())
    assert isinstance(probe, ActiveTest)
    assert server.receive_data(codec.encode(probe), 180.0) == []
    data = server.data_to_send()
    assert data == codec.encode(ActiveTestResp(sequence=probe.sequence))
    assert len(data) == 12  # header only (E.13)
    assert client.receive_data(data, 181.0) == []
    assert len(client.window) == 0


def test_keepalive_not_answered_closes() -> None:
    client, _ = pair(keepalive_interval=180.0, response_timeout=60.0)
    client.poll(180.0)
    events = client.poll(240.0)
    assert isinstance(events[-1], Closed) and "keepalive" in events[-1].reason


def test_peer_exit_answered_and_closed() -> None:
    client, server = pair()
    client.send(Submit(), 0.0, context="pending")
    server.receive_data(client.data_to_send(), 0.0)
    client.unbind(1.0)
    assert client.state is State.UNBINDING
    (exit_,) = decode_all(client.data_to_send())
    assert isinstance(exit_, Exit)
    (closed,) = server.receive_data(codec.encode(exit_), 1.0)
    assert isinstance(closed, Closed) and server.is_closed
    data = server.data_to_send()
    assert decode_all(data) == [ExitResp(sequence=exit_.sequence)]
    (closed,) = client.receive_data(data, 1.0)
    assert isinstance(closed, Closed)
    assert [e.context for e in closed.outstanding] == ["pending"]


def test_sequence_wraps_to_zero() -> None:
    client, _ = pair(first_sequence=0xFFFFFFFE)
    # the login took 0xFFFFFFFE
    assert client.send(Submit(), 0.0) == 0xFFFFFFFF
    assert client.send(Submit(), 0.0) == 0
    frames = decode_all(client.data_to_send())
    assert [f.sequence for f in frames] == [0xFFFFFFFF, 0]


def test_query_round_trip_through_sessions() -> None:
    client, server = pair()
    seq = client.send(Query(query_time="20240116"), 0.0)
    (query,) = server.receive_data(client.data_to_send(), 0.0)
    assert isinstance(query, Query) and query.query_time == "20240116"
    server.send(QueryResp(sequence=seq, query_time="20240116", mt_scs=5), 0.0)
    (resp,) = client.receive_data(server.data_to_send(), 0.0)
    assert isinstance(resp, Response) and resp.pdu.mt_scs == 5 and resp.pdu.status == 0


# ------------------------------------------------------------------------ error policy


def test_malformed_submit_gets_status_10() -> None:
    _, server = pair()
    frame = bytearray(codec.encode(Submit(sequence=77, msg_content=b"hello")))
    frame[-14] = 200  # MsgLength (before 5 octets of content and the Reserve) overruns the PDU
    events = server.receive_data(bytes(frame), 0.0)
    assert isinstance(events[0], ProtocolViolation)
    assert decode_all(server.data_to_send()) == [SubmitResp(sequence=77, status=10)]
    assert server.is_bound


@pytest.mark.parametrize("command_id", [0x00000005, 0x00000008, 0x00000012, 0x00000099])
def test_unknown_command_is_ignored_not_answered(command_id: int) -> None:
    _, server = pair()
    frame = bytes.fromhex("0000000c") + command_id.to_bytes(4, "big") + bytes(4)
    (event,) = server.receive_data(frame, 0.0)
    assert isinstance(event, ProtocolViolation)
    assert event.error.status == Status.COMMAND_WORD_ERROR
    assert server.data_to_send() == b"" and server.is_bound


def test_bad_length_prefix_closes() -> None:
    _, server = pair()
    events = server.receive_data(b"\x00\x00\x00\x05", 0.0)
    assert isinstance(events[0], ProtocolViolation) and isinstance(events[1], Closed)


# ------------------------------------------------------------ every (state, command) pair

STATES = [State.OPEN, State.BINDING, State.BOUND_TX, State.BOUND_RX, State.BOUND_TRX, State.UNBINDING]
REQUESTS = {
    CommandId.LOGIN: Login(sequence=5, client_id=CLIENT_ID, timestamp=TS,
                           authenticator_client=authenticator_client(CLIENT_ID, SECRET, TS)),
    CommandId.SUBMIT: Submit(sequence=5),
    CommandId.DELIVER: Deliver(sequence=5),
    CommandId.ACTIVE_TEST: ActiveTest(sequence=5),
    CommandId.EXIT: Exit(sequence=5),
    CommandId.QUERY: Query(sequence=5),
}
REFUSAL = {
    CommandId.LOGIN: LoginResp(sequence=5, status=11),
    CommandId.SUBMIT: SubmitResp(sequence=5, status=11),
    CommandId.DELIVER: DeliverResp(sequence=5, status=11),
    CommandId.ACTIVE_TEST: ActiveTestResp(sequence=5),
    CommandId.EXIT: ExitResp(sequence=5),
}
BOUND = {State.BOUND_TX, State.BOUND_RX, State.BOUND_TRX}
#: (receiving role, command) -> states in which the peer may send it
ALLOWED = {
    (Role.SERVER, CommandId.LOGIN): {State.OPEN},
    (Role.SERVER, CommandId.SUBMIT): {State.BOUND_TX, State.BOUND_TRX},
    (Role.SERVER, CommandId.ACTIVE_TEST): BOUND,
    (Role.SERVER, CommandId.EXIT): BOUND,
    (Role.SERVER, CommandId.QUERY): BOUND,
    (Role.CLIENT, CommandId.DELIVER): {State.BOUND_RX, State.BOUND_TRX},
    (Role.CLIENT, CommandId.ACTIVE_TEST): BOUND,
    (Role.CLIENT, CommandId.EXIT): BOUND,
}


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
@pytest.mark.parametrize("state", STATES, ids=lambda s: s.value)
@pytest.mark.parametrize("command_id", list(REQUESTS), ids=lambda c: c.name)
def test_state_command_matrix(role: Role, state: State, command_id: CommandId) -> None:
    session = SmgpSession(role)
    session.state = state
    pdu = REQUESTS[command_id]
    events = session.receive_data(codec.encode(pdu), 0.0)
    out = decode_all(session.data_to_send())
    if state in ALLOWED.get((role, command_id), set()):
        if command_id == CommandId.LOGIN:
            assert isinstance(events[0], BindRequest) and session.state is State.BINDING
            assert out == []
        elif command_id == CommandId.ACTIVE_TEST:
            assert events == [] and out == [ActiveTestResp(sequence=5)]
        elif command_id == CommandId.EXIT:
            assert isinstance(events[0], Closed) and out == [ExitResp(sequence=5)]
        else:
            assert events == [pdu] and out == []
    else:
        assert isinstance(events[0], ProtocolViolation)
        assert events[0].error.status == Status.COMMAND_WORD_ERROR
        assert out == ([REFUSAL[command_id]] if command_id in REFUSAL else [])
        assert session.state is state


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
@pytest.mark.parametrize("state", STATES, ids=lambda s: s.value)
@pytest.mark.parametrize(
    "response",
    [LoginResp(sequence=5), SubmitResp(sequence=5), DeliverResp(sequence=5),
     ActiveTestResp(sequence=5), ExitResp(sequence=5), QueryResp(sequence=5)],
    ids=lambda p: type(p).__name__,
)
def test_unsolicited_responses_are_reported_not_answered(role: Role, state: State, response: Any) -> None:
    session = SmgpSession(role)
    session.state = state
    (event,) = session.receive_data(codec.encode(response), 0.0)
    assert isinstance(event, ProtocolViolation)
    assert session.data_to_send() == b"" and session.state is state


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
@pytest.mark.parametrize("state", STATES, ids=lambda s: s.value)
@pytest.mark.parametrize("command_id", [0x00000005, 0x0000000A, 0x00001234, 0x80000010])
def test_unknown_commands_in_every_state(role: Role, state: State, command_id: int) -> None:
    session = SmgpSession(role)
    session.state = state
    frame = bytes.fromhex("0000000c") + command_id.to_bytes(4, "big") + bytes.fromhex("00000005")
    (event,) = session.receive_data(frame, 0.0)
    assert isinstance(event, ProtocolViolation) and event.error.status == Status.COMMAND_WORD_ERROR
    assert session.data_to_send() == b"" and session.state is state


def test_closed_session_ignores_input() -> None:
    session = SmgpSession(Role.SERVER)
    session.connection_lost()
    assert session.receive_data(codec.encode(ActiveTest()), 0.0) == []
    assert session.data_to_send() == b""


# ---------------------------------------------------------------------------- fuzz


def _mutate(frame: bytes, data: st.DataObject) -> bytes:
    out = bytearray(frame)
    kind = data.draw(st.sampled_from(["truncate", "flip", "length", "append"]))
    if kind == "truncate":
        out = out[: data.draw(st.integers(0, len(out)))]
    elif kind == "flip":
        for _ in range(data.draw(st.integers(1, 5))):
            i = data.draw(st.integers(0, len(out) - 1))
            out[i] ^= data.draw(st.integers(1, 255))
    elif kind == "length":
        out[0:4] = data.draw(st.integers(0, 0xFFFFFFFF)).to_bytes(4, "big")
    else:
        out += data.draw(st.binary(min_size=1, max_size=20))
    return bytes(out)


@settings(max_examples=400)
@given(data=st.data())
def test_mutated_pdus_into_decode_and_sessions(data: st.DataObject) -> None:
    frame = _mutate(codec.encode(data.draw(ANY_PDU)), data)
    with contextlib.suppress(RemoteProtocolError):
        codec.decode(frame)
    role = data.draw(st.sampled_from(list(Role)))
    session = SmgpSession(role)
    session.state = data.draw(st.sampled_from(STATES))
    chunk = data.draw(st.integers(1, 64))
    for i in range(0, len(frame), chunk):
        session.receive_data(frame[i : i + chunk], float(i))
    session.data_to_send()
    session.poll(1000.0)


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=80), max_size=6), st.sampled_from(list(Role)))
def test_random_bytes_into_a_bound_session(chunks: list[bytes], role: Role) -> None:
    client, server = pair()
    session = client if role is Role.CLIENT else server
    for chunk in chunks:
        session.receive_data(chunk, 1.0)
    session.data_to_send()

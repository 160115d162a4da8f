"""CmppSession: login and authentication, every (state, command) pair, timers, window."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols.cmpp import (
    ActiveTest,
    ActiveTestResp,
    Cancel,
    CancelResp,
    CmppSession,
    CommandId,
    Connect,
    ConnectResp,
    Deliver,
    DeliverResp,
    Query,
    Submit,
    SubmitResp,
    Terminate,
    TerminateResp,
    authenticator_ismg,
    authenticator_source,
    encode,
)
from protocols.cmpp.pdus import PDU_CLASSES
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

from .strategies import mutated, raw_frames

TS = 301000000
AUTH = authenticator_source("901234", "secret", TS)
VERSIONS = pytest.mark.parametrize("version", [2, 3])


def transfer(src: CmppSession, dst: CmppSession, now: float = 0.0) -> list:
    return dst.receive_data(src.data_to_send(), now)


def logged_in(version: int = 3, **kwargs: object) -> tuple[CmppSession, CmppSession]:
    client = CmppSession(Role.CLIENT, version, **kwargs)  # type: ignore[arg-type]
    server = CmppSession(Role.SERVER, version, **kwargs)  # type: ignore[arg-type]
    client.login(0.0, "901234", "secret", TS)
    (request,) = transfer(client, server)
    assert isinstance(request, BindRequest)
    assert server.accept_bind(request.pdu, "secret") is True
    (bound,) = transfer(server, client)
    assert isinstance(bound, Bound) and bound.state is State.BOUND_TRX
    return client, server


# ------------------------------------------------------------------------- login


@VERSIONS
def test_login_success(version: int) -> None:
    client, server = logged_in(version)
    assert client.state is server.state is State.BOUND_TRX


@VERSIONS
def test_login_wire_bytes(version: int) -> None:
    client = CmppSession(Role.CLIENT, version)
    client.login(0.0, "901234", "secret", TS)
    frame = client.data_to_send()
    assert frame == encode(Connect(1, "901234", AUTH, 0x20 if version == 2 else 0x30, TS))
    server = CmppSession(Role.SERVER, version)
    (request,) = server.receive_data(frame, 0.0)
    server.accept_bind(request.pdu, "secret")
    expected = authenticator_ismg(0, AUTH, "secret", version)
    assert server.data_to_send() == encode(
        ConnectResp(1, 0, expected, 0x20 if version == 2 else 0x30), version
    )


@VERSIONS
def test_bad_secret_is_refused_with_status_3(version: int) -> None:
    client = CmppSession(Role.CLIENT, version)
    server = CmppSession(Role.SERVER, version)
    client.login(0.0, "901234", "wrong", TS)
    (request,) = transfer(client, server)
    assert server.accept_bind(request.pdu, "secret") is False
    assert server.state is State.CLOSED
    sent = server.data_to_send()
    assert sent == encode(ConnectResp(1, 3, bytes(16), 0x20 if version == 2 else 0x30), version)
    refused, closed = client.receive_data(sent, 0.0)
    assert isinstance(refused, BindRefused) and refused.status == 3
    assert "authentication error" in refused.reason
    assert isinstance(closed, Closed) and client.state is State.CLOSED


def test_server_accepts_unpadded_source_addr_hash() -> None:
    """E.12: SMSGATE hashes the bare SP_Id; GOCMPP the NUL-padded 6-octet field."""
    server = CmppSession(Role.SERVER)
    auth = authenticator_source("9012", "secret", TS, padded=False)
    assert auth != authenticator_source("9012", "secret", TS)
    (request,) = server.receive_data(encode(Connect(1, "9012", auth, 0x30, TS)), 0.0)
    assert server.accept_bind(request.pdu, "secret")


@VERSIONS
@pytest.mark.parametrize(("status", "text"), [(2, "illegal source address"), (4, "version too high")])
def test_reject_bind(version: int, status: int, text: str) -> None:
    client = CmppSession(Role.CLIENT, version)
    server = CmppSession(Role.SERVER, version)
    client.login(0.0, "901234", "secret", TS)
    (request,) = transfer(client, server)
    server.reject_bind(request.pdu, status)
    refused, _ = transfer(server, client)
    assert isinstance(refused, BindRefused) and refused.status == status and text in refused.reason
    with pytest.raises(LocalProtocolError):
        CmppSession(Role.SERVER).reject_bind(request.pdu, 0)


def _client_answered(version: int, response: ConnectResp, **kwargs: object) -> list:
    client = CmppSession(Role.CLIENT, version, **kwargs)  # type: ignore[arg-type]
    client.login(0.0, "901234", "secret", TS)
    client.data_to_send()
    response.sequence = 1
    return client.receive_data(encode(response, version), 0.0)


@VERSIONS
def test_client_rejects_wrong_authenticator_ismg(version: int) -> None:
    forged = ConnectResp(status=0, authenticator_ismg=authenticator_ismg(0, AUTH, "other", version))
    refused, closed = _client_answered(version, forged)
    assert isinstance(refused, BindRefused) and "AuthenticatorISMG does not match" in refused.reason
    assert isinstance(closed, Closed)
    (bound,) = _client_answered(version, forged, verify_authenticator=False)
    assert isinstance(bound, Bound)


def test_v2_client_accepts_either_status_width() -> None:
    """CONFLICT 4: SMSGATE hashes a 4-octet Status on 2.0 links too."""
    for width_version in (2, 3):
        auth = authenticator_ismg(0, AUTH, "secret", width_version)
        (bound,) = _client_answered(2, ConnectResp(status=0, authenticator_ismg=auth, version=0x20))
        assert isinstance(bound, Bound)
    auth2 = authenticator_ismg(0, AUTH, "secret", 2)
    refused, _ = _client_answered(3, ConnectResp(status=0, authenticator_ismg=auth2))
    assert isinstance(refused, BindRefused)


def test_v2_connect_resp_in_v3_session_closes_with_clear_reason() -> None:
    client = CmppSession(Role.CLIENT, 3)
    client.login(0.0, "901234", "secret", TS)
    client.data_to_send()
    violation, closed = client.receive_data(encode(ConnectResp(1, 0, bytes(16), 0x20), 2), 0.0)
    assert isinstance(violation, ProtocolViolation)
    assert "decodes as CMPP 2.0" in violation.error.message
    assert isinstance(closed, Closed) and "CMPP 2.0" in closed.reason


# ------------------------------------------------------------------ state machine

NOT_CLOSED = {State.OPEN, State.BINDING, State.BOUND_TRX, State.UNBINDING}
#: (sender role, command) -> states in which the receiver accepts it (the spec, restated)
ALLOWED = {
    (Role.CLIENT, CommandId.CONNECT): {State.OPEN},
    (Role.CLIENT, CommandId.TERMINATE): NOT_CLOSED,
    (Role.SERVER, CommandId.TERMINATE): NOT_CLOSED,
    (Role.CLIENT, CommandId.SUBMIT): {State.BOUND_TRX},
    (Role.CLIENT, CommandId.QUERY): {State.BOUND_TRX},
    (Role.CLIENT, CommandId.CANCEL): {State.BOUND_TRX},
    (Role.SERVER, CommandId.DELIVER): {State.BOUND_TRX},
    (Role.CLIENT, CommandId.ACTIVE_TEST): {State.BOUND_TRX, State.UNBINDING},
    (Role.SERVER, CommandId.ACTIVE_TEST): {State.BOUND_TRX, State.UNBINDING},
}
REQUESTS = {
    CommandId.CONNECT: Connect(7, "901234", AUTH, 0x30, TS),
    CommandId.TERMINATE: Terminate(7),
    CommandId.SUBMIT: Submit(7, dest_terminal_ids=["8613800138000"], msg_content=b"hi"),
    CommandId.DELIVER: Deliver(7, msg_content=b"mo"),
    CommandId.QUERY: Query(7, time="20240301"),
    CommandId.CANCEL: Cancel(7, msg_id=1),
    CommandId.ACTIVE_TEST: ActiveTest(7),
}
REFUSALS = {
    CommandId.CONNECT: ConnectResp(7, status=5),
    CommandId.SUBMIT: SubmitResp(7, result=2),
    CommandId.DELIVER: DeliverResp(7, result=2),
    CommandId.CANCEL: CancelResp(7, success_id=1),
    CommandId.ACTIVE_TEST: ActiveTestResp(7),
}
UNSUPPORTED = [0x03, 0x09, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x42]


def _session(role: Role, state: State, version: int) -> CmppSession:
    session = CmppSession(role, version)
    session.state = state
    return session


@VERSIONS
@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("state", sorted(NOT_CLOSED, key=lambda s: s.value))
@pytest.mark.parametrize("command_id", list(REQUESTS))
def test_every_request_in_every_state(version: int, role: Role, state: State, command_id: int) -> None:
    session = _session(role, state, version)
    sender = Role.SERVER if role is Role.CLIENT else Role.CLIENT
    pdu = REQUESTS[command_id]
    events = session.receive_data(encode(pdu, version), 0.0)
    sent = session.data_to_send()
    if state not in ALLOWED.get((sender, command_id), set()):
        assert len(events) == 1 and isinstance(events[0], ProtocolViolation)
        refusal = REFUSALS.get(command_id)
        if isinstance(refusal, ConnectResp):
            refusal.version = 0x20 if version == 2 else 0x30
        assert sent == (encode(refusal, version) if refusal else b"")
        assert session.state is state
    elif command_id == CommandId.CONNECT:
        assert [type(e) for e in events] == [BindRequest] and sent == b""
        assert session.state is State.BINDING
    elif command_id == CommandId.TERMINATE:
        assert [type(e) for e in events] == [Closed]
        assert sent == encode(TerminateResp(7)) and session.state is State.CLOSED
    elif command_id == CommandId.ACTIVE_TEST:
        assert events == [] and sent == encode(ActiveTestResp(7)) and session.state is state
    else:
        assert events == [pdu] and sent == b"" and session.state is state


@VERSIONS
@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("state", sorted(NOT_CLOSED, key=lambda s: s.value))
@pytest.mark.parametrize("command_id", UNSUPPORTED + [c | 0x80000000 for c in REQUESTS])
def test_unknown_commands_and_unmatched_responses(
    version: int, role: Role, state: State, command_id: int
) -> None:
    """No generic_nack in CMPP: ignored with a ProtocolViolation, the session stays up."""
    session = _session(role, state, version)
    cls = PDU_CLASSES.get(command_id)
    frame = encode(cls(7), version) if cls else struct.pack(">III", 12, command_id, 7)
    events = session.receive_data(frame, 0.0)
    assert len(events) == 1 and isinstance(events[0], ProtocolViolation)
    assert session.data_to_send() == b"" and session.state is state


@pytest.mark.parametrize("role", list(Role))
def test_closed_session_ignores_everything(role: Role) -> None:
    session = _session(role, State.CLOSED, 3)
    assert session.receive_data(encode(ActiveTest(1)), 0.0) == []
    assert session.data_to_send() == b""


# ----------------------------------------------------------------------- behaviour


@VERSIONS
def test_submit_response_matching_with_context(version: int) -> None:
    client, server = logged_in(version)
    seq = client.send(Submit(dest_terminal_ids=["8613800138000"], msg_content=b"hi"), 1.0, context="m1")
    (submit,) = transfer(client, server, 1.0)
    assert isinstance(submit, Submit) and submit.sequence == seq
    server.send(SubmitResp(seq, msg_id=0x3080000003E90001, result=0), 1.0)
    (response,) = transfer(server, client, 1.0)
    assert isinstance(response, Response) and response.request.context == "m1"
    assert response.pdu.msg_id == 0x3080000003E90001 and response.pdu.status == 0


@VERSIONS
def test_deliver_to_client(version: int) -> None:
    client, server = logged_in(version)
    seq = server.send(Deliver(msg_id=5, src_terminal_id="8613800138000", msg_content=b"mo"), 1.0)
    (deliver,) = transfer(server, client, 1.0)
    assert isinstance(deliver, Deliver) and deliver.msg_content == b"mo"
    client.send(DeliverResp(seq, msg_id=5), 1.0)
    (response,) = transfer(client, server, 1.0)
    assert isinstance(response, Response) and response.pdu.result == 0


def test_window_full() -> None:
    client, _ = logged_in(window=2)
    client.send(Submit(), 1.0)
    client.send(Submit(), 1.0)
    assert client.window.available == 0
    with pytest.raises(WindowFull):
        client.send(Submit(), 1.0)


def test_response_timeout() -> None:
    client, _ = logged_in(response_timeout=60.0, keepalive_interval=None)
    client.send(Submit(), 10.0, context="late")
    assert client.next_deadline() == 70.0
    assert client.poll(69.9) == []
    (timeout,) = client.poll(70.0)
    assert isinstance(timeout, ResponseTimeout) and timeout.request.context == "late"
    assert len(client.window) == 0 and client.is_bound


@pytest.mark.parametrize("version", [2, 3])
def test_keepalive_sent_when_idle_and_answered(version: int) -> None:
    client, server = logged_in(version, keepalive_interval=180.0)
    client.data_to_send()
    assert client.poll(179.0) == [] and client.data_to_send() == b""
    assert client.poll(180.0) == []
    frame = client.data_to_send()
    assert frame == encode(ActiveTest(2))
    assert server.receive_data(frame, 180.0) == []
    answer = server.data_to_send()
    assert answer == encode(ActiveTestResp(2)) and len(answer) == 13  # E.13
    assert client.receive_data(answer, 180.5) == []
    assert client.poll(200.0) == [] and client.data_to_send() == b""  # not pending any more


def test_unanswered_keepalive_closes() -> None:
    client, _ = logged_in(keepalive_interval=60.0, response_timeout=10.0)
    client.poll(60.0)
    (closed,) = client.poll(70.0)
    assert isinstance(closed, Closed) and "keepalive" in closed.reason


def test_peer_terminate_answered_and_closed() -> None:
    client, server = logged_in()
    client.send(Submit(), 1.0, context="in-flight")
    client.data_to_send()
    server.unbind(2.0)
    assert server.state is State.UNBINDING
    events = transfer(server, client, 2.0)
    assert [type(e) for e in events] == [Closed]
    assert [e.context for e in events[0].outstanding] == ["in-flight"]
    answer = client.data_to_send()
    assert answer == encode(TerminateResp(1))
    (closed,) = server.receive_data(answer, 2.0)
    assert isinstance(closed, Closed) and server.state is State.CLOSED


def test_sequence_wraps_to_one() -> None:
    client = CmppSession(Role.CLIENT, first_sequence=0xFFFFFFFF, keepalive_interval=None)
    client.login(0.0, "901234", "secret", TS)
    server = CmppSession(Role.SERVER)
    (request,) = transfer(client, server)
    assert request.pdu.sequence == 0xFFFFFFFF  # unsigned 32-bit (E.9)
    server.accept_bind(request.pdu, "secret")
    transfer(server, client)
    assert client.send(Submit(), 1.0) == 1


@VERSIONS
def test_malformed_submit_gets_length_error(version: int) -> None:
    _, server = logged_in(version)
    frame = bytearray(encode(Submit(9, msg_content=b"abc"), version))
    frame[frame.index(b"\x03abc")] = 4  # Msg_Length no longer matches Total_Length
    (violation,) = server.receive_data(bytes(frame), 1.0)
    assert isinstance(violation, ProtocolViolation) and violation.error.status == 4
    assert server.data_to_send() == encode(SubmitResp(9, result=4), version)
    assert server.is_bound


def test_malformed_cancel_gets_failure_and_query_no_answer() -> None:
    _, server = logged_in()
    for pdu, answer in ((Cancel(4), encode(CancelResp(4, success_id=1))), (Query(5), b"")):
        frame = encode(pdu) + b"\0"
        server.receive_data(struct.pack(">I", len(frame)) + frame[4:], 1.0)
        assert server.data_to_send() == answer


def test_malformed_connect_gets_structure_error() -> None:
    server = CmppSession(Role.SERVER)
    frame = encode(Connect(3)) + b"\0"
    (violation,) = server.receive_data(struct.pack(">I", len(frame)) + frame[4:], 0.0)
    assert isinstance(violation, ProtocolViolation)
    assert server.data_to_send() == encode(ConnectResp(3, status=1))
    assert server.state is State.OPEN


def test_submit_before_connect_gets_result_2() -> None:
    server = CmppSession(Role.SERVER)
    (violation,) = server.receive_data(encode(Submit(1)), 0.0)
    assert isinstance(violation, ProtocolViolation)
    assert server.data_to_send() == encode(SubmitResp(1, result=2))


def test_impossible_length_prefix_closes() -> None:
    server = CmppSession(Role.SERVER)
    violation, closed = server.receive_data(struct.pack(">III", 5, 1, 1), 0.0)
    assert isinstance(violation, ProtocolViolation) and isinstance(closed, Closed)


def test_login_twice_or_send_while_open_is_local_error() -> None:
    client, _ = logged_in()
    with pytest.raises(LocalProtocolError):
        client.login(0.0, "901234", "secret", TS)
    with pytest.raises(LocalProtocolError):
        CmppSession(Role.CLIENT).send(Submit(), 0.0)
    with pytest.raises(LocalProtocolError):
        CmppSession(Role.SERVER).send(Submit(), 0.0)


# -------------------------------------------------------------------------------- fuzz


@VERSIONS
@pytest.mark.parametrize("role", list(Role))
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_receive_data_never_raises(version: int, role: Role, data: st.DataObject) -> None:
    state = data.draw(st.sampled_from(sorted(NOT_CLOSED, key=lambda s: s.value)))
    session = _session(role, state, version)
    chunks = data.draw(st.lists(st.one_of(
        raw_frames(version),
        raw_frames(5 - version),
        st.binary(max_size=64),
        raw_frames(version).map(lambda f: f[: len(f) // 2]),
        mutated(version),
    ), max_size=6))
    for i, chunk in enumerate(chunks):
        session.receive_data(chunk, float(i))
        session.data_to_send()
        session.poll(float(i))

"""The SMGP 3.0 session (PROTOCOLS.md D) for the SP (client) and the SMGW (server) role.

Login (D.3, E.12)::

    AuthenticatorClient = MD5(ClientID + 7 x 0x00 + secret + "%010d" % TimeStamp)
    AuthenticatorServer = MD5(Status as u32 BE + AuthenticatorClient + secret)

ClientID is hashed as the account string (not the 0x00-padded field), as SMSGate and
go_smgp do. The client checks AuthenticatorServer and refuses a login whose server cannot
prove it knows the secret. LoginMode 0 (send) binds BOUND_TX, 1 (receive) BOUND_RX,
2 (transmit) BOUND_TRX.

Error policy (SMGP has no generic nack):

* malformed request -> its _Resp with Status 10 (message structure error);
* a request the peer may not send now (Submit before Login or on a receive-only login,
  Deliver to a send-only login, a second Login) -> its _Resp with Status 11 (command word
  error: the closest code; SMGP has none for "wrong state");
* unknown or unimplemented RequestID (incl. the route/payment messages) -> no answer,
  because no response id exists for it; the session reports a ``ProtocolViolation`` and
  stays up, so the peer's own timeout deals with its request (closing would drop every
  message in flight over one unknown PDU);
* Active_Test_Resp and Exit_Resp have no Status, so such requests are answered plainly
  even when refused; Query_Resp has no Status either and is not faked: a refused or
  malformed Query gets no answer.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from ..errors import LocalProtocolError
from ..session import (
    BOUND,
    CAN_DELIVER,
    CAN_SUBMIT,
    NEVER,
    OPEN_ONLY,
    BindRefused,
    Bound,
    Role,
    Session,
    State,
)
from ..window import Outstanding
from . import codec
from .constants import VERSION, CommandId, LoginMode, Status, status_description
from .pdus import (
    ActiveTest,
    ActiveTestResp,
    DeliverResp,
    Exit,
    ExitResp,
    Login,
    LoginResp,
    Pdu,
    SubmitResp,
)

_MODE_STATES = {
    LoginMode.SEND: State.BOUND_TX,
    LoginMode.RECEIVE: State.BOUND_RX,
    LoginMode.TRANSMIT: State.BOUND_TRX,
}
_NO_AUTH = bytes(16)


def _raw(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def authenticator_client(client_id: str | bytes, secret: str | bytes, timestamp: int) -> bytes:
    """MD5(ClientID + 7 x 0x00 + secret + TimeStamp as exactly 10 ASCII digits)."""
    return hashlib.md5(
        _raw(client_id) + bytes(7) + _raw(secret) + b"%010d" % timestamp
    ).digest()


def authenticator_server(status: int, auth_client: bytes, secret: str | bytes) -> bytes:
    """MD5(Status as 4 octets big-endian + AuthenticatorClient + secret)."""
    return hashlib.md5(status.to_bytes(4, "big") + auth_client + _raw(secret)).digest()


def login_timestamp(month: int, day: int, hour: int, minute: int, second: int) -> int:
    """TimeStamp MMDDHHMMSS as an integer (``login_timestamp(3, 1, 0, 0, 0) == 301000000``)."""
    return (((month * 100 + day) * 100 + hour) * 100 + minute) * 100 + second


class SmgpSession(Session):
    """One SMGP connection. Client: ``login``; server: ``accept_bind`` / ``reject_bind``
    after a ``BindRequest`` event."""

    HEADER_SIZE = 12
    #: Submit with 100 destinations and 255 octets of content is 2,481; leave TLV room
    MAX_PDU_SIZE = 8192
    LENGTH_STATUS = Status.MESSAGE_STRUCTURE_ERROR
    SEQUENCE_RANGE = (0, 0xFFFFFFFF)
    KEEPALIVE_ID = CommandId.ACTIVE_TEST
    UNBIND_ID = CommandId.EXIT
    BIND_IDS = frozenset({CommandId.LOGIN})
    WRONG_STATE_STATUS = Status.COMMAND_WORD_ERROR
    #: command id -> (states the SP may send it in, states the SMGW may send it in)
    LEGAL: ClassVar[dict[int, tuple[frozenset[State], frozenset[State]]]] = {
        CommandId.LOGIN: (OPEN_ONLY, NEVER),
        CommandId.SUBMIT: (CAN_SUBMIT, NEVER),
        CommandId.DELIVER: (NEVER, CAN_DELIVER),
        CommandId.ACTIVE_TEST: (BOUND, BOUND),
        CommandId.EXIT: (BOUND, BOUND),
        CommandId.QUERY: (BOUND, NEVER),
    }

    _secret: bytes = b""
    _auth_client: bytes = _NO_AUTH
    _login_mode: int = LoginMode.TRANSMIT

    # ----------------------------------------------------------------------- hooks
    def _decode(self, frame: bytes) -> Pdu:
        return codec.decode(frame)

    def _encode(self, pdu: Any) -> bytes:
        return codec.encode(pdu)

    def _make_request(self, command_id: int) -> Any:
        return ActiveTest() if command_id == CommandId.ACTIVE_TEST else Exit()

    def _make_response(self, command_id: int, sequence: int, status: int) -> Any | None:
        if command_id == CommandId.SUBMIT:
            return SubmitResp(sequence=sequence, status=status)
        if command_id == CommandId.DELIVER:
            return DeliverResp(sequence=sequence, status=status)
        if command_id == CommandId.LOGIN:
            return LoginResp(sequence=sequence, status=status)
        if command_id == CommandId.ACTIVE_TEST:
            return ActiveTestResp(sequence=sequence)
        if command_id == CommandId.EXIT:
            return ExitResp(sequence=sequence)
        return None  # Query (no Status to carry) and unknown commands

    def _bind_outcome(self, response: Any, request: Outstanding) -> Bound | BindRefused:
        status = response.status
        if status != Status.OK:
            return BindRefused(status, f"login refused: {status_description(status)}", response)
        expected = authenticator_server(status, self._auth_client, self._secret)
        if response.authenticator_server != expected:
            return BindRefused(
                Status.AUTHENTICATION_ERROR,
                "AuthenticatorServer does not match: the SMGW does not know our secret",
                response,
            )
        return Bound(_MODE_STATES[LoginMode(self._login_mode)], response)

    # ---------------------------------------------------------------------- client
    def login(
        self,
        now: float,
        client_id: str,
        secret: str | bytes,
        timestamp: int,
        mode: LoginMode = LoginMode.TRANSMIT,
        version: int = VERSION,
    ) -> int:
        """Queue a Login; ``Bound`` or ``BindRefused`` follows. ``timestamp`` is the
        local time as MMDDHHMMSS (see ``login_timestamp``). Returns the sequence."""
        if self.role is not Role.CLIENT:
            raise LocalProtocolError("only the client logs in")
        if mode not in _MODE_STATES:
            raise LocalProtocolError(f"LoginMode must be 0, 1 or 2, got {mode}")
        self._secret = _raw(secret)
        self._login_mode = mode
        self._auth_client = authenticator_client(client_id, secret, timestamp)
        pdu = Login(
            client_id=client_id,
            authenticator_client=self._auth_client,
            login_mode=int(mode),
            timestamp=timestamp,
            client_version=version,
        )
        return self._start_bind(pdu, now)

    # ---------------------------------------------------------------------- server
    def accept_bind(
        self, request: Login, secret: str | bytes, *, server_version: int = VERSION
    ) -> bool:
        """Check the Login's AuthenticatorClient against ``secret``. On success answer
        Status 0 with AuthenticatorServer, enter the state of its LoginMode and return
        True; otherwise answer Status 21 (or 10 for an unknown LoginMode) with an empty
        authenticator, close, and return False."""
        expected = authenticator_client(request.client_id, secret, request.timestamp)
        if request.authenticator_client != expected:
            self.reject_bind(request, Status.AUTHENTICATION_ERROR)
            return False
        if request.login_mode not in _MODE_STATES:
            self.reject_bind(request, Status.MESSAGE_STRUCTURE_ERROR)
            return False
        response = LoginResp(
            sequence=request.sequence,
            status=Status.OK,
            authenticator_server=authenticator_server(Status.OK, expected, secret),
            server_version=server_version,
        )
        self._accept(request, response, _MODE_STATES[LoginMode(request.login_mode)])
        return True

    def reject_bind(
        self, request: Login, status: int, *, server_version: int = VERSION
    ) -> None:
        """Refuse the Login with ``status`` (2 too many connections, 21 authentication
        error, 22 version too high, ...) and close."""
        if status == Status.OK:
            raise LocalProtocolError("a refusal needs a non-zero Status")
        response = LoginResp(sequence=request.sequence, status=status, server_version=server_version)
        self._refuse(response, f"login refused: {status_description(status)}")

"""The CMPP session for both roles (SP = client, ISMG = server), CMPP 2.0 or 3.0.

Built on ``protocols.session.Session`` (read its theory of operation). What is CMPP's own:

* Login is CMPP_CONNECT; logged in is reported as ``State.BOUND_TRX`` (CMPP has one
  logged-in state). ACTIVE_TEST is the keepalive, TERMINATE the unbind.
* Authentication (C.3, C.4, E.12): the client sends AuthenticatorSource =
  MD5(Source_Addr + 9 x 0x00 + secret + "%010d" % timestamp) and, unless
  ``verify_authenticator=False``, checks the server's AuthenticatorISMG =
  MD5(Status + AuthenticatorSource + secret), Status being 1 octet in 2.0 and 4 in 3.0.
  PROTOCOLS.md CONFLICT 4: SMSGATE servers hash a 4-octet Status even on 2.0 links, so a
  2.0 client accepts either width. The client hashes Source_Addr as the 6-octet field
  (NUL-padded, as GOCMPP does); the server accepts that and the unpadded form SMSGATE
  hashes (they differ only for SP_Ids shorter than 6 characters).
* Unknown Command_Id: CMPP has no generic_nack. Such a frame (also the ISMG/GNS route
  messages 0x09-0x17, which have no business on an SP link) is ignored with a
  ``ProtocolViolation``; the session stays up. Reason: framing is intact, so closing would
  only throw away every message in flight; the peer's own response timeout (T/N, C.13)
  deals with the missing answer.
* Malformed request: the matching _RESP with Result 1 (structure error) or 4 (length
  error), see codec.py; CONNECT gets Status 1, CANCEL Success_Id 1. QUERY_RESP and
  TERMINATE_RESP have no field to carry an error, so a malformed QUERY or TERMINATE gets no
  answer (an ACTIVE_TEST is answered anyway: the link is alive).
* Wrong state (e.g. SUBMIT before CONNECT, DELIVER after we sent TERMINATE): answered, not
  closed: SUBMIT_RESP / DELIVER_RESP with Result 2 (command word error), CONNECT_RESP
  with Status 5 (other error), CANCEL_RESP with Success_Id 1, plus a ``ProtocolViolation``
  for the application, which may close the link as real ISMGs do. Answering keeps the one
  code path of the base session and tells the peer exactly which request was not taken.
* Sequence_Id is unsigned 32-bit (E.9); we number from 1 to 0xFFFFFFFF and wrap to 1.
* ``keepalive_interval`` defaults to 60 s as in the project brief; the CMPP 3.0 text says
  C = 3 minutes (CONFLICT 8). Sending ACTIVE_TEST more often than C is always allowed;
  pass 180.0 to follow the spec text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import ClassVar

from ..errors import LocalProtocolError
from ..session import (
    NEVER,
    OPEN_ONLY,
    BindRefused,
    Bound,
    Role,
    Session,
    State,
    Tracer,
)
from ..window import Outstanding
from .codec import decode, encode
from .constants import (
    MAX_PDU_SIZE,
    CommandId,
    ConnectStatus,
    Result,
    connect_status_description,
    layout_version,
    wire_version,
)
from .pdus import (
    ActiveTest,
    ActiveTestResp,
    CancelResp,
    Connect,
    ConnectResp,
    DeliverResp,
    Pdu,
    SubmitResp,
    Terminate,
    TerminateResp,
)
from .schema import encode_text

_LOGGED_IN = frozenset({State.BOUND_TRX})
_LIVE = frozenset({State.BOUND_TRX, State.UNBINDING})
_NOT_CLOSED = frozenset({State.OPEN, State.BINDING, State.BOUND_TRX, State.UNBINDING})


def _secret_bytes(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def authenticator_source(
    source_addr: str, secret: str | bytes, timestamp: int, *, padded: bool = True
) -> bytes:
    """MD5(Source_Addr + 9 x 0x00 + secret + timestamp as 10 digits) (C.3). ``padded``
    hashes Source_Addr as the 6-octet NUL-padded field; ``False`` the bare string."""
    addr = encode_text(source_addr, 6, "Source_Addr")
    if padded:
        addr = addr.ljust(6, b"\0")
    if not 0 <= timestamp <= 9_999_999_999:
        raise LocalProtocolError(f"timestamp {timestamp} is not MMDDHHMMSS")
    return hashlib.md5(addr + bytes(9) + _secret_bytes(secret) + b"%010d" % timestamp).digest()


def authenticator_ismg(
    status: int, authenticator_source: bytes, secret: str | bytes, version: int = 3
) -> bytes:
    """MD5(Status + AuthenticatorSource + secret) (C.4); Status as transmitted: 1 octet in
    CMPP 2.0, 4 octets big-endian in 3.0."""
    width = 1 if layout_version(version) == 2 else 4
    return hashlib.md5(
        status.to_bytes(width, "big") + authenticator_source + _secret_bytes(secret)
    ).digest()


class CmppSession(Session):
    HEADER_SIZE = 12
    MAX_PDU_SIZE = MAX_PDU_SIZE
    LENGTH_STATUS = Result.LENGTH_ERROR
    SEQUENCE_RANGE = (1, 0xFFFFFFFF)
    KEEPALIVE_ID = CommandId.ACTIVE_TEST
    UNBIND_ID = CommandId.TERMINATE
    BIND_IDS = frozenset({CommandId.CONNECT})
    WRONG_STATE_STATUS = Result.COMMAND_ERROR
    #: command id -> (states the SP may send it in, states the ISMG may send it in)
    LEGAL: ClassVar[Mapping[int, tuple[frozenset[State], frozenset[State]]]] = {
        CommandId.CONNECT: (OPEN_ONLY, NEVER),
        CommandId.TERMINATE: (_NOT_CLOSED, _NOT_CLOSED),
        CommandId.SUBMIT: (_LOGGED_IN, NEVER),
        CommandId.QUERY: (_LOGGED_IN, NEVER),
        CommandId.CANCEL: (_LOGGED_IN, NEVER),
        CommandId.DELIVER: (NEVER, _LOGGED_IN),
        CommandId.ACTIVE_TEST: (_LIVE, _LIVE),
    }

    def __init__(
        self,
        role: Role,
        version: int = 3,
        *,
        connect_version: int | None = None,
        verify_authenticator: bool = True,
        now: float = 0.0,
        window: int = 16,
        response_timeout: float = 60.0,
        keepalive_interval: float | None = 60.0,
        inactivity_timeout: float | None = None,
        first_sequence: int | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        """``version`` (2, 3, 0x20, 0x21 or 0x30) picks the layout; ``connect_version`` is
        the Version octet we announce (default 0x20 / 0x30)."""
        super().__init__(
            role, now=now, window=window, response_timeout=response_timeout,
            keepalive_interval=keepalive_interval, inactivity_timeout=inactivity_timeout,
            first_sequence=first_sequence, tracer=tracer,
        )
        self.version = layout_version(version)
        self.connect_version = wire_version(version) if connect_version is None else connect_version
        self.verify_authenticator = verify_authenticator
        self._secret = b""
        self._authenticator = bytes(16)

    # ---------------------------------------------------------------------- client
    def login(self, now: float, source_addr: str, secret: str | bytes, timestamp: int) -> int:
        """Send CMPP_CONNECT; ``timestamp`` is the local time as MMDDHHMMSS (an int, e.g.
        0301000000 -> 301000000). ``Bound`` or ``BindRefused`` follows."""
        self._secret = _secret_bytes(secret)
        self._authenticator = authenticator_source(source_addr, secret, timestamp)
        pdu = Connect(
            source_addr=source_addr, authenticator_source=self._authenticator,
            version=self.connect_version, timestamp=timestamp,
        )
        return self._start_bind(pdu, now)

    def _bind_outcome(self, response: ConnectResp, request: Outstanding) -> Bound | BindRefused:
        if response.status != 0:
            return BindRefused(
                response.status,
                f"ISMG refused the login: {connect_status_description(response.status)}",
                response,
            )
        if self.verify_authenticator:
            widths = (2, 3) if self.version == 2 else (3,)  # CONFLICT 4: SMSGATE hashes 4 octets
            expected = [authenticator_ismg(0, self._authenticator, self._secret, w) for w in widths]
            if response.authenticator_ismg not in expected:
                return BindRefused(
                    ConnectStatus.AUTHENTICATION_ERROR,
                    "AuthenticatorISMG does not match: the ISMG does not share our secret (or"
                    " hashes Status in another width); set verify_authenticator=False to skip",
                    response,
                )
        return Bound(State.BOUND_TRX, response)

    # ---------------------------------------------------------------------- server
    def accept_bind(self, request: Connect, secret: str | bytes) -> bool:
        """Verify AuthenticatorSource against ``secret``. On success answer Status 0 with
        AuthenticatorISMG and log the client in (True); otherwise answer Status 3
        (authentication error) with 16 x 0x00 and close (False)."""
        candidates = {
            authenticator_source(request.source_addr, secret, request.timestamp, padded=padded)
            for padded in (True, False)
        }
        if request.authenticator_source in candidates:
            response = ConnectResp(
                sequence=request.sequence, status=ConnectStatus.OK,
                authenticator_ismg=authenticator_ismg(
                    ConnectStatus.OK, request.authenticator_source, secret, self.version
                ),
                version=self.connect_version,
            )
            self._accept(request, response, State.BOUND_TRX)
            return True
        self._refuse(
            ConnectResp(
                sequence=request.sequence, status=ConnectStatus.AUTHENTICATION_ERROR,
                version=self.connect_version,
            ),
            f"authentication failed for Source_Addr {request.source_addr!r}",
        )
        return False

    def reject_bind(self, request: Connect, status: int) -> None:
        """Refuse a login with ``status`` (2 illegal source address, 4 version too high,
        5+ other) and close."""
        if status == ConnectStatus.OK:
            raise LocalProtocolError("reject_bind needs a non-zero status")
        self._refuse(
            ConnectResp(sequence=request.sequence, status=status, version=self.connect_version),
            f"login refused: {connect_status_description(status)}",
        )

    # ------------------------------------------------------------------------ hooks
    def _decode(self, frame: bytes) -> Pdu:
        return decode(frame, self.version)

    def _encode(self, pdu: Pdu) -> bytes:
        return encode(pdu, self.version)

    def _make_request(self, command_id: int) -> Pdu:
        return ActiveTest() if command_id == CommandId.ACTIVE_TEST else Terminate()

    def _make_response(self, command_id: int, sequence: int, status: int) -> Pdu | None:
        if command_id == CommandId.SUBMIT:
            return SubmitResp(sequence, result=status)
        if command_id == CommandId.DELIVER:
            return DeliverResp(sequence, result=status)
        if command_id == CommandId.ACTIVE_TEST:
            return ActiveTestResp(sequence)
        if command_id == CommandId.TERMINATE:
            return TerminateResp(sequence) if status == 0 else None
        if command_id == CommandId.CONNECT:
            return ConnectResp(sequence, status=status, version=self.connect_version)
        if command_id == CommandId.CANCEL:
            return CancelResp(sequence, success_id=1 if status else 0)
        return None  # QUERY: QUERY_RESP has no status field

    def _refusal_status(self, command_id: int) -> int:
        if command_id == CommandId.CONNECT:
            return ConnectStatus.OTHER_ERROR
        return self.WRONG_STATE_STATUS

"""The SMPP 3.4 session for both roles: ESME (client, the gateway) and SMSC (server, our
simulators). The life cycle, window and timers are the generic ``Session``'s; this module
adds the SMPP legality table (A.14), binding and SMPP's way of saying no.

Refusals (SMPP34-SPEC §3.3, A.14):

* a request the peer may not send in the current state: its response with
  ESME_RINVBNDSTS -- a bind while binding or bound gets ESME_RALYBND;
* enquire_link before the bind completed is refused with ESME_RINVBNDSTS as 3.4
  Table 2-1 says (5.0 would allow it; E.8); it is answered normally in every bound
  state and while our unbind is in flight (other requests arriving then are refused
  with ESME_RINVBNDSTS, so the SMSC keeps them for the next bind);
* an unknown command_id, a bad command_length, or a request that has no response PDU
  (outbind, alert_notification): generic_nack carrying the status;
* any other malformed request: its own response carrying the decoder's status.

A generic_nack (or any response) matching no outstanding request -- sequence 0 included --
only produces a ``ProtocolViolation`` event.

replace_sm is legal in BOUND_TX and BOUND_TRX (CONFLICT in A.14 resolved per §2.2 and
the 5.0 operation matrix).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ..errors import LocalProtocolError, RemoteProtocolError
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
from ..tlv import Tlv
from ..window import Outstanding
from .codec import decode, encode
from .constants import (
    HEADER_SIZE,
    INTERFACE_VERSION,
    MAX_PDU_SIZE,
    RESPONSE_BIT,
    SEQUENCE_RANGE,
    CommandId,
    Status,
    Tag,
    status_description,
    status_name,
)
from .pdus import (
    PDU_CLASSES,
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    EnquireLink,
    GenericNack,
    SmppPdu,
    SmppResponse,
    Unbind,
    _Bind,
    _BindResp,
)

C = CommandId
_BIND_REQUESTS: dict[State, type[_Bind]] = {
    State.BOUND_TX: BindTransmitter,
    State.BOUND_RX: BindReceiver,
    State.BOUND_TRX: BindTransceiver,
}
_BOUND_STATE = {cls.command_id: state for state, cls in _BIND_REQUESTS.items()}
#: enquire_link and unbind still flow while our unbind awaits its response.
_LINK = BOUND | {State.UNBINDING}
_ANSWER_WITH_NACK = frozenset({Status.ESME_RINVCMDLEN, Status.ESME_RINVCMDID})
_UNANSWERED = frozenset({C.OUTBIND, C.ALERT_NOTIFICATION})


class SmppSession(Session):
    """One SMPP 3.4 session. Client: ``bind(...)``; server: answer ``BindRequest`` with
    ``accept_bind`` / ``reject_bind``. The bind mode is given as the bound ``State``
    (``State.BOUND_TX`` / ``BOUND_RX`` / ``BOUND_TRX``)."""

    HEADER_SIZE = HEADER_SIZE
    MAX_PDU_SIZE = MAX_PDU_SIZE
    LENGTH_STATUS = Status.ESME_RINVCMDLEN
    SEQUENCE_RANGE = SEQUENCE_RANGE
    KEEPALIVE_ID = C.ENQUIRE_LINK
    UNBIND_ID = C.UNBIND
    BIND_IDS = frozenset({C.BIND_TRANSMITTER, C.BIND_RECEIVER, C.BIND_TRANSCEIVER})
    GENERIC_NACK_ID = C.GENERIC_NACK
    WRONG_STATE_STATUS = Status.ESME_RINVBNDSTS
    #: request -> (states the ESME may send it in, states the SMSC may send it in), A.14
    LEGAL: ClassVar[Mapping[int, tuple[frozenset[State], frozenset[State]]]] = {
        C.BIND_TRANSMITTER: (OPEN_ONLY, NEVER),
        C.BIND_RECEIVER: (OPEN_ONLY, NEVER),
        C.BIND_TRANSCEIVER: (OPEN_ONLY, NEVER),
        C.OUTBIND: (NEVER, OPEN_ONLY),
        C.UNBIND: (_LINK, _LINK),
        C.ENQUIRE_LINK: (_LINK, _LINK),
        C.SUBMIT_SM: (CAN_SUBMIT, NEVER),
        C.SUBMIT_MULTI: (CAN_SUBMIT, NEVER),
        C.QUERY_SM: (CAN_SUBMIT, NEVER),
        C.CANCEL_SM: (CAN_SUBMIT, NEVER),
        C.REPLACE_SM: (CAN_SUBMIT, NEVER),
        C.DELIVER_SM: (NEVER, CAN_DELIVER),
        C.ALERT_NOTIFICATION: (NEVER, CAN_DELIVER),
        C.DATA_SM: (BOUND, BOUND),
    }

    def send(self, pdu: Any, now: float, context: Any = None) -> int:
        """As ``Session.send``; outbind and alert_notification have no response, so they
        take a sequence number but no window slot."""
        if pdu.command_id not in _UNANSWERED:
            return super().send(pdu, now, context)
        if self.state is State.CLOSED or not self._may_send(self.role, pdu.command_id):
            raise LocalProtocolError(
                f"{self.role.value} may not send 0x{pdu.command_id:08X} in state {self.state.value}"
            )
        pdu.sequence = self._next_sequence()
        self._write(pdu)
        return int(pdu.sequence)

    # ------------------------------------------------------------------ client role
    def bind(
        self,
        now: float,
        mode: State,
        system_id: str,
        password: str,
        system_type: str = "",
        interface_version: int = INTERFACE_VERSION,
        addr_ton: int = 0,
        addr_npi: int = 0,
        address_range: str = "",
    ) -> int:
        """Queue bind_transmitter / _receiver / _transceiver for ``mode``; returns its
        sequence. ``Bound`` or ``BindRefused`` follows from ``receive_data``."""
        cls = _BIND_REQUESTS.get(mode)
        if cls is None:
            raise LocalProtocolError(f"bind mode must be BOUND_TX, BOUND_RX or BOUND_TRX, not {mode}")
        pdu = cls(
            system_id=system_id, password=password, system_type=system_type,
            interface_version=interface_version, addr_ton=addr_ton, addr_npi=addr_npi,
            address_range=address_range,
        )
        encode(pdu)  # field errors surface here, before the state changes
        return self._start_bind(pdu, now)

    def _bind_outcome(self, response: Any, request: Outstanding) -> Bound | BindRefused:
        if response.status == 0 and response.command_id != C.GENERIC_NACK:
            return Bound(_BOUND_STATE[request.command_id], response)
        reason = f"{status_name(response.status)}: {status_description(response.status)}"
        return BindRefused(response.status, reason, response)

    # ------------------------------------------------------------------ server role
    def accept_bind(self, request: _Bind, system_id: str = "SMSC") -> None:
        """Answer ``request`` with its bind_*_resp and enter the matching bound state.
        sc_interface_version 0x34 is included unless the ESME bound as 3.3 or earlier
        (A.4: a 3.4 SMSC must not send TLVs to a 3.3 ESME)."""
        state = _BOUND_STATE.get(request.command_id)
        if state is None:
            raise LocalProtocolError("accept_bind needs a bind_* request")
        tlvs = [Tlv(Tag.SC_INTERFACE_VERSION, bytes((INTERFACE_VERSION,)))]
        response = self._response_class(request.command_id)(
            sequence=request.sequence,
            system_id=system_id,
            tlvs=tlvs if request.interface_version >= INTERFACE_VERSION else [],
        )
        self._accept(request, response, state)

    def reject_bind(self, request: _Bind, status: int) -> None:
        """Refuse ``request`` with ``status`` (ESME_RINVPASWD, ESME_RINVSYSID,
        ESME_RBINDFAIL, ...; header-only response) and close."""
        if status == 0:
            raise LocalProtocolError("reject_bind needs a non-zero status")
        response = self._response_class(request.command_id)(sequence=request.sequence, status=status)
        self._refuse(response, f"bind refused: {status_name(status)}")

    @staticmethod
    def _response_class(command_id: int) -> type[_BindResp]:
        cls = PDU_CLASSES.get(command_id | RESPONSE_BIT)
        assert cls is not None and issubclass(cls, _BindResp)
        return cls

    # ------------------------------------------------------------------------ hooks
    def _decode(self, frame: bytes) -> SmppPdu:
        return decode(frame)

    def _encode(self, pdu: Any) -> bytes:
        return encode(pdu)

    def _make_request(self, command_id: int) -> SmppPdu:
        return EnquireLink() if command_id == C.ENQUIRE_LINK else Unbind()

    def _framing_error(self, exc: RemoteProtocolError) -> None:
        """Answer an impossible command_length with generic_nack ESME_RINVCMDLEN, as SMPP answers a PDU it
        cannot parse (SMPP34-SPEC §3.3), with the offending header's sequence number when it has
        arrived (else 0); the session closes next, since the stream cannot be resynchronised."""
        header = self._reader.peek(HEADER_SIZE)
        sequence = int.from_bytes(header[12:16], "big") if len(header) == HEADER_SIZE else 0
        self._write(GenericNack(sequence=sequence, status=exc.status))

    def _make_response(self, command_id: int, sequence: int, status: int) -> SmppResponse:
        cls = PDU_CLASSES.get(command_id | RESPONSE_BIT)
        if status in _ANSWER_WITH_NACK or cls is None or not issubclass(cls, SmppResponse):
            return GenericNack(sequence=sequence, status=status)
        return cls(sequence=sequence, status=status)

    def _refusal_status(self, command_id: int) -> int:
        if command_id in self.BIND_IDS and self.role is Role.SERVER and self.state is not State.OPEN:
            return Status.ESME_RALYBND
        return Status.ESME_RINVBNDSTS

"""PDUs the simulator writes itself: receipts and accepted submit responses.

They are nearly everything an SMSC sends, so the adapters build their frames directly
(``struct.pack_into`` into a ``bytearray``) instead of filling a PDU dataclass for the
codec to check and encode again: that round trip cost about a third of the simulator's
CPU per message. The frames are byte for byte what the codec writes for the equivalent
PDU (tests/simulators/test_encoded.py checks it); whenever an input would not fit its
field, an adapter builds the PDU dataclass instead, so the codec's errors stay as they were.

An ``Encoded`` goes through the session like any PDU: the session gives a request its
sequence number and window slot, and ``EncodedSession._encode`` writes that number into
the frame.
"""

from __future__ import annotations

import struct
from typing import Any

from protocols.session import RESPONSE_BIT, Session, State

_U32 = struct.Struct(">I")
_CLOSED = State.CLOSED


class Encoded:
    """A whole frame whose sequence number (at ``sequence_at``) is filled in on sending."""

    __slots__ = ("command_id", "frame", "sequence", "sequence_at")

    def __init__(self, command_id: int, frame: bytearray, sequence_at: int, sequence: int = 0) -> None:
        self.command_id = command_id
        self.frame = frame
        self.sequence_at = sequence_at
        self.sequence = sequence

    def to_bytes(self) -> bytearray:
        """The frame carrying the current ``sequence`` (shared: copy it before keeping it)."""
        _U32.pack_into(self.frame, self.sequence_at, self.sequence)
        return self.frame

    def __repr__(self) -> str:
        return f"Encoded(command_id=0x{self.command_id:08X}, sequence={self.sequence}, {len(self.frame)} octets)"


class EncodedSession(Session):
    """Mixed in before a protocol's session class: it sends ``Encoded`` frames as they are."""

    #: the request the simulator sends all the time (receipts): set by each protocol
    DELIVER_ID: int

    def send(self, pdu: Any, now: float, context: Any = None) -> int:
        """As ``Session.send``, with the simulator's two frames of every message queued
        here rather than through the generic calls (0.5 µs of ~11 per message): an accepted
        submit's response, and a deliver the state allows (``_send_request`` still takes
        its window slot, or raises ``WindowFull``)."""
        if type(pdu) is Encoded and self.state is not _CLOSED:
            command_id = pdu.command_id
            if command_id & RESPONSE_BIT:
                if self.tracer is None:
                    self._out += pdu.to_bytes()
                    return pdu.sequence
            elif command_id == self.DELIVER_ID and self._may_send(self.role, command_id):
                return self._send_request(pdu, now, context)
        return super().send(pdu, now, context)

    def _encode(self, pdu: Any) -> bytes:
        if type(pdu) is Encoded:
            return pdu.to_bytes()
        return super()._encode(pdu)  # type: ignore[no-any-return]

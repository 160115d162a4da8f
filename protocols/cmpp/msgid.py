"""The 64-bit CMPP Msg_Id (PROTOCOLS.md C.12, E.2).

On the wire it is a big-endian u64; this package carries it as an ``int`` everywhere and
only splits it for display (``describe``) or builds one in the simulator. Layout, most
significant first: month 4 bits, day 5, hour 5, minute 6, second 6, gateway (ISMG) code
22, sequence 16. No clock is read here: the caller passes the time parts in.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

#: (name, shift, width) of each part, most significant first
_LAYOUT = (
    ("month", 60, 4),
    ("day", 55, 5),
    ("hour", 50, 5),
    ("minute", 44, 6),
    ("second", 38, 6),
    ("gateway", 16, 22),
    ("sequence", 0, 16),
)
SEQUENCE_MASK = 0xFFFF


@dataclass(frozen=True, slots=True)
class MsgId:
    """A Msg_Id split into its parts. Any u64 splits (``from_int`` never fails); building
    one checks that each part fits its bit width."""

    month: int
    day: int
    hour: int
    minute: int
    second: int
    gateway: int
    sequence: int

    def __post_init__(self) -> None:
        for name, _, width in _LAYOUT:
            value = getattr(self, name)
            if not 0 <= value < 1 << width:
                raise ValueError(f"Msg_Id {name} {value} does not fit in {width} bits")

    def to_int(self) -> int:
        value = 0
        for name, shift, _ in _LAYOUT:
            value |= getattr(self, name) << shift
        return value

    def __int__(self) -> int:
        return self.to_int()

    @classmethod
    def from_int(cls, value: int) -> MsgId:
        if not 0 <= value < 1 << 64:
            raise ValueError(f"Msg_Id {value} is not an unsigned 64-bit integer")
        return cls(*((value >> shift) & ((1 << width) - 1) for _, shift, width in _LAYOUT))

    def to_bytes(self) -> bytes:
        """The 8 octets as sent on the wire (big-endian)."""
        return self.to_int().to_bytes(8, "big")

    @property
    def gateway_code(self) -> str:
        """The ISMG code as the spec writes it, six digits ("001001")."""
        return f"{self.gateway:06d}"


def gateway_number(code: int | str) -> int:
    """ISMG code "001001" (or 1001) -> 1001."""
    if isinstance(code, str):
        if not code.isdigit():
            raise ValueError(f"gateway code {code!r} is not decimal digits")
        return int(code)
    return code


def make_msg_id(
    when: _dt.datetime | tuple[int, int, int, int, int], gateway: int | str, sequence: int
) -> int:
    """A new Msg_Id from a time (a datetime, or (month, day, hour, minute, second)), the
    gateway code and the caller's running sequence number, which wraps at 16 bits."""
    if isinstance(when, _dt.datetime):
        parts = (when.month, when.day, when.hour, when.minute, when.second)
    else:
        parts = when
    return MsgId(*parts, gateway_number(gateway), sequence & SEQUENCE_MASK).to_int()

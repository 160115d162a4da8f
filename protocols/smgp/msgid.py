"""The 10-octet SMGP MsgID (PROTOCOLS.md D.5, E.4): 20 BCD digits, one per nibble.

    digits 1-6   SMGW code: area code (3, zero-padded) + device class ("06") + index
    digits 7-14  MMDDHHMM when the SMGW accepted the message
    digits 15-20 sequence 000000-999999, wrapping

The wire form is the raw 10 octets; store and match ids as those octets (a report's
``id:`` carries them raw too) and print them as 20 hex digits, which for valid BCD equal
the decimal digits. The time comes in from the caller: there is no clock here.
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import LocalProtocolError, RemoteProtocolError
from .constants import MSG_ID_SIZE, Status


class MsgIdParts(NamedTuple):
    gateway: str  # 6 digits, e.g. "010061"
    time: str  # MMDDHHMM, e.g. "01161700"
    sequence: int  # 0..999999

    def __str__(self) -> str:
        return f"{self.gateway}{self.time}{self.sequence:06d}"


def build_msg_id(gateway: str, mmddhhmm: str, sequence: int) -> bytes:
    """``build_msg_id("010061", "01161700", 12345).hex() == "01006101161700012345"``."""
    if len(gateway) != 6 or not gateway.isdigit() or not gateway.isascii():
        raise LocalProtocolError(f"SMGW code must be 6 digits, got {gateway!r}")
    if len(mmddhhmm) != 8 or not mmddhhmm.isdigit() or not mmddhhmm.isascii():
        raise LocalProtocolError(f"MsgID time must be 8 digits MMDDHHMM, got {mmddhhmm!r}")
    if not 0 <= sequence <= 999_999:
        raise LocalProtocolError(f"MsgID sequence must be 0..999999, got {sequence}")
    return bytes.fromhex(f"{gateway}{mmddhhmm}{sequence:06d}")


def parse_msg_id(raw: bytes) -> MsgIdParts:
    """Split a MsgID into its parts; ``RemoteProtocolError`` unless 10 octets of BCD."""
    digits = raw.hex()
    if len(raw) != MSG_ID_SIZE or not digits.isdigit():
        raise RemoteProtocolError(
            f"MsgID {digits!r} is not 10 octets of BCD digits",
            status=Status.MESSAGE_STRUCTURE_ERROR,
        )
    return MsgIdParts(digits[:6], digits[6:14], int(digits[14:]))


def msg_id_hex(raw: bytes) -> str:
    """The conventional printed form: 20 hex digits."""
    return raw.hex()


def msg_id_from_hex(text: str) -> bytes:
    """The inverse of ``msg_id_hex`` (for ids typed by a person or read from storage)."""
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != MSG_ID_SIZE:
        raise LocalProtocolError(f"a MsgID is 20 hex digits, got {text!r}")
    return raw


def msg_id_offset(raw: bytes, k: int) -> bytes:
    """The id of the ``k``-th destination (from 0) of a multi-destination Submit: the
    Submit_Resp MsgID with its sequence advanced by ``k`` (spec appendix B)."""
    parts = parse_msg_id(raw)
    return build_msg_id(parts.gateway, parts.time, (parts.sequence + k) % 1_000_000)

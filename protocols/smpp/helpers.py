"""Small questions the daemon asks of SMPP PDUs, and typed TLV values (A.5)."""

from __future__ import annotations

import struct
from typing import Any

from ..errors import LocalProtocolError
from ..tlv import Tlv, find_tlv
from .constants import TLV_TYPES, Esm, Tag, TlvType

TlvValue = int | str | bytes | tuple[int, int] | None

# plain ints: ``int & IntFlag`` runs enum's Python __and__ and makes a flag (0.56 µs, 0.02 for ints)
_TYPE_MASK, _RECEIPT, _UDHI = int(Esm.TYPE_MASK), int(Esm.RECEIPT), int(Esm.UDHI)


def message_type(pdu: Any) -> int:
    """The esm_class message type of a deliver_sm / data_sm (bits 5-2, A.6): 0x00 a normal
    message, 0x04 an SMSC delivery receipt, 0x08 an SME delivery acknowledgement, ..."""
    return int(pdu.esm_class & _TYPE_MASK)


def is_receipt(pdu: Any) -> bool:
    """deliver_sm / data_sm carrying an SMSC delivery receipt: ``(esm_class & 0x3C) == 0x04``."""
    return message_type(pdu) == _RECEIPT


def has_udh(pdu: Any) -> bool:
    """short_message / message_payload starts with a User Data Header (UDHI, 0x40)."""
    return bool(pdu.esm_class & _UDHI)


def user_data(pdu: Any) -> bytes:
    """The message octets: short_message, or the message_payload TLV when sm_length is 0
    (A.3.4 says never both; if a peer sends both, short_message wins)."""
    short_message: bytes = getattr(pdu, "short_message", b"")
    if short_message:
        return short_message
    payload = find_tlv(pdu.tlvs, Tag.MESSAGE_PAYLOAD)
    return payload if payload is not None else b""


def tlv_value(tlv: Tlv) -> TlvValue:
    """The value of ``tlv`` per its tag's type: int, str (C-string, NUL dropped), bytes,
    (network type, error code) for network_error_code, ``None`` for an empty flag TLV.
    A value whose length does not match its type, or an unknown tag, stays ``bytes``."""
    kind = TLV_TYPES.get(tlv.tag, TlvType.OCTETS)
    value = tlv.value
    size = len(value)
    if kind is TlvType.U8 and size == 1:
        return value[0]
    if kind is TlvType.U16 and size == 2:
        return int.from_bytes(value, "big")
    if kind is TlvType.U32 and size == 4:
        return int.from_bytes(value, "big")
    if kind is TlvType.CSTRING:
        return value.split(b"\0", 1)[0].decode("latin-1")
    if kind is TlvType.NETWORK_ERROR and size == 3:
        network_type, code = struct.unpack(">BH", value)
        return (network_type, code)
    if kind is TlvType.EMPTY and size == 0:
        return None
    return value


def make_tlv(tag: int, value: TlvValue) -> Tlv:
    """Build a TLV of ``tag`` from a typed value (the inverse of ``tlv_value``)."""
    kind = TLV_TYPES.get(tag, TlvType.OCTETS)
    try:
        if isinstance(value, bytes):
            return Tlv(tag, value)
        if kind is TlvType.U8 and isinstance(value, int):
            return Tlv(tag, struct.pack(">B", value))
        if kind is TlvType.U16 and isinstance(value, int):
            return Tlv(tag, struct.pack(">H", value))
        if kind is TlvType.U32 and isinstance(value, int):
            return Tlv(tag, struct.pack(">I", value))
        if kind is TlvType.CSTRING and isinstance(value, str):
            return Tlv(tag, value.encode("latin-1") + b"\0")
        if kind is TlvType.NETWORK_ERROR and isinstance(value, tuple):
            return Tlv(tag, struct.pack(">BH", *value))
        if kind is TlvType.EMPTY and value is None:
            return Tlv(tag, b"")
    except (struct.error, UnicodeEncodeError) as exc:
        raise LocalProtocolError(f"TLV 0x{tag:04X}: {exc}") from None
    raise LocalProtocolError(f"TLV 0x{tag:04X} of type {kind.value} cannot hold {value!r}")

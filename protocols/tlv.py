"""Tag-length-value optional parameters, as SMPP 3.4 and SMGP 3.0 both write them:
tag u16, length u16 (of the value only), value. Unknown tags are kept, in order, so a PDU
decodes and re-encodes to the same bytes."""

from __future__ import annotations

import struct
from typing import NamedTuple

from .errors import LocalProtocolError, RemoteProtocolError

_HEAD = struct.Struct(">HH")


class Tlv(NamedTuple):
    tag: int
    value: bytes


def encode_tlvs(tlvs: list[Tlv] | tuple[Tlv, ...]) -> bytes:
    out = bytearray()
    for tag, value in tlvs:
        if len(value) > 0xFFFF or not 0 <= tag <= 0xFFFF:
            raise LocalProtocolError(f"TLV 0x{tag:04X} does not fit (value of {len(value)} octets)")
        out += _HEAD.pack(tag, len(value))
        out += value
    return bytes(out)


def decode_tlvs(
    data: bytes, offset: int, end: int, *, status: int, command_id: int, sequence: int
) -> list[Tlv]:
    """Parse ``data[offset:end]`` as TLVs. A truncated TLV raises ``RemoteProtocolError``
    with ``status`` (the protocol's "bad optional part" code) and the offset of the TLV."""
    tlvs: list[Tlv] = []
    while offset < end:
        if end - offset < 4:
            raise RemoteProtocolError(
                "truncated TLV header", status=status, offset=offset,
                command_id=command_id, sequence=sequence,
            )
        tag, length = _HEAD.unpack_from(data, offset)
        start = offset + 4
        if start + length > end:
            raise RemoteProtocolError(
                f"TLV 0x{tag:04X} declares {length} octets, only {end - start} remain",
                status=status, offset=offset, command_id=command_id, sequence=sequence,
            )
        tlvs.append(Tlv(tag, bytes(data[start : start + length])))
        offset = start + length
    return tlvs


def find_tlv(tlvs: list[Tlv] | tuple[Tlv, ...], tag: int) -> bytes | None:
    """The value of the first TLV with ``tag``, or ``None``."""
    for t, value in tlvs:
        if t == tag:
            return value
    return None


class WithTlvs:
    """TLV access by tag, mixed into the SMPP and SMGP PDUs that carry optional parameters."""

    __slots__ = ()
    tlvs: list[Tlv]

    def get_tlv(self, tag: int) -> bytes | None:
        """The value of the first TLV with ``tag``, or ``None``."""
        return find_tlv(self.tlvs, tag)

    def set_tlv(self, tag: int, value: bytes | None) -> None:
        """Replace the first TLV ``tag`` in place (or append it); ``None`` removes all."""
        out: list[Tlv] = []
        for t in self.tlvs:
            if t.tag != tag:
                out.append(t)
            elif value is not None:
                out.append(Tlv(tag, value))
                value = None
        if value is not None:
            out.append(Tlv(tag, value))
        self.tlvs[:] = out

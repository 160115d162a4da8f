"""User Data Header: building the concatenation header and parsing a received one
(PROTOCOLS.md B.1).

UDH = UDHL (octets that follow) + information elements (IEI, IEDL, data). A structurally
broken header (UDHL beyond the data, an IE running past UDHL) raises ``UdhError`` so a
protocol package can answer with its own status. An IE that is well framed but makes no
sense (a concatenation IE of the wrong length, part 0 or part > total) is kept in
``elements`` and otherwise ignored, as 3GPP TS 23.040 §9.2.3.24.1 tells a receiver to do.
When an IE repeats, the last occurrence wins (same clause).
"""

from __future__ import annotations

from dataclasses import dataclass

IEI_CONCAT_8 = 0x00
IEI_PORTS_8 = 0x04
IEI_PORTS_16 = 0x05
IEI_CONCAT_16 = 0x08


class UdhError(ValueError):
    """The user data does not start with a well-framed UDH."""


@dataclass(frozen=True, slots=True)
class UdhInfo:
    """A parsed UDH. ``concat`` is (reference, total, index) from IEI 0x00 or 0x08,
    ``ports`` is (destination, originator) from IEI 0x04 or 0x05; ``elements`` lists every
    IE as (iei, data) in order, the understood ones included."""

    concat: tuple[int, int, int] | None
    ports: tuple[int, int] | None
    elements: list[tuple[int, bytes]]


def concat_udh(reference: int, total: int, index: int, ref_bits: int = 8) -> bytes:
    """``05 00 03 RR TT SS`` (ref_bits 8) or ``06 08 04 RR RR TT SS`` (ref_bits 16)."""
    if not 1 <= index <= total <= 255:
        raise ValueError(f"part {index} of {total} is not within 1..total..255")
    if ref_bits == 8 and 0 <= reference <= 0xFF:
        return bytes((5, IEI_CONCAT_8, 3, reference, total, index))
    if ref_bits == 16 and 0 <= reference <= 0xFFFF:
        return bytes((6, IEI_CONCAT_16, 4, reference >> 8, reference & 0xFF, total, index))
    raise ValueError(f"reference {reference} does not fit ref_bits={ref_bits} (8 or 16)")


def parse_udh(data: bytes) -> tuple[UdhInfo | None, bytes]:
    """Split user data whose UDHI flag is set into (header, rest).

    Empty ``data`` gives ``(None, b"")``: there is no header to read. ``UDHL = 0`` gives an
    ``UdhInfo`` without elements.
    """
    if not data:
        return None, b""
    end = 1 + data[0]
    if end > len(data):
        raise UdhError(f"UDHL {data[0]} runs past the {len(data)} octets of user data")
    concat: tuple[int, int, int] | None = None
    ports: tuple[int, int] | None = None
    elements: list[tuple[int, bytes]] = []
    i = 1
    while i < end:
        if i + 2 > end:
            raise UdhError(f"information element header at offset {i} runs past UDHL")
        iei, length = data[i], data[i + 1]
        if i + 2 + length > end:
            raise UdhError(f"IE 0x{iei:02X} at offset {i} (length {length}) runs past UDHL")
        ie = data[i + 2:i + 2 + length]
        elements.append((iei, ie))
        i += 2 + length
        if iei == IEI_CONCAT_8 and length == 3 and 1 <= ie[2] <= ie[1]:
            concat = (ie[0], ie[1], ie[2])
        elif iei == IEI_CONCAT_16 and length == 4 and 1 <= ie[3] <= ie[2]:
            concat = ((ie[0] << 8) | ie[1], ie[2], ie[3])
        elif iei == IEI_PORTS_8 and length == 2:
            ports = (ie[0], ie[1])
        elif iei == IEI_PORTS_16 and length == 4:
            ports = ((ie[0] << 8) | ie[1], (ie[2] << 8) | ie[3])
    return UdhInfo(concat, ports, elements), data[end:]


"""Message text: alphabets (GSM 03.38, ASCII, Latin-1, UCS-2, GBK/GB18030), segmentation
of long messages with concatenation headers, UDH parsing and MO reassembly.

The shared vocabulary is defined here; the work is in the submodules, whose public
functions are re-exported at the bottom (after the vocabulary they import):

- ``encode`` / ``decode`` (codec.py): text <-> transport octets; decode never raises;
- ``gsm7`` (gsm7.py): the GSM 03.38 tables, septet packing with fill bits;
- ``split`` / ``segment_count`` / ``choose_alphabet`` / ``analyse`` (segment.py): long messages;
- ``parse_udh`` / ``concat_udh`` / ``UdhInfo`` / ``UdhError`` (udh.py);
- ``Reassembler`` / ``PartialMessage`` (reassembly.py): MO concatenation.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Alphabet(enum.Enum):
    """How text becomes octets. The per-protocol data_coding / Msg_Fmt / MsgFormat value
    for each is decided by the protocol packages."""

    GSM7 = "gsm7"        # GSM 03.38 default alphabet + extension table
    ASCII = "ascii"
    LATIN1 = "latin1"
    UCS2 = "ucs2"        # UTF-16BE in practice (surrogate pairs for non-BMP)
    GBK = "gbk"
    GB18030 = "gb18030"
    BINARY = "binary"


class TextEncodingError(ValueError):
    """The text cannot be written in the requested alphabet (or cannot be split into at
    most 255 parts). ``character`` and ``position`` name the first character that cannot
    be written, when that is the reason."""

    def __init__(self, message: str, *, character: str | None = None, position: int | None = None):
        super().__init__(message)
        self.character = character
        self.position = position


@dataclass(frozen=True, slots=True)
class Segment:
    """One part of a (possibly long) message.

    ``payload`` is the encoded text of this part without any header, in transport form
    (for GSM7 one septet per octet, escapes as two octets, unless packed was asked for).
    ``udh`` is the concatenation User Data Header for this part (``b""`` when the message
    fits in one part). A protocol either prepends ``udh`` to the payload and sets its
    UDHI flag, or carries index/total/reference in its own fields (SMPP SAR TLVs).
    ``udl`` is the TP-UDL of the part: for GSM7 the septet count including the header
    septets (what a packed 7-bit length field carries, and the only way to tell the
    septet count of a packed payload), for every other alphabet ``len(user_data)``.
    """

    payload: bytes
    udh: bytes
    index: int       # 1-based
    total: int
    reference: int
    udl: int = 0

    @property
    def user_data(self) -> bytes:
        """UDH followed by the payload: what goes in short_message / Msg_Content."""
        return self.udh + self.payload


from . import gsm7  # noqa: E402
from .codec import decode, encode  # noqa: E402
from .reassembly import PartialMessage, Reassembler  # noqa: E402
from .segment import analyse, choose_alphabet, segment_count, split  # noqa: E402
from .udh import UdhError, UdhInfo, concat_udh, parse_udh  # noqa: E402

__all__ = [
    "Alphabet",
    "PartialMessage",
    "Reassembler",
    "Segment",
    "TextEncodingError",
    "UdhError",
    "UdhInfo",
    "analyse",
    "choose_alphabet",
    "concat_udh",
    "decode",
    "encode",
    "gsm7",
    "parse_udh",
    "segment_count",
    "split",
]

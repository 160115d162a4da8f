"""Message text: alphabets (GSM 03.38, ASCII, Latin-1, UCS-2, GBK/GB18030), segmentation
of long messages with concatenation headers, UDH parsing and MO reassembly.

The shared vocabulary is defined here; the work is in the submodules.
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
    """The text cannot be written in the requested alphabet."""


@dataclass(frozen=True, slots=True)
class Segment:
    """One part of a (possibly long) message.

    ``payload`` is the encoded text of this part without any header, in transport form
    (for GSM7 one septet per octet, escapes as two octets, unless packed was asked for).
    ``udh`` is the concatenation User Data Header for this part (``b""`` when the message
    fits in one part). A protocol either prepends ``udh`` to the payload and sets its
    UDHI flag, or carries index/total/reference in its own fields (SMPP SAR TLVs).
    """

    payload: bytes
    udh: bytes
    index: int       # 1-based
    total: int
    reference: int

    @property
    def user_data(self) -> bytes:
        """UDH followed by the payload: what goes in short_message / Msg_Content."""
        return self.udh + self.payload

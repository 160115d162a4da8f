"""Length-prefixed framing shared by SMPP, CMPP and SMGP.

All three protocols start every PDU with a 4-octet big-endian length that counts itself
and the whole PDU. ``FrameReader`` turns an arbitrary byte stream (whole PDUs, one byte
at a time, several PDUs coalesced in one read) into complete frames. A length below the
protocol's header size or above ``max_size`` can never be resynchronised, so it raises a
fatal ``RemoteProtocolError`` carrying the status the protocol wants for it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from .errors import RemoteProtocolError

_COMPACT_AT = 64 * 1024
_LENGTH = struct.Struct(">I")


class FrameReader:
    """Accumulates bytes and yields complete frames.

    "Need more data" is a return value (``next_frame() is None``), not an exception. The
    buffer is compacted lazily so that a long stream of small PDUs costs no quadratic
    copying.
    """

    __slots__ = ("_buf", "_pos", "min_size", "max_size", "length_status")

    def __init__(self, *, min_size: int, max_size: int, length_status: int) -> None:
        if not 4 <= min_size <= max_size:
            raise ValueError("need 4 <= min_size <= max_size")
        self._buf = bytearray()
        self._pos = 0
        self.min_size = min_size
        self.max_size = max_size
        self.length_status = length_status

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes received from the peer."""
        self._buf += data

    @property
    def buffered(self) -> int:
        """Octets received but not yet returned as a frame."""
        return len(self._buf) - self._pos

    def peek(self, size: int) -> bytes:
        """Up to ``size`` octets of the unread data, without consuming them."""
        return bytes(self._buf[self._pos : self._pos + size])

    def next_frame(self) -> bytes | None:
        """Return the next complete frame, or ``None`` if more data is needed."""
        buf, pos = self._buf, self._pos
        size = len(buf)
        if size - pos < 4:
            self._compact()
            return None
        length: int = _LENGTH.unpack_from(buf, pos)[0]
        if length < self.min_size or length > self.max_size:
            raise RemoteProtocolError(
                f"frame length {length} outside {self.min_size}..{self.max_size}",
                status=self.length_status,
                offset=0,
                fatal=True,
            )
        end = pos + length
        if size < end:
            self._compact()
            return None
        frame = bytes(buf[pos:end])
        if end == size:
            buf.clear()
            self._pos = 0
        else:
            self._pos = end
        return frame

    def __iter__(self) -> Iterator[bytes]:
        while (frame := self.next_frame()) is not None:
            yield frame

    def _compact(self) -> None:
        if self._pos >= _COMPACT_AT or (self._pos and self._pos == len(self._buf)):
            del self._buf[: self._pos]
            self._pos = 0

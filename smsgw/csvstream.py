"""Incremental CSV decoding: bytes in chunks -> complete records, never the whole file.

Encoding: UTF-8 (a byte order mark is dropped) unless the first 4 KiB are not UTF-8, then
GB18030 (a superset of GBK, what spreadsheet software in China saves "CSV" as); a caller may
name the encoding instead. Records follow RFC 4180 (quoted fields may hold commas, quotes
doubled, line breaks); the ``csv`` module parses them, fed only up to the last line break that
is outside quotes, so a record split across chunks waits for its rest.
"""

from __future__ import annotations

import codecs
import csv
import io

SNIFF_BYTES = 4096
MAX_RECORD_CHARS = 1 << 20


class CsvError(ValueError):
    """The file cannot be read as CSV: bad encoding, an unterminated quote, a NUL byte..."""


class CsvRecords:
    """``feed(chunk) -> records``, then ``close() -> records`` (the last ones)."""

    def __init__(self, encoding: str | None = None) -> None:
        self.encoding: str | None = None
        self._decoder: codecs.IncrementalDecoder | None = None
        self._raw = bytearray()  # before the encoding is known
        self._bytes = 0
        self._text = ""  # decoded, starting at a record boundary
        if encoding is not None:
            self._choose(encoding)

    def feed(self, data: bytes) -> list[list[str]]:
        if self._decoder is None:
            self._raw += data
            if len(self._raw) < SNIFF_BYTES:
                return []
            self._choose(_sniff(bytes(self._raw[:SNIFF_BYTES]), final=False))
            data, self._raw = bytes(self._raw), bytearray()
        return self._records(self._decode(data, final=False), final=False)

    def close(self) -> list[list[str]]:
        if self._decoder is None:
            self._choose(_sniff(bytes(self._raw), final=True))
            data, self._raw = bytes(self._raw), bytearray()
            return self._records(self._decode(data, final=True), final=True)
        return self._records(self._decode(b"", final=True), final=True)

    def _choose(self, encoding: str) -> None:
        try:
            info = codecs.lookup(encoding)
        except LookupError:
            raise CsvError(f"unknown encoding {encoding!r}") from None
        name = "utf-8-sig" if info.name in ("utf-8", "utf-8-sig") else info.name
        self.encoding = "utf-8" if name == "utf-8-sig" else name
        self._decoder = codecs.getincrementaldecoder(name)()

    def _decode(self, data: bytes, *, final: bool) -> str:
        assert self._decoder is not None
        try:
            text = self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            raise CsvError(
                f"the file is not valid {self.encoding} near byte {self._bytes + exc.start}; "
                "save it as UTF-8 (or GBK) CSV"
            ) from None
        self._bytes += len(data)
        return text

    def _records(self, text: str, *, final: bool) -> list[list[str]]:
        pending = self._text + text
        cut = len(pending) if final else _complete_prefix(pending)
        self._text = pending[cut:]
        if len(self._text) > MAX_RECORD_CHARS:
            raise CsvError(f"a record is longer than {MAX_RECORD_CHARS} characters (an unterminated quote?)")
        if not cut:
            return []
        try:
            records = list(csv.reader(io.StringIO(pending[:cut], newline=""), strict=True))
        except csv.Error as exc:
            raise CsvError(f"malformed CSV: {exc}") from None
        return records


def _complete_prefix(text: str) -> int:
    """Length of the longest prefix of whole records: up to the last line break outside quotes."""
    last = text.rfind("\n")
    if last < 0:
        return 0
    if '"' not in text:
        return last + 1
    cut, quoted, pos = 0, False, 0
    while (nl := text.find("\n", pos)) >= 0:
        quoted ^= text.count('"', pos, nl) & 1 == 1
        if not quoted:
            cut = nl + 1
        pos = nl + 1
    return cut


def _sniff(sample: bytes, *, final: bool) -> str:
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"

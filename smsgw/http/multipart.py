"""An incremental ``multipart/form-data`` parser (RFC 7578) for streamed request bodies.

Why our own: the body arrives as chunks from ``Request.stream()`` and a CSV part may be hundreds
of megabytes, so the parser must hand out a part's data as it comes, holding at most one
delimiter's length back. That is a small state machine; the libraries that do it bring their
own callback styles and header handling we would still have to wrap (see docs/platform-batches.md).

Feed it chunks split anywhere (a delimiter, a header line, a CRLF may straddle two chunks);
it returns events in order: ``PartStart`` (the part's headers), ``PartData`` (zero or more),
``PartEnd``. ``close()`` raises ``MultipartError`` when the body ended before the closing
delimiter. The preamble and epilogue are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_PART_HEADERS = 16 * 1024

_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_BOUNDARY_CHARS = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{1,70}")


class MultipartError(ValueError):
    """The body is not well-formed multipart; the message says where."""


@dataclass(frozen=True, slots=True)
class PartStart:
    name: str | None  # Content-Disposition name
    filename: str | None
    content_type: str | None
    headers: dict[str, str]  # lower-case names


@dataclass(frozen=True, slots=True)
class PartData:
    data: bytes


@dataclass(frozen=True, slots=True)
class PartEnd:
    pass


Event = PartStart | PartData | PartEnd


def boundary_of(content_type: str) -> bytes:
    """The boundary of a ``multipart/form-data; boundary=...`` Content-Type value."""
    kind, params = parse_header_value(content_type)
    if kind != "multipart/form-data":
        raise MultipartError(f"the content type is {kind!r}, not multipart/form-data")
    boundary = params.get("boundary")
    if not boundary or not _BOUNDARY_CHARS.fullmatch(boundary) or boundary.endswith(" "):
        raise MultipartError("the multipart boundary is missing or not 1 to 70 allowed characters")
    return boundary.encode("ascii")


def parse_header_value(value: str) -> tuple[str, dict[str, str]]:
    """``form-data; name="file"; filename="a.csv"`` -> ("form-data", {"name": "file", ...})."""
    head, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for match in _PARAM.finditer(";" + rest):
        raw = match.group(2).strip()
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[match.group(1).lower()] = raw
    return head.strip().lower(), params


_PREAMBLE, _AFTER_DELIMITER, _HEADERS, _BODY, _EPILOGUE = range(5)


class MultipartParser:
    """Push-style parser: ``feed(chunk) -> events``, then ``close()``."""

    def __init__(self, boundary: bytes) -> None:
        self._delimiter = b"\r\n--" + boundary
        self._buf = bytearray(b"\r\n")  # the first delimiter may open the body, without its CRLF
        self._state = _PREAMBLE

    @property
    def done(self) -> bool:
        """The closing delimiter has been seen."""
        return self._state == _EPILOGUE

    def feed(self, data: bytes) -> list[Event]:
        if self._state == _EPILOGUE:
            return []
        self._buf += data
        events: list[Event] = []
        while self._step(events):
            pass
        return events

    def close(self) -> None:
        if self._state != _EPILOGUE:
            where = {_PREAMBLE: "before the first part", _HEADERS: "inside a part's headers"}.get(
                self._state, "inside a part")
            raise MultipartError(f"the multipart body ended {where}, without its closing delimiter")

    def _step(self, events: list[Event]) -> bool:
        """Make progress on the buffer; False when more data is needed."""
        buf, delimiter = self._buf, self._delimiter
        if self._state in (_PREAMBLE, _BODY):
            at = buf.find(delimiter)
            if at < 0:
                keep = len(delimiter) - 1
                if len(buf) > keep:
                    if self._state == _BODY:
                        events.append(PartData(bytes(buf[:-keep])))
                    del buf[:-keep]
                return False
            if self._state == _BODY:
                if at:
                    events.append(PartData(bytes(buf[:at])))
                events.append(PartEnd())
            del buf[:at + len(delimiter)]
            self._state = _AFTER_DELIMITER
            return True
        if self._state == _AFTER_DELIMITER:
            stripped = buf.lstrip(b" \t")  # transport padding (RFC 2046)
            if len(stripped) < 2:
                del buf[:len(buf) - len(stripped)]  # dropped as it comes: kept, it grew without bound
                return False
            if stripped.startswith(b"--"):
                self._state = _EPILOGUE
                buf.clear()
                return False
            if not stripped.startswith(b"\r\n"):
                raise MultipartError("a multipart delimiter is not followed by CRLF or --")
            del buf[:len(buf) - len(stripped) + 2]
            self._state = _HEADERS
            return True
        if self._state == _HEADERS:
            if buf.startswith(b"\r\n"):
                end, block = 2, b""
            else:
                at = buf.find(b"\r\n\r\n")
                if at < 0:
                    if len(buf) > MAX_PART_HEADERS:
                        raise MultipartError(f"a part's headers exceed {MAX_PART_HEADERS} bytes")
                    return False
                end, block = at + 4, bytes(buf[:at])
            if end - 4 > MAX_PART_HEADERS:
                raise MultipartError(f"a part's headers exceed {MAX_PART_HEADERS} bytes")
            del buf[:end]
            events.append(_part_start(block))
            self._state = _BODY
            return True
        return False


def _part_start(block: bytes) -> PartStart:
    headers: dict[str, str] = {}
    for line in block.decode("utf-8", "replace").split("\r\n"):
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise MultipartError(f"malformed part header line {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    disposition = headers.get("content-disposition")
    if disposition is None:
        raise MultipartError("a part has no Content-Disposition header")
    kind, params = parse_header_value(disposition)
    if kind != "form-data":
        raise MultipartError(f"a part's Content-Disposition is {kind!r}, not form-data")
    return PartStart(params.get("name"), params.get("filename"), headers.get("content-type"), headers)

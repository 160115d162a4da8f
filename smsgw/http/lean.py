"""The common case of HTTP/1.1 without h11: a request head and a response head in a few regex
matches and one ``join``, for the per-request cost of one message per POST (issue 4).

Why not h11 for everything: per request h11 builds and validates event objects, runs its state
machine and writes through writer objects, several times what the common case needs.

Why h11 stays: anything outside the common case is decided by h11 exactly as before.
``parse_head`` accepts only a head that h11 reads the same way (HTTP/1.1, CRLF line ends, one
Host, at most one digits-only Content-Length, ``Connection`` absent or ``keep-alive``, no
Transfer-Encoding, Expect or Upgrade, no obs-fold, no HEAD or CONNECT) and answers ``None`` for
everything else, and the server then hands the connection's bytes to h11 (``server.py``), so
malformed, ambiguous (request smuggling: Content-Length with Transfer-Encoding, two lengths,
bare LF, obs-fold) and oversized heads are refused by the same code and with the same answers as
before. ``encode_response`` likewise answers ``None`` for a response h11 must encode (a
streamed body, 204/304, a header it would validate, reorder or merge). The property tests in
``tests/smsgw/http/test_lean.py`` check both against h11.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from http import HTTPStatus

_TOKEN = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
# A whole head in one match: request line, then fields. A field's value with the optional
# whitespace around it is any run of spaces, tabs, visible characters and obs-text (which is
# exactly OWS value OWS). \r and \n appear only as CRLF, so there is no bare LF, no obs-fold
# (a line starting with whitespace) and no field without a colon. Nothing in it backtracks.
_HEAD = re.compile(
    _TOKEN + rb" [\x21-\x7e]+ HTTP/1\.1\r\n(?:" + _TOKEN + rb":[ \t\x21-\x7e\x80-\xff]*\r\n)*\r\n"
)
_NAME_OUT = re.compile(_TOKEN)
_VALUE_OUT = re.compile(rb"(?:[\x21-\x7e\x80-\xff]+(?:[ \t]+[\x21-\x7e\x80-\xff]+)*)?")

# Request headers that change framing or the connection's protocol: h11 decides these.
_REQUEST_SPECIAL = frozenset(("transfer-encoding", "expect", "upgrade"))
# Response headers h11 would merge, replace or move (framing, connection, host first).
_RESPONSE_SPECIAL = frozenset(("content-length", "transfer-encoding", "connection", "host"))
_MAX_LENGTH_DIGITS = 18  # h11 allows 20; longer values go to h11 and its answer
_HEADER_CACHE_LIMIT = 1024

_STATUS_LINES = {
    status.value: b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode("ascii")) for status in HTTPStatus
}


@dataclass(frozen=True, slots=True)
class Head:
    """A request head h11 would read the same way."""

    method: str
    target: str
    headers: dict[str, str]  # lower-case names; repeated fields joined with ", " (as server.py did)
    content_length: int
    size: int  # server.py's ``_head_size`` of the same head: request line and headers


def parse_head(head: bytes) -> Head | None:
    """``head`` is everything up to and including the first CRLF CRLF; ``None``: let h11 decide."""
    if _HEAD.fullmatch(head) is None:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ")
    if method == "HEAD" or method == "CONNECT":
        return None
    headers: dict[str, str] = {}
    hosts = 0
    length = None
    size = len(method) + len(target) + 14
    for line in lines[1:-2]:
        name, _, value = line.partition(":")
        name = name.lower()
        value = value.strip(" \t")
        if name in _REQUEST_SPECIAL:
            return None
        if name == "host":
            hosts += 1
        elif name == "content-length":
            if length is not None or not value.isdigit() or not value.isascii() or len(value) > _MAX_LENGTH_DIGITS:
                return None
            length = int(value)
        elif name == "connection" and value.lower() != "keep-alive":
            return None
        size += len(name) + len(value) + 4
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    if hosts != 1:
        return None
    return Head(method, target, headers, length or 0, size)


def h11_would_act(partial: bytes | bytearray, max_header_bytes: int) -> bool:
    """Whether h11, given ``partial`` (received bytes with no CRLF CRLF yet), would already return
    a head or refuse one instead of waiting for more: then the server hands the bytes to h11.
    It does for a bare LF (it also ends lines and heads at LF), a first byte below ``!`` (an
    empty line or an obviously bad request line) and more than ``max_header_bytes`` bytes."""
    return bool(partial) and (
        len(partial) > max_header_bytes
        or partial[0] < 0x21
        or partial.count(b"\n") != partial.count(b"\r\n")
    )


_header_lines: dict[tuple[str, str], bytes] = {}


def encode_response(
    status: int, headers: list[tuple[str, str]], body: bytes, date: bytes, close: bool
) -> bytes | None:
    """The bytes h11 sends for this response to a keep-alive HTTP/1.1 request (not HEAD): the
    Date header first, then ``headers``, ``connection: close`` when ``close``, Content-Length,
    the body. ``None`` when h11 must encode it (it also validates, and refuses what is invalid).

    A header name that is not ASCII raises ``UnicodeEncodeError``, as it did before h11 ran."""
    if status in (204, 304) or not 200 <= status < 1000:
        return None
    status_line = _STATUS_LINES.get(status) or b"HTTP/1.1 %d \r\n" % status
    parts = [status_line, b"date: ", date, b"\r\n"]
    for header in headers:
        line = _header_lines.get(header)
        if line is None:
            line = _header_line(*header)
            if line is None:
                return None
        parts.append(line)
    if close:
        parts.append(b"connection: close\r\n")
    parts.append(b"content-length: %d\r\n\r\n" % len(body))
    parts.append(body)
    return b"".join(parts)


def _header_line(name: str, value: str) -> bytes | None:
    name_bytes = name.encode("ascii")
    value_bytes = value.encode("latin-1")
    if name.lower() in _RESPONSE_SPECIAL:
        return None
    if _NAME_OUT.fullmatch(name_bytes) is None or _VALUE_OUT.fullmatch(value_bytes) is None:
        return None
    line = b"%s: %s\r\n" % (name_bytes, value_bytes)
    if len(_header_lines) < _HEADER_CACHE_LIMIT:
        _header_lines[(name, value)] = line
    return line

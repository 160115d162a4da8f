"""The lean HTTP/1.1 path against h11: whatever ``parse_head`` accepts, h11 reads the same way
(method, target, headers, body framing, keep-alive), whatever it declines h11 decides, and
``encode_response`` writes exactly h11's bytes or leaves the response to h11."""

from __future__ import annotations

import h11
from hypothesis import example, given, settings
from hypothesis import strategies as st

from smsgw.http import lean
from smsgw.http.server import _REASONS, _head_size, _header_dict

MAX_HEAD = 16 * 1024

def _mostly(common: list[bytes], unusual: list[bytes]) -> st.SearchStrategy[bytes]:
    """``common`` about nine times in ten, so that many heads are read by the lean path."""
    return st.sampled_from(common * 9 * len(unusual) + unusual)


_methods = _mostly([b"GET", b"POST", b"DELETE"],
                   [b"HEAD", b"CONNECT", b"OPTIONS", b"get", b"P\xc3ST", b"", b"PO ST", b"G(T"])
_targets = _mostly([b"/", b"/v1/messages", b"/a?b=c&d=%20"], [b"*", b"http://x/y", b"/x y", b"/\x80", b"/\x7f", b""])
_versions = _mostly([b"HTTP/1.1"], [b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1 ", b"http/1.1", b"HTTP/1.10"])
_names = st.sampled_from(
    [b"Content-Length", b"content-length", b"Connection", b"X-Api-Key", b"Host", b"HOST", b"Transfer-Encoding",
     b"Expect", b"Upgrade", b"Bad Name", b"", b"X(y)", b"x-\xe9"]
)
_values = st.sampled_from(
    [b"example", b"", b"5", b"05", b"keep-alive", b"5, 5", b"5,6", b"-1", b" 5 ", b"1" * 19, b"1" * 21, b"chunked",
     b"gzip, chunked", b"close", b"upgrade", b"100-continue", b"websocket", b"\tpadded ", b"nul\x00", b"ctl\x01",
     b"del\x7f", b"cr\rin"]
)
_common_fields = st.sampled_from(
    [b"Content-Type: application/json", b"X-Api-Key: k1", b"X-Nonce:a b\tc ", b"X-Note: caf\xe9", b"X-Empty:",
     b"Connection: keep-alive", b"connection: Keep-Alive", b"X-Signature: \t0a1b"]
)
_eols = st.sampled_from([b"\r\n"] * 100 + [b"\n", b"\r\r\n", b"\n\r"])


@st.composite
def heads(draw: st.DrawFn) -> bytes:
    """Request heads, mostly valid, with the usual smuggling and parsing traps mixed in."""
    eol = draw(_eols)
    line = draw(_methods) + b" " + draw(_targets) + b" " + draw(_versions)
    parts = [draw(_mostly([b""], [b"\r\n", b"\n", b" "])) + line + eol]
    if draw(st.sampled_from(range(10))):
        parts.append(b"Host: h" + draw(_eols))
    if draw(st.sampled_from(range(4))):
        parts.append(b"Content-Length: " + draw(st.sampled_from([b"0", b"7", b"12", b"007"])) + draw(_eols))
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(range(20)))
        if kind == 0:
            parts.append(draw(st.sampled_from([b" folded", b"\tfolded", b"no colon", b":"])) + draw(_eols))
        elif kind <= 2:
            spacing = draw(st.sampled_from([b"", b" ", b"  ", b"\t", b" \t"]))
            trailing = draw(st.sampled_from([b"", b" ", b"\t"]))
            parts.append(draw(_names) + b":" + spacing + draw(_values) + trailing + draw(_eols))
        else:
            parts.append(draw(_common_fields) + draw(_eols))
    parts.append(draw(_eols))
    return b"".join(parts)


def _lean_view(data: bytes) -> lean.Head | None:
    """What the server's lean reader does with ``data``: a head, or None (h11 decides or waits)."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = lean.parse_head(data[: end + 4])
    return head if head is not None and head.size <= MAX_HEAD else None


def _check_against_h11(data: bytes) -> None:
    head = _lean_view(data)
    end = data.find(b"\r\n\r\n")
    # Every prefix the lean reader would wait on, h11 waits on too (no answer yet, no error).
    for cut in range(len(data) if end < 0 else end + 3):
        prefix = data[: cut + 1]
        if b"\r\n\r\n" not in prefix and not lean.h11_would_act(prefix, MAX_HEAD):
            conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
            conn.receive_data(prefix)
            assert conn.next_event() is h11.NEED_DATA
    if head is None:
        return
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
    conn.receive_data(data[: end + 4])
    event = conn.next_event()
    assert isinstance(event, h11.Request)
    assert event.method.decode("ascii") == head.method
    assert event.target.decode("ascii") == head.target
    assert _header_dict(event.headers) == head.headers
    assert _head_size(event) == head.size
    assert not conn.they_are_waiting_for_100_continue
    body = b"b" * head.content_length
    conn.receive_data(body + b"GET / HTTP/1.1\r\n")  # a pipelined request must not count as body
    received = b""
    while isinstance(chunk := conn.next_event(), h11.Data):
        received += chunk.data
    assert received == body
    assert isinstance(chunk, h11.EndOfMessage)
    assert conn.their_state is h11.DONE
    conn.send(h11.Response(status_code=200, headers=[(b"content-length", b"0")]))
    conn.send(h11.EndOfMessage())
    assert conn.our_state is h11.DONE  # keep-alive, as the lean path assumes


@settings(max_examples=1500)
@given(heads())
@example(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
@example(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")
@example(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n folded\r\n\r\n")
@example(b"POST / HTTP/1.1\nHost: h\nContent-Length: 5\n\n")
@example(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\n\r\n")
@example(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
@example(b"GET / HTTP/1.1\r\n\r\n")
@example(b"GET / HTTP/1.0\r\nHost: a\r\n\r\n")
@example(b"POST /v1/messages HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: 10\r\n"
         b"X-Api-Key: k\r\nConnection: keep-alive\r\n\r\n")
def test_lean_heads_read_as_h11_reads_them(data: bytes) -> None:
    _check_against_h11(data)


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_lean_heads_of_arbitrary_bytes(data: bytes) -> None:
    _check_against_h11(data)


def test_lean_head_common_case() -> None:
    head = lean.parse_head(
        b"POST /v1/messages?x=1 HTTP/1.1\r\nHost: gw\r\nContent-Length:  12 \r\nX-A: 1\r\nx-a: 2\r\n\r\n"
    )
    assert head == lean.Head(
        "POST", "/v1/messages?x=1", {"host": "gw", "content-length": "12", "x-a": "1, 2"}, 12,
        _head_size(h11.Request(method="POST", target="/v1/messages?x=1",
                               headers=[("host", "gw"), ("content-length", "12"), ("x-a", "1"), ("x-a", "2")])),
    )


def test_oversized_complete_head_is_left_to_h11() -> None:
    data = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"v" * MAX_HEAD + b"\r\n\r\n"
    assert lean.parse_head(data) is not None
    assert _lean_view(data) is None  # the server hands it over; h11 + the size check answer 431


_statuses = st.sampled_from([200, 201, 202, 204, 299, 304, 400, 404, 408, 413, 431, 500, 503, 599, 999, 100, 1000])
_response_headers = st.lists(
    st.tuples(
        st.sampled_from(["content-type", "Content-Type", "allow", "retry-after", "x-a", "Content-Length",
                         "content-length", "transfer-encoding", "connection", "Host", "bad name", "x-\u00e9"]),
        st.sampled_from(["application/json", "1", "GET, POST", "", " padded", "a\r\nb", "caf\u00e9", "0", "close",
                         "chunked", "nul\x00"]),
    ),
    max_size=4,
)


@settings(max_examples=1000)
@given(_statuses, _response_headers, st.binary(max_size=64), st.booleans())
def test_encode_response_writes_h11_bytes(
    status: int, headers: list[tuple[str, str]], body: bytes, close: bool
) -> None:
    date = b"Fri, 27 Nov 2026 22:15:35 GMT"
    try:
        encoded: bytes | type[UnicodeEncodeError] | None = lean.encode_response(status, headers, body, date, close)
    except UnicodeEncodeError:
        encoded = UnicodeEncodeError  # so does server.py before h11 sees the header
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(b"POST / HTTP/1.1\r\nhost: x\r\n\r\n")
    conn.next_event()
    conn.next_event()
    try:  # what server.py sends through h11 for a bytes body
        raw = [(b"date", date), *[(n.encode("ascii"), v.encode("latin-1")) for n, v in headers]]
    except UnicodeEncodeError:
        assert encoded in (UnicodeEncodeError, None)
        return
    if close:
        raw.append((b"connection", b"close"))
    if status not in (204, 304):
        raw.append((b"content-length", str(len(body)).encode("ascii")))
    try:
        sent = conn.send(h11.Response(status_code=status, headers=raw, reason=_REASONS.get(status, b"")))
        if body:
            sent += conn.send(h11.Data(data=body))
        sent += conn.send(h11.EndOfMessage())
    except h11.LocalProtocolError:
        assert encoded is None
        return
    if encoded is not None:
        assert encoded == sent
        assert (conn.our_state is h11.MUST_CLOSE) == close

"""The incremental multipart parser: the same events however the body is cut into chunks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgw.http.multipart import (
    MultipartError,
    MultipartParser,
    PartData,
    PartEnd,
    PartStart,
    boundary_of,
    parse_header_value,
)

BOUNDARY = b"----smsgw7MA4YWxkTrZu0gW"


def encode(parts: list[tuple[str, str | None, bytes]], boundary: bytes = BOUNDARY, preamble: bytes = b"") -> bytes:
    out = bytearray(preamble)
    for name, filename, data in parts:
        out += b"--" + boundary + b"\r\n"
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"Content-Disposition: {disposition}\r\n".encode()
        if filename:
            out += b"Content-Type: text/csv\r\n"
        out += b"\r\n" + data + b"\r\n"
    out += b"--" + boundary + b"--\r\nepilogue"
    return bytes(out)


def parse(body: bytes, cuts: list[int], boundary: bytes = BOUNDARY) -> list[tuple[str | None, str | None, bytes]]:
    parser = MultipartParser(boundary)
    events = []
    start = 0
    for cut in [*sorted(set(cuts)), len(body)]:
        events += parser.feed(body[start:cut])
        start = cut
    parser.close()
    parts: list[tuple[str | None, str | None, bytes]] = []
    current: PartStart | None = None
    data = b""
    for event in events:
        if isinstance(event, PartStart):
            assert current is None
            current, data = event, b""
        elif isinstance(event, PartData):
            assert current is not None and event.data
            data += event.data
        else:
            assert isinstance(event, PartEnd) and current is not None
            parts.append((current.name, current.filename, data))
            current = None
    assert current is None
    return parts


# Data that likes to look like the delimiter: CRLFs, dashes and pieces of the boundary.
nasty = st.lists(st.sampled_from([b"\r", b"\n", b"-", b"--", b"\r\n--", BOUNDARY[:5], BOUNDARY[:-1], BOUNDARY[1:],
                                  b"a,b\r\n", b"x"]), max_size=20).map(b"".join)
parts_strategy = st.lists(
    st.tuples(st.sampled_from(["template_id", "file", "text", "名字"]), st.sampled_from([None, "a.csv", "表.csv"]),
              nasty | st.binary(max_size=40)),
    min_size=1, max_size=4).filter(lambda parts: all(BOUNDARY not in data for _, _, data in parts))
# (a sender picks a boundary that its data does not contain)


@given(parts_strategy, st.lists(st.integers(min_value=0, max_value=400), max_size=12),
       st.sampled_from([b"", b"preamble\r\n", b"\r\n"]))
def test_any_chunking_gives_the_same_parts(parts: list[tuple[str, str | None, bytes]], cuts: list[int],
                                           preamble: bytes) -> None:
    body = encode(parts, preamble=preamble)
    assert parse(body, [c for c in cuts if c < len(body)]) == parts


@given(parts_strategy)
def test_byte_by_byte(parts: list[tuple[str, str | None, bytes]]) -> None:
    body = encode(parts)
    assert parse(body, list(range(len(body)))) == parts


@given(parts_strategy, st.integers(min_value=1, max_value=60))
def test_truncated_body_is_an_error(parts: list[tuple[str, str | None, bytes]], cut: int) -> None:
    body = encode(parts)
    closing = body.index(b"--" + BOUNDARY + b"--")
    parser = MultipartParser(BOUNDARY)
    parser.feed(body[:max(0, closing - cut)])
    with pytest.raises(MultipartError, match="without its closing delimiter"):
        parser.close()


def test_part_without_disposition_is_refused() -> None:
    parser = MultipartParser(b"b")
    with pytest.raises(MultipartError, match="Content-Disposition"):
        parser.feed(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--")


def test_boundary_and_header_parameters() -> None:
    assert boundary_of('multipart/form-data; boundary="a b:c"') == b"a b:c"
    assert boundary_of("multipart/form-data; charset=utf-8; boundary=xyz") == b"xyz"
    with pytest.raises(MultipartError, match="not multipart/form-data"):
        boundary_of("application/json")
    with pytest.raises(MultipartError, match="boundary"):
        boundary_of("multipart/form-data")
    assert parse_header_value(r'form-data; name="f\"x"; filename=a.csv') == (
        "form-data", {"name": 'f"x', "filename": "a.csv"})

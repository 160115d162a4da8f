"""FrameReader fed whole, one byte at a time, coalesced and with trailing data (h11's
test_io style), plus the length guards."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.errors import RemoteProtocolError
from protocols.framing import FrameReader


def frame(body: bytes) -> bytes:
    return (len(body) + 4).to_bytes(4, "big") + body


def reader() -> FrameReader:
    return FrameReader(min_size=12, max_size=1024, length_status=99)


bodies = st.lists(st.binary(min_size=8, max_size=200), min_size=1, max_size=8)


@given(bodies)
def test_whole_frames(parts: list[bytes]) -> None:
    r = reader()
    for body in parts:
        r.feed(frame(body))
        assert r.next_frame() == frame(body)
        assert r.next_frame() is None


@given(bodies)
def test_byte_by_byte(parts: list[bytes]) -> None:
    r = reader()
    got = []
    for byte in b"".join(frame(b) for b in parts):
        r.feed(bytes([byte]))
        got.extend(r)
    assert got == [frame(b) for b in parts]
    assert r.buffered == 0


@given(bodies, st.data())
def test_coalesced_and_split_anywhere(parts: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(frame(b) for b in parts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=5)))
    r = reader()
    got = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        r.feed(stream[prev:cut])
        prev = cut
        got.extend(r)
    assert got == [frame(b) for b in parts]


def test_trailing_partial_frame_is_kept() -> None:
    r = reader()
    whole = frame(b"x" * 10)
    r.feed(whole + whole[:6])
    assert list(r) == [whole]
    assert r.buffered == 6
    r.feed(whole[6:])
    assert list(r) == [whole]


@pytest.mark.parametrize("length", [0, 4, 11, 1025, 0xFFFFFFFF])
def test_impossible_length_is_fatal(length: int) -> None:
    r = reader()
    r.feed(length.to_bytes(4, "big") + b"\0" * 20)
    with pytest.raises(RemoteProtocolError) as info:
        r.next_frame()
    assert info.value.fatal and info.value.status == 99 and info.value.offset == 0


def test_large_stream_compacts() -> None:
    r = reader()
    one = frame(b"y" * 1000)
    for _ in range(500):
        r.feed(one)
        assert r.next_frame() == one
    assert r.buffered == 0

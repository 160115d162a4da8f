"""UDH building and parsing (PROTOCOLS.md B.1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.text import UdhError, UdhInfo, concat_udh, parse_udh


def test_concat_vectors() -> None:
    assert concat_udh(0x42, 2, 1) == bytes.fromhex("050003420201")
    assert concat_udh(0x1234, 3, 2, ref_bits=16) == bytes.fromhex("06080412340302")


@pytest.mark.parametrize(("reference", "total", "index", "ref_bits"), [
    (256, 2, 1, 8), (-1, 2, 1, 8), (0x10000, 2, 1, 16), (1, 2, 3, 8), (1, 2, 0, 8), (1, 256, 1, 8),
    (1, 2, 1, 12),
])
def test_concat_udh_refuses(reference: int, total: int, index: int, ref_bits: int) -> None:
    with pytest.raises(ValueError):
        concat_udh(reference, total, index, ref_bits)


def test_parse_concat_and_ports() -> None:
    info, rest = parse_udh(bytes.fromhex("0500034202016869"))
    assert info == UdhInfo((0x42, 2, 1), None, [(0, b"\x42\x02\x01")])
    assert rest == b"hi"
    info, rest = parse_udh(bytes.fromhex("0c 0504 0b84 23f0 0804 abcd 0301 ff".replace(" ", "")))
    assert info is not None
    assert info.ports == (0x0B84, 0x23F0)
    assert info.concat == (0xABCD, 3, 1)
    assert rest == b"\xff"
    info, _ = parse_udh(bytes.fromhex("0404021234"))
    assert info is not None and info.ports == (0x12, 0x34)


def test_parse_lenient_cases() -> None:
    assert parse_udh(b"") == (None, b"")
    assert parse_udh(b"\x00abc") == (UdhInfo(None, None, []), b"abc")
    # concatenation IE with part 0, part > total, or a wrong length: kept but not understood
    for ie in ("000342 0000", "000342 0203", "00024202", "0004420201ff"):
        data = bytes.fromhex(ie.replace(" ", ""))
        info, rest = parse_udh(bytes([len(data)]) + data)
        assert info is not None and info.concat is None and info.elements[0][0] == 0
        assert rest == b""
    # the last valid concatenation IE wins; an invalid one later does not erase it
    info, _ = parse_udh(bytes.fromhex("0f 000301 0201 000302 0302 000303 0000".replace(" ", "")))
    assert info is not None and info.concat == (2, 3, 2)


@pytest.mark.parametrize("data", ["05000342", "0300", "0400034202", "020001"])
def test_malformed_raises(data: str) -> None:
    with pytest.raises(UdhError):
        parse_udh(bytes.fromhex(data))


@given(st.binary(max_size=300))
def test_fuzz(data: bytes) -> None:
    try:
        info, rest = parse_udh(data)
    except UdhError:
        return
    if info is None:
        assert data == b""
        return
    assert data.endswith(rest)
    assert sum(2 + len(ie) for _, ie in info.elements) == len(data) - len(rest) - 1

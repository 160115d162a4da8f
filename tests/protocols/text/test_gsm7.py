"""GSM 03.38 tables and septet packing (PROTOCOLS.md B.3, B.4, E.16)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.text import TextEncodingError, gsm7

from .strategies import GSM_CHARS

septets = st.binary(max_size=700).map(lambda b: bytes(x & 0x7F for x in b))


def reference_pack(values: bytes, fill: int) -> bytes:
    """Bit by bit, straight from the §6.1.2.1.1 description."""
    if not values:
        return b""
    bits = [0] * fill
    for value in values:
        bits += [(value >> i) & 1 for i in range(7)]
    bits += [0] * (-len(bits) % 8)
    return bytes(sum(bit << i for i, bit in enumerate(bits[o:o + 8])) for o in range(0, len(bits), 8))


def test_hellohello_vector() -> None:
    assert gsm7.pack(gsm7.to_septets("hellohello")) == bytes.fromhex("E8329BFD4697D9EC37")
    assert gsm7.unpack(bytes.fromhex("E8329BFD4697D9EC37"), 10) == b"hellohello"


def test_udh_fill_vector() -> None:
    udh = bytes.fromhex("050003420201")
    fill = gsm7.udh_fill_bits(len(udh))
    assert fill == 1
    assert udh + gsm7.pack(b"hi", fill) == bytes.fromhex("050003420201D069")
    assert gsm7.header_septets(len(udh)) + 2 == 9


@pytest.mark.parametrize(("udh_length", "fill", "header"), [(6, 1, 7), (7, 0, 8), (1, 6, 2), (3, 4, 4)])
def test_fill_bits_and_header_septets(udh_length: int, fill: int, header: int) -> None:
    assert gsm7.udh_fill_bits(udh_length) == fill
    assert gsm7.header_septets(udh_length) == header
    assert (udh_length * 8 + fill) == header * 7


@given(septets, st.integers(0, 6))
def test_pack_matches_bitwise_reference_and_unpacks(values: bytes, fill: int) -> None:
    packed = gsm7.pack(values, fill)
    assert packed == reference_pack(values, fill)
    assert gsm7.unpack(packed, len(values), fill) == values


@given(st.binary(max_size=300), st.integers(0, 6), st.data())
def test_unpack_any_octets(data: bytes, fill: int, draw: st.DataObject) -> None:
    count = draw.draw(st.integers(0, max(0, (8 * len(data) - fill) // 7)))
    values = gsm7.unpack(data, count, fill)
    assert len(values) == count and all(v < 0x80 for v in values)
    repacked = gsm7.pack(values, fill)
    assert repacked == reference_pack(values, fill)


def test_pack_unpack_refuse_bad_arguments() -> None:
    with pytest.raises(ValueError):
        gsm7.pack(b"\x80")
    with pytest.raises(ValueError):
        gsm7.pack(b"a", 7)
    with pytest.raises(ValueError):
        gsm7.unpack(b"\x00" * 7, 9)
    with pytest.raises(ValueError):
        gsm7.unpack(b"\x00" * 7, 8, 1)
    with pytest.raises(ValueError):
        gsm7.unpack(b"", 0, -1)
    assert gsm7.unpack(b"\x00" * 7, 8) == b"\x00" * 8


def test_tables() -> None:
    assert len(gsm7.BASIC) == 128
    # PROTOCOLS.md B.4 notes
    assert gsm7.to_septets("@£$¤¡¿§Δ") == bytes([0x00, 0x01, 0x02, 0x24, 0x40, 0x60, 0x5F, 0x10])
    assert gsm7.to_septets("^{}\\[~]|€\x0c") == bytes.fromhex(
        "1b14 1b28 1b29 1b2f 1b3c 1b3d 1b3e 1b40 1b65 1b0a".replace(" ", ""))
    assert gsm7.to_septets("\n\r") == b"\x0a\x0d"


def test_cedilla_both_cases_encode_to_09_and_decode_to_capital() -> None:
    assert gsm7.to_septets("Çç") == b"\x09\x09"
    assert gsm7.from_septets(b"\x09") == "Ç"


@given(st.text(st.sampled_from(GSM_CHARS)))
def test_text_round_trip_and_length(text: str) -> None:
    data = gsm7.to_septets(text)
    assert gsm7.from_septets(data) == text
    assert gsm7.septet_length(text) == len(data)
    assert gsm7.is_gsm(text)


def test_unrepresentable_named() -> None:
    assert not gsm7.is_gsm("ab`")
    with pytest.raises(TextEncodingError) as info:
        gsm7.to_septets("abc\x1bdef")
    assert info.value.position == 3 and info.value.character == "\x1b"
    with pytest.raises(TextEncodingError, match=r"U\+4F60.*position 1"):
        gsm7.septet_length("a你")


@pytest.mark.parametrize(("data", "text"), [
    (b"a\x1b\x41b", "a b"),       # ESC + undefined code -> one space (B.4)
    (b"a\x1b\x1bb", "a b"),       # ESC ESC is undefined too
    (b"ab\x1b", "ab "),           # trailing ESC -> space
    (b"\x1b", " "),
    (b"a\x80\xffb", "a\ufffd\ufffdb"),  # not septets
    (b"\x1b\x65\x1b\x65", "€€"),
])
def test_decode_oddities(data: bytes, text: str) -> None:
    assert gsm7.from_septets(data) == text


@given(st.binary(max_size=400))
def test_decode_never_raises(data: bytes) -> None:
    assert isinstance(gsm7.from_septets(data), str)

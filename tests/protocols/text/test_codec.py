"""encode/decode for every alphabet (PROTOCOLS.md B.4, B.5, C.10, D.8, E.7)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.text import Alphabet, TextEncodingError, decode, encode

from .strategies import alphabet_and_text


@given(alphabet_and_text(long=True))
def test_round_trip(case: tuple[Alphabet, str]) -> None:
    alphabet, text = case
    assert decode(encode(text, alphabet), alphabet) == text


@pytest.mark.parametrize(("text", "alphabet", "data"), [
    ("a€", Alphabet.GSM7, b"a\x1b\x65"),
    ("abc", Alphabet.ASCII, b"abc"),
    ("é", Alphabet.LATIN1, b"\xe9"),
    ("你好", Alphabet.UCS2, bytes.fromhex("4f60597d")),
    ("😀", Alphabet.UCS2, bytes.fromhex("d83dde00")),  # surrogate pair
    ("你好", Alphabet.GBK, bytes.fromhex("c4e3bac3")),
    ("你好", Alphabet.GB18030, bytes.fromhex("c4e3bac3")),
    ("€", Alphabet.GB18030, bytes.fromhex("a2e3")),
    ("😀", Alphabet.GB18030, bytes.fromhex("9439fc36")),  # 4-octet sequence
])
def test_vectors(text: str, alphabet: Alphabet, data: bytes) -> None:
    assert encode(text, alphabet) == data
    assert decode(data, alphabet) == text


@pytest.mark.parametrize(("text", "alphabet", "position"), [
    ("ab`", Alphabet.GSM7, 2),
    ("abcé", Alphabet.ASCII, 3),
    ("a€", Alphabet.LATIN1, 1),
    ("ok😀", Alphabet.GBK, 2),
    ("a\ud800b", Alphabet.UCS2, 1),  # a lone surrogate is not text
    ("a\udc00", Alphabet.GB18030, 1),
])
def test_unrepresentable_character_is_named(text: str, alphabet: Alphabet, position: int) -> None:
    with pytest.raises(TextEncodingError, match=f"position {position}") as info:
        encode(text, alphabet)
    assert info.value.position == position
    assert info.value.character == text[position]


def test_binary_is_not_text() -> None:
    with pytest.raises(TextEncodingError):
        encode("abc", Alphabet.BINARY)
    assert decode(b"\x00\xff", Alphabet.BINARY) == "\x00\xff"


@pytest.mark.parametrize(("data", "alphabet", "text"), [
    (b"\x00a\x00", Alphabet.UCS2, "a\ufffd"),              # odd length
    (bytes.fromhex("d83d0061"), Alphabet.UCS2, "\ufffda"),  # high surrogate then no low
    (bytes.fromhex("de00"), Alphabet.UCS2, "\ufffd"),       # lone low surrogate
    (b"a\xff", Alphabet.ASCII, "a\ufffd"),
    (bytes.fromhex("c4e3ba"), Alphabet.GBK, "你\ufffd"),     # truncated character
    (bytes.fromhex("c4e3bac3"), Alphabet.GB18030, "你好"),   # GBK content read as GB18030
    (bytes.fromhex("b0a1"), Alphabet.GB18030, "啊"),         # GB2312 content
])
def test_decode_bad_or_foreign_octets(data: bytes, alphabet: Alphabet, text: str) -> None:
    assert decode(data, alphabet) == text


@given(st.binary(max_size=400), st.sampled_from(list(Alphabet)))
def test_decode_never_raises(data: bytes, alphabet: Alphabet) -> None:
    assert isinstance(decode(data, alphabet), str)

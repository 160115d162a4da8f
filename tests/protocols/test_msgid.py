"""Message id normalisation (PROTOCOLS.md E.3)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.msgid import candidate_keys, normalise_message_id


@pytest.mark.parametrize(("raw", "base", "expected"), [
    ("1A2B", "hex", "6699"), ("001a2b", "hex", "6699"), (b"1a2b\x00\x00", "hex", "6699"),
    ("0", "hex", "0"), ("000", "dec", "0"), ("006699", "dec", "6699"), (" 6699 ", "dec", "6699"),
    ("AbC-1", "str", "abc-1"), (b"\x00AbC-1\x00", "str", "abc-1"), ("0042", "str", "0042"),
    ("0042", "auto", "42"), ("00FF", "auto", "ff"), ("ABC-1", "auto", "abc-1"), ("0000", "auto", "0"),
    ("00fF00", "auto", "ff00"), ("g1", "auto", "g1"),
])
def test_vectors(raw: str | bytes, base: str, expected: str) -> None:
    assert normalise_message_id(raw, base) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("raw", "base"), [
    ("", "auto"), ("\x00 ", "str"), ("12g", "hex"), ("0x12", "hex"), ("1_0", "hex"), ("1_0", "dec"),
    ("ff", "dec"), ("١٢", "dec"), ("12", "octal"), ("-1", "dec"), ("+1", "dec"),
])
def test_invalid(raw: str, base: str) -> None:
    with pytest.raises(ValueError):
        normalise_message_id(raw, base)  # type: ignore[arg-type]


@given(st.integers(0, 2**128), st.integers(0, 6), st.booleans(), st.sampled_from(["", " ", "\x00"]))
def test_hex_side_meets_decimal_side(n: int, zeros: int, upper: bool, pad: str) -> None:
    hex_id = "0" * zeros + (f"{n:X}" if upper else f"{n:x}")
    dec_id = "0" * zeros + str(n)
    assert normalise_message_id(hex_id + pad, "hex") == normalise_message_id(pad + dec_id, "dec") == str(n)
    assert set(candidate_keys(hex_id)) & set(candidate_keys(dec_id.encode()))
    assert normalise_message_id(hex_id, "auto") == normalise_message_id(f"{n:x}", "auto")


@given(st.text(min_size=1, max_size=64))
def test_auto_and_str_idempotent(raw: str) -> None:
    try:
        once = normalise_message_id(raw, "auto")
    except ValueError:
        assert not raw.strip(" \t\r\n\x00")
        return
    assert normalise_message_id(once, "auto") == once
    assert normalise_message_id(normalise_message_id(raw, "str"), "str") == normalise_message_id(raw, "str")
    assert candidate_keys(raw)


def test_candidate_keys_document_the_ambiguity() -> None:
    assert candidate_keys("0123") == ("123", "291")
    assert candidate_keys("ff") == ("255",)
    assert candidate_keys("abc-1") == ("abc-1",)
    assert candidate_keys("291") == ("291", "657")
    assert "291" in candidate_keys("123")  # decimal 291 and hex 0x123 collide
    assert candidate_keys("0") == ("0",)


def _auto_by_the_regexes(text: str) -> str:
    """``auto`` as PROTOCOLS.md E.3 words it, for the fast path to be held against."""
    text = text.strip(" \t\r\n\x00")
    if re.fullmatch(r"[0-9]+", text, re.ASCII):
        return str(int(text))
    if re.fullmatch(r"[0-9a-fA-F]+", text, re.ASCII):
        return text.lower().lstrip("0") or "0"
    return text.casefold()


@given(st.one_of(st.text(min_size=1, max_size=40), st.text("0123456789", min_size=1, max_size=40),
                 st.text("0123456789abcdefABCDEF٣²", min_size=1, max_size=40)))
def test_auto_takes_ascii_digits_only_as_decimal(raw: str) -> None:
    """Digits of other scripts (٣, ²) are ``str.isdigit`` too, never decimal here."""
    if not raw.strip(" \t\r\n\x00"):
        return
    assert normalise_message_id(raw, "auto") == _auto_by_the_regexes(raw)


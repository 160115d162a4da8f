"""Number normalisation and prefix routing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgw.numbers import InvalidNumber, Router, normalise


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "13800138000"),
        ("+8613800138000", "13800138000"),
        ("008613800138000", "13800138000"),
        ("8613800138000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        (" 138 0013 8000 ", "13800138000"),
        ("+447700900123", "+447700900123"),
        ("0044 7700 900123", "+447700900123"),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@pytest.mark.parametrize("raw", ["", "12345", "1380013800", "abc", "+0123456789", "23800138000", "+86123",
                                 "+861012345678"])
def test_invalid(raw: str) -> None:
    with pytest.raises(InvalidNumber):
        normalise(raw)


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.sampled_from(["", "+86", "86", "0086", "+86 "]))
def test_prefix_forms_agree(number: str, prefix: str) -> None:
    assert normalise(prefix + number) == number


def test_longest_prefix_wins() -> None:
    router = Router({"a": ("13",), "b": ("139",), "c": ("+",), "d": ("139",)})
    assert router.candidates("13900000000") == ("b", "d")
    assert router.candidates("13800000000") == ("a",)
    assert router.candidates("+447700900123") == ("c",)
    assert router.candidates("15000000000") == ()


def test_full_width_digits_become_ascii() -> None:
    # what a Chinese input method types: full-width digits and plus sign
    assert normalise("＋８６ １３８００１３８０００") == "13800138000"
    assert normalise("１３８００１３８０００") == "13800138000"


@pytest.mark.parametrize("raw", ["١٣٨٠٠١٣٨٠٠٠", "13８0013800\u0660", "+4477009001२३"])
def test_digits_of_other_scripts_are_refused(raw: str) -> None:
    # \d matches them, but no SMSC takes them: they must not reach the database as they are
    with pytest.raises(InvalidNumber):
        normalise(raw)

"""split / segment_count / choose_alphabet / analyse (PROTOCOLS.md B.2, B.3, B.5, E.17)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.text import (
    Alphabet,
    Segment,
    TextEncodingError,
    analyse,
    choose_alphabet,
    decode,
    encode,
    gsm7,
    parse_udh,
    segment_count,
    split,
)

from .strategies import CHARS, TEXT_ALPHABETS

A = Alphabet
# (alphabet, ref_bits) -> (single, part) capacity in transport units (octets; GSM septets)
CAPACITY = {
    (A.GSM7, 8): (160, 153), (A.GSM7, 16): (160, 152),
    (A.UCS2, 8): (140, 134), (A.UCS2, 16): (140, 132),
}
for _a in (A.ASCII, A.LATIN1, A.GBK, A.GB18030):
    CAPACITY[(_a, 8)] = (140, 134)
    CAPACITY[(_a, 16)] = (140, 133)


# how many units a part may end early to keep a character whole
EARLY = {A.GSM7: 1, A.UCS2: 2, A.GBK: 1, A.GB18030: 3}


def lengths(segments: list[Segment]) -> list[int]:
    return [len(s.payload) for s in segments]


@pytest.mark.parametrize(("text", "alphabet", "ref_bits", "expected"), [
    ("a" * 160, A.GSM7, 8, [160]),
    ("a" * 161, A.GSM7, 8, [153, 8]),
    ("a" * 306, A.GSM7, 8, [153, 153]),
    ("a" * 307, A.GSM7, 8, [153, 153, 1]),
    ("a" * 161, A.GSM7, 16, [152, 9]),
    ("€" * 80, A.GSM7, 8, [160]),
    ("€" * 81, A.GSM7, 8, [152, 10]),           # 153 would split the 77th escape pair
    ("a" * 152 + "€" * 5, A.GSM7, 8, [152, 10]),
    ("a" * 151 + "€" * 5, A.GSM7, 16, [151, 10]),
    ("a" * 70, A.UCS2, 8, [140]),
    ("a" * 71, A.UCS2, 8, [134, 8]),
    ("a" * 71, A.UCS2, 16, [132, 10]),
    ("a" * 66 + "😀" + "b" * 10, A.UCS2, 8, [132, 24]),  # never split a surrogate pair
    ("😀" * 35, A.UCS2, 8, [140]),
    ("😀" * 36, A.UCS2, 8, [132, 12]),
    ("a" * 140, A.LATIN1, 8, [140]),
    ("a" * 141, A.ASCII, 8, [134, 7]),
    ("a" * 141, A.ASCII, 16, [133, 8]),
    ("你" * 70, A.GBK, 8, [140]),
    ("你" * 71, A.GBK, 8, [134, 8]),
    ("你" * 71, A.GBK, 16, [132, 10]),           # 133 would cut a 2-octet character
    ("a" + "😀" * 35, A.GB18030, 8, [133, 8]),   # 4-octet characters
])
def test_part_sizes(text: str, alphabet: Alphabet, ref_bits: int, expected: list[int]) -> None:
    segments = split(text, alphabet, reference=9, ref_bits=ref_bits)
    assert lengths(segments) == expected
    assert segment_count(text, alphabet, ref_bits=ref_bits) == len(expected)


def test_single_part_has_no_udh() -> None:
    [segment] = split("hello", A.GSM7, reference=3)
    assert segment == Segment(b"hello", b"", 1, 1, 3, 5)
    assert segment.user_data == b"hello"
    assert split("", A.UCS2, reference=0) == [Segment(b"", b"", 1, 1, 0, 0)]


def test_udh_vectors_and_packed_example() -> None:
    first, _, third = split("x" * 306 + "hi", A.GSM7, reference=0x42)
    assert first.udh == bytes.fromhex("050003420301") and third.udh == bytes.fromhex("050003420303")
    assert third.payload == b"hi" and third.udl == 9
    _, _, packed = split("x" * 306 + "hi", A.GSM7, reference=0x42, packed=True)
    assert packed.user_data == bytes.fromhex("050003420303D069") and packed.udl == 9
    parts = split("y" * 300, A.UCS2, reference=0x1234, ref_bits=16)
    assert [p.udh for p in parts] == [bytes.fromhex(f"0608041234050{i}") for i in range(1, 6)]
    [single] = split("hellohello", A.GSM7, reference=1, packed=True)
    assert single.user_data == bytes.fromhex("E8329BFD4697D9EC37") and single.udl == 10


def test_limits() -> None:
    assert segment_count("a" * 153 * 255, A.GSM7) == 255
    for text in ("a" * (153 * 255 + 1), "€" * 20000, "a" * 10**6):
        with pytest.raises(TextEncodingError, match="255"):
            split(text, A.GSM7, reference=1)
    with pytest.raises(TextEncodingError):
        split("你", A.ASCII, reference=1)
    with pytest.raises(TextEncodingError):
        split("a", A.BINARY, reference=1)


@pytest.mark.parametrize(("kwargs"), [
    {"reference": 256}, {"reference": -1}, {"reference": 70000, "ref_bits": 16},
    {"reference": 1, "ref_bits": 7}, {"reference": 1, "packed": True, "alphabet": A.UCS2},
])
def test_bad_arguments(kwargs: dict[str, object]) -> None:
    alphabet = kwargs.pop("alphabet", A.GSM7)
    for text in ("short", "long " * 100):
        with pytest.raises(ValueError):
            split(text, alphabet, **kwargs)  # type: ignore[arg-type]


@st.composite
def split_case(draw: st.DrawFn) -> tuple[Alphabet, str, int, int]:
    alphabet = draw(st.sampled_from(TEXT_ALPHABETS))
    low, high = draw(st.sampled_from([(0, 40), (60, 200), (250, 900)]))
    text = draw(st.text(CHARS[alphabet], min_size=low, max_size=high))
    ref_bits = draw(st.sampled_from([8, 16]))
    reference = draw(st.integers(0, (1 << ref_bits) - 1))
    return alphabet, text, ref_bits, reference


def _whole(payload: bytes, alphabet: Alphabet) -> bool:
    """The payload starts and ends on a character boundary."""
    if alphabet is A.GSM7:
        return not payload.endswith(b"\x1b")
    if alphabet is A.UCS2:
        return len(payload) % 2 == 0 and not (payload and 0xD8 <= payload[-2] <= 0xDB)
    if alphabet in (A.GBK, A.GB18030):
        try:
            payload.decode(alphabet.value)
        except UnicodeDecodeError:
            return False
    return True


@settings(max_examples=400)
@given(split_case())
def test_split_properties(case: tuple[Alphabet, str, int, int]) -> None:
    alphabet, text, ref_bits, reference = case
    segments = split(text, alphabet, reference=reference, ref_bits=ref_bits)
    total = len(segments)
    single, part = CAPACITY[(alphabet, ref_bits)]
    assert total == segment_count(text, alphabet, ref_bits=ref_bits)
    assert b"".join(s.payload for s in segments) == encode(text, alphabet)
    assert "".join(decode(s.payload, alphabet) for s in segments) == text
    for index, segment in enumerate(segments, 1):
        assert (segment.index, segment.total, segment.reference) == (index, total, reference)
        assert _whole(segment.payload, alphabet)
        assert len(segment.payload) <= (single if total == 1 else part)
        assert len(segment.user_data) <= 140 or alphabet is A.GSM7
        if total == 1:
            assert segment.udh == b""
            continue
        info, rest = parse_udh(segment.user_data)
        assert info is not None and info.concat == (reference, total, index)
        assert rest == segment.payload
        if index < total:  # a part is closed early only to keep a character whole
            assert len(segment.payload) >= part - EARLY.get(alphabet, 0)


@settings(max_examples=200)
@given(st.text(CHARS[A.GSM7], max_size=700) | st.text(CHARS[A.GSM7], min_size=150, max_size=700),
       st.sampled_from([8, 16]))
def test_packed_split(text: str, ref_bits: int) -> None:
    plain = split(text, A.GSM7, reference=5, ref_bits=ref_bits)
    packed = split(text, A.GSM7, reference=5, ref_bits=ref_bits, packed=True)
    assert len(plain) == len(packed)
    for p, q in zip(plain, packed, strict=True):
        assert q.udh == p.udh and q.udl == p.udl
        assert len(q.user_data) <= 140 and q.udl <= 160
        header = gsm7.header_septets(len(q.udh)) if q.udh else 0
        assert q.udl == header + len(p.payload)
        fill = gsm7.udh_fill_bits(len(q.udh))
        assert gsm7.unpack(q.payload, q.udl - header, fill) == p.payload


@pytest.mark.parametrize(("text", "candidates", "expected"), [
    ("hello", [A.GSM7, A.UCS2], A.GSM7),
    ("hello", [A.UCS2, A.GSM7], A.GSM7),          # fewer octets beats order
    ("hello", [A.LATIN1, A.GSM7], A.LATIN1),      # tie: candidate order
    ("héllo你", [A.GSM7, A.LATIN1, A.UCS2], A.UCS2),
    ("你好 abc", [A.UCS2, A.GBK], A.GBK),          # 10 octets vs 12
    ("你好", [A.UCS2, A.GBK], A.UCS2),             # tie on octets
    ("a" * 150, [A.LATIN1, A.GSM7], A.GSM7),      # 1 part vs 2
    ("{" * 100, [A.GSM7, A.LATIN1], A.LATIN1),    # 200 septets (2 parts) vs 100 octets
    ("😀", [A.BINARY, A.GBK, A.GB18030], A.GB18030),
])
def test_choose_alphabet(text: str, candidates: list[Alphabet], expected: Alphabet) -> None:
    assert choose_alphabet(text, candidates) is expected


def test_choose_alphabet_none_fits() -> None:
    with pytest.raises(TextEncodingError):
        choose_alphabet("你", [A.GSM7, A.ASCII, A.BINARY])
    with pytest.raises(TextEncodingError):
        choose_alphabet("a", [])
    with pytest.raises(TextEncodingError):
        choose_alphabet("a" * 10**6, [A.GSM7])


@given(st.data())
def test_choose_alphabet_is_cheapest(data: st.DataObject) -> None:
    source = data.draw(st.sampled_from(TEXT_ALPHABETS))
    text = data.draw(st.text(CHARS[source], max_size=400))
    candidates = data.draw(st.lists(st.sampled_from(list(A)), min_size=1, max_size=5))
    costs = {}
    for alphabet in candidates:
        with contextlib.suppress(TextEncodingError):
            costs[alphabet] = (segment_count(text, alphabet), len(encode(text, alphabet)))
    if not costs:
        with pytest.raises(TextEncodingError):
            choose_alphabet(text, candidates)
        return
    chosen = choose_alphabet(text, candidates)
    best = min(costs.values())
    assert costs[chosen] == best
    assert chosen == next(a for a in candidates if costs.get(a) == best)
    assert analyse(text, candidates) == (chosen, costs[chosen][0])

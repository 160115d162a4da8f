"""Text strategies: for each alphabet, text it can represent."""

from __future__ import annotations

from hypothesis import strategies as st

from protocols.text import Alphabet, gsm7

GSM_CHARS = sorted(set(gsm7.BASIC.replace("\x1b", "")) | set(gsm7.EXTENSION.values()))
_GBK_CHARS = []
for _cp in range(0x80, 0x10000):
    if not 0xD800 <= _cp <= 0xDFFF:
        try:
            chr(_cp).encode("gbk")
        except UnicodeEncodeError:
            continue
        _GBK_CHARS.append(chr(_cp))

_ascii = st.characters(max_codepoint=0x7F)
_scalar = st.characters(codec="utf-8")  # every Unicode scalar value (no surrogates)
_non_bmp = st.characters(min_codepoint=0x10000, codec="utf-8")

CHARS = {
    # heavy on the extension table so that escapes land on part boundaries
    Alphabet.GSM7: st.sampled_from(GSM_CHARS) | st.sampled_from(list(gsm7.EXTENSION.values())),
    Alphabet.ASCII: _ascii,
    Alphabet.LATIN1: st.characters(max_codepoint=0xFF),
    Alphabet.UCS2: _scalar | _non_bmp | _ascii,
    Alphabet.GBK: st.sampled_from(_GBK_CHARS) | _ascii,
    Alphabet.GB18030: _scalar | _non_bmp | st.sampled_from(_GBK_CHARS),
}
TEXT_ALPHABETS = list(CHARS)


def text_for(alphabet: Alphabet, max_size: int = 60) -> st.SearchStrategy[str]:
    return st.text(CHARS[alphabet], max_size=max_size)


def long_text_for(alphabet: Alphabet) -> st.SearchStrategy[str]:
    """Short, around one part, and several parts long."""
    return st.one_of(
        st.text(CHARS[alphabet], max_size=200),
        st.text(CHARS[alphabet], min_size=60, max_size=900),
    )


@st.composite
def alphabet_and_text(draw: st.DrawFn, long: bool = False) -> tuple[Alphabet, str]:
    alphabet = draw(st.sampled_from(TEXT_ALPHABETS))
    return alphabet, draw(long_text_for(alphabet) if long else text_for(alphabet))

"""Text <-> transport octets for every alphabet (PROTOCOLS.md B.4, B.5, C.10, D.8, E.7).

``encode`` is strict: it raises ``TextEncodingError`` naming the first character the
alphabet cannot write. ``decode`` is total: any octets give a string, so a decoder or the
CLI can always show something; what cannot be decoded becomes U+FFFD (GSM7 rules in
gsm7.py). GB18030 decoding reads GBK and GB2312 content too (they are subsets).
"""

from __future__ import annotations

from . import Alphabet, TextEncodingError, gsm7

_CODECS = {
    Alphabet.ASCII: "ascii",
    Alphabet.LATIN1: "latin-1",
    Alphabet.UCS2: "utf-16-be",
    Alphabet.GBK: "gbk",
    Alphabet.GB18030: "gb18030",
}


def encode(text: str, alphabet: Alphabet) -> bytes:
    """``text`` in ``alphabet``'s transport form: GSM7 unpacked septets (ESC + code for
    the extension table, both Ç and ç as 0x09), UCS2 as UTF-16BE with surrogate pairs for
    characters above U+FFFF. BINARY carries octets, not text, and always raises."""
    if alphabet is Alphabet.GSM7:
        return gsm7.to_septets(text)
    if alphabet is Alphabet.BINARY:
        raise TextEncodingError("the BINARY alphabet carries octets, not text")
    try:
        return text.encode(_CODECS[alphabet])
    except UnicodeEncodeError as exc:
        ch = text[exc.start]
        raise TextEncodingError(
            f"character {ch!r} (U+{ord(ch):04X}) at position {exc.start} cannot be written "
            f"in {alphabet.value}", character=ch, position=exc.start) from None


def decode(data: bytes, alphabet: Alphabet) -> str:
    """Octets -> text; never raises. UCS2 of odd length or with a lone surrogate yields
    U+FFFD for the bad unit; BINARY is shown as Latin-1 (one character per octet)."""
    if alphabet is Alphabet.GSM7:
        return gsm7.from_septets(data)
    if alphabet is Alphabet.BINARY:
        return data.decode("latin-1")
    return data.decode(_CODECS[alphabet], "replace")

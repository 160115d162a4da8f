"""GSM 03.38 default alphabet: the basic and extension tables, text <-> septets, and
septet packing (PROTOCOLS.md B.3, B.4, E.16).

Septets travel in two forms. *Unpacked* (what SMPP normally carries for data_coding 0):
one septet value per octet, an extension character as ``0x1B`` + its code. *Packed* (the
air interface, and SMPP/CMPP peers configured for it): 8 septets in 7 octets, LSB first,
optionally after ``fill_bits`` zero bits so that the first septet after a UDH starts on a
septet boundary.

Decoding choices (decoding never raises): ESC followed by a code the extension table does
not define becomes one space (B.4, TS 23.038 via SMSLib), and so does a trailing ESC with
nothing after it (GSM 03.38 v5.3.0 displays 0x1B as a space; Wireshark shows "?" — we
keep one rule for both cases). An octet >= 0x80 is not a septet and decodes to U+FFFD.
"""

from __future__ import annotations

import codecs

from . import TextEncodingError

ESC = 0x1B

BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "\u0394_\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
"""Basic table, indexed by code. Index 0x1B is ESC, not a character."""

EXTENSION = {
    0x0A: "\x0c", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\",
    0x3C: "[", 0x3D: "~", 0x3E: "]", 0x40: "|", 0x65: "€",
}
"""Extension table: code after ESC -> character. Each costs two septets."""

_ENCODE = {ord(ch): bytes((code,)) for code, ch in enumerate(BASIC) if code != ESC}
_ENCODE[ord("ç")] = b"\x09"  # E.16: some encoders use lower-case ç for 0x09; decode gives Ç
_ENCODE.update({ord(ch): bytes((ESC, code)) for code, ch in EXTENSION.items()})
_CHARS = frozenset(map(chr, _ENCODE))
_EXTENSION_CHARS = tuple(EXTENSION.values())
# Codes 0x80-0xFF are not septets; ESC never reaches the charmap (handled in from_septets).
_DECODE_MAP = BASIC + "\ufffd" * 128


def is_gsm(text: str) -> bool:
    """True when every character of ``text`` is in the basic or extension table."""
    return _CHARS.issuperset(text)


def _not_gsm(text: str, position: int) -> TextEncodingError:
    ch = text[position]
    return TextEncodingError(
        f"character {ch!r} (U+{ord(ch):04X}) at position {position} is not in the GSM 03.38 "
        "alphabet", character=ch, position=position)


def septet_length(text: str) -> int:
    """Septets ``text`` needs (extension characters count two); raises TextEncodingError."""
    if not is_gsm(text):
        to_septets(text)  # raises, naming the character
    return len(text) + sum(map(text.count, _EXTENSION_CHARS))


def to_septets(text: str) -> bytes:
    """Text -> unpacked septets (one code per octet, extension as ESC + code)."""
    try:
        return codecs.charmap_encode(text, "strict", _ENCODE)[0]
    except UnicodeEncodeError as exc:
        raise _not_gsm(text, exc.start) from None


def _basic(data: bytes) -> str:
    return codecs.charmap_decode(data, "strict", _DECODE_MAP)[0]


def from_septets(data: bytes) -> str:
    """Unpacked septets -> text. Never raises (see the module docstring for the choices)."""
    start = data.find(ESC)
    if start < 0:
        return _basic(data)
    out = [_basic(data[:start])]
    n = len(data)
    while start >= 0:
        if start + 1 >= n:
            out.append(" ")
            break
        out.append(EXTENSION.get(data[start + 1], " "))
        i = start + 2
        start = data.find(ESC, i)
        out.append(_basic(data[i:] if start < 0 else data[i:start]))
    return "".join(out)


# Packing works on whole integers: the septets (one per octet) are read as one little-endian
# integer and squeezed in log2(n) steps, each moving the high half of every lane down next
# to its low half (8-bit lanes of 7 bits -> 16-bit lanes of 14 -> ... -> one lane of 7n
# bits); unpacking runs the steps backwards. A few big-integer operations instead of a
# Python loop per septet: packing 153 septets costs ~2 µs instead of ~9.
_CHUNK = 256  # septets squeezed at once; 256 septets = 224 octets exactly


def _level(k: int) -> tuple[int, int, int]:
    width, payload = 16 << k, 7 << k
    half = width // 2
    repeat = sum(1 << (width * i) for i in range(8 * _CHUNK // width))
    return ((1 << payload) - 1) * repeat, (((1 << payload) - 1) << half) * repeat, half - payload


_LEVELS = [_level(k) for k in range(_CHUNK.bit_length() - 1)]


def _check_fill(fill_bits: int) -> None:
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0-6, not {fill_bits}")


def pack(septets: bytes, fill_bits: int = 0) -> bytes:
    """Pack septet values (each < 0x80) LSB first after ``fill_bits`` (0-6) zero bits.

    ``udh + pack(septets, fill)`` with ``fill = udh_fill_bits(len(udh))`` is the TP-UD of a
    7-bit message with a header. Unused high bits of the last octet are zero; no septets
    give no octets, fill or not.
    """
    _check_fill(fill_bits)
    if not septets:
        return b""  # fill bits only precede a septet
    if max(septets) > 0x7F:
        raise ValueError("a septet value is above 0x7F")
    acc = 0
    for start in range(0, len(septets), _CHUNK):
        chunk = septets[start:start + _CHUNK]
        value = int.from_bytes(chunk, "little")
        for lo, hi, shift in _LEVELS[:(len(chunk) - 1).bit_length()]:
            value = (value & lo) | ((value & hi) >> shift)
        acc |= value << (7 * start)
    total_bits = fill_bits + 7 * len(septets)
    return (acc << fill_bits).to_bytes((total_bits + 7) // 8, "little")


def unpack(data: bytes, count: int, fill_bits: int = 0) -> bytes:
    """The ``count`` septets packed in ``data`` after ``fill_bits`` (0-6) bits, one per
    octet. Raises ValueError when ``data`` holds fewer than ``count`` septets; the caller
    (a decoder) turns that into its protocol error."""
    _check_fill(fill_bits)
    if count < 0 or (count and fill_bits + 7 * count > 8 * len(data)):
        raise ValueError(f"{len(data)} octets do not hold {count} septets after {fill_bits} fill bits")
    acc = int.from_bytes(data, "little") >> fill_bits
    out = []
    for start in range(0, count, _CHUNK):
        size = min(_CHUNK, count - start)
        value = (acc >> (7 * start)) & ((1 << (7 * size)) - 1)
        for lo, hi, shift in reversed(_LEVELS[:(size - 1).bit_length()]):
            value = (value & lo) | ((value << shift) & hi)
        out.append(value.to_bytes(size, "little"))
    return b"".join(out)


def header_septets(udh_length: int) -> int:
    """Septets taken by a UDH of ``udh_length`` octets (UDHL included) plus its fill bits."""
    return (udh_length * 8 + 6) // 7


def udh_fill_bits(udh_length: int) -> int:
    """Zero bits between a UDH of ``udh_length`` octets and the first septet (B.3)."""
    return (7 - udh_length * 8 % 7) % 7

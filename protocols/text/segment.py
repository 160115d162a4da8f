"""Splitting a message into concatenated parts and choosing the cheapest alphabet
(PROTOCOLS.md B.2, B.3, B.5, E.17).

Capacities (octets of transport form; GSM7 septets, which unpacked are octets too):

=================  ======  ===================  ====================
alphabet           single  part, 8-bit ref UDH  part, 16-bit ref UDH
=================  ======  ===================  ====================
GSM7               160     153                  152
UCS2               140     134 (67 units)       132 (66 units, even)
others (8-bit)     140     134                  133
=================  ======  ===================  ====================

A part never ends inside a character: not between ESC and its code (GSM7), not between
the two halves of a surrogate pair (UCS2), not inside a 2- or 4-octet GBK/GB18030
character; such a part is closed early and carries one unit less. This is the hot path
(once per message): the encoding is done by C codecs and each cut costs O(1) except for
GBK/GB18030, where an incremental decoder finds the last complete character.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence

from . import Alphabet, Segment, TextEncodingError, gsm7
from .codec import encode
from .udh import concat_udh

MAX_PARTS = 255
_SINGLE_OCTETS = 140
_SINGLE_SEPTETS = 160
_MULTIBYTE = {Alphabet.GBK: "gbk", Alphabet.GB18030: "gb18030"}


def _udh_length(ref_bits: int) -> int:
    if ref_bits == 8:
        return 6
    if ref_bits == 16:
        return 7
    raise ValueError(f"ref_bits must be 8 or 16, not {ref_bits}")


def _single_capacity(alphabet: Alphabet) -> int:
    return _SINGLE_SEPTETS if alphabet is Alphabet.GSM7 else _SINGLE_OCTETS


def _part_capacity(alphabet: Alphabet, udh_length: int) -> int:
    if alphabet is Alphabet.GSM7:
        return _SINGLE_SEPTETS - gsm7.header_septets(udh_length)
    capacity = _SINGLE_OCTETS - udh_length
    return capacity - capacity % 2 if alphabet is Alphabet.UCS2 else capacity


def _cuts(data: bytes, alphabet: Alphabet, capacity: int) -> list[int]:
    """End offsets of the parts of ``data`` (already known not to fit in one)."""
    n = len(data)
    if n > MAX_PARTS * capacity:
        raise TextEncodingError(f"{n} units need more than {MAX_PARTS} parts of {capacity}")
    ends: list[int] = []
    start = 0
    codec = _MULTIBYTE.get(alphabet)
    decoder = codecs.getincrementaldecoder(codec)() if codec else None
    while n - start > capacity:
        end = start + capacity
        if alphabet is Alphabet.GSM7:
            # our own encoding: 0x1B only ever leads an escape pair
            if data[end - 1] == gsm7.ESC:
                end -= 1
        elif alphabet is Alphabet.UCS2:
            if 0xD8 <= data[end - 2] <= 0xDB:  # high surrogate: keep the pair together
                end -= 2
        elif decoder is not None:
            decoder.reset()
            decoder.decode(data[start:end], False)
            end -= len(decoder.getstate()[0])  # octets of an incomplete last character
        ends.append(end)
        start = end
    ends.append(n)
    if len(ends) > MAX_PARTS:
        raise TextEncodingError(f"the message needs {len(ends)} parts, more than {MAX_PARTS}")
    return ends


def _layout(text: str, alphabet: Alphabet, ref_bits: int) -> tuple[bytes, list[int], int]:
    """(encoded text, part end offsets, UDH length in octets; 0 for a single part)."""
    data = encode(text, alphabet)
    udh_length = _udh_length(ref_bits)
    if len(data) <= _single_capacity(alphabet):
        return data, [len(data)], 0
    return data, _cuts(data, alphabet, _part_capacity(alphabet, udh_length)), udh_length


def segment_count(text: str, alphabet: Alphabet, *, ref_bits: int = 8) -> int:
    """How many parts ``split`` would produce, without building them."""
    return len(_layout(text, alphabet, ref_bits)[1])


def split(
    text: str, alphabet: Alphabet, *, reference: int, ref_bits: int = 8, packed: bool = False
) -> list[Segment]:
    """Encode ``text`` and cut it into parts with concatenation UDHs (IEI 0x00 for
    ``ref_bits=8``, 0x08 for 16). A text that fits gives one Segment with ``udh=b""``.

    ``packed=True`` (GSM7 only) packs each payload with the fill bits its UDH needs, so
    ``Segment.user_data`` is the packed TP-UD and ``Segment.udl`` its septet count.
    Raises TextEncodingError (unrepresentable text, more than 255 parts) and ValueError
    (bad ``ref_bits`` or ``reference``, ``packed`` with another alphabet).
    """
    if packed and alphabet is not Alphabet.GSM7:
        raise ValueError("packed applies to GSM7 only")
    data, ends, udh_length = _layout(text, alphabet, ref_bits)
    total = len(ends)
    if total == 1:
        concat_udh(reference, 1, 1, ref_bits)  # same validation of reference as the long case
        payload = gsm7.pack(data) if packed else data
        return [Segment(payload, b"", 1, 1, reference, len(data))]
    header_units = gsm7.header_septets(udh_length) if alphabet is Alphabet.GSM7 else udh_length
    fill = gsm7.udh_fill_bits(udh_length)
    segments = []
    start = 0
    for index, end in enumerate(ends, 1):
        chunk = data[start:end]
        udh = concat_udh(reference, total, index, ref_bits)
        payload = gsm7.pack(chunk, fill) if packed else chunk
        segments.append(Segment(payload, udh, index, total, reference, header_units + len(chunk)))
        start = end
    return segments


def choose_alphabet(text: str, candidates: Sequence[Alphabet], *, ref_bits: int = 8) -> Alphabet:
    """The candidate that writes ``text`` in the fewest parts, then the fewest transport
    octets (GSM7 counted unpacked, one septet per octet), ties going to the earlier
    candidate. BINARY is never chosen. Raises TextEncodingError when none can."""
    return analyse(text, candidates, ref_bits=ref_bits)[0]


def analyse(text: str, candidates: Sequence[Alphabet], *, ref_bits: int = 8) -> tuple[Alphabet, int]:
    """``choose_alphabet`` and the part count in the alphabet chosen (``segment_count``), from
    one encoding per candidate."""
    best: tuple[int, int, int] | None = None
    chosen: Alphabet | None = None
    for order, alphabet in enumerate(candidates):
        if alphabet is Alphabet.BINARY:
            continue
        if alphabet is Alphabet.GSM7 and not gsm7.is_gsm(text):
            continue  # what encoding would find, without its two exceptions (2 µs a Chinese text)
        try:
            data, ends, _ = _layout(text, alphabet, ref_bits)
        except TextEncodingError:
            continue
        cost = (len(ends), len(data), order)
        if best is None or cost < best:
            best, chosen = cost, alphabet
    if chosen is None or best is None:
        names = ", ".join(a.value for a in candidates) or "no alphabet"
        raise TextEncodingError(f"the text cannot be written in {names}")
    return chosen, best[0]

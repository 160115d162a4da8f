"""Normalising SMSC message ids so that a submit response and its receipt match
(PROTOCOLS.md E.3).

The same message is often named differently on the two sides: hex in submit_sm_resp and
decimal in the receipt (or the reverse), leading zeros on one side, upper- vs lower-case
hex, NUL or space padding. Each channel is configured with the base each side writes, and
both sides go through ``normalise_message_id`` with their own base:

========  ====================================  ==============================
base      accepts                               returns
========  ====================================  ==============================
``hex``   hex digits ``[0-9a-fA-F]+``           the value as a decimal string
``dec``   decimal digits ``[0-9]+``             decimal without leading zeros
``str``   anything                              the text, case-folded
``auto``  anything                              digits only: decimal without
                                                leading zeros; hex digits with at
                                                least one a-f: lower-case hex
                                                without leading zeros; else as
                                                ``str``
========  ====================================  ==============================

In every base the raw id is first stripped of surrounding whitespace and NULs (C-string
and fixed-field padding); bytes are read as Latin-1. "hex" and "dec" deliberately meet in
decimal, so a hex side and a decimal side compare equal. "auto" only canonicalises: it
matches two sides written in the same base, never a hex side against a decimal one.

When the bases are unknown, ``candidate_keys`` gives every plausible reading and two ids
match when their candidates intersect. That is ambiguous by nature: the decimal id
``"291"`` and the hex id ``"123"`` (0x123 = 291) share the key ``"291"``, so a match on
candidate keys alone must be confirmed by something else (destination, time window).
"""

from __future__ import annotations

import re
from typing import Literal

Base = Literal["auto", "hex", "dec", "str"]

_DEC = re.compile(r"[0-9]+", re.ASCII)
_HEX = re.compile(r"[0-9a-fA-F]+", re.ASCII)
_PADDING = " \t\r\n\x00"


def _clean(raw: str | bytes) -> str:
    if isinstance(raw, bytes | bytearray):
        raw = bytes(raw).decode("latin-1")
    text = raw.strip(_PADDING)
    if not text:
        raise ValueError("empty message id")
    return text


def normalise_message_id(raw: str | bytes, base: Base = "auto") -> str:
    """``raw`` in the canonical form of ``base`` (table above). ValueError when it is
    empty after stripping or not written in ``base``."""
    if base == "auto" and type(raw) is str and raw.isascii() and raw.isdigit():
        return str(int(raw))  # the usual id: [0-9]+, nothing to strip, no regex (0.25 µs, 0.55 below)
    text = _clean(raw)
    if base == "auto" and text.isascii() and text.isdigit():
        return str(int(text))
    if base == "str":
        return text.casefold()
    if base == "dec" or (base == "auto" and _DEC.fullmatch(text)):
        if not _DEC.fullmatch(text):
            raise ValueError(f"message id {text!r} is not decimal")
        return str(int(text))
    if base == "hex":
        if not _HEX.fullmatch(text):
            raise ValueError(f"message id {text!r} is not hexadecimal")
        return str(int(text, 16))
    if base == "auto":
        if _HEX.fullmatch(text):
            return text.lower().lstrip("0") or "0"
        return text.casefold()
    raise ValueError(f"unknown message id base {base!r}")


def candidate_keys(raw: str | bytes) -> tuple[str, ...]:
    """Every reading of ``raw`` as a number, as decimal strings: (as decimal, as hex)
    for digits only, (as hex,) for hex with letters; for an id that is no number, its
    ``str`` form. See the module docstring for the ambiguity this accepts."""
    text = _clean(raw)
    keys: list[str] = []
    if _DEC.fullmatch(text):
        keys.append(str(int(text)))
    if _HEX.fullmatch(text):
        keys.append(str(int(text, 16)))
    if not keys:
        keys.append(text.casefold())
    return tuple(dict.fromkeys(keys))

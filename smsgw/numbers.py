"""Destination numbers: normalised once at intake, then routed by prefix.

Chinese mobile numbers arrive as ``13800138000``, ``+86 138-0013-8000``, ``0086…`` or
``86…``; all become the 11-digit national form, which is what CMPP/SMGP carry and what the
route tables in channels.toml list. Anything else must be international E.164 written with
``+`` and is kept as ``+<digits>``; it is sent only where a channel's prefixes route it (intake
answers ``no_route`` otherwise). ``+86`` numbers that are not mobile numbers are refused here.
Full-width digits and ``＋`` (what a Chinese input method types) are read as ASCII (NFKC);
digits of other scripts are refused, as no SMSC takes them.
"""

from __future__ import annotations

import re
import unicodedata

_SEPARATORS = re.compile(r"[\s\-().]")
_CN_MOBILE = re.compile(r"1[3-9]\d{9}", re.ASCII)  # ASCII: \d alone also matches other scripts' digits
_E164 = re.compile(r"\+[1-9]\d{6,14}", re.ASCII)


class InvalidNumber(ValueError):
    """The number is neither a Chinese mobile number nor E.164; the message says why."""


def normalise(raw: str) -> str:
    """``+86 138-0013-8000`` -> ``13800138000``; ``+44 7700 900123`` -> ``+447700900123``."""
    if _CN_MOBILE.fullmatch(raw):  # already national, the common case: 0.24 µs instead of 1.08
        return raw
    text = raw if raw.isascii() else unicodedata.normalize("NFKC", raw)
    number = _SEPARATORS.sub("", text.strip())
    if number.startswith("00"):
        number = "+" + number[2:]
    for prefix in ("+86", "86"):
        rest = number[len(prefix):]
        if number.startswith(prefix) and _CN_MOBILE.fullmatch(rest):
            return rest
    if _CN_MOBILE.fullmatch(number):
        return number
    if number.startswith("+86"):
        raise InvalidNumber(f"{raw!r} is not a Chinese mobile number (+86 then 11 digits starting 13-19)")
    if _E164.fullmatch(number):
        return number
    if not number:
        raise InvalidNumber("the number is empty")
    if number.isascii() and number.isdigit():
        raise InvalidNumber(
            f"{raw!r} is not a Chinese mobile number (11 digits starting 13-19); "
            "write international numbers as +<country code><number>"
        )
    raise InvalidNumber(f"{raw!r} is not a phone number (digits, optionally with a leading +)")


class Router:
    """Longest-prefix match of a normalised number onto the channels that serve it."""

    def __init__(self, channels: dict[str, tuple[str, ...]]) -> None:
        table: dict[str, list[str]] = {}
        for name, prefixes in channels.items():
            for prefix in prefixes:
                table.setdefault(prefix, []).append(name)
        self._table = {prefix: tuple(names) for prefix, names in table.items()}
        self._lengths = sorted({len(p) for p in self._table}, reverse=True)

    def candidates(self, number: str) -> tuple[str, ...]:
        """Channel names for ``number``, best first (channels listed for the longest
        matching prefix; config order among equals); empty when none serves it. The same
        tuple for every number of a prefix: a key for ``Intake.route``'s choices."""
        for length in self._lengths:
            names = self._table.get(number[:length])
            if names:
                return names
        return ()

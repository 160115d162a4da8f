"""A compact set of normalised phone numbers, for de-duplicating a batch of a million rows.

A Python ``set`` of a million number strings costs ~100 MB; this is an open-addressing table of
64-bit integers (8 bytes a slot, at most half full: ~16 MB for a million numbers). A Chinese
mobile number is its 11 digits as an integer; an E.164 number (``+`` and up to 15 digits)
sets bit 62 above its digits, so the two forms never collide.

The first ``SMALL`` numbers go to a plain ``set`` of the strings: an add costs 0.05 µs there,
0.4 µs in the table (int parse, hashing), and a JSON batch (at most 10,000 rows) never leaves it.
"""

from __future__ import annotations

from array import array

_E164_FLAG = 1 << 62
_MULTIPLIER = 0x9E3779B97F4A7C15  # Fibonacci hashing
_MASK64 = (1 << 64) - 1
SMALL = 10_000


def number_key(number: str) -> int:
    """The non-zero 64-bit key of a normalised number (``smsgw.numbers.normalise`` output)."""
    if number.startswith("+"):
        return int(number[1:]) | _E164_FLAG
    return int(number)


class NumberSet:
    def __init__(self, small: int = SMALL) -> None:
        self._small: set[str] | None = set()
        self._small_limit = small
        self._bits = 10
        self._slots = array("Q")
        self._size = 0

    def __len__(self) -> int:
        return self._size if self._small is None else len(self._small)

    def add(self, number: str) -> bool:
        """Add ``number``; False when it was already there."""
        small = self._small
        if small is not None:
            if number in small:
                return False
            small.add(number)
            if len(small) > self._small_limit:
                self._compact()
            return True
        if self._insert(number_key(number)):
            self._size += 1
            if self._size * 2 > len(self._slots):
                self._grow()
            return True
        return False

    def __contains__(self, number: str) -> bool:
        if self._small is not None:
            return number in self._small
        key, slots = number_key(number), self._slots
        mask = len(slots) - 1
        i = ((key * _MULTIPLIER) & _MASK64) >> (64 - self._bits)
        while (found := slots[i]) != 0:
            if found == key:
                return True
            i = (i + 1) & mask
        return False

    def _compact(self) -> None:
        """Move the plain set's numbers into the table."""
        small, self._small = self._small, None
        assert small is not None
        while len(small) * 2 > (1 << self._bits):
            self._bits += 1
        self._slots = array("Q", bytes(8 << self._bits))
        for number in small:
            self._insert(number_key(number))
        self._size = len(small)

    def _insert(self, key: int) -> bool:
        slots = self._slots
        mask = len(slots) - 1
        i = ((key * _MULTIPLIER) & _MASK64) >> (64 - self._bits)
        while (found := slots[i]) != 0:
            if found == key:
                return False
            i = (i + 1) & mask
        slots[i] = key
        return True

    def _grow(self) -> None:
        old = self._slots
        self._bits += 1
        self._slots = array("Q", bytes(8 << self._bits))
        for key in old:
            if key:
                self._insert(key)

"""Bookkeeping of outstanding requests: pure arithmetic, no clock (like h2's WindowManager).

A request occupies one slot from the moment it is sent until its response arrives or its
deadline passes. Every request of a session has the same timeout, so insertion order is
deadline order and the earliest deadline is always the oldest entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import WindowFull


@dataclass(slots=True)
class Outstanding:
    """One request waiting for its response. ``context`` is the caller's, untouched."""

    sequence: int
    command_id: int
    sent_at: float
    deadline: float
    context: Any = None


class Window:
    """At most ``size`` outstanding requests, keyed by sequence number."""

    __slots__ = ("size", "_pending")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("window size must be at least 1")
        self.size = size
        self._pending: dict[int, Outstanding] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, sequence: int) -> bool:
        return sequence in self._pending

    @property
    def available(self) -> int:
        """Free slots (never negative: exempt requests may overfill the window)."""
        return max(0, self.size - len(self._pending))

    def add(
        self,
        sequence: int,
        command_id: int,
        now: float,
        timeout: float,
        context: Any = None,
        *,
        exempt: bool = False,
    ) -> Outstanding:
        """Occupy a slot. ``exempt`` requests (keepalives) are admitted even when full."""
        if not exempt and len(self._pending) >= self.size:
            raise WindowFull(f"window of {self.size} outstanding requests is full")
        if sequence in self._pending:
            raise WindowFull(f"sequence {sequence} is still outstanding")
        entry = Outstanding(sequence, command_id, now, now + timeout, context)
        self._pending[sequence] = entry
        return entry

    def peek(self, sequence: int) -> Outstanding | None:
        return self._pending.get(sequence)

    def complete(self, sequence: int) -> Outstanding | None:
        """Free the slot of ``sequence``; ``None`` if it was not outstanding."""
        return self._pending.pop(sequence, None)

    def next_deadline(self) -> float | None:
        for entry in self._pending.values():
            return entry.deadline
        return None

    def postpone(self, delay: float) -> None:
        """Move every deadline ``delay`` seconds later (the order, and so the invariant, stays)."""
        for entry in self._pending.values():
            entry.deadline += delay

    def expired(self, now: float) -> list[Outstanding]:
        """Remove and return every request whose deadline is at or before ``now``."""
        out: list[Outstanding] = []
        pending = self._pending
        for entry in pending.values():
            if entry.deadline > now:
                break
            out.append(entry)
        for entry in out:
            del pending[entry.sequence]
        return out

    def drain(self) -> list[Outstanding]:
        """Remove and return everything (the session closed)."""
        out = list(self._pending.values())
        self._pending.clear()
        return out


class SequenceAllocator:
    """Sequence numbers ``first..last`` inclusive, wrapping back to ``first``.

    SMPP uses 1..0x7FFFFFFF (never 0, PROTOCOLS.md E.9); CMPP and SMGP the full unsigned
    32-bit range.
    """

    __slots__ = ("first", "last", "_next")

    def __init__(self, first: int, last: int, start: int | None = None) -> None:
        self.first = first
        self.last = last
        self._next = first if start is None else start
        if not first <= self._next <= last:
            raise ValueError("start outside the sequence range")

    def __call__(self) -> int:
        seq = self._next
        self._next = self.first if seq >= self.last else seq + 1
        return seq

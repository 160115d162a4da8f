"""Time-sortable 64-bit integer ids: primary key order is creation order, ids fit a BIGINT
and cost one lock and one clock read (uuid4 would scatter inserts across the index).

Layout, most significant bit first::

    0 | 41 bits: milliseconds since 2024-01-01T00:00:00Z | 6 bits: node | 16 bits: counter

Limits: 65,536 ids per millisecond per node (beyond that the generator borrows the next
millisecond, so it runs ahead of the clock rather than repeating); 64 nodes; the millisecond
field overflows in 2093 (``IdSpaceExhausted``). Ids are strictly increasing within a
generator even if the wall clock steps back (it keeps using its last millisecond until the
clock catches up). Across restarts uniqueness rests on the clock not having stepped back
past the previous run's last id; pass the largest id in the database as ``after`` to rule
it out (every id generated is then greater).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import NamedTuple

from smsgw.store.errors import IdSpaceExhausted

EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z in unix milliseconds
NODE_BITS = 6
COUNTER_BITS = 16
TIME_BITS = 41
MAX_NODE = (1 << NODE_BITS) - 1
_COUNTER_MASK = (1 << COUNTER_BITS) - 1
_TIME_SHIFT = NODE_BITS + COUNTER_BITS
_MAX_TIME = (1 << TIME_BITS) - 1


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def first_id_at(unix_seconds: float) -> int:
    """The smallest id generated at or after ``unix_seconds``: a time window as an id range."""
    ms = int(unix_seconds * 1000) - EPOCH_MS
    return max(ms, 0) << _TIME_SHIFT


class IdParts(NamedTuple):
    unix_ms: int
    node: int
    counter: int


def parse_id(value: int) -> IdParts:
    """The fields of an id, for logs and ops tools."""
    return IdParts(
        (value >> _TIME_SHIFT) + EPOCH_MS, (value >> COUNTER_BITS) & MAX_NODE, value & _COUNTER_MASK
    )


class IdGenerator:
    """Thread-safe generator for one node. ``clock`` returns unix milliseconds."""

    def __init__(self, node: int, *, clock: Callable[[], int] = wall_clock_ms, after: int = 0) -> None:
        if not 0 <= node <= MAX_NODE:
            raise ValueError(f"node id must be 0..{MAX_NODE}, got {node}")
        self._node_bits = node << COUNTER_BITS
        self._clock = clock
        self._lock = threading.Lock()
        # The last (millisecond, counter) handed out. Marking `after`'s millisecond as used
        # up puts every id past it, whichever node issued it.
        self._ms = after >> _TIME_SHIFT
        self._counter = _COUNTER_MASK if after else -1

    def next(self) -> int:
        with self._lock:
            return self._advance(self._clock() - EPOCH_MS)

    def take(self, count: int) -> list[int]:
        """``count`` ids, as ``next`` gives them, for one clock reading and under one lock: for a
        batch's rows (measured 0.1 µs an id; ``next`` is 0.4)."""
        with self._lock:
            now = self._clock() - EPOCH_MS
            return [self._advance(now) for _ in range(count)]

    def _advance(self, now: int) -> int:
        """The next id at ``now`` (milliseconds since the epoch); the lock is held."""
        if now > self._ms:
            self._ms, self._counter = now, 0
        elif self._counter < _COUNTER_MASK:
            self._counter += 1
        else:  # counter exhausted for this millisecond: borrow the next one
            self._ms, self._counter = self._ms + 1, 0
        if self._ms > _MAX_TIME:
            raise IdSpaceExhausted("the id millisecond field overflowed (past 2093)")
        return (self._ms << _TIME_SHIFT) | self._node_bits | self._counter

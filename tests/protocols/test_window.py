"""Window bookkeeping and sequence wrap: pure arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.errors import WindowFull
from protocols.window import SequenceAllocator, Window


def test_add_complete_and_full() -> None:
    w = Window(2)
    w.add(1, 4, now=0.0, timeout=10.0, context="a")
    w.add(2, 4, now=1.0, timeout=10.0)
    assert w.available == 0
    with pytest.raises(WindowFull):
        w.add(3, 4, now=1.0, timeout=10.0)
    keepalive = w.add(3, 21, now=1.0, timeout=10.0, exempt=True)
    assert len(w) == 3 and w.available == 0
    entry = w.complete(1)
    assert entry is not None and entry.context == "a" and entry.sent_at == 0.0
    assert w.complete(1) is None
    assert w.peek(3) is keepalive


def test_duplicate_sequence_refused() -> None:
    w = Window(4)
    w.add(7, 4, 0.0, 1.0)
    with pytest.raises(WindowFull):
        w.add(7, 4, 0.0, 1.0)


def test_expiry_in_deadline_order() -> None:
    w = Window(10)
    for seq in range(1, 6):
        w.add(seq, 4, now=float(seq), timeout=10.0)
    assert w.next_deadline() == 11.0
    assert [e.sequence for e in w.expired(12.5)] == [1, 2]
    assert w.next_deadline() == 13.0
    w.complete(3)
    assert [e.sequence for e in w.expired(100.0)] == [4, 5]
    assert w.next_deadline() is None and len(w) == 0


def test_drain_returns_everything() -> None:
    w = Window(3)
    w.add(1, 4, 0.0, 1.0)
    w.add(2, 4, 0.0, 1.0)
    assert [e.sequence for e in w.drain()] == [1, 2]
    assert len(w) == 0


def test_smpp_sequence_wraps_to_one() -> None:
    alloc = SequenceAllocator(1, 0x7FFFFFFF, start=0x7FFFFFFE)
    assert [alloc() for _ in range(3)] == [0x7FFFFFFE, 0x7FFFFFFF, 1]


def test_u32_sequence_wraps_to_zero() -> None:
    alloc = SequenceAllocator(0, 0xFFFFFFFF, start=0xFFFFFFFF)
    assert [alloc(), alloc()] == [0xFFFFFFFF, 0]


@given(st.integers(1, 50), st.integers(1, 200))
def test_never_leaves_range(span: int, draws: int) -> None:
    alloc = SequenceAllocator(5, 5 + span - 1)
    assert all(5 <= alloc() <= 5 + span - 1 for _ in range(draws))

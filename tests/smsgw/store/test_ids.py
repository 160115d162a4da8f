"""Ids: layout, strict monotonicity whatever the clock does, uniqueness across threads."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from smsgw.store.errors import IdSpaceExhausted
from smsgw.store.ids import EPOCH_MS, IdGenerator, parse_id

T0 = EPOCH_MS + 86_400_000


def clock(*readings: int) -> Iterator[int]:
    yield from readings


def test_layout_is_time_node_counter() -> None:
    generator = IdGenerator(5, clock=lambda: T0)
    first, second = generator.next(), generator.next()
    assert parse_id(first) == (T0, 5, 0)
    assert parse_id(second) == (T0, 5, 1)
    assert first == (86_400_000 << 22) | (5 << 16)


def test_ids_keep_increasing_when_the_clock_steps_back() -> None:
    readings = clock(T0, T0 - 5000, T0 - 5000, T0 - 1, T0 + 1)
    generator = IdGenerator(1, clock=lambda: next(readings))
    ids = [generator.next() for _ in range(5)]
    assert ids == sorted(set(ids))
    assert [parse_id(i).unix_ms for i in ids] == [T0, T0, T0, T0, T0 + 1]


def test_an_exhausted_millisecond_borrows_the_next() -> None:
    generator = IdGenerator(0, clock=lambda: T0)
    ids = [generator.next() for _ in range(65_536 + 3)]
    assert ids == sorted(set(ids))
    assert parse_id(ids[65_535]) == (T0, 0, 65_535)
    assert parse_id(ids[65_536]) == (T0 + 1, 0, 0)


def test_ids_are_unique_and_per_thread_increasing_across_threads() -> None:
    generator = IdGenerator(7)
    results: list[list[int]] = [[] for _ in range(8)]

    def work(out: list[int]) -> None:
        out.extend(generator.next() for _ in range(20_000))

    threads = [threading.Thread(target=work, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(out == sorted(out) for out in results)
    assert len({i for out in results for i in out}) == 8 * 20_000


def test_after_puts_every_id_past_an_earlier_runs_ids() -> None:
    previous = IdGenerator(63, clock=lambda: T0 + 10).next()
    generator = IdGenerator(0, clock=lambda: T0, after=previous)  # clock went back meanwhile
    assert generator.next() > previous


def test_ids_fit_a_signed_bigint_until_the_field_overflows() -> None:
    last_ms = EPOCH_MS + (1 << 41) - 1
    assert 0 < IdGenerator(63, clock=lambda: last_ms).next() < 1 << 63
    with pytest.raises(IdSpaceExhausted):
        IdGenerator(0, clock=lambda: last_ms + 1).next()


@pytest.mark.parametrize("node", [-1, 64])
def test_node_ids_outside_six_bits_are_refused(node: int) -> None:
    with pytest.raises(ValueError, match=r"node id must be 0\.\.63"):
        IdGenerator(node)


def test_take_gives_what_next_would_at_one_clock_reading() -> None:
    readings = clock(T0, T0 + 1, T0 + 1)
    taking = IdGenerator(3, clock=lambda: next(readings))
    one_by_one = IdGenerator(3, clock=lambda: T0)
    ids = taking.take(65_536 + 2)
    assert ids == [one_by_one.next() for _ in range(65_536 + 2)]
    assert parse_id(ids[-1]) == (T0 + 1, 3, 1)  # borrowed: the clock was read once
    assert taking.next() == (((T0 + 1 - EPOCH_MS) << 22) | (3 << 16) | 2) and taking.take(0) == []

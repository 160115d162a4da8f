"""MO reassembly: any order, duplicates, several groups at once, expiry."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.text import PartialMessage, Reassembler, parse_udh, split


def test_in_order_and_reverse() -> None:
    r = Reassembler(max_parts_age=60)
    assert r.add("alice", 7, 3, 1, b"ab", now=0) is None
    assert r.add("alice", 7, 3, 2, b"cd", now=1) is None
    assert r.add("alice", 7, 3, 3, b"e", now=2) == b"abcde"
    assert len(r) == 0
    assert r.add("bob", 7, 2, 2, b"2", now=0) is None
    assert r.add("bob", 7, 2, 1, b"1", now=0) == b"12"


def test_single_part_and_bad_index() -> None:
    r = Reassembler(60)
    assert r.add("k", 1, 1, 1, b"x", now=0) == b"x"
    for total, index in ((2, 0), (2, 3), (0, 0)):
        with pytest.raises(ValueError):
            r.add("k", 1, total, index, b"x", now=0)
    assert len(r) == 0


def test_groups_do_not_mix() -> None:
    r = Reassembler(60)
    assert r.add("alice", 1, 2, 1, b"A1", now=0) is None
    assert r.add("bob", 1, 2, 1, b"B1", now=0) is None    # other key
    assert r.add("alice", 1, 3, 1, b"C1", now=0) is None  # other total
    assert r.add("alice", 2, 2, 1, b"D1", now=0) is None  # other reference
    assert r.add("alice", 1, 2, 2, b"A2", now=0) == b"A1A2"
    assert len(r) == 3


def test_expire() -> None:
    r = Reassembler(max_parts_age=30)
    r.add("old", 1, 3, 2, b"b", now=0)
    r.add("new", 1, 2, 1, b"x", now=20)
    r.add("old", 1, 3, 3, b"c", now=25)  # age counts from the first part
    assert r.expire(now=30) == []
    [dropped] = r.expire(now=30.5)
    assert dropped == PartialMessage("old", 1, 3, 0, {2: b"b", 3: b"c"})
    assert dropped.missing == [1] and dropped.joined() == b"bc"
    assert len(r) == 1
    assert [g.key for g in r.expire(now=1000)] == ["new"]
    # after expiry the same group starts afresh
    assert r.add("old", 1, 3, 1, b"a", now=1000) is None


@given(st.data())
def test_any_order_with_duplicates(data: st.DataObject) -> None:
    messages = data.draw(st.lists(st.binary(min_size=1, max_size=400), min_size=1, max_size=4))
    arrivals = []
    for number, body in enumerate(messages):
        parts = [body[i:i + 100] for i in range(0, len(body), 100)]
        for index, part in enumerate(parts, 1):
            arrivals += [(number, len(parts), index, part)] * data.draw(st.integers(1, 3))
    order = data.draw(st.permutations(arrivals))
    r = Reassembler(60)
    done: dict[int, bytes] = {}
    for number, total, index, part in order:
        result = r.add(("smsc", number), 42, total, index, part, now=0)
        if result is not None:
            assert number not in done or total == 1  # completes exactly once
            done[number] = result
    assert done == dict(enumerate(messages))
    assert len(r) == 0  # late repeats opened no phantom group


def test_late_repeat_ignored_but_reused_reference_is_new() -> None:
    r = Reassembler(max_parts_age=30)
    r.add("k", 9, 2, 1, b"a", now=0)
    assert r.add("k", 9, 2, 2, b"b", now=1) == b"ab"
    assert r.completed_repeat("k", 9, 2, 2, b"b") and not r.completed_repeat("k", 9, 2, 2, b"other")
    assert r.add("k", 9, 2, 2, b"b", now=5) is None  # SMSC resent the last part
    assert len(r) == 0
    assert r.add("k", 9, 2, 2, b"Y", now=6) is None  # another message, same reference
    assert r.add("k", 9, 2, 1, b"X", now=7) == b"XY"
    r.expire(now=100)  # forgets completed messages too
    assert r.add("k", 9, 2, 1, b"X", now=101) is None
    assert len(r) == 1


def test_a_fork_changes_nothing_until_merged() -> None:
    """Parts are added to a fork while their write is pending: a failed write leaves the
    reassembler as it was (the resent last part completes the message again, not a repeat)."""
    r = Reassembler(max_parts_age=30)
    r.add("k", 9, 3, 1, b"a", now=0)
    r.add("k", 9, 2, 1, b"x", now=0)
    fork = r.fork([("k", 9, 3)])
    assert fork.add("k", 9, 3, 2, b"b", now=1) is None
    assert fork.add("k", 9, 3, 3, b"c", now=2) == b"abc"
    assert fork.completed_repeat("k", 9, 3, 3, b"c")
    assert not r.completed_repeat("k", 9, 3, 3, b"c") and len(r) == 2  # the write failed: nothing changed
    fork = r.fork([("k", 9, 3), ("k", 9, 2)])
    assert fork.add("k", 9, 3, 3, b"c", now=3) is None
    assert fork.add("k", 9, 3, 2, b"b", now=3) == b"abc"
    assert fork.add("k", 9, 2, 2, b"y", now=3) == b"xy"
    r.merge(fork)  # the write committed
    assert len(r) == 0 and r.completed_repeat("k", 9, 3, 2, b"b") and r.completed_repeat("k", 9, 2, 1, b"x")
    fork = r.fork([("k", 9, 2)])
    assert fork.add("k", 9, 2, 1, b"new", now=4) is None  # another message reusing the reference
    r.merge(fork)
    assert not r.completed_repeat("k", 9, 2, 1, b"x") and len(r) == 1


def test_stale_leaves_the_groups_that_expire_drops() -> None:
    r = Reassembler(max_parts_age=30)
    r.add("new", 1, 2, 1, b"n", now=20)
    r.add("old", 1, 2, 1, b"o", now=0)
    assert [g.key for g in r.stale(now=31)] == ["old"]
    assert [g.key for g in r.stale(now=51)] == ["old", "new"] and len(r) == 2
    assert [g.key for g in r.expire(now=51)] == ["old", "new"]
    assert len(r) == 0 and r.stale(now=100) == []


@given(st.text(min_size=1, max_size=400), st.randoms(use_true_random=False))
def test_reassemble_what_split_produced(text: str, rnd: object) -> None:
    from protocols.text import Alphabet, decode

    segments = split(text, Alphabet.UCS2, reference=200)
    rnd.shuffle(segments)  # type: ignore[attr-defined]
    r = Reassembler(60)
    results = []
    for segment in segments:
        info, payload = parse_udh(segment.user_data) if segment.udh else (None, segment.payload)
        reference, total, index = info.concat if info and info.concat else (0, 1, 1)
        results.append(r.add("msisdn", reference, total, index, payload, now=0))
    assert [x for x in results if x is not None] == [results[-1]]
    assert decode(results[-1], Alphabet.UCS2) == text  # type: ignore[arg-type]

"""Send windows and key buckets against brute-force models."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smsgw.config import FrequencyLimit
from smsgw.windows import DAY, SendWindows, TokenBuckets, largest_limit, spans

LIMIT = FrequencyLimit(per_minute=1, per_hour=5, per_day=10)


def model_next_allowed(sent: list[float], limit: FrequencyLimit, now: float) -> float | None:
    """Brute force: for each window, if full, when its oldest counted send leaves it."""
    retry = None
    for span, allowed in ((60.0, limit.per_minute), (3600.0, limit.per_hour), (DAY, limit.per_day)):
        inside = sorted(t for t in sent if t > now - span)
        if len(inside) >= allowed:
            at = inside[-allowed] + span
            retry = at if retry is None else max(retry, at)
    return retry


LIMITS = st.builds(FrequencyLimit, st.integers(1, 3), st.integers(1, 6), st.integers(1, 12))
# gaps between attempts: seconds to days, so every window and the generation turn are crossed
GAPS = st.lists(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from([None, "S"]),
                          st.floats(0, 2 * DAY, allow_nan=False)), max_size=60)


@settings(max_examples=300)
@given(LIMITS, GAPS)
def test_windows_agree_with_the_model(limit: FrequencyLimit, attempts: list[tuple[str, str | None, float]]) -> None:
    now = 1_800_000_000.0
    windows = SendWindows(largest_limit([limit]), now)
    sent: dict[tuple[str | None, str], list[float]] = {}
    for number, signature, gap in attempts:
        now += gap
        history = sent.setdefault((signature, number), [])
        expected = model_next_allowed(history, limit, now)
        assert windows.take(signature, number, spans(limit), now) == expected
        if expected is None:
            history.append(now)
            assert expected is None
        else:
            assert expected > now


@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=30))
def test_untake_undoes_take(gaps: list[float]) -> None:
    now = 1_800_000_000.0
    limit = FrequencyLimit(per_minute=3, per_hour=100, per_day=100)
    windows = SendWindows(100, now)
    for gap in gaps:
        now += gap
        if windows.take("S", "n", spans(limit), now) is None:
            windows.untake("S", "n")
        assert windows.take("S", "n", spans(limit), now) is None  # the undone send left room for this one
        windows.untake("S", "n")
    assert len(windows) == 0


def test_memory_is_dropped_after_two_idle_days() -> None:
    now = 1_800_000_000.0
    windows = SendWindows(10, now)
    for i in range(1000):
        windows.take("S", f"138{i:08d}", spans(LIMIT), now)
    assert len(windows) == 1000
    windows.take("S", "other", spans(LIMIT), now + DAY + 1)  # turn: the 1000 are in the previous generation
    assert len(windows) == 1001
    windows.take("S", "other2", spans(LIMIT), now + 2 * DAY + 2)
    assert len(windows) == 2


def test_last_signature_is_the_latest_send() -> None:
    windows = SendWindows(10, 0.0)
    assert windows.last_signature("n") == (False, None)
    windows.take("A", "n", spans(LIMIT), 10.0)
    windows.take(None, "n", spans(LIMIT), 20.0)
    windows.take("B", "n", spans(LIMIT), 30.0)
    assert windows.last_signature("n") == (True, "B")


def test_rebuild_then_take() -> None:
    windows = SendWindows(10, 1000.0)
    for t in (100.0, 500.0, 990.0):
        windows.add("S", "n", t)
    assert windows.take("S", "n", spans(LIMIT), 1000.0) == 990.0 + 60
    assert windows.take("S", "n", spans(FrequencyLimit(1, 3, 10)), 1060.0) == 100.0 + 3600


def test_token_bucket() -> None:
    buckets = TokenBuckets(2.0)
    assert buckets.take("k", 0.0) is None
    assert buckets.take("k", 0.0) is None
    assert buckets.take("k", 0.0) == 0.5
    assert buckets.take("k", 0.5) is None
    buckets.give_back("k")
    assert buckets.take("k", 0.5) is None
    assert buckets.take("other", 0.5) is None
    slow = TokenBuckets(0.5)
    assert slow.take("k", 0.0) is None
    assert slow.take("k", 1.0) == 2.0

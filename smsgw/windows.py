"""Rate arithmetic of the number rules, in memory, with no I/O: sliding send windows per
(signature, number) and token buckets per API key.

``SendWindows`` answers "may this number receive one more message from this signature now?"
for the minute, hour and day windows of a ``FrequencyLimit``. It keeps, per pair, only the
last few send times (as many as the largest limit needs): the window of limit ``L`` is full
exactly when the ``L``-th most recent send is inside it, and the next send is allowed when
that send leaves it. A pair with one send (the common case in a batch) holds a bare float,
not a list, and the number string is the one the request already allocated.

Memory is bounded by two generations of one day each: a pair updated during the current day
lives in ``_current``; at the turn of the day ``_current`` becomes ``_previous`` and the old
``_previous`` (pairs not updated for a whole day, all their sends out of every window) is
dropped in one step. A pair found in ``_previous`` moves to ``_current`` when it is updated.
"""

from __future__ import annotations

from collections.abc import Iterable

from .config import FrequencyLimit

DAY = 86400.0

Times = float | list[float]  # send times of one pair, oldest first
Spans = tuple[tuple[float, int], ...]  # (window seconds, sends allowed in it)


def spans(limit: FrequencyLimit) -> Spans:
    """The windows of ``limit`` in the form ``take`` wants (computed once per kind, not per send)."""
    return (60.0, limit.per_minute), (3600.0, limit.per_hour), (DAY, limit.per_day)


class SendWindows:
    """Recent send times per (signature, number); ``keep`` is the largest limit of any kind."""

    def __init__(self, keep: int, now: float) -> None:
        self.keep = max(1, keep)
        self._current: dict[str | None, dict[str, Times]] = {}
        self._previous: dict[str | None, dict[str, Times]] = {}
        self._turn_at = now + DAY

    def __len__(self) -> int:
        """Pairs held (both generations)."""
        return sum(map(len, self._current.values())) + sum(map(len, self._previous.values()))

    def take(self, signature: str | None, number: str, limit: Spans, now: float) -> float | None:
        """Count one send and return None, or return when the next send is allowed (unix
        seconds) and count nothing."""
        if now >= self._turn_at:
            self._turn(now)
        current = self._current.get(signature)
        if current is None:
            current = self._current[signature] = {}
        times = current.get(number)
        if times is None:
            previous = self._previous.get(signature)
            times = previous.pop(number, None) if previous is not None else None
        if times is None:
            current[number] = now
            return None
        retry_at = next_allowed(times, limit, now)
        if retry_at is not None:
            current[number] = times  # may have come from _previous: keep it
            return retry_at
        if isinstance(times, float):
            current[number] = [times, now] if self.keep > 1 and times > now - DAY else now
        else:
            times.append(now)
            if len(times) > self.keep or times[0] <= now - DAY:
                del times[:max(len(times) - self.keep, _first_inside(times, now - DAY))]
            current[number] = times
        return None

    def untake(self, signature: str | None, number: str) -> None:
        """Forget the most recent send of the pair (its message was not stored after all)."""
        for generation in (self._current, self._previous):
            pairs = generation.get(signature)
            times = pairs.get(number) if pairs is not None else None
            if times is None:
                continue
            assert pairs is not None
            if isinstance(times, float) or len(times) <= 1:
                del pairs[number]
            else:
                times.pop()
            return

    def add(self, signature: str | None, number: str, at: float) -> None:
        """Record a past send (rebuilding from the database), in time order per pair."""
        pairs = self._current.setdefault(signature, {})
        times = pairs.get(number)
        if times is None:
            pairs[number] = at
        elif isinstance(times, float):
            pairs[number] = [times, at]
        else:
            times.append(at)
            if len(times) > self.keep:
                del times[0]

    def last_signature(self, number: str) -> tuple[bool, str | None]:
        """(found, signature) of the latest send to ``number`` still held (within about a day)."""
        best: tuple[float, str | None] | None = None
        for generation in (self._current, self._previous):
            for signature, pairs in generation.items():
                times = pairs.get(number)
                if times is None:
                    continue
                last = times if isinstance(times, float) else times[-1]
                if best is None or last > best[0]:
                    best = (last, signature)
        return (False, None) if best is None else (True, best[1])

    def _turn(self, now: float) -> None:
        if now >= self._turn_at + DAY:  # idle for more than a day: nothing held is recent
            self._previous = {}
        else:
            self._previous = self._current
        self._current = {}
        self._turn_at = now + DAY


def next_allowed(times: Times, limit: Spans, now: float) -> float | None:
    """When the next send is allowed given the past ``times`` (None: now), per ``limit``."""
    retry_at: float | None = None
    if isinstance(times, float):
        for span, allowed in limit:
            if allowed <= 1 and times > now - span:
                retry_at = max(retry_at or 0.0, times + span)
        return retry_at
    count = len(times)
    for span, allowed in limit:
        if count >= allowed and times[-allowed] > now - span:
            retry_at = max(retry_at or 0.0, times[-allowed] + span)
    return retry_at


def _first_inside(times: list[float], since: float) -> int:
    """Index of the first time after ``since`` (times are ascending)."""
    for i, t in enumerate(times):
        if t > since:
            return i
    return len(times)


def largest_limit(limits: Iterable[FrequencyLimit]) -> int:
    return max((max(lim.per_minute, lim.per_hour, lim.per_day) for lim in limits), default=1)


class TokenBuckets:
    """Per-key send quota: ``rate`` per second, bursts of up to one second's worth (at least 1)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.burst = max(1.0, rate)
        self._buckets: dict[str, list[float]] = {}  # key id -> [tokens, as of]

    def take(self, key_id: str, now: float) -> float | None:
        """Take one token and return None, or return when one will be available."""
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = [self.burst, now]
        tokens = min(self.burst, bucket[0] + max(0.0, now - bucket[1]) * self.rate)
        bucket[1] = max(bucket[1], now)
        if tokens < 1.0:
            bucket[0] = tokens
            return now + (1.0 - tokens) / self.rate
        bucket[0] = tokens - 1.0
        return None

    def give_back(self, key_id: str, count: int = 1) -> None:
        bucket = self._buckets.get(key_id)
        if bucket is not None:
            bucket[0] = min(self.burst, bucket[0] + count)

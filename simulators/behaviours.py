"""Fault injection as decisions: one seeded RNG per simulator, so a run is reproducible."""

from __future__ import annotations

import bisect
import itertools
import random

from .config import SimConfig


class Behaviour:
    """What the simulated operator does with the next submit or receipt."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        stats = [stat for stat, _ in config.dlr_outcomes]
        cumulative = list(itertools.accumulate(p for _, p in config.dlr_outcomes))
        self._outcome_stats = stats
        self._outcome_cdf = cumulative

    def injected_error(self) -> int | None:
        """An error status to answer this submit with (``--error-ratio``), or None."""
        if not self.config.error_ratio:
            return None
        roll = self.rng.random()
        for status, probability in self.config.error_ratio:
            if roll < probability:
                return status
            roll -= probability
        return None

    def drop_response(self) -> bool:
        return self.config.drop_resp_ratio > 0 and self.rng.random() < self.config.drop_resp_ratio

    def outcome(self) -> str:
        """The receipt stat for a message (``--dlr-outcomes``)."""
        roll = self.rng.random()  # drawn even when there is one outcome: the same stream for a seed
        if len(self._outcome_stats) == 1:
            return self._outcome_stats[0]
        index = bisect.bisect_left(self._outcome_cdf, roll * self._outcome_cdf[-1])
        return self._outcome_stats[min(index, len(self._outcome_stats) - 1)]

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

"""The lock-free latency histogram reads exactly as prometheus_client's Histogram; receipt stat
labels stay bounded."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from smsgw.channel import _RECEIPT_STATS, ChannelStats
from smsgw.metrics import _LATENCY_BUCKETS, LatencyHistogram

_LATENCY = st.floats(0, 60, allow_nan=False) | st.sampled_from([*_LATENCY_BUCKETS, 0.0])


@given(st.lists(_LATENCY, max_size=200))
def test_exposition_is_the_same_as_prometheus_client_histogram(values: list[float]) -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("smsgw_submit_response_seconds", "Submit to submit response", buckets=_LATENCY_BUCKETS,
                          registry=theirs)
    histogram = LatencyHistogram("smsgw_submit_response_seconds", "Submit to submit response", _LATENCY_BUCKETS)
    ours.register(histogram)  # type: ignore[arg-type]
    for value in values:
        reference.observe(value)
        histogram.observe(value)
    histogram.created = reference._created
    assert generate_latest(ours) == generate_latest(theirs)


def test_receipt_stat_words_are_bounded() -> None:
    stats = ChannelStats()
    for i in range(_RECEIPT_STATS + 10):
        stats.count_receipt(f"weird{i}")
    stats.count_receipt("delivrd")
    stats.count_receipt("")
    assert stats.receipts == _RECEIPT_STATS + 12
    assert len(stats.receipt_stats) == _RECEIPT_STATS + 1 and stats.receipt_stats["OTHER"] == 12

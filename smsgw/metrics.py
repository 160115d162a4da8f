"""Prometheus metrics, collected on scrape from the counters the channels and the
dispatcher keep anyway (no per-message metric calls on the hot path)."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.utils import floatToGoString

from .dispatch import Dispatcher

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: receipts come seconds to days after the submit (an operator holds a message for a phone that is off)
_REPORT_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 6 * 3600.0, 24 * 3600.0, 48 * 3600.0)


class GatewayCollector:
    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher

    def collect(self) -> Iterator[Metric]:
        d = self.dispatcher
        submits = CounterMetricFamily("smsgw_submits", "Submit PDUs sent", labels=["channel"])
        responses = CounterMetricFamily("smsgw_submit_responses", "Submit responses by operator status",
                                        labels=["channel", "status"])
        receipts = CounterMetricFamily("smsgw_receipts", "Receipts received by stat (DELIVRD, UNDELIV, ...)",
                                       labels=["channel", "stat"])
        timeouts = CounterMetricFamily("smsgw_response_timeouts", "Submits without response in time",
                                       labels=["channel"])
        reconnects = CounterMetricFamily("smsgw_reconnects", "Session reconnects", labels=["channel"])
        throttled = CounterMetricFamily("smsgw_throttled", "Throttling responses", labels=["channel"])
        unreadable = CounterMetricFamily("smsgw_receipts_unreadable",
                                         "Receipts without a readable id: acknowledged, not stored", labels=["channel"])
        ignored = CounterMetricFamily("smsgw_delivers_ignored",
                                      "Delivers that are neither receipt nor MO (SMPP SME acknowledgements, "
                                      "intermediate notifications, ...): acknowledged, not stored",
                                      labels=["channel", "type"])
        depth = GaugeMetricFamily("smsgw_queue_depth", "Segments queued in memory", labels=["channel"])
        in_flight = GaugeMetricFamily("smsgw_in_flight", "Outstanding requests per session",
                                      labels=["channel", "session"])
        bound = GaugeMetricFamily("smsgw_bound_sessions", "Sessions bound for submitting", labels=["channel"])
        for name, channel in d.channels.items():
            stats = channel.stats
            submits.add_metric([name], stats.submits)
            for status, count in stats.responses.items():
                responses.add_metric([name, status], count)
            for stat, count in stats.receipt_stats.items():
                receipts.add_metric([name, stat], count)
            timeouts.add_metric([name], stats.timeouts)
            reconnects.add_metric([name], stats.reconnects)
            throttled.add_metric([name], stats.throttled)
            unreadable.add_metric([name], stats.unreadable)
            for kind, count in stats.ignored.items():
                ignored.add_metric([name, kind], count)
            depth.add_metric([name], channel.depth)
            bound.add_metric([name], channel.bound_sessions)
            for slot in channel.slots:
                window = len(slot.session.window) if slot.session is not None else 0
                in_flight.add_metric([name, str(slot.index)], window)
        finals = CounterMetricFamily("smsgw_messages_final", "Messages reaching a final status", labels=["status"])
        for status, count in d.stats.finals.items():
            finals.add_metric([status], count)
        unmatched = CounterMetricFamily("smsgw_receipts_unmatched", "Receipts matching no submitted segment")
        unmatched.add_metric([], d.stats.receipts_unmatched)
        mo = CounterMetricFamily("smsgw_mo_messages", "MO messages stored")
        mo.add_metric([], d.stats.mo_messages)
        loaded = CounterMetricFamily("smsgw_messages_loaded", "Accepted messages taken into the in-memory queues: "
                                     "read from the database, or handed over by their committed write",
                                     labels=["how"])
        loaded.add_metric(["read"], d.stats.accepted_loaded - d.stats.handed_over)
        loaded.add_metric(["handed_over"], d.stats.handed_over)
        writer = d.store.writer.stats
        pending = GaugeMetricFamily("smsgw_store_pending_ops", "Writes queued for the group-commit writer")
        pending.add_metric([], writer.pending_ops)
        commits = CounterMetricFamily("smsgw_store_batches", "Group commits")
        commits.add_metric([], writer.batches)
        yield from (submits, responses, receipts, timeouts, reconnects, throttled, unreadable, ignored, depth,
                    in_flight, bound, finals, unmatched, mo, loaded, pending, commits)


class LatencyHistogram:
    """A histogram observed on the trio thread only, so without prometheus_client's two
    lock round trips per observation (~5 % of the gateway's CPU when every submit
    response observed one); exposed as prometheus_client's ``Histogram`` exposes it."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = [float(b) for b in buckets]
        self.counts = [0] * (len(self.bounds) + 1)  # the last: above every bound (+Inf)
        self.sum = 0.0
        self.created = time.time()

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # a bucket counts values <= its bound
        self.sum += value

    def collect(self) -> Iterator[Metric]:
        cumulative, total = [], 0
        for bound, count in zip([*self.bounds, float("inf")], self.counts, strict=True):
            total += count
            cumulative.append((floatToGoString(bound), total))
        family = HistogramMetricFamily(self.name, self.documentation, buckets=cumulative, sum_value=self.sum)
        family.add_sample(f"{self.name}_created", {}, self.created)
        yield family


class Metrics:
    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.registry = CollectorRegistry()
        self.registry.register(GatewayCollector(dispatcher))  # type: ignore[arg-type]
        self.submit_latency = LatencyHistogram("smsgw_submit_response_seconds", "Submit to submit response",
                                               _LATENCY_BUCKETS)
        self.registry.register(self.submit_latency)  # type: ignore[arg-type]
        dispatcher.latency_observer = self.submit_latency.observe
        self.report_latency = LatencyHistogram("smsgw_submit_report_seconds",
                                               "Submit response to final receipt, per segment", _REPORT_BUCKETS)
        self.registry.register(self.report_latency)  # type: ignore[arg-type]
        dispatcher.report_latency_observer = self.report_latency.observe

    def text(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

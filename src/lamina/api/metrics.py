"""Prometheus exposition of the job store's numbers, computed at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector


class StoreCollector(Collector):
    """Queue depth, jobs per state, live workers and job durations from ``stats()``."""

    def __init__(self, stats: Callable[[], dict[str, Any]]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        yield GaugeMetricFamily(
            "lamina_queue_depth", "Jobs waiting in the queue", value=stats["queue_depth"]
        )
        jobs = GaugeMetricFamily("lamina_jobs", "Jobs in the store by state", labels=["state"])
        for state, count in stats["states"].items():
            jobs.add_metric([state], count)
        yield jobs
        yield GaugeMetricFamily(
            "lamina_workers_alive", "Workers seen recently", value=stats["workers_alive"]
        )
        yield GaugeMetricFamily(
            "lamina_oldest_queued_seconds",
            "Age of the oldest queued job",
            value=stats["oldest_queued_s"],
        )
        hist = HistogramMetricFamily("lamina_job_duration_seconds", "Run time of completed jobs")
        buckets = [(str(le), n) for le, n in stats["duration_buckets"]]
        buckets.append(("+Inf", stats["duration_count"]))
        hist.add_metric([], buckets, sum_value=stats["duration_sum"])
        yield hist


def render_metrics(stats: Callable[[], dict[str, Any]]) -> bytes:
    """The text exposition format for one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(stats))
    return generate_latest(registry)

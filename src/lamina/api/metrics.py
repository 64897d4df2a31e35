"""Prometheus exposition of the job store's numbers, computed at scrape time.

Every figure comes from the shared job store, so any API process of a fleet reports the
whole fleet: its queue, its live and busy workers, and how long jobs wait and run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

_HISTOGRAMS = (
    (
        "durations",
        "lamina_job_duration_seconds",
        "Time from submit to the end of finished jobs, by final state",
        "state",
    ),
    (
        "run_times",
        "lamina_job_run_seconds",
        "Time from a worker's claim to the end of completed and failed jobs, by state",
        "state",
    ),
    (
        "queue_wait",
        "lamina_job_queue_wait_seconds",
        "Time from submit to the start of every started job (pick-up latency of the fleet)",
        None,
    ),
)


class StoreCollector(Collector):
    """Queue depth, jobs per state, live and busy workers, durations, run times and queue
    waits from ``stats()`` (see :meth:`lamina.jobs.store.JobStore.stats`)."""

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
            "lamina_workers_alive",
            "Workers that heartbeated recently, across the fleet",
            value=stats["workers_alive"],
        )
        yield GaugeMetricFamily(
            "lamina_workers_busy",
            "Live workers running a job now",
            value=stats["workers_busy"],
        )
        yield GaugeMetricFamily(
            "lamina_oldest_queued_seconds",
            "Age of the oldest queued job",
            value=stats["oldest_queued_s"],
        )
        for key, name, documentation, label in _HISTOGRAMS:
            hist = HistogramMetricFamily(name, documentation, labels=[label] if label else [])
            for value, data in stats[key].items():
                buckets = [(str(le), n) for le, n in data["buckets"]]
                buckets.append(("+Inf", data["count"]))
                hist.add_metric([value] if label else [], buckets, sum_value=data["sum"])
            yield hist


def render_metrics(stats: Callable[[], dict[str, Any]]) -> bytes:
    """The text exposition format for one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(stats))
    return generate_latest(registry)

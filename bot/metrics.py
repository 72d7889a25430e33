"""labbot's Prometheus metrics: jobs by state and command, ack latency, Slack, GitHub and
database errors.

One `Metrics` object per app with its own registry (no global state); `render()` is /metrics.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bot.store_fault import STORE_FAULTS

CONTENT_TYPE = CONTENT_TYPE_LATEST

JobCounts = Callable[[], Awaitable[dict[tuple[str, str], int]]]


class Metrics:
    """The counters and histograms labbot updates, and the job gauge read from the store."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.ack_seconds = Histogram(
            "labbot_ack_seconds",
            "Time from receiving a slash command or click to acknowledging it.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 3),
            registry=self.registry,
        )
        self.slack_errors = Counter(
            "labbot_slack_api_errors_total",
            "Slack Web API calls that failed, by method and error.",
            ["method", "error"],
            registry=self.registry,
        )
        self.github_errors = Counter(
            "labbot_github_api_errors_total",
            "GitHub API calls that failed, by HTTP status (none: no response).",
            ["status"],
            registry=self.registry,
        )
        self.store_errors = Counter(
            "labbot_store_errors_total",
            "Database errors, by kind: disk_full, read_only, io_error, unreachable, other.",
            ["kind"],
            registry=self.registry,
        )
        self.jobs = Gauge(
            "labbot_jobs",
            "Jobs in the store, by command and state.",
            ["command", "state"],
            registry=self.registry,
        )

    def slack_error(self, method: str, error: str) -> None:
        """Count one failed Slack call."""
        self.slack_errors.labels(method=method, error=error).inc()

    def github_error(self, status: int | None) -> None:
        """Count one failed GitHub call."""
        self.github_errors.labels(status=str(status) if status is not None else "none").inc()

    def store_error(self, kind: str) -> None:
        """Count one database error."""
        self.store_errors.labels(kind=kind).inc()

    async def render(self, job_counts: JobCounts) -> bytes:
        """The Prometheus text exposition, with the job gauge refreshed from the store (left
        empty while the store cannot be read: the store error counter says why)."""
        self.jobs.clear()
        try:
            counts = await job_counts()
        except STORE_FAULTS:
            counts = {}
        for (command, state), count in counts.items():
            self.jobs.labels(command=command, state=state).set(count)
        return bytes(generate_latest(self.registry))

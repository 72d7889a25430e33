"""The health and metrics HTTP endpoint: `/healthz` for probes, `/metrics` for Prometheus.

Read-only; reports what the app's parts say about themselves, never a secret or a config value.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from bot.config import HealthConfig
from bot.metrics import CONTENT_TYPE, JobCounts, Metrics

WRITE_CHECK_EVERY = 10.0
"""Seconds a write check's answer stands: probes every few seconds add no write load."""


class CachedCheck:
    """An async check asked at most once per `every` seconds; callers in between get its
    last answer. Example: ``CachedCheck(store.writable, every=10)``."""

    def __init__(
        self,
        check: Callable[[], Awaitable[bool]],
        every: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self._every = every
        self._clock = clock
        self._answer: tuple[float, bool] | None = None

    async def __call__(self) -> bool:
        now = self._clock()
        if self._answer is None or now - self._answer[0] >= self._every:
            self._answer = (now, await self._check())
        return self._answer[1]


@dataclass(frozen=True)
class HealthChecks:
    """How to ask each part whether it is well."""

    slack_connected: Callable[[], bool]
    database_reachable: Callable[[], Awaitable[bool]]
    database_writable: Callable[[], Awaitable[bool]]  # reads alone can succeed on a full disk
    scheduler_running: Callable[[], bool]
    schedules_role: Callable[[], str]  # leader or standby


class HealthServer:
    """Serves /healthz and /metrics on the configured host and port."""

    def __init__(
        self, config: HealthConfig, checks: HealthChecks, metrics: Metrics, job_counts: JobCounts
    ) -> None:
        self._config = config
        self._checks = checks
        self._metrics = metrics
        self._job_counts = job_counts
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> None:
        """Start listening (port 0 picks a free port; `port` tells which)."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics_page)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._config.host, self._config.port)
        await site.start()
        addresses = self._runner.addresses  # (host, port, ...) of each listening socket
        self.port = addresses[0][1] if addresses else self._config.port

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        checks = {
            "slack_connected": self._checks.slack_connected(),
            "database_reachable": await self._checks.database_reachable(),
            "database_writable": await self._checks.database_writable(),
            "scheduler_running": self._checks.scheduler_running(),
        }
        healthy = all(checks.values())
        body = {
            "status": "ok" if healthy else "unhealthy",
            **checks,
            "schedules": self._checks.schedules_role(),
        }
        return web.Response(
            status=200 if healthy else 503,
            text=json.dumps(body),
            content_type="application/json",
        )

    async def _metrics_page(self, request: web.Request) -> web.Response:
        body = await self._metrics.render(self._job_counts)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

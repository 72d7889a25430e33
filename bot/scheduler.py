"""Scheduled work (Renovate checks, the nightly digest) on APScheduler 3, persisted in labbot's database.

Schedules and missed runs survive restarts: a missed run is coalesced into one and told it is late.
Must not hold the work itself: tasks are registered by name by whoever owns them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger

from bot.store import sync_database_url

log = logging.getLogger(__name__)

# A run counts as late when it starts this long after its scheduled time (a missed run).
LATE_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class ScheduledRun:
    """One run of a scheduled task: when it was due, and whether it is late (missed, then caught up).

    A catch-up of several missed runs comes once, with `scheduled_at` the newest of them (as
    APScheduler coalesces) and `first_missed` the oldest.
    """

    name: str
    scheduled_at: datetime
    started_at: datetime
    first_missed: datetime | None = None

    @property
    def late(self) -> bool:
        """Whether this run was missed (labbot was down) and runs now instead."""
        return self.first_missed is not None or self.started_at - self.scheduled_at > LATE_AFTER


Task = Callable[[ScheduledRun], Awaitable[None]]

# APScheduler persists a job as a reference to a module-level function plus its arguments, so
# the running scheduler is found through this one registry, keyed by the job store's table.
_RUNNING: dict[str, Scheduler] = {}
_STOP_GRACE = 5.0  # seconds a running task may take to finish at shutdown (like bot/tasks.py)


async def run_scheduled(table: str, name: str) -> None:
    """The function APScheduler stores: looks up the running scheduler and runs task `name`."""
    scheduler = _RUNNING.get(table)
    if scheduler is None:
        log.warning("scheduled task %s fired with no scheduler running", name)
        return
    await scheduler.run(name)


def _same_trigger(stored: BaseTrigger, wanted: BaseTrigger) -> bool:
    # str() of a trigger leaves out its time zone; a changed zone must reschedule.
    def key(trigger: BaseTrigger) -> str:
        return f"{trigger} {getattr(trigger, 'timezone', '')}"

    return key(stored) == key(wanted)


class Scheduler:
    """Named tasks on triggers; start after registering, stop on shutdown."""

    def __init__(self, database_url: str, timezone: str, table: str = "apscheduler_jobs") -> None:
        self._table = table
        self._tasks: dict[str, Task] = {}
        self._due: dict[str, datetime] = {}
        self._pending: list[tuple[str, BaseTrigger]] = []
        self._missed: dict[str, datetime] = {}
        self._running: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._scheduler = AsyncIOScheduler(
            jobstores={
                "default": SQLAlchemyJobStore(url=sync_database_url(database_url), tablename=table)
            },
            job_defaults={
                "coalesce": True,
                "misfire_grace_time": 7 * 24 * 3600,
                "max_instances": 1,
            },
            timezone=timezone,
        )
        self._scheduler.add_listener(self._submitted, EVENT_JOB_SUBMITTED)

    @property
    def running(self) -> bool:
        """Whether the scheduler is up."""
        return bool(self._scheduler.running)

    def add(self, name: str, trigger: BaseTrigger, task: Task) -> None:
        """Register `task` under `name` on `trigger` (replacing a stored schedule of that name)."""
        self._tasks[name] = task
        self._pending.append((name, trigger))

    def start(self) -> None:
        """Start firing; schedules already stored keep their next run time (a missed run fires now)."""
        _RUNNING[self._table] = self
        self._scheduler.start(paused=True)
        now = datetime.now(UTC)
        for name, trigger in self._pending:
            existing = self._scheduler.get_job(name)
            if existing is not None and _same_trigger(existing.trigger, trigger):
                # Keep the stored next_run_time, so a missed run is caught up. A coalesced
                # catch-up is submitted with only the newest missed time (maybe minutes ago),
                # so remember that runs were missed, and since when.
                if existing.next_run_time is not None and existing.next_run_time < now:
                    self._missed[name] = existing.next_run_time
                continue
            self._scheduler.add_job(
                run_scheduled,
                trigger=trigger,
                args=[self._table, name],
                id=name,
                name=name,
                replace_existing=True,
            )
        self._pending.clear()
        self._scheduler.resume()

    def lead(self) -> None:
        """This replica runs the schedules (`bot/leadership.py`): start, or resume after `follow`."""
        if self._scheduler.running:
            self._scheduler.resume()
        else:
            self.start()

    def follow(self) -> None:
        """Another replica runs the schedules now: fire nothing more here (a task already
        running finishes)."""
        if self._scheduler.running:
            self._scheduler.pause()

    async def stop(self, grace: float = _STOP_GRACE) -> None:
        """Stop firing; a task already running gets `grace` seconds to finish, then is cancelled
        (logged as interrupted, not as a failure)."""
        try:
            if self._scheduler.running:
                self._scheduler.pause()
                if self._running:
                    await asyncio.wait(set(self._running), timeout=grace)
        finally:  # even when stop() itself is cancelled: never leave a paused scheduler behind
            self._stopping = True
            if self._scheduler.running:
                self._scheduler.shutdown(wait=False)  # cancels what is still running
            _RUNNING.pop(self._table, None)
        if self._running:
            await asyncio.wait(set(self._running), timeout=grace)

    def next_run(self, name: str) -> datetime | None:
        """When task `name` fires next."""
        job = self._scheduler.get_job(name)
        return job.next_run_time if job is not None else None

    def _submitted(self, event: JobSubmissionEvent) -> None:
        if event.scheduled_run_times:
            self._due[event.job_id] = event.scheduled_run_times[-1]

    async def run(self, name: str) -> None:
        """Run task `name` now (as the scheduler does when it is due)."""
        task = self._tasks.get(name)
        if task is None:
            log.warning("no task registered for schedule %s", name)
            return
        now = datetime.now(UTC)
        due = self._due.pop(name, now)
        first_missed = self._missed.pop(name, None)
        current = asyncio.current_task()
        assert current is not None  # run() is always awaited inside a task
        self._running.add(current)
        try:
            await task(
                ScheduledRun(name=name, scheduled_at=due, started_at=now, first_missed=first_missed)
            )
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            # Our own shutdown: returning keeps APScheduler from logging it as a job error.
            log.warning("scheduled task %s was interrupted by shutdown", name)
        except Exception:  # a failing task must not stop the schedule
            log.exception("scheduled task %s failed", name)
        finally:
            self._running.discard(current)

    def describe(self) -> dict[str, Any]:
        """Names and next run times, for health output."""
        return {job.id: job.next_run_time for job in self._scheduler.get_jobs()}

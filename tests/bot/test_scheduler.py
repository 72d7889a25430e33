"""The scheduler: schedules persist in the database; a missed run fires once, marked late."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from store_databases import Databases

from bot.scheduler import ScheduledRun, Scheduler
from bot.store import Store


async def test_schedule_survives_a_restart_and_missed_run_is_coalesced_and_late(
    databases: Databases,
) -> None:
    url = databases.new()
    store = await Store.open(url)
    await store.close()
    runs: list[ScheduledRun] = []
    ran = asyncio.Event()

    async def digest(run: ScheduledRun) -> None:
        runs.append(run)
        ran.set()

    # A daily time that came moments ago: the newest missed run is then only seconds old, so
    # only knowing that runs were missed (since two days ago) shows the run is late.
    now = datetime.now(UTC)
    cron = f"{now.minute} {now.hour} * * *"
    trigger = CronTrigger.from_crontab(cron, timezone="UTC")
    first = Scheduler(url, "UTC")
    first.add("digest", trigger, digest)
    first.start()
    next_run = first.next_run("digest")
    assert next_run is not None and next_run > datetime.now(UTC)
    # Pretend labbot was down over two due times: the stored next run lies in the past.
    first._scheduler.pause()
    first._scheduler.modify_job("digest", next_run_time=datetime.now(UTC) - timedelta(days=2))
    await first.stop()
    assert runs == []

    second = Scheduler(url, "UTC")
    second.add("digest", CronTrigger.from_crontab(cron, timezone="UTC"), digest)
    second.start()
    try:
        await asyncio.wait_for(ran.wait(), timeout=10)
        assert len(runs) == 1  # coalesced: one catch-up run, not two
        assert runs[0].late
        assert runs[0].first_missed is not None
        assert runs[0].started_at - runs[0].first_missed > timedelta(days=1)
        following = second.next_run("digest")
        assert following is not None and following > datetime.now(UTC)
    finally:
        await second.stop()


async def test_on_time_run_is_not_late(databases: Databases) -> None:
    url = databases.new()
    ran = asyncio.Event()
    runs: list[ScheduledRun] = []

    async def check(run: ScheduledRun) -> None:
        runs.append(run)
        ran.set()

    scheduler = Scheduler(url, "UTC")
    scheduler.add("renovate", IntervalTrigger(seconds=1), check)
    scheduler.start()
    try:
        await asyncio.wait_for(ran.wait(), timeout=10)
        assert runs[0].name == "renovate" and not runs[0].late
    finally:
        await scheduler.stop()


async def test_shutdown_lets_a_running_task_finish_within_the_grace(databases: Databases) -> None:
    url = databases.new()
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[str] = []

    async def digest(run: ScheduledRun) -> None:
        started.set()
        await release.wait()
        finished.append(run.name)

    scheduler = Scheduler(url, "UTC")
    scheduler.add("digest", IntervalTrigger(seconds=1), digest)
    scheduler.start()
    await asyncio.wait_for(started.wait(), timeout=10)
    stopping = asyncio.create_task(scheduler.stop(grace=30))
    await asyncio.sleep(0)  # let stop() begin waiting
    assert not stopping.done()
    release.set()
    await asyncio.wait_for(stopping, timeout=10)
    assert finished == ["digest"] and not scheduler.running


async def test_shutdown_interrupts_a_task_past_the_grace_without_an_error(
    databases: Databases, caplog: pytest.LogCaptureFixture
) -> None:
    url = databases.new()
    started = asyncio.Event()
    cancelled: list[str] = []

    async def digest(run: ScheduledRun) -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # a digest stuck on a node
        except asyncio.CancelledError:
            cancelled.append(run.name)
            raise

    scheduler = Scheduler(url, "UTC")
    scheduler.add("digest", IntervalTrigger(seconds=1), digest)
    scheduler.start()
    await asyncio.wait_for(started.wait(), timeout=10)
    with caplog.at_level(logging.WARNING):
        await asyncio.wait_for(scheduler.stop(grace=0.05), timeout=10)
    assert cancelled == ["digest"]
    assert "scheduled task digest was interrupted by shutdown" in caplog.messages
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []

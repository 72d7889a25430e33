"""The schedules labbot keeps in its database (APScheduler's job store), changed from outside."""

from __future__ import annotations

import asyncio
from datetime import datetime

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import create_engine, inspect

from bot.store import sync_database_url
from labsim.lab import Lab

_TABLE = "apscheduler_jobs"  # bot/scheduler.py's default


def is_stored(lab: Lab, name: str) -> bool:
    """Whether labbot's job store holds schedule `name` (a leader has started its scheduler)."""
    url = sync_database_url(lab.config().storage.resolved_database_url())
    # Look before starting a job store: starting one creates its table, and doing that while
    # labbot's leader creates it too fails one of the two with "relation already exists"
    # (APScheduler checks, then creates, with no lock between).
    engine = create_engine(url)
    try:
        if not inspect(engine).has_table(_TABLE):
            return False
    finally:
        engine.dispose()
    jobs = SQLAlchemyJobStore(url=url, tablename=_TABLE)
    jobs.start(BackgroundScheduler(timezone="UTC"), "default")
    try:
        return jobs.lookup_job(name) is not None
    finally:
        jobs.shutdown()


async def until_stored(lab: Lab, name: str, attempts: int = 300) -> None:
    """Wait until a labbot process has stored schedule `name` (once it leads). The write
    happens in another process's database session and signals nothing this process could
    await, so the store is polled, every 0.1 s at most `attempts` times."""
    for _ in range(attempts):
        if await asyncio.to_thread(is_stored, lab, name):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"no labbot process stored the schedule {name!r}")


def mark_missed(lab: Lab, name: str, when: datetime) -> None:
    """Set stored schedule `name`'s next run to `when` (in the past: as if labbot had been
    down since). A running labbot does not notice until its scheduler next loads the job."""
    url = sync_database_url(lab.config().storage.resolved_database_url())
    jobs = SQLAlchemyJobStore(url=url, tablename=_TABLE)
    jobs.start(BackgroundScheduler(timezone="UTC"), "default")  # never started: only unpickles
    try:
        job = jobs.lookup_job(name)
        assert job is not None
        state = job.__getstate__()
        state["next_run_time"] = when
        job.__setstate__(state)
        jobs.update_job(job)
    finally:
        jobs.shutdown()

"""The schedules labbot keeps in its database (APScheduler's job store), changed from outside."""

from __future__ import annotations

from datetime import datetime

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from bot.store import sync_database_url
from labsim.lab import Lab


def mark_missed(lab: Lab, name: str, when: datetime) -> None:
    """Set stored schedule `name`'s next run to `when` (in the past: as if labbot had been
    down since). A running labbot does not notice until its scheduler next loads the job."""
    jobs = SQLAlchemyJobStore(url=sync_database_url(lab.config().storage.resolved_database_url()))
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

"""Which scheduled tasks labbot runs, and what each gets: the one place capabilities register them.

A capability adds one line to `register` (e.g. the Renovate check on its interval, the digest on
its cron); the task receives a `ScheduleContext` and the `ScheduledRun` (with `late`).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot import renovate_board
from bot.chat import Chat
from bot.config import Config
from bot.jobs import JobEngine
from bot.scheduler import Scheduler
from bot.services import Services
from bot.store import Store
from handlers import digest
from handlers.flash_offer import DeployOffer
from handlers.sops_changes import SOPS_KINDS
from handlers.sops_job import remove_clone_when_done


@dataclass(frozen=True)
class ScheduleContext:
    """What a scheduled task may use."""

    config: Config
    store: Store
    chat: Chat
    services: Services
    jobs: JobEngine


def register(scheduler: Scheduler, context: ScheduleContext) -> None:
    """Register every scheduled task (and the engine hooks) of the capabilities that are built."""
    renovate_board.register(scheduler, context)
    digest.register(scheduler, context)
    DeployOffer(context.jobs).register()  # no schedule: the button after a flash
    remove_clone_when_done(context.jobs, context.config, SOPS_KINDS)  # no schedule: tidying

"""The bot's Home tab: the lab at a glance, published for a user when they open it, and again for
those who opened it lately whenever a job ends.

1. Read the last digest's snapshot and the jobs under way.  2. Build each user's view for their
role (`handlers/status/home_blocks.py`).  3. Publish it (`Chat.publish_home`, views.publish:
redacted and fitted to a view's 100 blocks by the chat, tried once).
A job's end only starts a refresh in a task: the end never waits on Slack, and a refresh that
fails or is rate limited is logged and skipped (the next open or job end publishes again).
Refreshes coalesce: however many jobs end at once, one refresh runs and at most one more follows.
Checklist: lock — none (reads only); approval — none; role — anyone in the workspace may open
the tab, and sees what their role may see (nothing of the lab without one, no buttons as a
viewer); timeout — the chat's; cancel — with the app's tasks at stop; redaction — by the chat
(`bot/outbound.py`), outside text escaped in `home_blocks`; audit — none (reads only, like
`/lab help`); tests — tests/scenarios/test_home.py.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.chat import Chat, ChatError, PosterRateLimited
from bot.command_spec import Approval
from bot.config import Config, Role
from bot.job_records import ApprovalState, now_utc
from bot.job_run import Finished
from bot.job_state import Job, JobState
from bot.jobs import JobEngine
from bot.policy import Policy
from bot.store import Store
from bot.tasks import TaskSet
from handlers.status.digest_report import build_report
from handlers.status.digest_store import DigestStore
from handlers.status.home_blocks import HomeContent, HomeJob, home_view

if TYPE_CHECKING:
    from bot.capability import CapabilityContext

log = logging.getLogger(__name__)

RECENT_SECONDS = 30 * 60
"""A user who opened the tab this recently gets it refreshed when a job ends."""
MAX_WATCHERS = 50
"""At most this many users are refreshed per job end (those who opened the tab last)."""
UNDER_WAY = (JobState.running, JobState.queued, JobState.awaiting_approval)


class HomeTab:
    """Publishes the Home tab. Example: ``await HomeTab(...).opened("U0ALICE")``."""

    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        chat: Chat,
        policy: Policy,
        jobs: JobEngine,
        tasks: TaskSet,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = now_utc,
    ) -> None:
        self._config = config
        self._snapshots = DigestStore(store.sessions)
        self._chat = chat
        self._policy = policy
        self._jobs = jobs
        self._tasks = tasks
        self._clock = clock
        self._now = now
        self._watchers: OrderedDict[str, float] = OrderedDict()  # user → when they opened it
        self._refreshing = False
        self._again = False

    async def opened(self, user_id: str) -> None:
        """`user_id` opened the tab: publish it for them now, and remember them for a while if
        they hold a role (without one the tab never changes)."""
        if (await self._policy.actor(user_id)).role is not None:
            self._watchers[user_id] = self._clock()
            self._watchers.move_to_end(user_id)
            while len(self._watchers) > MAX_WATCHERS:
                self._watchers.popitem(last=False)
        await self.publish([user_id])

    def watchers(self) -> list[str]:
        """Users who opened the tab in the last `RECENT_SECONDS`, most recent last."""
        since = self._clock() - RECENT_SECONDS
        for user in [u for u, at in self._watchers.items() if at < since]:
            del self._watchers[user]
        return list(self._watchers)

    async def job_ended(self, job: Job, outcome: Finished) -> None:
        """A job ended: refresh the tab of recent watchers, in a task (returns at once)."""
        if not self.watchers():
            return
        if self._refreshing:
            self._again = True  # the running refresh goes once more with what is new by then
            return
        self._refreshing = True
        self._tasks.spawn(self._refresh(), name=f"home tab after job {job.id}")

    async def _refresh(self) -> None:
        try:
            while True:
                self._again = False
                await self.publish(self.watchers())
                if not self._again:
                    return
        finally:
            self._refreshing = False

    async def publish(self, users: Iterable[str]) -> None:
        """Gather once, then publish each user's view; a refusal is logged, never raised."""
        users = list(users)
        if not users:
            return
        content = await self.content()
        zone = ZoneInfo(self._config.schedules.timezone)
        for user in users:
            viewer = await self._policy.actor(user)
            try:
                await self._chat.publish_home(user, home_view(content, viewer, zone))
            except PosterRateLimited as limited:
                log.info("Home tab of %s not refreshed: rate limited (%s s)", user, limited)
            except ChatError as error:
                log.warning("Home tab of %s not published: %s", user, error)

    async def content(self) -> HomeContent:
        """The last digest (judged as it judged it) and the jobs under way."""
        snapshot = await self._snapshots.latest()
        report = build_report(None, snapshot, self._config) if snapshot is not None else None
        jobs = [await self._home_job(job) for job in await self._jobs.jobs.in_states(*UNDER_WAY)]
        return HomeContent(report, tuple(jobs), self._now(), self._config.slack.command)

    async def _home_job(self, job: Job) -> HomeJob:
        """A job, with its pending approval's role and a link to that approval message."""
        if job.state is not JobState.awaiting_approval:
            return HomeJob(job)
        pending = [
            a
            for a in await self._jobs.approvals.for_job(job.id)
            if a.state is ApprovalState.pending and a.message_ts
        ]
        if not pending or pending[-1].role not in Role.__members__:
            return HomeJob(job)
        approval = pending[-1]
        link = await self._chat.permalink(job.channel_id, approval.message_ts)
        four_eyes = approval.rule == Approval.four_eyes.value
        return HomeJob(job, Role[approval.role], link, four_eyes)


def register(context: CapabilityContext) -> None:
    """Publish the tab when it is opened and refresh it when any job ends."""
    home = HomeTab(
        config=context.config,
        store=context.store,
        chat=context.chat,
        policy=context.policy,
        jobs=context.jobs,
        tasks=context.tasks,
    )
    context.chat_events.on_home_opened(home.opened)
    context.jobs.on_any_finished(home.job_ended)

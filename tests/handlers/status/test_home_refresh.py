"""Who the Home tab is refreshed for when jobs end: recent openers with a role, at most
`MAX_WATCHERS`, one refresh at a time however many jobs end."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from bot.config import Role
from bot.job_run import Finished
from bot.job_state import JobState
from bot.policy import Actor
from bot.tasks import TaskSet
from handlers.status.home import MAX_WATCHERS, RECENT_SECONDS, HomeTab

ENDED = Finished(JobState.succeeded, "done")
JOB: Any = SimpleNamespace(id=1)


class Roles:
    async def actor(self, user_id: str) -> Actor:
        return Actor(user_id, None if user_id == "U0STRANGER" else Role.viewer)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Publishes(list[list[str]]):
    """What `HomeTab.publish` was asked to do; `hold()` keeps the next publish running."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()
        self.gate = asyncio.Event()
        self.gate.set()

    def hold(self) -> None:
        self.started.clear()
        self.gate.clear()


def home_tab(clock: Clock, tasks: TaskSet) -> tuple[HomeTab, Publishes]:
    tab = HomeTab(
        # Only the roles are consulted here: publishing is replaced below.
        config=SimpleNamespace(),
        store=SimpleNamespace(sessions=None),
        chat=SimpleNamespace(),
        policy=Roles(),
        jobs=SimpleNamespace(),
        tasks=tasks,
        clock=clock,
    )
    published = Publishes()

    async def publish(users: Any) -> None:
        published.append(list(users))
        published.started.set()
        await published.gate.wait()

    tab.publish = publish
    return tab, published


async def test_recent_openers_with_a_role_are_refreshed_and_the_set_is_bounded() -> None:
    clock, tasks = Clock(), TaskSet()
    tab, published = home_tab(clock, tasks)
    await tab.opened("U0STRANGER")
    for i in range(MAX_WATCHERS + 10):
        await tab.opened(f"U{i:04d}")
    assert published[0] == ["U0STRANGER"]  # it was shown the tab, but is not refreshed
    watchers = tab.watchers()
    assert len(watchers) == MAX_WATCHERS and watchers[0] == "U0010"
    assert "U0STRANGER" not in watchers

    published.clear()
    await tab.job_ended(JOB, ENDED)
    await tab.job_ended(JOB, ENDED)  # before the refresh began: it covers both
    await tasks.wait_idle()
    assert published == [watchers]

    published.clear()
    published.hold()
    await tab.job_ended(JOB, ENDED)
    await published.started.wait()
    await tab.job_ended(JOB, ENDED)  # while the refresh runs: one more after it, not two
    await tab.job_ended(JOB, ENDED)
    published.gate.set()
    await tasks.wait_idle()
    assert published == [watchers, watchers]

    clock.now += RECENT_SECONDS + 1
    published.clear()
    await tab.job_ended(JOB, ENDED)
    await tasks.wait_idle()
    assert published == [] and tab.watchers() == []
    await tasks.close()

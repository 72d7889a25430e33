"""Background tasks owned by the app: every task is referenced, can be cancelled, and is awaited on stop.

Never fire-and-forget: `TaskSet.spawn` is the only place labbot starts a background task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class TaskSet:
    """A set of running tasks; exceptions are logged, and `close` cancels what is left."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._daemons: set[asyncio.Task[Any]] = set()
        self._closing = False

    def __len__(self) -> int:
        return len(self._tasks)

    @property
    def closing(self) -> bool:
        """Whether `close` has begun (new work should be refused)."""
        return self._closing

    def spawn(
        self, coro: Coroutine[Any, Any, Any], name: str, *, daemon: bool = False
    ) -> asyncio.Task[Any]:
        """Start `coro` as a task owned by this set; a daemon (a loop) is cancelled at once on close."""
        task = asyncio.create_task(coro, name=name)
        (self._daemons if daemon else self._tasks).add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._daemons.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed", task.get_name(), exc_info=task.exception())

    async def wait_idle(self) -> None:
        """Wait until every non-daemon task (and any it started) has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self, grace: float = 5.0) -> None:
        """Wait up to `grace` seconds for running tasks, then cancel the rest and wait for them."""
        self._closing = True
        for daemon in list(self._daemons):
            daemon.cancel()
        if self._daemons:
            await asyncio.gather(*self._daemons, return_exceptions=True)
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

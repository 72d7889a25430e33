"""labbot killed with SIGKILL and started again: running jobs become interrupted, approvals survive."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest
from jobflow import approval_message, ask, press, start, thread_text, wait_final

from labsim.lab import Lab

BOT_PROCESS = Path(__file__).with_name("bot_process.py")


class BotProcess:
    """labbot with the exercise commands, in its own process."""

    def __init__(self, lab: Lab) -> None:
        self._lab = lab
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        assert self._lab.directory is not None
        log = (self._lab.directory / "bot.log").open("ab")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(BOT_PROCESS),
            str(self._lab.config_path),
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
        )
        log.close()
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout=30)
        assert line.strip() == b"ready", line
        await self._lab.slack.wait_connected()

    async def kill(self) -> None:
        assert self.process is not None
        self.process.kill()  # SIGKILL: no cleanup of any kind
        await self.process.wait()
        await self._lab.slack.wait_for(lambda: not self._lab.slack.connected, timeout=15)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout=15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


@pytest.fixture
async def bots(lab: Lab) -> AsyncIterator[list[BotProcess]]:
    started: list[BotProcess] = []
    yield started
    for bot in started:
        await bot.stop()


async def new_bot(lab: Lab, bots: list[BotProcess]) -> BotProcess:
    bot = BotProcess(lab)
    bots.append(bot)
    await bot.start()
    return bot


async def test_running_job_is_interrupted_and_its_lock_freed(
    lab: Lab, bots: list[BotProcess]
) -> None:
    first = await new_bot(lab, bots)
    job_id = await start(lab, lab.users.operator, "exercise hang")
    approval = await approval_message(lab, job_id)
    await press(lab, lab.users.admin, approval, "labbot:approve")
    await lab.slack.wait_for(lambda: "child" in thread_text(lab, job_id), timeout=15)
    text = thread_text(lab, job_id)
    orphans = [int(w.split()[1]) for w in text.splitlines() if w.startswith(("parent ", "child "))]
    try:
        await first.kill()
        await new_bot(lab, bots)
        await wait_final(lab, job_id, f"labbot restarted while job {job_id} was running")
        detail = await ask(lab, lab.users.viewer, f"job {job_id}")
        assert "interrupted" in detail.text
        # The node's lock is free again: a new job on it runs at once.
        second = await start(lab, lab.users.operator, "exercise now 1")
        await wait_final(lab, second, f"Job {second} succeeded")
    finally:
        for pid in orphans:  # systemd would kill the service's cgroup; here we do
            if psutil.pid_exists(pid):
                os.kill(pid, signal.SIGKILL)


async def test_pending_approval_survives_a_restart(lab: Lab, bots: list[BotProcess]) -> None:
    first = await new_bot(lab, bots)
    job_id = await start(lab, lab.users.operator, "exercise print 2")
    approval = await approval_message(lab, job_id)
    await first.kill()
    await new_bot(lab, bots)
    answer = await press(lab, lab.users.admin, approval, "labbot:approve")
    assert answer == f"You approved job {job_id}; it is running now."
    text = await wait_final(lab, job_id, f"Job {job_id} succeeded")
    assert "line 1" in text

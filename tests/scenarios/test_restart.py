"""labbot killed with SIGKILL and started again: running jobs become interrupted, approvals survive."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest
from jobflow import approval_message, ask, press, start, thread_text, wait_final

from labsim.bot_process import BotProcess
from labsim.lab import Lab

BOT_PROCESS = Path(__file__).with_name("bot_process.py")


@pytest.fixture
async def bots(lab: Lab) -> AsyncIterator[list[BotProcess]]:
    started: list[BotProcess] = []
    yield started
    for bot in started:
        await bot.stop()


async def new_bot(lab: Lab, bots: list[BotProcess]) -> BotProcess:
    bot = BotProcess(lab, BOT_PROCESS)
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

"""Scenario fixtures: the simulated lab with labbot connected to it over Socket Mode, in this
process (`bot`) or as separate processes a test can SIGKILL (`bots`, started by `new_bot`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from jobflow import BotProcesses

from bot.app import LabBot
from labsim.lab import Lab


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    async with Lab() as lab:
        yield lab


@pytest.fixture
async def bots(lab: Lab) -> AsyncIterator[BotProcesses]:
    """labbot processes on `lab` (the test's own `lab` fixture where it has one), all
    stopped at the end: `await bots.start()` starts one more."""
    started = BotProcesses(lab)
    yield started
    await started.stop_all()


@pytest.fixture
async def bot(lab: Lab) -> AsyncIterator[LabBot]:
    async with lab.bot() as bot:
        await lab.slack.wait_connected()
        yield bot

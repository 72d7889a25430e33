"""Scenario fixtures: the simulated lab with labbot connected to it over Socket Mode."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.app import LabBot
from labsim.lab import Lab


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    async with Lab() as lab:
        yield lab


@pytest.fixture
async def bot(lab: Lab) -> AsyncIterator[LabBot]:
    async with lab.bot() as bot:
        await lab.slack.wait_connected()
        yield bot

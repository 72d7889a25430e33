"""Fixtures for the Slack emulator tests: a seeded emulator, a Web API client, a Bolt app."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from labsim.slack import SlackEmulator

CHANNEL = "C0LAB"
ALICE = "U0ALICE"
BOB = "U0BOB"


@pytest.fixture
async def slack() -> AsyncIterator[SlackEmulator]:
    async with SlackEmulator() as emulator:
        emulator.add_channel(CHANNEL, "lab")
        emulator.add_channel("C0RANDOM", "random")
        emulator.add_user(ALICE, "alice")
        emulator.add_user(BOB, "bob")
        yield emulator


@pytest.fixture
def client(slack: SlackEmulator) -> AsyncWebClient:
    return AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)


@pytest.fixture
async def bolt(slack: SlackEmulator) -> AsyncIterator[AsyncApp]:
    """A real Bolt AsyncApp connected over Socket Mode; register listeners, then act."""
    web_client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    app = AsyncApp(client=web_client, request_verification_enabled=False)
    handler = AsyncSocketModeHandler(app, slack.app_token)
    try:
        await handler.connect_async()
        await slack.wait_connected()
        yield app
    finally:
        await handler.close_async()

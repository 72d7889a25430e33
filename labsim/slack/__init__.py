"""Slack workspace emulator (Web API + Socket Mode) for driving a real slack-bolt app in tests.

Usage from a test::

    async with SlackEmulator() as slack:
        slack.add_channel("C0LAB", "lab"); slack.add_user("U0ALICE", "alice")
        app = AsyncApp(client=AsyncWebClient(token=slack.bot_token, base_url=slack.api_url))
        handler = AsyncSocketModeHandler(app, slack.app_token)
        await handler.connect_async(); await slack.wait_connected()
        ack = await (await slack.user("U0ALICE").slash("deploy tp-node3", channel="C0LAB")).acked()
        msg = await slack.wait_for(lambda: next(iter(slack.messages("C0LAB")), None))
        await handler.close_async()   # before leaving the emulator's context

The Home tab: ``slack.user(U).open_home()`` sends app_home_opened; ``slack.home_view(U)``.
Faults: inject_rate_limit(), drop_socket(), lose_acks() + redeliver_unacked().
"""

from labsim.slack.actor import ClickResult, EnvelopeResult, SlackActor, SlashResult
from labsim.slack.limits import BlockProblem, find_block_problem, truncate_text, validate_blocks
from labsim.slack.records import (
    Ack,
    ApiCall,
    Button,
    Channel,
    Ephemeral,
    HomeView,
    Message,
    MessageVersion,
    UploadedFile,
    User,
)
from labsim.slack.server import SlackEmulator

__all__ = [
    "Ack",
    "ApiCall",
    "BlockProblem",
    "Button",
    "Channel",
    "ClickResult",
    "EnvelopeResult",
    "Ephemeral",
    "HomeView",
    "Message",
    "MessageVersion",
    "SlackActor",
    "SlackEmulator",
    "SlashResult",
    "UploadedFile",
    "User",
    "find_block_problem",
    "truncate_text",
    "validate_blocks",
]

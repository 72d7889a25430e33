"""README's worked example, "Adding a capability: /lab hello", run as written: a capability made
of one command, added to the list beside the real ones, answered through the simulated lab."""

from __future__ import annotations

from bot.capabilities import CAPABILITIES
from bot.capability import Capability
from bot.command_spec import Arg, ArgKind, Command, CommandSpec
from bot.config import Role
from bot.context import HandlerContext
from bot.outcome import Outcome, Reply
from labsim.lab import LAB_CHANNEL, Lab

# --- handlers/hello/messages.py ---------------------------------------------------------------


def hello(name: str) -> str:
    """The greeting."""
    return f"Hello, {name}!"


# --- handlers/hello/__init__.py ---------------------------------------------------------------


async def hello_command(ctx: HandlerContext, command: Command) -> Outcome:
    """`/lab hello [NAME]`: greets NAME, or the caller."""
    name = str(command.arg("name") or f"<@{ctx.actor.user_id}>")
    return Reply(hello(name))


CAPABILITY = Capability(
    name="hello",
    commands=(
        CommandSpec(
            name="hello",
            summary="Say hello.",
            role=Role.viewer,
            handler=hello_command,
            args=(Arg("name", ArgKind.word, "who to greet", optional=True),),
            example="hello world",
        ),
    ),
)


# --- tests/scenarios/test_hello.py ------------------------------------------------------------


async def test_hello_answers_through_the_simulated_lab() -> None:
    async with Lab() as lab, lab.bot([*CAPABILITIES, CAPABILITY]):
        await lab.slack.wait_connected()
        result = await lab.slack.user(lab.users.viewer).slash("hello world", channel=LAB_CHANNEL)
        await result.acked()
        replies = await lab.slack.wait_for(lambda: lab.slack.ephemerals(lab.users.viewer) or None)
        assert replies[0].text == "Hello, world!"


async def test_hello_is_in_help_and_refused_to_a_stranger() -> None:
    async with Lab() as lab, lab.bot([*CAPABILITIES, CAPABILITY]):
        await lab.slack.wait_connected()
        viewer = lab.slack.user(lab.users.viewer)
        await (await viewer.slash("help", channel=LAB_CHANNEL)).acked()
        helped = await lab.slack.wait_for(lambda: lab.slack.ephemerals(lab.users.viewer) or None)
        assert "hello" in str(helped[0].blocks)
        stranger = lab.slack.user(lab.users.stranger)
        await (await stranger.slash("hello", channel=LAB_CHANNEL)).acked()
        refused = await lab.slack.wait_for(lambda: lab.slack.ephemerals(lab.users.stranger) or None)
        assert "Hello" not in refused[0].text

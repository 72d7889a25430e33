"""`/lab help [COMMAND]` and `/lab whoami`: answers generated from the command table.

1. Read the table and the requester's role.  2. Reply ephemerally.  Changes nothing.
"""

from __future__ import annotations

from bot import blocks, messages
from bot.command_spec import Command
from bot.context import HandlerContext
from bot.outcome import Outcome, Reply
from bot.policy import Policy


async def help_command(ctx: HandlerContext, command: Command) -> Outcome:
    """List the commands the requester may run, or explain one command."""
    topic = command.arg("command")
    if isinstance(topic, str):
        spec = ctx.commands.get(topic) or next(
            (s for s in ctx.commands if s.name.split()[0] == topic), None
        )
        if spec is None:
            suggestion = ctx.commands.suggest(topic)
            return Reply(messages.unknown_help_topic(topic, suggestion, ctx.prefix))
        related = [s for s in ctx.commands if s.name.split()[0] == spec.name.split()[0]]
        return Reply(text=f"Help for {spec.name}", blocks=blocks.command_help(related, ctx.prefix))
    allowed = [s for s in ctx.commands if Policy.may_run(ctx.actor, s)]
    hidden = [s.name for s in ctx.commands if not Policy.may_run(ctx.actor, s)]
    return Reply(
        text=messages.help_header(ctx.prefix),
        blocks=blocks.command_list(allowed, hidden, ctx.prefix),
    )


async def whoami_command(ctx: HandlerContext, command: Command) -> Outcome:
    """Say who the requester is to labbot and what they may run."""
    role = ctx.actor.role.name if ctx.actor.role else None
    names = [s.name for s in ctx.commands if Policy.may_run(ctx.actor, s)]
    return Reply(messages.whoami(ctx.actor.user_id, role, names))

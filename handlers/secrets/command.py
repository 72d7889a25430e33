"""`/lab sops rotate | add-node | remove-node | rotate-k3s-token`: start the secrets job.

1. Check the config has what secrets work needs (and an AGE_KEY, if given, is a recipient).
2. Start the job under the infra repo's lock; `handlers/secrets/job.py` does the rest in its thread.
Changes nothing by itself.
"""

from __future__ import annotations

from bot.command_spec import Command
from bot.context import HandlerContext
from bot.locks import REPO_TARGET
from bot.outcome import Outcome, Reply
from handlers.secrets import messages
from handlers.secrets.changes import AddNodeKind, RemoveNodeKind, RotateK3sTokenKind, RotateKind
from handlers.secrets.job import sops_config
from handlers.secrets.sops_yaml import validate_recipient


async def rotate_command(ctx: HandlerContext, command: Command) -> Outcome:
    """Start `sops rotate`: a new data key for every encrypted file."""
    return await _start(ctx, RotateKind.name)


async def add_node_command(ctx: HandlerContext, command: Command) -> Outcome:
    """Start `sops add-node NODE [AGE_KEY]`."""
    age_key = command.arg("age_key")
    if isinstance(age_key, str):
        validate_recipient(age_key)  # a UserError is answered ephemerally by the dispatcher
    return await _start(ctx, AddNodeKind.name)


async def remove_node_command(ctx: HandlerContext, command: Command) -> Outcome:
    """Start `sops remove-node NODE`."""
    return await _start(ctx, RemoveNodeKind.name)


async def rotate_k3s_token_command(ctx: HandlerContext, command: Command) -> Outcome:
    """Start `sops rotate-k3s-token`."""
    return await _start(ctx, RotateK3sTokenKind.name)


async def _start(ctx: HandlerContext, kind: str) -> Outcome:
    sops_config(ctx.config)  # refuses (UserError) before a job exists if something is missing
    job = await ctx.jobs.submit(
        kind,
        text=ctx.text,
        requester=ctx.actor.user_id,
        channel_id=ctx.channel_id,
        targets=[REPO_TARGET],
    )
    return Reply(messages.sops_job_started(job.id))

"""`/lab generations NODE`: the node's system generations with dates, NixOS versions, and which
one is current and which one it booted. Read-only, over SSH; no job, no lock.

A booted system other than the current one means a reboot is pending (a `boot` deploy, or a
switch that changed the kernel): the list says so.
"""

from __future__ import annotations

import asyncio

from bot.command_spec import Command
from bot.context import HandlerContext
from bot.errors import IntegrationError
from bot.outcome import Outcome, Reply
from bot.targets import named_node
from handlers.deploy import messages
from handlers.deploy.generations import (
    generation_path,
    list_generations,
    node_pool,
    read_system,
    system_version,
)

SHOWN = 15
"""The newest generations shown (a node may keep hundreds)."""
BOOTED_SYSTEM = "/run/booted-system"


async def generations_command(ctx: HandlerContext, command: Command) -> Outcome:
    """List the node's generations (see the module docstring)."""
    config = ctx.config
    node = named_node(str(command.arg("node")), config.inventory.nodes)
    if config.ssh is None:
        return Reply(messages.rollback_not_configured())
    try:
        async with node_pool(config.ssh, config, [node.name]) as pool:
            entries = (await list_generations(pool, node.name))[-SHOWN:]
            now = await read_system(pool, node.name)
            booted = await pool.run(node.name, ["readlink", "-e", BOOTED_SYSTEM])
            paths = await asyncio.gather(
                *(generation_path(pool, node.name, e.number) for e in entries)
            )
            versions = await asyncio.gather(
                *(system_version(pool, node.name, path) if path else _none() for path in paths)
            )
    except IntegrationError as exc:
        return Reply(messages.generations_unreadable(node.name, str(exc)))
    booted_path = booted.stdout.strip() if booted.ok else ""
    lines = [
        messages.generation_line(
            entry.number,
            entry.date,
            version,
            current=path == now.current_system,
            booted=bool(path) and path == booted_path,
        )
        for entry, path, version in zip(entries, paths, versions, strict=True)
    ]
    pending = bool(booted_path) and booted_path != now.current_system
    return Reply(messages.generations_list(node.name, lines, pending))


async def _none() -> None:
    return None

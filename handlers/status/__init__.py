"""The lab at a glance: `/lab status` now and the nightly digest.

This package's one export is `CAPABILITY`, listed in `bot/capabilities.py`.
"""

from __future__ import annotations

from bot.capability import Capability
from bot.command_spec import Arg, ArgKind, CommandSpec, Flag
from bot.config import Role
from handlers.status import command, digest

CAPABILITY = Capability(
    name="status",
    commands=(
        CommandSpec(
            name="status",
            summary="The digest, now: power, NixOS, failed units, disks, k3s, PRs, deploys.",
            role=Role.viewer,
            handler=command.status_command,
            args=(Arg("node", ArgKind.node, "only this node, with its details", optional=True),),
            flags=(Flag("channel", "post it in the channel for everyone (default: only you)"),),
            example="status tp-node3",
        ),
        CommandSpec(
            name="nodes",
            summary="Every node: board and slot, module, role and tags, power, SSH, generation, k3s.",
            role=Role.viewer,
            handler=command.nodes_command,
            example="nodes",
        ),
        CommandSpec(
            name="digest",
            summary="Post the nightly digest now, in its channel.",
            role=Role.admin,
            handler=command.digest_command,
            example="digest",
        ),
    ),
    start=digest.register,
)

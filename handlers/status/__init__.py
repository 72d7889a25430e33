"""The lab at a glance: `/lab status` now, the nightly digest and the bot's Home tab.

This package's one export is `CAPABILITY`, listed in `bot/capabilities.py`.
"""

from __future__ import annotations

from bot.capability import Capability, CapabilityContext
from bot.command_spec import Arg, ArgKind, CommandSpec, Flag
from bot.config import Role
from handlers.status import command, digest, home, logs


def _start(context: CapabilityContext) -> None:
    digest.register(context)
    home.register(context)


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
            name="logs",
            summary="A node's journal over SSH: one unit, the last lines, since when, matching what.",
            role=Role.operator,
            handler=logs.logs_command,
            args=(
                Arg("node", ArgKind.node, "the node"),
                Arg("unit", ArgKind.word, "one systemd unit, e.g. k3s.service", optional=True),
            ),
            flags=(
                Flag("lines", f"how many of the newest lines (1–{logs.MAX_LINES})", integer=True),
                Flag(
                    "since",
                    "only lines this recent: 30min, 2h, 3d",
                    value_pattern=logs.SINCE_PATTERN,
                    value_hint="a number and s, min, h or d, e.g. 2h",
                ),
                Flag(
                    "grep",
                    "only lines matching this regular expression",
                    value_pattern=r".{1,200}",
                    value_hint="1 to 200 characters",
                ),
            ),
            example="logs tp-node3 k3s.service --since 1h --grep error",
        ),
        CommandSpec(
            name="digest",
            summary="Post the nightly digest now, in its channel.",
            role=Role.admin,
            handler=command.digest_command,
            example="digest",
        ),
    ),
    start=_start,
)

"""Renovate pull requests as Slack cards: CI, what changes, Approve & merge, Merge & deploy, Skip.

This package's one export is `CAPABILITY`, listed in `bot/capabilities.py`.
"""

from __future__ import annotations

from bot.capability import Capability
from bot.command_spec import Approval, Arg, ArgKind, CommandSpec, RoleRule
from bot.config import Role
from handlers.renovate import board, command, merge

CAPABILITY = Capability(
    name="renovate",
    commands=(
        CommandSpec(
            name="renovate",
            summary="Open Renovate PRs with CI and card state; `check` posts and updates cards now.",
            role=Role.viewer,
            handler=command.renovate_command,
            args=(
                Arg(
                    "action",
                    ArgKind.choice,
                    "`check`: run the scheduled check now",
                    optional=True,
                    choices=("check",),
                ),
            ),
            role_rules=(RoleRule("action", "check", Role.operator, Approval.none),),
            example="renovate check",
        ),
    ),
    job_kinds=(merge.RENOVATE_MERGE_KIND,),
    start=board.register,
)

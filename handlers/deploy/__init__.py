"""Deploy and roll back: colmena build, closure diff, approval, apply, health gate, auto-rollback.

This package's one export is `CAPABILITY`, listed in `bot/capabilities.py`.
"""

from __future__ import annotations

from bot.capability import Capability
from bot.command_spec import Approval, Arg, ArgKind, CommandSpec, Flag
from bot.config import Role
from handlers.deploy import (
    deploy,
    generations_command,
    reboot,
    reboot_offer,
    rollback,
    unit_restart,
)

CAPABILITY = Capability(
    name="deploy",
    commands=(
        CommandSpec(
            name="deploy",
            summary="colmena build, closure diff, approval, apply, health gate, auto-rollback.",
            role=Role.operator,
            handler=deploy.deploy_command,
            args=(
                Arg(
                    "targets",
                    ArgKind.targets,
                    "node names, globs, @tags, comma lists, or `all` (not deferred nodes)",
                ),
            ),
            flags=(
                Flag(
                    "goal",
                    "what colmena does on the nodes (default switch)",
                    choices=("switch", "boot", "test", "dry-activate"),
                    default="switch",
                ),
                Flag("plan", "build and show the plan only: no approval, nothing applied"),
            ),
            approval=Approval.approval,
            example="deploy tp-node3",
        ),
        CommandSpec(
            name="rollback",
            summary="Switch a node back to a previous generation, then check its health.",
            role=Role.operator,
            handler=rollback.rollback_command,
            args=(
                Arg("node", ArgKind.node, "the node"),
                Arg(
                    "generation",
                    ArgKind.integer,
                    "the generation to switch to (default: the one before the current)",
                    optional=True,
                ),
            ),
            approval=Approval.approval,
            example="rollback tp-node3 41",
        ),
        CommandSpec(
            name="restart",
            summary="Restart one systemd unit on a node, then show its state and last log lines.",
            role=Role.operator,
            handler=unit_restart.restart_command,
            args=(
                Arg("node", ArgKind.node, "the node"),
                Arg("unit", ArgKind.word, "the systemd unit, e.g. k3s.service"),
            ),
            approval=Approval.approval,
            example="restart tp-node3 k3s.service",
        ),
        CommandSpec(
            name="reboot",
            summary=(
                "Reboot a node cleanly: drain it from k3s (refused when Longhorn would lose its "
                "last healthy replica), reboot, wait for it, health gate, uncordon."
            ),
            role=Role.operator,
            handler=reboot.reboot_command,
            args=(Arg("node", ArgKind.node, "the node"),),
            flags=(
                Flag("drain", "cordon and drain the k3s node first (the default for k3s nodes)"),
                Flag("no-drain", "reboot without draining"),
            ),
            approval=Approval.approval,
            example="reboot tp-node1",
        ),
        CommandSpec(
            name="generations",
            summary="A node's generations: dates, NixOS versions, which is current and booted.",
            role=Role.viewer,
            handler=generations_command.generations_command,
            args=(Arg("node", ArgKind.node, "the node"),),
            example="generations tp-node3",
        ),
    ),
    job_kinds=(
        deploy.DEPLOY_KIND,
        rollback.ROLLBACK_KIND,
        unit_restart.RESTART_KIND,
        reboot.REBOOT_KIND,
    ),
    start=reboot_offer.start,
)

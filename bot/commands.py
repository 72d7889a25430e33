"""The one table of `/lab` commands: parsing, help, whoami and authorization all derive from it.

Only commands that are built are listed; a command without a handler cannot be added.
"""

from __future__ import annotations

from bot.command_spec import (
    Approval,
    Arg,
    ArgKind,
    CommandSpec,
    CommandTable,
    Flag,
    RoleRule,
)
from bot.config import Role
from handlers import deploy, flash, info, jobs, power, renovate, rollback, sops, status, uart

COMMANDS = CommandTable(
    [
        CommandSpec(
            name="help",
            summary="List the commands you can run, or explain one.",
            role=Role.viewer,
            handler=info.help_command,
            args=(Arg("command", ArgKind.command, "a command name", optional=True),),
            example="help deploy",
        ),
        CommandSpec(
            name="whoami",
            summary="Show your labbot role and what you may run.",
            role=Role.viewer,
            handler=info.whoami_command,
            example="whoami",
        ),
        CommandSpec(
            name="status",
            summary="The digest, now: power, NixOS, failed units, disks, k3s, PRs, deploys.",
            role=Role.viewer,
            handler=status.status_command,
            args=(Arg("node", ArgKind.node, "only this node, with its details", optional=True),),
            flags=(Flag("channel", "post it in the channel for everyone (default: only you)"),),
            example="status tp-node3",
        ),
        CommandSpec(
            name="jobs",
            summary="Running and recent jobs.",
            role=Role.viewer,
            handler=jobs.jobs_command,
            example="jobs",
        ),
        CommandSpec(
            name="job",
            summary="One job's state, timings and result.",
            role=Role.viewer,
            handler=jobs.job_command,
            args=(Arg("id", ArgKind.integer, "the job number"),),
            example="job 17",
        ),
        CommandSpec(
            name="cancel",
            summary="Stop a queued, waiting or running job (kills its processes).",
            role=Role.operator,
            handler=jobs.cancel_command,
            args=(Arg("id", ArgKind.integer, "the job number"),),
            example="cancel 17",
        ),
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
            name="power",
            summary="Switch a node's slot on or off, power-cycle it, or show its power.",
            role=Role.operator,
            handler=power.power_command,
            args=(
                Arg("node", ArgKind.node, "the node"),
                Arg("action", ArgKind.choice, "what the BMC does", choices=power.ACTIONS),
            ),
            approval=Approval.approval,
            role_rules=(
                RoleRule("action", "status", Role.viewer, Approval.none),
                RoleRule("action", "on", Role.operator, Approval.none),
            ),
            example="power tp-node3 reset",
        ),
        CommandSpec(
            name="power status",
            summary="Every slot's power as its BMC records it, beside whether SSH answers.",
            role=Role.viewer,
            handler=power.power_status_command,
            args=(Arg("node", ArgKind.node, "only this node", optional=True),),
            example="power status",
        ),
        CommandSpec(
            name="flash",
            summary="Write an OS image onto a node through its BMC, power it on, wait for SSH.",
            role=Role.admin,
            handler=flash.flash_command,
            args=(
                Arg("node", ArgKind.node, "the node"),
                Arg(
                    "image",
                    ArgKind.word,
                    "a file under flash.image_dirs or an http(s) URL; none: build it with nix",
                    optional=True,
                ),
            ),
            approval=Approval.four_eyes,
            example="flash tp-node1",
        ),
        CommandSpec(
            name="uart",
            summary="Show what a node's serial console printed since the last read.",
            role=Role.admin,
            handler=uart.uart_command,
            args=(Arg("node", ArgKind.node, "the node"),),
            flags=(Flag("lines", "show at most N of the new lines", integer=True),),
            example="uart tp-node3 --lines 20",
        ),
        CommandSpec(
            name="uart send",
            summary="Type one line on a node's serial console, then Enter.",
            role=Role.admin,
            handler=uart.uart_send_command,
            args=(
                Arg("node", ArgKind.node, "the node"),
                Arg("text", ArgKind.text, "the line, verbatim (no shell sees it)"),
            ),
            approval=Approval.approval,
            example="uart send tp-node3 systemctl status sshd",
        ),
        CommandSpec(
            name="sops rotate",
            summary="New data keys for every sops file (values unchanged), as a reviewed PR.",
            role=Role.admin,
            handler=sops.rotate_command,
            approval=Approval.four_eyes,
            example="sops rotate",
        ),
        CommandSpec(
            name="sops add-node",
            summary="Let a node decrypt the secrets: its age key (from its SSH host key) joins .sops.yaml, as a PR.",
            role=Role.admin,
            handler=sops.add_node_command,
            args=(
                Arg("node", ArgKind.node, "the node"),
                Arg(
                    "age_key",
                    ArgKind.word,
                    "its age recipient (default: derived from its ed25519 SSH host key)",
                    optional=True,
                ),
            ),
            approval=Approval.four_eyes,
            example="sops add-node tp-node1",
        ),
        CommandSpec(
            name="sops remove-node",
            summary="Take a node's key out of .sops.yaml and every file, rotate the data keys, as a PR.",
            role=Role.admin,
            handler=sops.remove_node_command,
            args=(Arg("node", ArgKind.node, "the node"),),
            approval=Approval.four_eyes,
            example="sops remove-node tp-node1",
        ),
        CommandSpec(
            name="sops rotate-k3s-token",
            summary="Write a strong new k3s token with sops set, as a PR listing the k3s-side steps.",
            role=Role.admin,
            handler=sops.rotate_k3s_token_command,
            approval=Approval.four_eyes,
            example="sops rotate-k3s-token",
        ),
        CommandSpec(
            name="renovate",
            summary="Open Renovate PRs with CI and card state; `check` posts and updates cards now.",
            role=Role.viewer,
            handler=renovate.renovate_command,
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
    ]
)

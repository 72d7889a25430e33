"""sops secrets: rotate data keys, add or remove a node's key, a new k3s token — each as a four-eyes PR.

This package's one export is `CAPABILITY`, listed in `bot/capabilities.py`.
"""

from __future__ import annotations

from bot.capability import Capability
from bot.command_spec import Approval, Arg, ArgKind, CommandSpec
from bot.config import Role
from handlers.secrets import changes, command

CAPABILITY = Capability(
    name="secrets",
    commands=(
        CommandSpec(
            name="sops rotate",
            summary="New data keys for every sops file (values unchanged), as a reviewed PR.",
            role=Role.admin,
            handler=command.rotate_command,
            approval=Approval.four_eyes,
            example="sops rotate",
        ),
        CommandSpec(
            name="sops add-node",
            summary="Let a node decrypt the secrets: its age key (from its SSH host key) joins .sops.yaml, as a PR.",
            role=Role.admin,
            handler=command.add_node_command,
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
            handler=command.remove_node_command,
            args=(Arg("node", ArgKind.node, "the node"),),
            approval=Approval.four_eyes,
            example="sops remove-node tp-node1",
        ),
        CommandSpec(
            name="sops rotate-k3s-token",
            summary="Write a strong new k3s token with sops set, as a PR listing the k3s-side steps.",
            role=Role.admin,
            handler=command.rotate_k3s_token_command,
            approval=Approval.four_eyes,
            example="sops rotate-k3s-token",
        ),
    ),
    job_kinds=tuple(changes.SOPS_KINDS.values()),
    start=changes.start,
)

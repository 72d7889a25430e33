"""The Turing Pi BMC: slot power, the serial console (UART) and flashing a module.

This package's one export is `CAPABILITY`, listed in `bot/capabilities.py`.
"""

from __future__ import annotations

from bot.capability import Capability, CapabilityContext
from bot.command_spec import Approval, Arg, ArgKind, CommandSpec, Flag, RoleRule
from bot.config import Role
from handlers.bmc import flash, flash_offer, power, reset_offer, uart


def start(context: CapabilityContext) -> None:
    """At start: the buttons offered after a flash and after a reboot that did not come back."""
    flash_offer.start(context)
    reset_offer.start(context)


CAPABILITY = Capability(
    name="bmc",
    commands=(
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
    ),
    job_kinds=(power.POWER_KIND, flash.FLASH_KIND, uart.UART_SEND_KIND),
    start=start,
)

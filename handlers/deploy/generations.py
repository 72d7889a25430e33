"""A node's NixOS system generations over SSH: what it runs, what it has, switching between them.

Must not decide anything: deploy and rollback call these and judge the results.

The commands are colmena's own: `readlink` of the system profile and of
`/run/current-system`, `nix-env -p PROFILE --list-generations` (root, via sudo) and, to roll back,
`nix-env -p PROFILE --switch-generation N` then `PROFILE/bin/switch-to-configuration switch`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.config import Config, SshConfig
from bot.errors import IntegrationError
from bot.integrations.ssh import CommandResult, SshPool, SshTarget
from handlers.deploy import messages

PROFILE = "/nix/var/nix/profiles/system"
CURRENT_SYSTEM = "/run/current-system"
_LINK = re.compile(r"^system-(\d+)-link$")
_GENERATION_LINE = re.compile(r"^\s*(\d+)\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s*(\(current\))?\s*$")


class NodeStateUnreadable(IntegrationError):
    """Raised when a node answers, but not with what its generations should look like."""


@dataclass(frozen=True)
class NodeSystem:
    """What a node runs now (`/run/current-system`) and what its profile points to."""

    generation: int
    current_system: str
    profile_system: str


@dataclass(frozen=True)
class GenerationEntry:
    """One line of `nix-env --list-generations`."""

    number: int
    date: str
    current: bool


@dataclass(frozen=True)
class SwitchResult:
    """How a switch to a generation went: the failing step (if any) and the output."""

    ok: bool
    step: str
    exit_status: int
    output: tuple[str, ...]


def node_pool(ssh: SshConfig, config: Config, names: list[str]) -> SshPool:
    """An SSH pool over the named inventory nodes."""
    nodes = [config.inventory.node(name) for name in names]
    return SshPool(ssh, [SshTarget.of(node) for node in nodes if node is not None])


def generation_of_link(link: str) -> int | None:
    """`system-42-link` → 42."""
    found = _LINK.match(link.strip().rsplit("/", 1)[-1])
    return int(found.group(1)) if found else None


def parse_generations(text: str) -> list[GenerationEntry]:
    """Parse `nix-env --list-generations` output (lines that do not fit are skipped)."""
    entries = []
    for line in text.splitlines():
        found = _GENERATION_LINE.match(line)
        if found:
            entries.append(
                GenerationEntry(int(found.group(1)), found.group(2), bool(found.group(3)))
            )
    return entries


def _checked(node: str, what: str, result: CommandResult) -> str:
    value = result.stdout.strip()
    if not result.ok or not value:
        raise NodeStateUnreadable(messages.node_state_unreadable(node, what, result.failure_line))
    return value


async def read_system(pool: SshPool, node: str) -> NodeSystem:
    """The node's profile generation, current system and profile system."""
    link, current, profile = await asyncio.gather(
        pool.run(node, ["readlink", PROFILE]),
        pool.run(node, ["readlink", "-e", CURRENT_SYSTEM]),
        pool.run(node, ["readlink", "-e", PROFILE]),
    )
    link_text = _checked(node, PROFILE, link)
    generation = generation_of_link(link_text)
    if generation is None:
        raise NodeStateUnreadable(messages.node_state_unreadable(node, PROFILE, link_text))
    return NodeSystem(
        generation=generation,
        current_system=_checked(node, CURRENT_SYSTEM, current),
        profile_system=_checked(node, PROFILE, profile),
    )


async def list_generations(pool: SshPool, node: str) -> list[GenerationEntry]:
    """Every generation of the system profile, oldest first."""
    result = await pool.run(node, ["nix-env", "-p", PROFILE, "--list-generations"], sudo=True)
    entries = parse_generations(_checked(node, "the generation list", result))
    if not entries:
        raise NodeStateUnreadable(
            messages.node_state_unreadable(node, "the generation list", result.stdout[:100])
        )
    return entries


async def generation_path(pool: SshPool, node: str, number: int) -> str | None:
    """The store path of generation `number`, or None if the node has no such generation."""
    result = await pool.run(node, ["readlink", "-e", f"{PROFILE}-{number}-link"])
    path = result.stdout.strip()
    return path if result.ok and path else None


async def system_version(pool: SshPool, node: str, system: str) -> str | None:
    """The NixOS version of a system path on the node (its `nixos-version` file)."""
    result = await pool.run(node, ["cat", f"{system}/nixos-version"])
    version = result.stdout.strip()
    return version if result.ok and version else None


async def switch_and_echo(
    pool: SshPool, node: str, number: int, say: Callable[[str], Awaitable[None]]
) -> SwitchResult:
    """Say so, switch to generation `number`, and echo the switch's output as `NODE | line`
    (an `SshError` when the node cannot be reached)."""
    await say(messages.rolling_back(node, number))
    switched = await switch_to_generation(pool, node, number)
    for line in switched.output:
        await say(f"{node} | {line}")
    return switched


async def switch_to_generation(pool: SshPool, node: str, number: int) -> SwitchResult:
    """Point the profile at generation `number` and activate it (`switch`)."""
    steps = (
        (
            "nix-env --switch-generation",
            ["nix-env", "-p", PROFILE, "--switch-generation", str(number)],
        ),
        ("switch-to-configuration switch", [f"{PROFILE}/bin/switch-to-configuration", "switch"]),
    )
    output: list[str] = []
    for step, argv in steps:
        result = await pool.run(node, argv, sudo=True)
        output += [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
        if not result.ok:
            return SwitchResult(False, step, result.exit_status, tuple(output))
    return SwitchResult(True, "", 0, tuple(output))

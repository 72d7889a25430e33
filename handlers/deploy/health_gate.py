"""The health gate after a deploy or rollback, and the automatic rollback when it fails (design §5).

Must not touch colmena; it only looks at a node over a fresh SSH connection and, if told to,
switches it back to a recorded generation.

A node passes when: a new SSH login works; `/run/current-system` (and, for switch/boot, the
system profile) is the expected system; `systemctl is-system-running` says `running` (or only
allowed units failed); a k3s server's node is Ready; every configured probe exits 0. Problems
that may clear by themselves (login refused by a rebooting node, `starting`, k3s NotReady, a
probe) are retried every `poll_interval_seconds` until `timeout_seconds`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from bot.config import HealthGateConfig, K3sRole, Node
from bot.integrations import k3s_cluster
from bot.integrations.node_facts import k3s_ready, parse_failed_units, parse_nixos_version
from bot.integrations.ssh import NodeUnreachable, SshError, SshPool
from bot.job_run import JobCancelled
from handlers.deploy import messages
from handlers.deploy.generations import CURRENT_SYSTEM, PROFILE, generation_of_link, switch_and_echo

Say = Callable[[str], Awaitable[None]]


class Verdict(StrEnum):
    """How a node ended a deploy."""

    healthy = "healthy"
    rolled_back_healthy = "rolled back (healthy)"
    rolled_back_unhealthy = "rolled back but unhealthy"
    failed = "failed"

    @property
    def rolled_back(self) -> bool:
        """Whether the node was switched back."""
        return self in (Verdict.rolled_back_healthy, Verdict.rolled_back_unhealthy)


@dataclass(frozen=True)
class Expectation:
    """What the node should run after the change."""

    current_system: str
    profile_system: str | None = None


@dataclass(frozen=True)
class Problem:
    """One failed check; `transient` ones are retried until the gate's timeout."""

    text: str
    transient: bool


@dataclass(frozen=True)
class GateResult:
    """One node's health: the problems found and what was seen on the way."""

    problems: tuple[Problem, ...]
    reachable: bool
    generation: int | None = None
    current_system: str | None = None
    nixos_version: str | None = None

    @property
    def healthy(self) -> bool:
        """No problems."""
        return not self.problems

    @property
    def transient(self) -> bool:
        """Every problem may clear by itself."""
        return bool(self.problems) and all(p.transient for p in self.problems)

    def reasons(self) -> list[str]:
        """The problems as sentences."""
        return [p.text for p in self.problems]


class HealthGate:
    """Checks nodes after a change; see the module docstring."""

    def __init__(
        self,
        pool: SshPool,
        config: HealthGateConfig,
        say: Say | None = None,
        cancel: asyncio.Event | None = None,
    ) -> None:
        self._pool = pool
        self._config = config
        self._say = say or _say_nothing  # checks after an interruption tell only the verdict
        self._cancel = cancel or asyncio.Event()

    async def check(self, node: Node, expect: Expectation) -> GateResult:
        """Check until healthy, a lasting problem, or the timeout; says the result in the log."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._config.timeout_seconds
        said: list[str] = []
        while True:
            result = await self._check_once(node, expect)
            if result.healthy:
                await self._say(messages.gate_passed(node.name))
                return result
            if not result.transient or loop.time() >= deadline:
                await self._say(messages.gate_failed(node.name, result.reasons()))
                return result
            if result.reasons() != said:  # say what it waits for once, not every poll
                said = result.reasons()
                await self._say(messages.gate_waiting(node.name, said))
            # A remote state with no event to wait for: poll it, but stop at once on Cancel.
            pause = min(self._config.poll_interval_seconds, deadline - loop.time())
            try:
                await asyncio.wait_for(self._cancel.wait(), timeout=max(pause, 0))
            except TimeoutError:
                continue
            raise JobCancelled

    async def _check_once(self, node: Node, expect: Expectation) -> GateResult:
        name = node.name
        try:
            await self._pool.connect(name, fresh=True)
        except NodeUnreachable as exc:
            return GateResult((Problem(str(exc), transient=True),), reachable=False)
        except SshError as exc:
            return GateResult((Problem(str(exc), transient=False),), reachable=False)
        try:
            return await self._look(node, expect)
        except SshError as exc:
            return GateResult((Problem(str(exc), transient=True),), reachable=False)

    async def _look(self, node: Node, expect: Expectation) -> GateResult:
        name, pool = node.name, self._pool
        link, current, profile, running, version = await asyncio.gather(
            pool.run(name, ["readlink", PROFILE]),
            pool.run(name, ["readlink", "-e", CURRENT_SYSTEM]),
            pool.run(name, ["readlink", "-e", PROFILE]),
            pool.run(name, ["systemctl", "is-system-running"]),
            pool.run(name, ["nixos-version", "--json"]),
        )
        problems: list[Problem] = []
        seen_current = current.stdout.strip() or None
        if seen_current != expect.current_system:
            problems.append(
                Problem(
                    messages.gate_wrong_system(name, seen_current, expect.current_system), False
                )
            )
        seen_profile = profile.stdout.strip() or None
        if expect.profile_system is not None and seen_profile != expect.profile_system:
            problems.append(
                Problem(
                    messages.gate_wrong_profile(name, seen_profile, expect.profile_system), False
                )
            )
        problems += await self._system_state(name, running.stdout.strip())
        if self._config.k3s_ready and node.k3s_role is K3sRole.server:
            problems += await self._k3s(name)
        for probe in self._config.probes:
            result = await pool.run(name, probe)
            if not result.ok:
                detail = (result.stderr or result.stdout).strip().splitlines()[:1]
                problems.append(
                    Problem(
                        messages.gate_probe_failed(name, probe, result.exit_status, detail), True
                    )
                )
        return GateResult(
            tuple(problems),
            reachable=True,
            generation=generation_of_link(link.stdout) if link.ok else None,
            current_system=seen_current,
            nixos_version=parse_nixos_version(version.stdout)[0] if version.ok else None,
        )

    async def _system_state(self, name: str, state: str) -> list[Problem]:
        if state == "running":
            return []
        if state in ("starting", "initializing"):
            return [Problem(messages.gate_system_state(name, state), True)]
        if state != "degraded":
            return [Problem(messages.gate_system_state(name, state or "unknown"), False)]
        listing = await self._pool.run(
            name, ["systemctl", "list-units", "--failed", "--plain", "--no-legend"]
        )
        failed = parse_failed_units(listing.stdout)
        allowed = set(self._config.allowed_failed_units)
        bad = [unit for unit in failed if unit not in allowed]
        if failed and not bad:
            return []
        return [Problem(messages.gate_units_failed(name, bad), False)]

    async def _k3s(self, name: str) -> list[Problem]:
        result = await self._pool.run(name, k3s_cluster.NODES, sudo=True)
        if not result.ok:
            return [Problem(messages.gate_k3s_unavailable(name, result.failure_line), True)]
        ready = k3s_node_ready(result.stdout, name)
        if ready is None:
            return [Problem(messages.gate_k3s_missing(name), True)]
        if not ready:
            return [Problem(messages.gate_k3s_not_ready(name), True)]
        return []


async def _say_nothing(_line: str) -> None:
    return None


def k3s_node_ready(document: str, name: str) -> bool | None:
    """Whether node `name` is Ready in `k3s_cluster.NODES`' output; None if absent."""
    return (k3s_ready(document) or {}).get(name)


@dataclass(frozen=True)
class RollbackOutcome:
    """The verdict after a failed gate, with the gate result that decided it."""

    verdict: Verdict
    detail: str
    after: GateResult | None


async def roll_back(
    pool: SshPool,
    gate: HealthGate,
    node: Node,
    generation: int,
    expect: Expectation,
    say: Say,
) -> RollbackOutcome:
    """Switch the node back to `generation`, then gate it again against `expect`."""
    try:
        switched = await switch_and_echo(pool, node.name, generation, say)
    except SshError as exc:
        return RollbackOutcome(Verdict.failed, messages.rollback_impossible(str(exc)), None)
    if not switched.ok and switched.step.startswith("nix-env"):
        text = messages.rollback_step_failed(switched.step, switched.exit_status)
        return RollbackOutcome(Verdict.failed, text, None)
    after = await gate.check(node, expect)
    if not switched.ok and not after.healthy:
        text = messages.rollback_step_failed(switched.step, switched.exit_status)
        return RollbackOutcome(Verdict.rolled_back_unhealthy, text, after)
    if after.healthy:
        return RollbackOutcome(Verdict.rolled_back_healthy, "", after)
    return RollbackOutcome(Verdict.rolled_back_unhealthy, "; ".join(after.reasons()), after)

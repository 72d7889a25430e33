"""`/lab reboot NODE [--drain|--no-drain]`: a clean reboot that knows k3s and Longhorn.

Must not talk to Slack or build Block Kit beyond the job's thread (`JobRun`); the BMC reset it
offers is started by the bmc capability's button (`RESET_OFFER`), never from here.

1. The command checks the flags and submits a job that locks the node. k3s nodes are drained
   unless `--no-drain`; `--drain` on a node outside k3s is refused.
2. Plan: the node's boot id and pending kernel/initrd change; with a drain, Longhorn's replicas
   from a k3s server — refused, naming the volumes, when the node holds a volume's last healthy
   replica (the drain would block on Longhorn's PodDisruptionBudget, and a reboot anyway would
   leave the volume without a replica). Approval per `approvals.reboot`; re-checked at approval.
3. Apply: cordon and drain (`k3s kubectl drain --ignore-daemonsets --delete-emptydir-data`),
   `systemctl reboot`, wait for the node to go down and answer with a new boot id, the health
   gate, then uncordon. A node that does not come back in time gets a BMC power reset button in
   the thread; a node that fails the gate stays cordoned, so nothing is scheduled onto it.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections.abc import Mapping
from typing import Any

from bot import blocks
from bot import messages as engine_messages
from bot.actions import PREFIX
from bot.command_spec import Command
from bot.config import Config, K3sRole, Node, Role
from bot.context import HandlerContext
from bot.errors import IntegrationError
from bot.integrations import k3s_cluster
from bot.integrations.node_facts import (
    reboot_pending,
    reboot_script,
    split_sections,
)
from bot.integrations.ssh import SshPool
from bot.job_run import Finished, JobRun, NeedsApproval, PlanResult
from bot.job_state import Job, JobState
from bot.locks import node_target
from bot.outcome import Outcome, Reply
from bot.services import Services
from handlers.deploy import messages
from handlers.deploy.generations import node_pool, read_system
from handlers.deploy.health_gate import Expectation, HealthGate
from handlers.deploy.interrupted import read_and_gate
from handlers.deploy.messages import NodeRunning

BOOT_ID = ["cat", "/proc/sys/kernel/random/boot_id"]
# The bmc capability registers this button: a click starts `power NODE reset` as a power job
# (its own approval). Named here, not imported: capabilities do not import each other.
RESET_OFFER = PREFIX + "reset-after-reboot"
NO_DRAIN = "--no-drain"


def _words(job: Job) -> tuple[str, bool]:
    words = shlex.split(job.text)  # `reboot NODE [--no-drain]`, written by the command
    return words[1], NO_DRAIN not in words


async def reboot_command(ctx: HandlerContext, command: Command) -> Outcome:
    """Check the flags against the node's k3s role and start a reboot job that locks it."""
    name = str(command.arg("node"))
    node = ctx.config.inventory.node(name)
    assert node is not None  # the parser checked the node name
    drain_asked, no_drain = command.arg("drain") is True, command.arg("no-drain") is True
    if drain_asked and no_drain:
        return Reply(messages.reboot_drain_both())
    if drain_asked and node.k3s_role is K3sRole.none:
        return Reply(messages.reboot_drain_not_k3s(name))
    if ctx.config.ssh is None:
        return Reply(messages.reboot_not_configured())
    job = await ctx.jobs.submit(
        "reboot",
        text=reboot_text(node, no_drain=no_drain),
        requester=ctx.actor.user_id,
        channel_id=ctx.channel_id,
        targets=[node_target(name)],
    )
    return Reply(engine_messages.job_started(job.id))


def k3s_server(config: Config, node: Node) -> Node | None:
    """The k3s server to run kubectl on: another server when there is one (it stays up while
    `node` reboots), else `node` itself when it is the only server."""
    servers = [n for n in config.inventory.nodes if n.k3s_role is K3sRole.server]
    others = [n for n in servers if n.name != node.name]
    chosen = others or servers
    return chosen[0] if chosen else None


async def last_replicas(pool: SshPool, server: str, node: str) -> list[str]:
    """Volumes whose only healthy replicas are on `node` (Longhorn's replica list, read on
    `server`); raises IntegrationError when it cannot be read."""
    result = await pool.run(server, k3s_cluster.REPLICAS, sudo=True)
    replicas = k3s_cluster.parse_replicas(result.stdout) if result.ok else None
    if replicas is None:
        raise IntegrationError(messages.reboot_longhorn_unreadable(server, result.failure_line))
    return k3s_cluster.last_healthy_replicas(replicas, node)


def reboot_text(node: Node, *, no_drain: bool = False) -> str:
    """The reboot job's text: k3s nodes are drained unless told not to."""
    drain = node.k3s_role is not K3sRole.none and not no_drain
    return f"reboot {node.name}" + ("" if drain else f" {NO_DRAIN}")


async def pending_reboot(
    pool: SshPool, node: str, target: str = "/run/current-system"
) -> tuple[str, ...]:
    """What a reboot would change: which of kernel, initrd and kernel modules differ between the
    booted system and `target` (the running system, or the boot default); empty when unknown."""
    result = await pool.run(node, ["sh", "-c", reboot_script(target)])
    return reboot_pending(split_sections(result.stdout)) or ()


def _pool_names(node: str, server: Node | None) -> list[str]:
    """The nodes a reboot talks to: the node, and the k3s server running kubectl if another."""
    return [node] + ([server.name] if server is not None and server.name != node else [])


class RebootKind:
    """The `reboot` job kind."""

    name = "reboot"

    def title(self, job: Job) -> str:
        """`Reboot tp-node1`."""
        node, drain = _words(job)
        return messages.reboot_title(node, drain)

    def _names(self, config: Config, node: str, drain: bool) -> tuple[Node, Node | None]:
        found = config.inventory.node(node)
        assert found is not None  # checked by the parser
        return found, k3s_server(config, found) if drain else None

    async def plan(self, run: JobRun) -> PlanResult:
        """The boot id to compare with after the reboot, and Longhorn's say on a drain."""
        config = run.config
        name, drain = _words(run.job)
        _, server = self._names(config, name, drain)
        assert config.ssh is not None  # checked by the command
        names = _pool_names(name, server)
        try:
            async with node_pool(config.ssh, config, names) as pool:
                boot = await pool.run(name, BOOT_ID)
                if not boot.ok or not boot.stdout.strip():
                    return Finished(
                        JobState.failed, messages.reboot_unreachable(name, boot.failure_line)
                    )
                pending = await pending_reboot(pool, name)
                blocked = await last_replicas(pool, server.name, name) if server else []
        except IntegrationError as exc:
            return Finished(JobState.failed, messages.reboot_unreachable(name, str(exc)))
        if blocked:
            return Finished(JobState.failed, messages.reboot_refused_longhorn(name, blocked))
        return NeedsApproval(
            summary=messages.reboot_plan(name, drain, server.name if server else None, pending),
            payload={"node": name, "drain": drain, "boot_id": boot.stdout.strip()},
            role=Role.operator,
            button="Reboot",
        )

    async def still_valid(self, run: JobRun, payload: Mapping[str, Any]) -> str | None:
        """With a drain: Longhorn must still have a healthy replica elsewhere of every volume."""
        config = run.config
        node, server = self._names(config, str(payload["node"]), bool(payload["drain"]))
        if server is None or config.ssh is None:
            return None
        try:
            async with node_pool(config.ssh, config, [server.name]) as pool:
                blocked = await last_replicas(pool, server.name, node.name)
        except IntegrationError as exc:
            return messages.reboot_recheck_failed(str(exc))
        return messages.reboot_refused_longhorn(node.name, blocked) if blocked else None

    async def apply(self, run: JobRun, payload: Mapping[str, Any]) -> Finished:
        """Drain, reboot, wait for a new boot id, gate, uncordon."""
        config = run.config
        name, drain = str(payload["node"]), bool(payload["drain"])
        node, server = self._names(config, name, drain)
        assert config.ssh is not None
        names = _pool_names(name, server)
        async with node_pool(config.ssh, config, names) as pool:
            try:
                if server is not None:
                    drained = await self._drain(run, pool, server.name, name)
                    if drained is not None:
                        return drained
                await run.stream.write(f"$ systemctl reboot  # on {name}")
                try:
                    await pool.run(name, ["systemctl", "reboot"], sudo=True, timeout=30)
                except IntegrationError:
                    pass  # the node going down may cut the session that asked: expected
                back = await self._wait_for_new_boot(run, pool, name, str(payload["boot_id"]))
            except IntegrationError as exc:
                return Finished(JobState.failed, messages.reboot_unreachable(name, str(exc)))
            if back is None:
                await self._offer_reset(run, name)
                return Finished(
                    JobState.failed,
                    messages.reboot_not_back(name, config.deploy.reboot_timeout_seconds, drain),
                )
            return await self._gate_and_uncordon(run, pool, node, server, back)

    async def _drain(self, run: JobRun, pool: SshPool, server: str, node: str) -> Finished | None:
        """Longhorn once more, then cordon and drain; a Finished when the reboot must stop."""
        blocked = await last_replicas(pool, server, node)
        if blocked:
            return Finished(JobState.failed, messages.reboot_refused_longhorn(node, blocked))
        timeout = int(run.config.deploy.drain_timeout_seconds)
        argv = [
            "k3s",
            "kubectl",
            "drain",
            node,
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            f"--timeout={timeout}s",
        ]
        await run.stream.write(f"$ {shlex.join(argv)}  # on {server}")
        result = await pool.run(server, argv, sudo=True, timeout=timeout + 30)
        for line in [*result.stdout.splitlines(), *result.stderr.splitlines()]:
            await run.stream.write(line)
        if result.ok:
            return None
        undo = await pool.run(server, ["k3s", "kubectl", "uncordon", node], sudo=True)
        return Finished(
            JobState.failed, messages.reboot_drain_failed(node, result.failure_line, undo.ok)
        )

    async def _wait_for_new_boot(
        self, run: JobRun, pool: SshPool, node: str, boot_id: str
    ) -> str | None:
        """The node's new boot id once it answers with one, or None after the timeout."""
        config = run.config.deploy
        interval = config.health_gate.poll_interval_seconds
        loop = asyncio.get_running_loop()
        deadline = loop.time() + config.reboot_timeout_seconds
        went_down = False
        while loop.time() < deadline:
            try:
                result = await pool.run(node, BOOT_ID, fresh=True, timeout=interval * 5)
            except IntegrationError:
                if not went_down:
                    await run.stream.write(messages.reboot_went_down(node))
                went_down = True
            else:
                now = result.stdout.strip()
                if result.ok and now and now != boot_id:
                    await run.stream.write(messages.reboot_came_back(node, now))
                    return now
            await asyncio.sleep(interval)
        return None

    async def after_interrupted(self, job: Job, config: Config, services: Services) -> str:
        """After labbot stopped mid-reboot: did the node reboot, does it answer, what
        generation it runs and whether it passes the health gate, is it still cordoned.
        Read-only."""
        name = job.payload.get("node")
        if not isinstance(name, str) or config.ssh is None:
            return ""  # interrupted before the approval: nothing was done
        node, server = self._names(config, name, bool(job.payload.get("drain")))
        names = _pool_names(name, server)
        async with node_pool(config.ssh, config, names) as pool:
            try:
                boot = await pool.run(name, BOOT_ID, timeout=10)
                rebooted: bool | None = boot.stdout.strip() != job.payload.get("boot_id")
            except IntegrationError:
                rebooted = None  # down, or still booting
            running = None
            if rebooted is not None:
                running = await _gated_quietly(pool, config, node)
            cordoned = None
            if server is not None:
                with contextlib.suppress(IntegrationError):
                    nodes = await pool.run(server.name, k3s_cluster.NODES, sudo=True)
                    found = k3s_cluster.parse_nodes(nodes.stdout) or {}
                    cordoned = name in found and found[name].cordoned
        return messages.reboot_interrupted(job.id, name, rebooted, cordoned, running)

    async def _offer_reset(self, run: JobRun, node: str) -> None:
        """Post the BMC power reset button in the job's thread."""
        text = messages.reboot_reset_offer(node)
        job = run.job
        await run.chat.post(
            job.channel_id,
            text,
            blocks.offer(text, f"reset-{node}", f"Reset {node}", RESET_OFFER, job.cancel_token),
            thread_ts=job.thread_ts,
        )

    async def _gate_and_uncordon(
        self, run: JobRun, pool: SshPool, node: Node, server: Node | None, boot_id: str
    ) -> Finished:
        try:
            system = await read_system(pool, node.name)
        except IntegrationError as exc:
            return Finished(JobState.failed, messages.reboot_unreachable(node.name, str(exc)))
        gate = HealthGate(pool, run.config.deploy.health_gate, run.stream.write, run.cancel)
        result = await gate.check(node, Expectation(current_system=system.current_system))
        if not result.healthy:
            return Finished(
                JobState.failed,
                messages.reboot_unhealthy(node.name, result.reasons(), server is not None),
            )
        uncordoned = True
        if server is not None:
            undo = await pool.run(server.name, ["k3s", "kubectl", "uncordon", node.name], sudo=True)
            await run.stream.write(undo.stdout.strip() or undo.failure_line)
            uncordoned = undo.ok
        return Finished(
            JobState.succeeded if uncordoned else JobState.failed,
            messages.reboot_done(node.name, system.generation, server is not None, uncordoned),
        )


async def _gated_quietly(pool: SshPool, config: Config, node: Node) -> NodeRunning | None:
    """The generation the node runs and the health gate's verdict on it (None when the node
    stops answering meanwhile)."""
    try:
        system, result = await read_and_gate(pool, config, node)
    except IntegrationError:
        return None
    return NodeRunning(system.generation, result.healthy, tuple(result.reasons()))


REBOOT_KIND = RebootKind()

"""`/lab rollback NODE [GENERATION]`: switch a node back to an earlier generation, then gate it.

Must not talk to Slack or build Block Kit; it speaks through the job's thread (`JobRun`).

1. The command submits a job that locks the node.
2. Plan: list the node's generations over SSH; the target is GENERATION, or the one before the
   current. The approval is bound to (node, target generation, its store path, current one).
3. On Apply the node is re-read; a different path or a moved node voids the approval.
4. `nix-env -p PROFILE --switch-generation N`, `PROFILE/bin/switch-to-configuration switch`
   (zhaofengli/colmena 0.4.0), then the health gate over a fresh SSH connection.
5. Interrupted after its approval (labbot gone mid-way), the node is read and gated as after
   an interrupted deploy, and the thread told what it runs (`after_interrupted`).
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot import messages as engine_messages
from bot.command_spec import Command
from bot.config import Config
from bot.context import HandlerContext
from bot.errors import IntegrationError
from bot.job_run import Finished, JobRun, NeedsApproval, PlanResult
from bot.job_state import Job, JobState
from bot.locks import node_target
from bot.outcome import Outcome, Reply
from bot.services import Services
from handlers.deploy import messages
from handlers.deploy.generations import (
    PROFILE,
    GenerationEntry,
    generation_path,
    list_generations,
    node_pool,
    read_system,
    switch_and_echo,
    system_version,
)
from handlers.deploy.health_gate import Expectation, HealthGate
from handlers.deploy.interrupted import ApprovedSwitch, check_switched_nodes
from handlers.deploy.plan import job_nodes


class RollbackPlan(BaseModel):
    """The approved payload: which node goes to which generation, and where it came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    node: str
    generation: int
    path: str
    from_generation: int
    from_system: str


async def rollback_command(ctx: HandlerContext, command: Command) -> Outcome:
    """Start a rollback job that locks the node."""
    if ctx.config.ssh is None:
        return Reply(messages.rollback_not_configured())
    node = command.arg("node")
    assert isinstance(node, str)
    job = await ctx.jobs.submit(
        "rollback",
        text=ctx.text,
        requester=ctx.actor.user_id,
        channel_id=ctx.channel_id,
        targets=[node_target(node)],
    )
    return Reply(engine_messages.job_started(job.id))


def requested_generation(text: str) -> int | None:
    """The GENERATION of a (validated) `rollback NODE [GENERATION]` text."""
    try:
        words = shlex.split(text)
    except ValueError:
        return None
    if len(words) >= 3 and words[2].isdigit():
        return int(words[2])
    return None


def previous_generation(entries: list[GenerationEntry], current: int) -> int | None:
    """The newest generation older than `current`."""
    older = [e.number for e in entries if e.number < current]
    return max(older) if older else None


class RollbackKind:
    """The `rollback` job kind."""

    name = "rollback"

    def title(self, job: Job) -> str:
        """`Roll back tp-node3` or `Roll back tp-node3 to generation 2`."""
        nodes = job_nodes(job)
        return messages.rollback_title(nodes[0] if nodes else "?", requested_generation(job.text))

    async def plan(self, run: JobRun) -> PlanResult:
        """List the generations and ask approval for the switch."""
        config = run.config
        node = job_nodes(run.job)[0]
        if config.ssh is None:
            return Finished(JobState.failed, messages.rollback_not_configured())
        wanted = requested_generation(run.job.text)
        try:
            async with node_pool(config.ssh, config, [node]) as pool:
                now, entries = await asyncio.gather(
                    read_system(pool, node), list_generations(pool, node)
                )
                target = (
                    wanted if wanted is not None else previous_generation(entries, now.generation)
                )
                numbers = [e.number for e in entries]
                if target is None:
                    return Finished(
                        JobState.failed, messages.rollback_no_previous(node, now.generation)
                    )
                if target not in numbers:
                    return Finished(
                        JobState.failed, messages.rollback_no_such_generation(node, target, numbers)
                    )
                path, target_version, current_version = await asyncio.gather(
                    generation_path(pool, node, target),
                    system_version(pool, node, f"{PROFILE}-{target}-link"),
                    system_version(pool, node, now.current_system),
                )
                if path is None:
                    return Finished(
                        JobState.failed, messages.rollback_no_such_generation(node, target, numbers)
                    )
                if target == now.generation and path == now.current_system:
                    return Finished(
                        JobState.succeeded, messages.rollback_already_there(node, target)
                    )
        except IntegrationError as exc:
            return Finished(JobState.failed, messages.rollback_plan_failed(str(exc)))
        listing = [(e.number, e.date, e.current) for e in entries]
        plan = RollbackPlan(
            node=node,
            generation=target,
            path=path,
            from_generation=now.generation,
            from_system=now.current_system,
        )
        return NeedsApproval(
            summary=messages.rollback_plan(
                node, listing, now.generation, current_version, target, target_version, path
            ),
            payload=plan.model_dump(mode="json"),
            button=messages.rollback_button(),
        )

    async def still_valid(self, run: JobRun, payload: Mapping[str, Any]) -> str | None:
        """The target generation still has the same path and the node has not moved."""
        config = run.config
        plan = RollbackPlan.model_validate(payload)
        if config.ssh is None:
            return messages.rollback_not_configured()
        try:
            async with node_pool(config.ssh, config, [plan.node]) as pool:
                now = await read_system(pool, plan.node)
                path = await generation_path(pool, plan.node, plan.generation)
        except IntegrationError as exc:
            return messages.rollback_recheck_failed(str(exc))
        if path != plan.path:
            return messages.rollback_path_changed(plan.node, plan.generation)
        if (now.generation, now.current_system) != (plan.from_generation, plan.from_system):
            return messages.deploy_node_moved(plan.node, plan.from_generation, now.generation)
        return None

    async def apply(self, run: JobRun, payload: Mapping[str, Any]) -> Finished:
        """Switch, then gate."""
        config = run.config
        plan = RollbackPlan.model_validate(payload)
        node = config.inventory.node(plan.node)
        if config.ssh is None or node is None:
            return Finished(JobState.failed, messages.rollback_not_configured())
        async with node_pool(config.ssh, config, [plan.node]) as pool:
            try:
                switched = await switch_and_echo(pool, plan.node, plan.generation, run.stream.write)
            except IntegrationError as exc:
                return Finished(JobState.failed, messages.rollback_apply_failed(str(exc)))
            gate = HealthGate(pool, config.deploy.health_gate, run.stream.write, run.cancel)
            result = await gate.check(node, Expectation(plan.path, plan.path))
        reasons = result.reasons()
        if not switched.ok:
            reasons.insert(0, messages.rollback_step_failed(switched.step, switched.exit_status))
        healthy = result.healthy and switched.ok
        summary = messages.rollback_result(
            plan.node,
            plan.from_generation,
            plan.generation,
            healthy,
            reasons,
            result.nixos_version,
        )
        return Finished(JobState.succeeded if healthy else JobState.failed, summary)

    async def after_interrupted(self, job: Job, config: Config, services: Services) -> str:
        """What the node runs now and whether it is healthy, gated as after a deploy
        (`handlers/deploy/interrupted.py`); "" if the rollback was never approved."""
        if "path" not in job.payload:
            return ""  # interrupted while planning or waiting: nothing was switched
        plan = RollbackPlan.model_validate(job.payload)
        switch = ApprovedSwitch(plan.node, plan.path, plan.from_generation)
        return await check_switched_nodes(job.id, config, [switch], messages.ROLLBACK_PLANNED)


ROLLBACK_KIND = RollbackKind()

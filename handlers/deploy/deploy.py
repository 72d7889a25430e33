"""`/lab deploy TARGETS [--goal switch|boot|test|dry-activate]`: colmena deploys behind a health gate.

Must not talk to Slack or build Block Kit; it speaks through the job's thread (`JobRun`).

The flow:

1. The command resolves TARGETS against the inventory (`bot.targets`) and submits a job that
   locks every selected node; the job checks the nodes against colmena's own list (cached).
2. It records each node's generation and `/run/current-system` over SSH.
3. `colmena build --on …` (streamed) gives the built path per node; a closure diff against the
   running system is summarised. Nothing changes anywhere → it says so and succeeds.
4. It asks for approval bound to the built paths and recorded generations (`DeployPlan`).
5. On Apply it rebuilds and re-reads the nodes (at once); a different path (or a node that
   moved meanwhile) voids the approval.
6. `colmena apply GOAL --on …` (streamed, parsed per node), then the health gate per node over
   a fresh SSH connection; a failure rolls that node back to its recorded generation and gates
   it again (`handlers/deploy/apply.py`).

Per-node work runs for all nodes at once, bounded (`handlers/deploy/fanout.py`); with more than
one node, a table in the live output shows each node's state and generation
(`handlers/deploy/progress.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from bot import messages as engine_messages
from bot.command_spec import Command
from bot.config import ColmenaConfig, Config, SshConfig
from bot.context import HandlerContext
from bot.errors import IntegrationError
from bot.integrations.colmena import Colmena, NodeListCache
from bot.integrations.colmena_output import Goal
from bot.integrations.nix import ClosureDiff, Nix, NixFailed
from bot.integrations.ssh import NodeUnreachable
from bot.job_run import Finished, JobRun, NeedsApproval, PlanResult
from bot.job_state import Job, JobState
from bot.locks import node_target
from bot.outcome import Outcome, Reply
from bot.services import Services
from bot.targets import resolve_targets
from handlers.deploy import messages
from handlers.deploy.apply import GATE_STATE, apply_plan, planned_progress
from handlers.deploy.fanout import LOCAL_CONCURRENCY, for_each_node
from handlers.deploy.generations import NodeSystem, node_pool, read_system
from handlers.deploy.health_gate import Expectation, GateResult, HealthGate
from handlers.deploy.interrupted import check_interrupted_deploy
from handlers.deploy.plan import (
    DeployPlan,
    PlannedNode,
    base_system,
    job_nodes,
    plan_only,
    requested_goal,
)
from handlers.deploy.progress import NodeProgress

DIFF_TIMEOUT_SECONDS = 120.0


async def deploy_command(ctx: HandlerContext, command: Command) -> Outcome:
    """Resolve the targets and start a deploy job that locks each selected node."""
    if ctx.config.colmena is None or ctx.config.ssh is None:
        return Reply(messages.deploy_not_configured())
    targets = command.arg("targets")
    assert isinstance(targets, str)
    names = resolve_targets(targets, ctx.config.inventory.nodes)
    job = await ctx.jobs.submit(
        "deploy",
        text=ctx.text,
        requester=ctx.actor.user_id,
        channel_id=ctx.channel_id,
        targets=[node_target(name) for name in names],
    )
    return Reply(engine_messages.job_started(job.id))


def node_list_cache(config: Config) -> NodeListCache:
    """colmena's node list cache, in the state directory, watching the hive's files."""
    flake = config.colmena.flake_dir if config.colmena else config.storage.state_dir
    watched = [flake / name for name in ("flake.nix", "flake.lock", "hive.nix", "inventory.json")]
    if config.inventory.file is not None:
        watched.append(config.inventory.file)
    return NodeListCache(
        config.storage.state_dir / "colmena-nodes.json",
        config.deploy.node_list_cache_seconds,
        watched,
    )


async def _check_unchanged(
    run: JobRun, config: Config, planned: list[PlannedNode], progress: NodeProgress
) -> Finished:
    """Nothing to switch: the nodes are still put through the health gate, so a generation an
    interrupted deploy left unchecked is never reported as fine without a look."""
    assert config.ssh is not None  # checked by the caller
    names = [n.name for n in planned]
    async with node_pool(config.ssh, config, names) as pool:
        gate = HealthGate(pool, config.deploy.health_gate, run.stream.write, run.cancel)

        async def one(node: PlannedNode) -> tuple[PlannedNode, GateResult]:
            inventory_node = config.inventory.node(node.name)
            assert inventory_node is not None  # planned nodes come from the inventory
            expect = Expectation(current_system=node.current_system)
            progress.state(node.name, GATE_STATE)
            result = await gate.check(inventory_node, expect)
            progress.state(node.name, "healthy" if result.healthy else "unhealthy")
            return node, result

        results = await for_each_node(planned, one)
    unhealthy = [
        messages.unchanged_node_unhealthy(node.name, node.generation, result.reasons())
        for node, result in results
        if not result.healthy
    ]
    if unhealthy:
        return Finished(JobState.failed, messages.deploy_nothing_to_do_unhealthy(unhealthy))
    return Finished(JobState.succeeded, messages.deploy_nothing_to_do(names))


class DeployKind:
    """The `deploy` job kind: plan (build and diff), still_valid (rebuild), apply (deploy + gate)."""

    name = "deploy"

    def title(self, job: Job) -> str:
        """`Deploy tp-node3` or `Deploy tp-node1, tp-node3 (boot)`."""
        return messages.deploy_title(job_nodes(job), requested_goal(job.text).value)

    async def plan(self, run: JobRun) -> PlanResult:
        """Check, record, build and diff; ask approval unless nothing changes."""
        config = run.config
        names = job_nodes(run.job)
        goal = requested_goal(run.job.text)
        if config.colmena is None or config.ssh is None:
            return Finished(JobState.failed, messages.deploy_not_configured())
        missing = [name for name in names if config.inventory.node(name) is None]
        if missing:
            return Finished(JobState.failed, messages.nodes_left_inventory(missing))
        if not (config.colmena.flake_dir / "flake.lock").is_file():
            # Without it every evaluation resolves the inputs anew (and writes an untracked
            # lock into the checkout): what is deployed would not be what is committed.
            return Finished(JobState.failed, messages.no_flake_lock(config.colmena.flake_dir))
        progress = NodeProgress(run, names)
        colmena = Colmena(config.colmena, run, on_progress=progress.colmena(built_is_done=True))
        try:
            known = await colmena.node_names(node_list_cache(config))
            absent = [name for name in names if name not in known]
            if absent:
                return Finished(JobState.failed, messages.nodes_not_in_hive(absent, known))
            before = await _record(config.ssh, config, names)
            await run.say(messages.deploy_recorded(_generations(before)))
            for name in names:
                progress.generation(name, before[name].generation)
                progress.state(name, "recorded")
            built = await colmena.build(names)
            planned = [
                PlannedNode(
                    name=name,
                    built=built[name],
                    generation=before[name].generation,
                    current_system=before[name].current_system,
                    profile_system=before[name].profile_system,
                )
                for name in names
            ]
            changed = [
                n
                for n in planned
                if n.built != base_system(goal, n.current_system, n.profile_system)
            ]
            diffs = await _diffs(config.colmena, run, goal, changed)
        except IntegrationError as exc:
            run.check_cancelled()
            # off, most often, in a homelab
            hint = messages.power_on_hint(exc.node) if isinstance(exc, NodeUnreachable) else ""
            return Finished(JobState.failed, messages.deploy_plan_failed(str(exc), hint))
        for node in planned:
            progress.state(node.name, "to deploy" if node in changed else "unchanged")
        if not changed:
            return await _check_unchanged(run, config, planned, progress)
        plan = DeployPlan(
            goal=goal,
            nodes=changed,
            unchanged=[n.name for n in planned if n not in changed],
        )
        rows = [
            messages.deploy_plan_row(
                n.name,
                n.generation,
                base_system(goal, n.current_system, n.profile_system),
                n.built,
                _diff_text(diffs.get(n.name)),
            )
            for n in changed
        ]
        summary = messages.deploy_plan(goal.value, rows, plan.unchanged)
        if plan_only(run.job.text):  # shown, never approved: the locks go with the job's end
            return Finished(JobState.succeeded, f"{summary}\n{messages.plan_only_done()}")
        return NeedsApproval(
            summary=summary,
            payload=plan.model_dump(mode="json"),
            button=messages.deploy_button(goal.value),
        )

    async def still_valid(self, run: JobRun, payload: Mapping[str, Any]) -> str | None:
        """Rebuild and re-read the nodes: the approval is void if anything moved."""
        config = run.config
        plan = DeployPlan.model_validate(payload)
        if config.colmena is None or config.ssh is None:
            return messages.deploy_not_configured()
        names = [n.name for n in plan.nodes]
        await run.say(messages.deploy_rechecking(names))
        progress = planned_progress(run, plan)
        for name in names:
            progress.state(name, "rebuilding")
        colmena = Colmena(config.colmena, run, on_progress=progress.colmena(built_is_done=True))
        try:
            built, now = await _rebuild_and_record(colmena, config.ssh, config, names)
        except IntegrationError as exc:
            run.check_cancelled()
            return messages.deploy_recheck_failed(str(exc))
        for node in plan.nodes:
            if built.get(node.name) != node.built:
                return messages.deploy_build_changed(node.name, node.built, built.get(node.name))
            seen = now[node.name]
            if (seen.generation, seen.current_system) != (node.generation, node.current_system):
                return messages.deploy_node_moved(node.name, node.generation, seen.generation)
        return None

    async def apply(self, run: JobRun, payload: Mapping[str, Any]) -> Finished:
        """Deploy the approved plan and judge every node."""
        return await apply_plan(run, DeployPlan.model_validate(payload))

    async def after_interrupted(self, job: Job, config: Config, services: Services) -> str:
        """What the planned nodes run now, gated (`handlers/deploy/interrupted.py`)."""
        return await check_interrupted_deploy(job, config)


async def _record(ssh: SshConfig, config: Config, names: list[str]) -> dict[str, NodeSystem]:
    async with node_pool(ssh, config, names) as pool:
        systems = await for_each_node(names, lambda name: read_system(pool, name))
    return dict(zip(names, systems, strict=True))


async def _rebuild_and_record(
    colmena: Colmena, ssh: SshConfig, config: Config, names: list[str]
) -> tuple[dict[str, str], dict[str, NodeSystem]]:
    """The rebuild and what the nodes run now, at the same time: reading the nodes need not
    wait for every node's build. Should the reading fail, the build is stopped (its process
    group killed by `run_process`) and the reading's error raised."""
    building = asyncio.ensure_future(colmena.build(names))
    try:
        now = await _record(ssh, config, names)
    except BaseException:
        building.cancel()
        with contextlib.suppress(BaseException):
            await building
        raise
    return await building, now


def _generations(before: Mapping[str, NodeSystem]) -> dict[str, int]:
    return {name: system.generation for name, system in before.items()}


async def _diffs(
    config: ColmenaConfig, run: JobRun, goal: Goal, changed: Sequence[PlannedNode]
) -> dict[str, ClosureDiff | str]:
    """Closure diff per changed node, or why there is none (the old system is not local)."""
    nix = Nix(config.nix_binary, timeout=DIFF_TIMEOUT_SECONDS, cancel=run.cancel)

    async def one(node: PlannedNode) -> ClosureDiff | str:
        old = base_system(goal, node.current_system, node.profile_system)
        try:
            return await nix.diff_closures(old, node.built)
        except NixFailed as exc:
            return str(exc)

    results = await for_each_node(changed, one, LOCAL_CONCURRENCY)
    return {node.name: result for node, result in zip(changed, results, strict=True)}


def _diff_text(diff: ClosureDiff | str | None) -> str:
    if diff is None:
        return messages.closure_diff_unavailable("")
    if isinstance(diff, str):
        return messages.closure_diff_unavailable(diff)
    changes = [(c.name, c.before, c.after) for c in diff.version_changes]
    return messages.closure_diff_summary(changes, diff.size_delta)


DEPLOY_KIND = DeployKind()

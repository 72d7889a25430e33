"""The apply half of a deploy: `colmena apply`, then per node the health gate and rollback.

Must not re-plan: it deploys exactly the approved `DeployPlan` and judges every node of it.

Per node: a failure before activation leaves the node untouched (`failed`);
otherwise the gate runs over a fresh SSH connection; an activation failure or a failed gate
rolls the node back to its recorded generation (unless `auto_rollback` is off for it) and gates
it again. Job state: succeeded if every node is healthy, rolled_back if any was rolled back,
failed otherwise.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, replace

from bot.config import Node
from bot.errors import IntegrationError
from bot.integrations.colmena import Colmena, ColmenaRun
from bot.integrations.colmena_output import ColmenaReport, Goal
from bot.integrations.ssh import SshPool
from bot.job_run import Finished, JobRun
from bot.job_state import JobState
from handlers.deploy import messages
from handlers.deploy.fanout import for_each_node
from handlers.deploy.generations import node_pool
from handlers.deploy.health_gate import Expectation, HealthGate, Verdict, roll_back
from handlers.deploy.plan import DeployPlan, PlannedNode
from handlers.deploy.progress import NodeProgress

GATE_STATE = "health gate"
SUMMARY_NODE_LINES = 6
"""Up to this many nodes the verdict has a line per node; above, it counts the verdicts and
lists the nodes that are not healthy, and the progress table under it has every node."""


@dataclass(frozen=True)
class NodeOutcome:
    """How one node ended, for the summary."""

    name: str
    from_generation: int
    to_generation: int | None
    verdict: Verdict
    reasons: tuple[str, ...]
    nixos_version: str | None
    seconds: float


def expectation_after(goal: Goal, node: PlannedNode) -> Expectation:
    """What the node should run once `goal` succeeded."""
    if goal is Goal.switch:
        return Expectation(node.built, node.built)
    if goal is Goal.test:
        return Expectation(node.built, node.profile_system)
    if goal is Goal.boot:
        return Expectation(node.current_system, node.built)
    return Expectation(node.current_system, node.profile_system)


def expectation_before(node: PlannedNode) -> Expectation:
    """What the node ran when planned (the rollback's target)."""
    return Expectation(node.current_system, node.profile_system)


def final_state(verdicts: list[Verdict]) -> JobState:
    """succeeded if all healthy, rolled_back if any rolled back, failed otherwise."""
    if all(v is Verdict.healthy for v in verdicts):
        return JobState.succeeded
    if any(v.rolled_back for v in verdicts):
        return JobState.rolled_back
    return JobState.failed


def planned_progress(run: JobRun, plan: DeployPlan) -> NodeProgress:
    """The progress of the plan's nodes (from their recorded generations), unchanged ones too."""
    progress = NodeProgress(run, [*(n.name for n in plan.nodes), *plan.unchanged])
    for node in plan.nodes:
        progress.generation(node.name, node.generation)
    for name in plan.unchanged:
        progress.state(name, "unchanged")
    return progress


async def apply_plan(run: JobRun, plan: DeployPlan) -> Finished:
    """Deploy the plan, gate every node, roll back failures, and sum it up."""
    config = run.config
    assert config.colmena is not None and config.ssh is not None
    names = [n.name for n in plan.nodes]
    progress = planned_progress(run, plan)
    colmena = Colmena(config.colmena, run, on_progress=progress.colmena())
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        outcome = await colmena.apply(plan.goal, names)
    except IntegrationError as exc:
        run.check_cancelled()
        return Finished(JobState.failed, messages.deploy_apply_failed(str(exc)))
    await run.say(messages.colmena_finished(outcome.exit_code, outcome.timed_out))
    async with node_pool(config.ssh, config, names) as pool:
        gate = HealthGate(pool, config.deploy.health_gate, run.stream.write, run.cancel)

        async def settle(planned: PlannedNode) -> NodeOutcome:
            node = config.inventory.node(planned.name)
            assert node is not None
            judged = await _judge(run, gate, pool, plan.goal, planned, node, outcome, progress)
            progress.state(planned.name, judged.verdict.value)
            if judged.to_generation is not None and not judged.verdict.rolled_back:
                progress.generation(planned.name, planned.generation, judged.to_generation)
            return replace(judged, seconds=loop.time() - started)

        results = await for_each_node(plan.nodes, settle)
    lines = [
        messages.deploy_node_result(
            r.name,
            r.from_generation,
            r.to_generation,
            r.verdict.value,
            list(r.reasons),
            r.nixos_version,
            r.seconds,
        )
        for r in results
    ]
    state = final_state([r.verdict for r in results])
    if len(results) <= SUMMARY_NODE_LINES:
        return Finished(state, messages.deploy_summary(lines, plan.unchanged))
    verdicts = Counter(r.verdict.value for r in results)
    problems = [
        line for line, r in zip(lines, results, strict=True) if r.verdict is not Verdict.healthy
    ]
    return Finished(state, messages.deploy_summary_counted(verdicts, problems, plan.unchanged))


async def _judge(
    run: JobRun,
    gate: HealthGate,
    pool: SshPool,
    goal: Goal,
    planned: PlannedNode,
    node: Node,
    outcome: ColmenaRun,
    progress: NodeProgress,
) -> NodeOutcome:
    name = planned.name
    report: ColmenaReport = outcome.report
    failure = report.failures.get(name)

    def ended(
        verdict: Verdict, problems: list[str], generation: int | None, version: str | None
    ) -> NodeOutcome:
        return NodeOutcome(
            name, planned.generation, generation, verdict, tuple(problems), version, 0.0
        )

    if failure is not None and failure.stage.before_activation:
        reason = messages.deploy_not_activated(failure.stage.value, failure.error)
        return ended(Verdict.failed, [reason], planned.generation, None)
    problems: list[str] = []
    if failure is not None:
        units = report.failed_units.get(name, ())
        problems.append(
            messages.activation_failed(failure.stage.value, failure.error, failure.exit_code, units)
        )
    elif name not in report.reached:
        problems.append(messages.colmena_no_result(name, outcome.timed_out))
    progress.state(name, GATE_STATE)
    first = await gate.check(node, expectation_after(goal, planned))
    if first.healthy and not problems:
        return ended(Verdict.healthy, [], first.generation, first.nixos_version)
    problems += first.reasons()
    if goal is Goal.dry_activate:
        return ended(Verdict.failed, problems, first.generation, first.nixos_version)
    if not node.auto_rollback:
        problems.append(messages.auto_rollback_off(name, first.generation))
        return ended(Verdict.failed, problems, first.generation, first.nixos_version)
    progress.state(name, "rolling back")
    back = await roll_back(
        pool, gate, node, planned.generation, expectation_before(planned), run.stream.write
    )
    if back.detail:
        problems.append(back.detail)
    version = back.after.nixos_version if back.after else first.nixos_version
    return ended(back.verdict, problems, first.generation, version)

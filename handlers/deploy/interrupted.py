"""After a deploy or rollback was interrupted (its labbot process gone mid-way): what each node
runs now.

The job may have stopped anywhere: before a node was switched, during activation, or in the
health gate. Rather than leave the thread at "interrupted", labbot reads each node's current
system and generation over SSH and runs the health gate on whatever it runs, then says per node
whether the approved system is running and whether the node is healthy, with the rollback
command where it is not. Read-only: nothing is switched back by itself, because the operator may
want to look first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.config import Config, Node
from bot.errors import IntegrationError
from bot.integrations.ssh import SshPool
from bot.job_state import Job
from handlers.deploy import messages
from handlers.deploy.fanout import for_each_node
from handlers.deploy.generations import NodeSystem, node_pool, read_system
from handlers.deploy.health_gate import Expectation, GateResult, HealthGate
from handlers.deploy.plan import DeployPlan


@dataclass(frozen=True)
class ApprovedSwitch:
    """One node as the interrupted job's approval left it: the system it was to run and the
    generation it was on when the job was planned."""

    name: str
    approved_system: str
    generation_before: int


async def check_interrupted_deploy(job: Job, config: Config) -> str:
    """Per planned node: checked state after the interruption ("" if nothing was approved)."""
    if not job.payload.get("nodes"):
        return ""  # interrupted while planning or waiting: nothing was switched
    plan = DeployPlan.model_validate(job.payload)
    switches = [ApprovedSwitch(n.name, n.built, n.generation) for n in plan.nodes]
    return await check_switched_nodes(job.id, config, switches, messages.DEPLOY_PLANNED)


async def check_switched_nodes(
    job_id: int, config: Config, switches: Sequence[ApprovedSwitch], planned_by: str
) -> str:
    """What each node runs now and whether it is healthy, as the interrupted job's thread is
    told it (`planned_by` names the job in the wording: "the deploy", "the rollback")."""
    if config.ssh is None or not switches:
        return ""
    names = [s.name for s in switches]
    async with node_pool(config.ssh, config, names) as pool:

        async def one(switch: ApprovedSwitch) -> str:
            node = config.inventory.node(switch.name)
            assert node is not None  # a job's nodes come from the inventory
            try:
                now, result = await read_and_gate(pool, config, node)
            except IntegrationError as exc:
                return messages.interrupted_node_unreachable(switch.name, str(exc))
            return messages.interrupted_node_state(
                switch.name,
                approved_running=now.current_system == switch.approved_system,
                generation_before=switch.generation_before,
                generation_now=now.generation,
                healthy=result.healthy,
                reasons=result.reasons(),
                planned_by=planned_by,
            )

        lines = await for_each_node(switches, one)
    return messages.interrupted_deploy_checked(job_id, list(lines))


async def read_and_gate(pool: SshPool, config: Config, node: Node) -> tuple[NodeSystem, GateResult]:
    """What the node runs now and the health gate's verdict on it, without the gate's progress
    lines; an `IntegrationError` when what it runs cannot be read."""
    now = await read_system(pool, node.name)
    gate = HealthGate(pool, config.deploy.health_gate)
    return now, await gate.check(node, Expectation(current_system=now.current_system))

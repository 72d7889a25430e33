"""After a deploy was interrupted (its labbot process gone mid-way): what each node runs now.

The deploy may have stopped anywhere: before colmena switched a node, during activation, or in
the health gate. Rather than leave the thread at "interrupted", labbot reads each planned node's
current system and generation over SSH and runs the health gate on whatever it runs, then says
per node whether the approved system is running and whether the node is healthy, with the
rollback command where it is not. Read-only: nothing is switched back by itself, because the
operator may want to look first.
"""

from __future__ import annotations

from bot.config import Config
from bot.errors import IntegrationError
from bot.job_state import Job
from handlers.deploy import messages
from handlers.deploy.fanout import for_each_node
from handlers.deploy.generations import node_pool, read_system
from handlers.deploy.health_gate import Expectation, HealthGate
from handlers.deploy.plan import DeployPlan, PlannedNode


async def check_interrupted_deploy(job: Job, config: Config) -> str:
    """Per planned node: checked state after the interruption ("" if nothing was approved)."""
    if not job.payload.get("nodes") or config.ssh is None:
        return ""  # interrupted while planning or waiting: nothing was switched
    plan = DeployPlan.model_validate(job.payload)
    names = [n.name for n in plan.nodes]

    async def quiet(_line: str) -> None:  # the gate's progress lines: only the verdict is told
        return None

    async with node_pool(config.ssh, config, names) as pool:
        gate = HealthGate(pool, config.deploy.health_gate, quiet)

        async def one(planned: PlannedNode) -> str:
            node = config.inventory.node(planned.name)
            assert node is not None  # planned nodes come from the inventory
            try:
                now = await read_system(pool, planned.name)
            except IntegrationError as exc:
                return messages.interrupted_node_unreachable(planned.name, str(exc))
            result = await gate.check(node, Expectation(current_system=now.current_system))
            return messages.interrupted_node_state(
                planned.name,
                approved_running=now.current_system == planned.built,
                generation_before=planned.generation,
                generation_now=now.generation,
                healthy=result.healthy,
                reasons=result.reasons(),
            )

        lines = await for_each_node(plan.nodes, one)
    return messages.interrupted_deploy_checked(job.id, list(lines))

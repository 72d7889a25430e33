"""`/lab power NODE on|off|reset|status` and `/lab power status [NODE]`: BMC power of the slots.

Must not talk to Slack or build Block Kit; jobs speak through their thread (`JobRun`).

1. `status` (viewer, no job): read the BMC's power record of every slot, probe each inventory
   node over SSH, and reply with both side by side — the record is bookkeeping, not a
   measurement (turing-machines/bmcd), so a mismatch gets the BMC's caveat.
2. `on|off|reset` submit a `power` job that locks the node.
3. `on` runs at once (operator, no approval); `off` and `reset` show the plan (the slot's current
   record and SSH state) and wait for an operator's approval.
4. Apply: the BMC call, then SSH is watched until it answers (`on`, `reset`) or stops
   answering (`off`), for at most `flash.boot_timeout_seconds`.
5. The verdict names both views: `BMC: on · SSH: reachable`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot import messages as engine_messages
from bot.command_spec import Approval, Command
from bot.config import Config, Node, Role
from bot.context import HandlerContext
from bot.integrations.bmc_errors import BmcError
from bot.integrations.bmc_failures import power_status_caveat
from bot.integrations.reachability import Reachability, SshState, SshWant, probe_ssh, wait_for_ssh
from bot.integrations.ssh import SshTarget
from bot.job_run import Finished, JobRun, NeedsApproval, PlanResult
from bot.job_state import Job, JobState
from bot.locks import node_target
from bot.outcome import Outcome, Reply
from bot.services import Services
from bot.targets import named_node
from handlers.bmc import messages

ACTIONS = ("on", "off", "reset", "status")


class PowerPlan(BaseModel):
    """A power job's payload: which slot of which BMC gets which action."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    node: str
    action: str
    board: str
    bmc: str
    slot: int


async def power_command(ctx: HandlerContext, command: Command) -> Outcome:
    """`power NODE on|off|reset|status`: status replies now, the others start a job."""
    node = command.arg("node")
    action = command.arg("action")
    assert isinstance(node, str) and isinstance(action, str)
    if action == "status":
        return await _status_reply(ctx, [named_node(node, ctx.config.inventory.nodes)])
    job = await ctx.jobs.submit(
        "power",
        text=f"power {node} {action}",
        requester=ctx.actor.user_id,
        channel_id=ctx.channel_id,
        targets=[node_target(node)],
    )
    return Reply(engine_messages.job_started(job.id))


async def power_status_command(ctx: HandlerContext, command: Command) -> Outcome:
    """`power status [NODE]`: every slot of every board, or one node's."""
    node = command.arg("node")
    nodes = [named_node(node, ctx.config.inventory.nodes)] if isinstance(node, str) else None
    return await _status_reply(ctx, nodes)


async def _status_reply(ctx: HandlerContext, only: list[Node] | None) -> Reply:
    config = ctx.config
    boards = [
        b for b in config.inventory.boards if only is None or b.name in {n.board for n in only}
    ]
    sections = await asyncio.gather(
        *(_board_status(ctx.services, config, b.name, only) for b in boards)
    )
    return Reply("\n\n".join(sections))


async def _board_status(
    services: Services, config: Config, board: str, only: list[Node] | None
) -> str:
    """One board's slots: the BMC's record beside each node's SSH reachability."""
    found = config.inventory.board(board)
    assert found is not None, board  # a board of the inventory
    bmc_name = found.bmc
    nodes = {n.slot: n for n in config.inventory.nodes if n.board == board}
    wanted = sorted({n.slot for n in only}) if only is not None else [1, 2, 3, 4]
    probes = await asyncio.gather(
        *(probe_ssh(SshTarget.of(nodes[s]), config.ssh) for s in wanted if s in nodes)
    )
    seen = {p.node: p for p in probes}
    try:
        client = await services.bmc(board)
        client.refuse_while_uploading()
        record: Mapping[int, bool | None] = await client.power_status()
    except BmcError as error:
        lines = [
            messages.power_status_line(s, _name(nodes, s), None, _ssh_text(_seen(nodes, s, seen)))
            for s in wanted
        ]
        return messages.power_status_board(board, bmc_name, lines, str(error))
    lines = []
    for slot in wanted:
        reachability = _seen(nodes, slot, seen)
        line = messages.power_status_line(
            slot, _name(nodes, slot), record.get(slot), _ssh_text(reachability)
        )
        if slot in nodes and _disagree(record.get(slot), reachability):
            line += "\n    " + power_status_caveat(bmc_name, slot)
        lines.append(line)
    return messages.power_status_board(board, bmc_name, lines, "")


def _name(nodes: Mapping[int, Node], slot: int) -> str | None:
    node = nodes.get(slot)
    return node.name if node else None


def _seen(
    nodes: Mapping[int, Node], slot: int, seen: Mapping[str, Reachability]
) -> Reachability | None:
    node = nodes.get(slot)
    return seen.get(node.name) if node else None


def _ssh_text(seen: Reachability | None) -> str | None:
    return messages.ssh_view(seen.state, seen.detail) if seen is not None else None


def _disagree(recorded: bool | None, seen: Reachability | None) -> bool:
    """Whether the BMC's record contradicts what SSH shows (or the record is unknown)."""
    if seen is None or seen.state is SshState.not_configured:
        return recorded is None
    return recorded is None or recorded != seen.answering


class PowerKind:
    """The `power` job kind: `on` at once, `off`/`reset` after approval; see the module doc."""

    name = "power"

    def title(self, job: Job) -> str:
        """`Power on tp-node3`, `Power off tp-node3`, `Reset tp-node3`."""
        _, node, action = job.text.split()[:3]
        return messages.power_title(node, action)

    async def plan(self, run: JobRun) -> PlanResult:
        """`on`: do it now. `off`/`reset`: show the slot's state and ask an operator."""
        _, name, action = run.job.text.split()[:3]
        node = run.config.inventory.node(name)
        if node is None:
            return Finished(JobState.failed, messages.node_left_inventory(name))
        board = run.config.inventory.board_of(node)
        plan = PowerPlan(node=name, action=action, board=board.name, bmc=board.bmc, slot=node.slot)
        if action == "on":
            return await self.apply(run, plan.model_dump(mode="json"))
        try:
            client = await run.services.bmc(plan.board)
            recorded = (await client.power_status()).get(plan.slot)
        except BmcError as error:
            return Finished(JobState.failed, engine_messages.integration_failed(str(error)))
        seen = await probe_ssh(SshTarget.of(node), run.config.ssh)
        return NeedsApproval(
            summary=messages.power_plan(
                name,
                action,
                plan.slot,
                plan.bmc,
                recorded,
                messages.ssh_view(seen.state, seen.detail),
            ),
            payload=plan.model_dump(mode="json"),
            role=Role.operator,
            rule=Approval.approval,
            button=messages.power_button(action),
        )

    async def still_valid(self, run: JobRun, payload: Mapping[str, Any]) -> str | None:
        """A power plan names only the node and the action, which cannot drift."""
        return None

    async def apply(self, run: JobRun, payload: Mapping[str, Any]) -> Finished:
        """Switch the slot through the BMC, then watch SSH until it agrees (or time runs out)."""
        plan = PowerPlan.model_validate(payload)
        node = run.config.inventory.node(plan.node)
        if node is None:
            return Finished(JobState.failed, messages.node_left_inventory(plan.node))
        try:
            client = await run.services.bmc(plan.board)
            if plan.action == "reset":
                await client.reset(plan.slot)
            else:
                await client.power(plan.slot, plan.action == "on")
        except BmcError as error:
            return Finished(JobState.failed, engine_messages.integration_failed(str(error)))
        loop = asyncio.get_running_loop()
        started = loop.time()
        seen = await wait_for_ssh(
            SshTarget.of(node),
            run.config.ssh,
            timeout=run.config.flash.boot_timeout_seconds,
            interval=run.config.flash.poll_interval_seconds,
            want=SshWant.silence if plan.action == "off" else SshWant.answer,
            cancel=run.cancel,
        )
        run.check_cancelled()
        seconds = loop.time() - started
        ssh = messages.ssh_view(seen.state, seen.detail)
        if seen.state is SshState.not_configured or seen.answering == (plan.action != "off"):
            return Finished(
                JobState.succeeded,
                messages.power_done(plan.node, plan.action, plan.slot, plan.bmc, ssh, seconds),
            )
        caveat = power_status_caveat(plan.bmc, plan.slot)
        return Finished(
            JobState.failed,
            messages.power_ssh_disagrees(plan.node, plan.action, plan.slot, ssh, seconds, caveat),
        )


POWER_KIND = PowerKind()

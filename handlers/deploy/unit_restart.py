"""`/lab restart NODE UNIT`: restart one systemd unit on a node, after approval.

Must not talk to Slack or build Block Kit; it speaks through the job's thread (`JobRun`).

1. The command checks the unit name and submits a job that locks the node.
2. Plan: refused when the node has no such unit (`systemctl show` says LoadState=not-found);
   else the unit's state now (`systemctl is-active`) and the approval per `approvals.restart`.
3. Apply: `systemctl restart UNIT` (sudo), then its state and its last journal lines; the job
   succeeds when the unit is active again.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from bot import messages as engine_messages
from bot.command_spec import Command
from bot.config import Role, is_unit_name
from bot.context import HandlerContext
from bot.errors import IntegrationError
from bot.job_run import Finished, JobRun, NeedsApproval, PlanResult
from bot.job_state import Job, JobState
from bot.locks import node_target
from bot.outcome import Outcome, Reply
from handlers.deploy import messages
from handlers.deploy.generations import node_pool

JOURNAL_LINES = 10


def _node_and_unit(job: Job) -> tuple[str, str]:
    words = shlex.split(job.text)  # `restart NODE UNIT`, validated by the parser
    return words[1], words[2]


async def restart_command(ctx: HandlerContext, command: Command) -> Outcome:
    """Check the unit name and start a restart job that locks the node."""
    unit = str(command.arg("unit"))
    node = str(command.arg("node"))
    if not is_unit_name(unit):
        return Reply(messages.restart_bad_unit(unit))
    if ctx.config.ssh is None:
        return Reply(messages.rollback_not_configured())
    job = await ctx.jobs.submit(
        "restart",
        text=f"restart {node} {unit}",
        requester=ctx.actor.user_id,
        channel_id=ctx.channel_id,
        targets=[node_target(node)],
    )
    return Reply(engine_messages.job_started(job.id))


class RestartKind:
    """The `restart` job kind."""

    name = "restart"

    def title(self, job: Job) -> str:
        """`Restart k3s.service on tp-node3`."""
        node, unit = _node_and_unit(job)
        return messages.restart_title(node, unit)

    async def plan(self, run: JobRun) -> PlanResult:
        """The unit's state now, and the approval for the restart."""
        config = run.config
        node, unit = _node_and_unit(run.job)
        assert config.ssh is not None  # checked by the command
        try:
            async with node_pool(config.ssh, config, [node]) as pool:
                loaded = await pool.run(
                    node, ["systemctl", "show", "--property=LoadState", "--value", unit]
                )
                state = await pool.run(node, ["systemctl", "is-active", unit])
        except IntegrationError as exc:
            return Finished(JobState.failed, messages.restart_unreachable(node, str(exc)))
        if loaded.stdout.strip() == "not-found":
            # systemd has no such unit on this node: refuse before anyone approves it.
            return Finished(JobState.failed, messages.restart_no_such_unit(node, unit))
        return NeedsApproval(
            summary=messages.restart_plan(node, unit, state.stdout.strip() or "unknown"),
            payload={"node": node, "unit": unit},
            role=Role.operator,
            button="Restart",
        )

    async def still_valid(self, run: JobRun, payload: Mapping[str, Any]) -> str | None:
        """Nothing to re-check: restarting is what was approved, whatever the state now."""
        return None

    async def apply(self, run: JobRun, payload: Mapping[str, Any]) -> Finished:
        """Restart, then say the unit's state and its last journal lines."""
        config = run.config
        node, unit = str(payload["node"]), str(payload["unit"])
        assert config.ssh is not None
        try:
            async with node_pool(config.ssh, config, [node]) as pool:
                restarted = await pool.run(node, ["systemctl", "restart", unit], sudo=True)
                for line in restarted.stderr.splitlines():
                    await run.stream.write(line)
                state = (await pool.run(node, ["systemctl", "is-active", unit])).stdout.strip()
                journal = await pool.run(
                    node,
                    [
                        "journalctl",
                        "--no-pager",
                        "-o",
                        "short-iso",
                        "-n",
                        str(JOURNAL_LINES),
                        f"--unit={unit}",
                    ],
                )
        except IntegrationError as exc:
            return Finished(JobState.failed, messages.restart_unreachable(node, str(exc)))
        for line in journal.stdout.splitlines():
            await run.stream.write(line)
        ok = restarted.exit_status == 0 and state == "active"
        return Finished(
            JobState.succeeded if ok else JobState.failed,
            messages.restart_done(node, unit, state or "unknown", restarted.exit_status),
        )


RESTART_KIND = RestartKind()

"""A test-only job kind, `exercise`, that drives the job engine the way real kinds will.

`/lab exercise MODE [N]` on node tp-node3:
  print N      plan, ask approval (operator), then print N lines
  foureyes N   the same, with four-eyes approval
  hang         ask approval, then run a process tree that ignores SIGTERM until cancelled
  now N        no approval: print N lines at once
  void         ask approval; on Apply the plan no longer holds
  stall        the command handler waits while the file `stall` exists in the state
               directory, then starts a `now 1` job (a crash between ack and handling)
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from typing import Any

from bot.capabilities import CAPABILITIES
from bot.capability import Capability
from bot.command_spec import Approval, Arg, ArgKind, Command, CommandSpec
from bot.config import Role
from bot.context import HandlerContext
from bot.job_run import Finished, JobRun, NeedsApproval, PlanResult
from bot.job_state import Job, JobState
from bot.locks import node_target
from bot.outcome import Outcome, Reply

HANG_SCRIPT = r"""
import os, signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time, os; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('child', os.getpid(), flush=True); time.sleep(1000)"])
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("parent", os.getpid(), flush=True)
child.wait()
"""


class ExerciseKind:
    """The test kind; see the module docstring."""

    name = "exercise"

    def title(self, job: Job) -> str:
        return f"Exercise {job.text.split()[1]} on tp-node3"

    async def plan(self, run: JobRun) -> PlanResult:
        words = run.job.text.split()
        mode, count = words[1], int(words[2]) if len(words) > 2 else 3
        if mode in ("now", "stall"):
            await self._print(run, count)
            return Finished(JobState.succeeded, f"printed {count} lines")
        await run.stream.write(f"planning {mode}")
        rule = Approval.four_eyes if mode == "foureyes" else Approval.approval
        summary = f"*Plan*: {mode} {count} lines on tp-node3"
        if mode == "bigplan":  # a plan as long as a deploy of `count` nodes
            summary = f"*Plan*: `colmena apply switch` on {count} node(s)\n" + "\n".join(
                f"• *node-{i:03d}* (generation 7)\n  `/nix/store/{i:032d}-nixos-system`"
                for i in range(count)
            )
        return NeedsApproval(
            summary=summary,
            payload={"mode": mode, "count": count},
            role=Role.operator,
            rule=rule,
        )

    async def apply(self, run: JobRun, payload: Mapping[str, Any]) -> Finished:
        if payload["mode"] == "hang":
            await run.run([sys.executable, "-c", HANG_SCRIPT], env={}, timeout=60)
            return Finished(JobState.failed, "the hang ended by itself")
        await self._print(run, int(payload["count"]))
        return Finished(JobState.succeeded, f"printed {payload['count']} lines")

    async def still_valid(self, run: JobRun, payload: Mapping[str, Any]) -> str | None:
        return "the built path changed" if payload["mode"] == "void" else None

    async def _print(self, run: JobRun, count: int) -> None:
        script = f"for i in range({count}): print('line', i, flush=True)"
        result = await run.run([sys.executable, "-c", script], env={}, timeout=60)
        assert result.exit_code == 0


async def exercise_command(ctx: HandlerContext, command: Command) -> Outcome:
    if command.arg("mode") == "stall":
        marker = ctx.config.storage.state_dir / "stall"
        # Another process (the test) removes the file: no event to await across processes.
        while marker.exists():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    job = await ctx.jobs.submit(
        "exercise",
        text=ctx.text,
        requester=ctx.actor.user_id,
        channel_id=ctx.channel_id,
        targets=[node_target("tp-node3")],
    )
    return Reply(f"Started job {job.id}.")


EXERCISE = Capability(
    name="exercise",
    job_kinds=(ExerciseKind(),),
    commands=(
        CommandSpec(
            name="exercise",
            summary="test job",
            role=Role.operator,
            handler=exercise_command,
            args=(
                Arg(
                    "mode",
                    ArgKind.choice,
                    "mode",
                    choices=("print", "foureyes", "hang", "now", "void", "bigplan", "stall"),
                ),
                Arg("count", ArgKind.integer, "lines", optional=True),
            ),
            example="exercise print 3",
        ),
    ),
)
# Every real capability and the exercise job, as the scenario tests run the bot.
EXERCISE_CAPABILITIES: tuple[Capability, ...] = (*CAPABILITIES, EXERCISE)

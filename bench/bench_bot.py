"""labbot in its own process with a `bench` job kind that prints many lines (for bench/stream.py).

Usage: python bench/bench_bot.py CONFIG.yaml
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.app import LabBot
from bot.capabilities import CAPABILITIES
from bot.capability import Capability
from bot.command_spec import Arg, ArgKind, Command, CommandSpec
from bot.config import Role
from bot.config_file import load_config
from bot.context import HandlerContext
from bot.job_run import Finished, JobRun, PlanResult
from bot.job_state import Job, JobState
from bot.outcome import Outcome, Reply

# Every 1,000th line carries a configured secret (the Slack bot token) and an age key.
# With a duration, the lines are spread evenly over it (a long build rather than a burst).
PRINT_SCRIPT = r"""
import sys, time
count, secret, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
out = sys.stdout
start = time.monotonic()
for i in range(count):
    if seconds:
        out.flush()
        time.sleep(max(0.0, start + seconds * i / count - time.monotonic()))
    if i % 1000 == 999:
        out.write(f"line {i} token={secret} key=AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n")
    else:
        out.write(f"line {i} building /nix/store/0123456789abcdfghijklmnpqrsvwxyz-pkg-{i}.drv\n")
out.flush()
"""


class BenchKind:
    """Prints `count` lines through the job engine, with no approval."""

    name = "bench"

    def title(self, job: Job) -> str:
        return f"Bench {job.text.split()[1]} lines"

    async def plan(self, run: JobRun) -> PlanResult:
        words = run.job.text.split()
        count = int(words[1])
        seconds = words[3] if len(words) > 3 else "0"
        secret = run.config.slack.bot_token.read()
        result = await run.run(
            [sys.executable, "-c", PRINT_SCRIPT, str(count), secret, seconds], env={}, timeout=3600
        )
        return Finished(JobState.succeeded, f"printed {count} lines, exit {result.exit_code}")

    async def apply(self, run: JobRun, payload: Mapping[str, Any]) -> Finished:
        raise AssertionError("bench jobs need no approval")

    async def still_valid(self, run: JobRun, payload: Mapping[str, Any]) -> str | None:
        return None


async def bench_command(ctx: HandlerContext, command: Command) -> Outcome:
    key = command.arg("key")
    job = await ctx.jobs.submit(
        "bench",
        text=ctx.text,
        requester=ctx.actor.user_id,
        channel_id=ctx.channel_id,
        targets=[f"bench:{key}"],
    )
    return Reply(f"Started job {job.id}.")


BENCH = Capability(
    name="bench",
    job_kinds=(BenchKind(),),
    commands=(
        CommandSpec(
            name="bench",
            summary="print lines",
            role=Role.operator,
            handler=bench_command,
            args=(
                Arg("count", ArgKind.integer, "lines"),
                Arg("key", ArgKind.word, "lock key"),
                Arg("seconds", ArgKind.integer, "spread the lines over this long", optional=True),
            ),
            example="bench 1000 a 60",
        ),
    ),
)


async def main(path: Path) -> None:
    async with LabBot(load_config(path), [*CAPABILITIES, BENCH]) as bot:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, bot.request_stop)
        print("ready", flush=True)
        await bot.wait_stopped()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))

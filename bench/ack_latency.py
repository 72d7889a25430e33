"""Slash-command ack latency: 1,000 `/lab whoami` through the Slack emulator's Socket Mode.

Run: .venv/bin/python bench/ack_latency.py [--count N]. Prints ack p50/p99/max in milliseconds,
then how long the last answer took to arrive and how many answers were errors: commands are
sent as fast as they are acked, so the bot's work (two audit rows and a reply each) queues up
behind the acks; none of it may fail.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import time
from dataclasses import dataclass

from labsim.lab import LAB_CHANNEL, Lab


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@dataclass(frozen=True)
class Answers:
    """What came back besides the acks."""

    last_after: float  # seconds from the first command to the last answer
    errors: int  # answers that were labbot's internal-error sentence


async def measure(count: int, concurrency: int) -> tuple[list[float], Answers]:
    latencies: list[float] = []
    async with Lab() as lab, lab.bot():
        await lab.slack.wait_connected()
        user = lab.slack.user(lab.users.admin)
        semaphore = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with semaphore:
                result = await user.slash("whoami", channel=LAB_CHANNEL)
                ack = await result.acked(timeout=10)
                latencies.append(ack.latency)

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        # Every command is answered (and the bot stops cleanly after).
        await lab.slack.wait_for(
            lambda: len(lab.slack.ephemerals(lab.users.admin)) >= count, timeout=300
        )
        last_after = time.perf_counter() - started
        answers = lab.slack.ephemerals(lab.users.admin)
        errors = sum("Something went wrong inside labbot" in a.all_text() for a in answers)
    return latencies, Answers(last_after, errors)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=1, help="commands in flight at once")
    args = parser.parse_args()
    started = time.perf_counter()
    latencies, answers = asyncio.run(measure(args.count, args.concurrency))
    elapsed = time.perf_counter() - started
    ms = [x * 1000 for x in latencies]
    print(
        f"machine: {platform.machine()} {platform.processor() or ''} python {sys.version.split()[0]}"
    )
    print(f"commands: {len(ms)} (concurrency {args.concurrency}) in {elapsed:.1f} s")
    print(
        f"ack latency ms: p50 {statistics.median(ms):.2f}  p99 {percentile(ms, 0.99):.2f}"
        f"  max {max(ms):.2f}"
    )
    print(f"last answer after {answers.last_after:.1f} s; error answers: {answers.errors}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

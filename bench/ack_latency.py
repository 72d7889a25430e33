"""Slash-command ack latency: 1,000 `/lab whoami` through the Slack emulator's Socket Mode.

Run: .venv/bin/python bench/ack_latency.py [--count N]. Prints p50/p99/max in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import time

from labsim.lab import LAB_CHANNEL, Lab


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def measure(count: int, concurrency: int) -> list[float]:
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

        await asyncio.gather(*(one() for _ in range(count)))
        # Let the replies drain before teardown so the bot stops cleanly.
        await lab.slack.wait_for(
            lambda: len(lab.slack.ephemerals(lab.users.admin)) >= count, timeout=120
        )
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=1, help="commands in flight at once")
    args = parser.parse_args()
    started = time.perf_counter()
    latencies = asyncio.run(measure(args.count, args.concurrency))
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
    return 0


if __name__ == "__main__":
    sys.exit(main())

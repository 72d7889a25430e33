"""Slash-command ack latency: 1,000 `/lab whoami` through the Slack emulator's Socket Mode.

Run: .venv/bin/python bench/ack_latency.py [--count N]. Prints ack p50/p99/max in milliseconds,
then how long the last answer took to arrive and how many answers were errors: commands are
sent as fast as they are acked, so the bot's work (two audit rows and a reply each) queues up
behind the acks; none of it may fail. Each command is written to the store (durable intake)
before it is acked, so the ack includes one SQLite commit.

With --sync-baseline, the same run is made first with SQLite's `synchronous=NORMAL` (WAL's
default: no fsync per commit) as the baseline, then with labbot's `synchronous=FULL` (every
commit on disk before it returns), and the cost of FULL is printed as ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

from bot import store
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


def normal_synchronous(connection: Any, record: object) -> None:
    """The baseline's SQLite settings: labbot's, but with synchronous=NORMAL."""
    FULL_SETTINGS(connection, record)
    cursor = connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


FULL_SETTINGS = store._sqlite_settings


def report(label: str, latencies: list[float], answers: Answers, elapsed: float) -> list[float]:
    ms = [x * 1000 for x in latencies]
    print(f"{label}: {len(ms)} commands in {elapsed:.1f} s")
    print(
        f"  ack latency ms: p50 {statistics.median(ms):.2f}  p99 {percentile(ms, 0.99):.2f}"
        f"  max {max(ms):.2f}"
    )
    print(f"  last answer after {answers.last_after:.1f} s; error answers: {answers.errors}")
    return ms


def compare(count: int, concurrency: int) -> int:
    runs = {}
    for label, settings in (("NORMAL", normal_synchronous), ("FULL", FULL_SETTINGS)):
        store._sqlite_settings = settings  # the engine's connect hook looks it up at create
        started = time.perf_counter()
        latencies, answers = asyncio.run(measure(count, concurrency))
        runs[label] = report(
            f"synchronous={label}", latencies, answers, time.perf_counter() - started
        )
    base, full = runs["NORMAL"], runs["FULL"]
    print(
        f"FULL / NORMAL: p50 {statistics.median(full) / statistics.median(base):.2f}"
        f"  p99 {percentile(full, 0.99) / percentile(base, 0.99):.2f}"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=1, help="commands in flight at once")
    parser.add_argument("--sync-baseline", action="store_true", help="NORMAL vs FULL")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()} {platform.processor() or ''} python {sys.version.split()[0]}"
    )
    if args.sync_baseline:
        return compare(args.count, args.concurrency)
    started = time.perf_counter()
    latencies, answers = asyncio.run(measure(args.count, args.concurrency))
    elapsed = time.perf_counter() - started
    report(f"concurrency {args.concurrency}", latencies, answers, elapsed)
    return 0


if __name__ == "__main__":
    sys.exit(main())

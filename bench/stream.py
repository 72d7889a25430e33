"""Streaming benchmark: jobs printing many lines into Slack threads, through the emulator.

The emulator enforces Slack's documented limits (labsim/slack/rate_limits.py): chat.update
50 a minute for the whole app, chat.postMessage about one a second per channel.

Default run: one job of --lines lines (default 200,000): thread updates per second per message
(target ≤ 1), 429s (target 0), the uploaded log byte-exact with the redacted output, the bot's
RSS growth (target < 30 MB); then ack latency p50/p99 of /lab whoami while 5 such jobs stream
(target p99 < 50 ms).

With --jobs N: N jobs stream at once, each printing --lines lines spread over --seconds
(default 90): 429s (target 0), the longest gap between refreshes of any live message (target
≤ 15 s), every final message and log correct, ack p99 of /lab whoami meanwhile (target < 50 ms).
Run: .venv/bin/python bench/stream.py [--lines N] [--acks N] [--jobs N --seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import platform
import statistics
import sys
import time
from pathlib import Path

import psutil
from ack_latency import percentile  # bench/ is on sys.path when a benchmark runs

from bot.redact import Redactor
from labsim.bot_process import BotProcess
from labsim.lab import LAB_CHANNEL, Lab
from labsim.slack import Message

BENCH_BOT = Path(__file__).with_name("bench_bot.py")
AGE_KEY = "AGE-SECRET-KEY-1" + "Q" * 58


def expected_log(count: int, secret: str) -> bytes:
    redactor = Redactor([secret])
    lines = []
    for i in range(count):
        if i % 1000 == 999:
            lines.append(f"line {i} token={secret} key={AGE_KEY}")
        else:
            lines.append(
                f"line {i} building /nix/store/0123456789abcdfghijklmnpqrsvwxyz-pkg-{i}.drv"
            )
    return redactor.redact("\n".join(lines) + "\n").encode()


def max_per_second(times: list[float]) -> int:
    best, start = 0, 0
    for end in range(len(times)):
        while times[end] - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


async def start_job(lab: Lab, text: str) -> int:
    user = lab.users.operator
    before = len(lab.slack.ephemerals(user))
    result = await lab.slack.user(user).slash(text, channel=LAB_CHANNEL)
    await result.acked()
    replies = await lab.slack.wait_for(lambda: lab.slack.ephemerals(user)[before:] or None, 30)
    return int(replies[0].text.removeprefix("Started job ").rstrip("."))


def job_messages(lab: Lab, job_id: int) -> list[Message]:
    root = next(
        m
        for m in lab.slack.messages(LAB_CHANNEL)
        if f"(job {job_id})" in m.text and m.thread_ts is None
    )
    return [root, *lab.slack.thread(LAB_CHANNEL, root.ts)]


async def one_job(lab: Lab, rss: psutil.Process, count: int) -> dict[str, float]:
    idle = rss.memory_info().rss
    peak = idle
    started = time.perf_counter()
    job_id = await start_job(lab, f"bench {count} solo")
    done = f"Job {job_id} succeeded"
    while not any(done in m.all_text() for m in job_messages(lab, job_id)):
        peak = max(peak, rss.memory_info().rss)
        try:
            await lab.slack.wait_for(
                lambda: any(done in m.all_text() for m in job_messages(lab, job_id)), 0.2
            )
        except TimeoutError:
            pass
    elapsed = time.perf_counter() - started
    files = await lab.slack.wait_for(lambda: lab.slack.files() or None, 60)
    per_second = 0
    for message in job_messages(lab, job_id):
        times = [message.posted_at] + [v.at for v in message.history]
        per_second = max(per_second, max_per_second(sorted(times)))
    updates = sum(m.updates for m in job_messages(lab, job_id))
    limited = len([c for c in lab.slack.calls() if c.status == 429])
    for call in lab.slack.calls():
        if call.status == 429:
            print(f"429 on {call.method} {call.params.get('ts', '')}")
    secret = lab.slack.bot_token
    exact = files[-1].content == expected_log(count, secret)
    leaked = any(
        secret in m.all_text() or AGE_KEY in m.all_text() for m in lab.slack.messages(LAB_CHANNEL)
    )
    return {
        "seconds": elapsed,
        "updates": updates,
        "max_updates_per_second_per_message": per_second,
        "http_429": limited,
        "log_byte_exact": float(exact),
        "secret_leaked": float(leaked),
        "rss_idle_mb": idle / 2**20,
        "rss_growth_mb": (peak - idle) / 2**20,
    }


async def acks_while_streaming(lab: Lab, count: int, acks: int) -> list[float]:
    jobs = [await start_job(lab, f"bench {count} k{i}") for i in range(5)]
    await lab.slack.wait_for(lambda: all(len(job_messages(lab, j)) > 1 for j in jobs), 30)
    latencies = []
    user = lab.slack.user(lab.users.admin)
    for _ in range(acks):
        result = await user.slash("whoami", channel=LAB_CHANNEL)
        latencies.append((await result.acked(timeout=10)).latency * 1000)
    return latencies


def live_message(lab: Lab, job_id: int) -> Message:
    """The thread reply the job's output streams into (the one edited most)."""
    return max(job_messages(lab, job_id)[1:], key=lambda m: m.updates)


async def many_jobs(
    lab: Lab, jobs: int, count: int, seconds: int, acks: int, verbose: bool = False
) -> None:
    ids = [await start_job(lab, f"bench {count} j{i} {seconds}") for i in range(jobs)]
    user = lab.slack.user(lab.users.admin)
    latencies = []
    # Acks spread over the jobs' run, while every stream competes for the budget.
    for _ in range(acks):
        result = await user.slash("whoami", channel=LAB_CHANNEL)
        latencies.append((await result.acked(timeout=10)).latency * 1000)
        await asyncio.sleep(seconds / acks)  # pacing the load generator, not awaiting an event

    def finished() -> bool:
        return all(
            any(f"Job {j} succeeded" in m.all_text() for m in job_messages(lab, j)) for j in ids
        )

    await lab.slack.wait_for(lambda: finished() or None, seconds * 4 + 120)
    await lab.slack.wait_for(lambda: len(lab.slack.files()) >= jobs or None, 120)
    worst_gap = 0.0
    correct = 0
    for job_id in ids:
        live = live_message(lab, job_id)
        times = sorted([live.posted_at] + [v.at for v in live.history])
        gaps = [b - a for a, b in itertools.pairwise(times)]
        worst_gap = max([worst_gap, *gaps])
        if verbose:
            start = min(c.at for c in lab.slack.calls())
            print(f"job {job_id}: refreshes at", " ".join(f"{t - start:.1f}" for t in times))
        final = live.all_text()
        if f"printed {count} lines, exit 0" in final and f"line {count - 1} " in final:
            correct += 1
    expected = expected_log(count, lab.slack.bot_token)
    exact_logs = sum(1 for f in lab.slack.files() if f.content == expected)
    limited = [c for c in lab.slack.calls() if c.status == 429]
    updates = len(lab.slack.calls("chat.update"))
    span = max(c.at for c in lab.slack.calls()) - min(c.at for c in lab.slack.calls())
    print(f"jobs streaming at once: {jobs}, {count} lines each over {seconds} s")
    print(f"http_429: {len(limited)}  ({', '.join(sorted({c.method for c in limited})) or 'none'})")
    print(f"chat.update calls: {updates} in {span:.0f} s = {updates / span * 60:.1f} a minute")
    print(f"longest gap between refreshes of a live message: {worst_gap:.1f} s (target <= 15)")
    print(f"final messages correct: {correct}/{jobs}; logs byte-exact: {exact_logs}/{jobs}")
    print(
        f"ack latency while {jobs} jobs stream ({acks} commands): "
        f"p50 {statistics.median(latencies):.2f} ms  p99 {percentile(latencies, 0.99):.2f} ms"
        f"  max {max(latencies):.2f} ms"
    )


async def run(count: int, acks: int, jobs: int, seconds: int, verbose: bool) -> None:
    async with Lab() as lab:
        async with BotProcess(lab, BENCH_BOT) as bot:
            if jobs:
                await many_jobs(lab, jobs, count, seconds, acks, verbose)
                return
            rss = psutil.Process(bot.pid)
            figures = await one_job(lab, rss, count)
            for key, value in figures.items():
                print(f"{key}: {value:.2f}")
            latencies = await acks_while_streaming(lab, count, acks)
            print(
                f"ack latency while 5 jobs stream ({acks} commands): p50 {statistics.median(latencies):.2f} ms"
                f"  p99 {percentile(latencies, 0.99):.2f} ms  max {max(latencies):.2f} ms"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--acks", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=0, help="stream this many jobs at once")
    parser.add_argument("--seconds", type=int, default=90, help="each job's run with --jobs")
    parser.add_argument("--verbose", action="store_true", help="print each live message's times")
    args = parser.parse_args()
    if args.jobs and args.lines == parser.get_default("lines"):
        args.lines = 3_000
    print(
        f"machine: {platform.machine()} {psutil.cpu_count()} cpu, python {sys.version.split()[0]}"
    )
    asyncio.run(run(args.lines, args.acks, args.jobs, args.seconds, args.verbose))
    return 0


if __name__ == "__main__":
    sys.exit(main())

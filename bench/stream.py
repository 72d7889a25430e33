"""Streaming benchmark: jobs printing many lines into Slack threads, through the emulator.

Measures, for one job of --lines lines (default 200,000): thread updates per second per message
(target ≤ 1), 429s (target 0, the emulator enforcing 1 update/s per message), the uploaded log
byte-exact with the redacted output, the bot's RSS growth (target < 30 MB); then ack latency
p50/p99 of /lab whoami while 5 such jobs stream (target p99 < 50 ms).
Run: .venv/bin/python bench/stream.py [--lines N] [--acks N]
"""

from __future__ import annotations

import argparse
import asyncio
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


async def run(count: int, acks: int) -> None:
    async with Lab() as lab:
        lab.slack.enforce_rate_limits(chat_update_per_sec_per_message=1.0, burst=1.0)
        async with BotProcess(lab, BENCH_BOT) as bot:
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
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()} {psutil.cpu_count()} cpu, python {sys.version.split()[0]}"
    )
    asyncio.run(run(args.lines, args.acks))
    return 0


if __name__ == "__main__":
    sys.exit(main())

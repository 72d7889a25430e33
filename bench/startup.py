"""Bot start to ready (target, bench/RESULTS.md: < 3 s): `labbot run` as a process, against the full simulated lab.

Run: .venv/bin/python bench/startup.py [--runs 5]

The lab (`Lab(full=True)`: Slack, BMC, GitHub, nodes) runs in this process; each run starts
`python -m bot.cli run -c <lab config>` afresh and times, from the spawn:
- connected: the Slack emulator sees the bot's Socket Mode connection;
- ready: the bot logs `labbot ready` (connected, jobs recovered, scheduler up, health serving);
- stop: from SIGTERM to the process's exit.
"cold" runs start without a database (labbot creates it); "warm" runs reuse the last one, as a
restart does. Figures: median and worst of `--runs` runs each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import statistics
import sys
import time
from dataclasses import dataclass

from labsim.lab import Lab

READY_LINE = b"labbot ready"
TIMEOUT = 60.0


@dataclass(frozen=True)
class Start:
    """One start of the bot, in seconds from the spawn."""

    connected: float
    ready: float
    stop: float


async def one_start(lab: Lab) -> Start:
    """Spawn `labbot run`, wait for the ready line and the connection, then stop it."""
    assert lab.directory is not None
    started = time.perf_counter()

    async def connected_after() -> float:
        await lab.slack.wait_connected(timeout=TIMEOUT)
        return time.perf_counter() - started

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        "-c",
        str(lab.config_path),
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
    )
    assert process.stderr is not None
    try:
        connected_task = asyncio.create_task(connected_after())
        async with asyncio.timeout(TIMEOUT):
            ready = None
            while ready is None:
                line = await process.stderr.readline()
                if not line:
                    raise RuntimeError(
                        "labbot exited before it was ready; run it by hand to see why"
                    )
                if READY_LINE in line:
                    ready = time.perf_counter() - started
            connected = await connected_task
        drain = asyncio.create_task(process.stderr.read())  # keep its pipe from filling
        stopping = time.perf_counter()
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), TIMEOUT)
        stop = time.perf_counter() - stopping
        await drain
        if process.returncode != 0:
            raise RuntimeError(f"labbot exited with {process.returncode} on SIGTERM")
        await lab.slack.wait_for(lambda: not lab.slack.connected, timeout=15)
        return Start(connected=connected, ready=ready, stop=stop)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def measure(runs: int) -> dict[str, list[Start]]:
    """`runs` cold and `runs` warm starts against one lab."""
    results: dict[str, list[Start]] = {"cold": [], "warm": []}
    async with Lab(full=True) as lab:
        assert lab.directory is not None
        database = lab.directory / "state" / "labbot.sqlite"
        await one_start(lab)  # warm the file cache (Python's imports) before measuring
        for _ in range(runs):
            for path in (database, *database.parent.glob(database.name + "-*")):  # -wal, -shm
                path.unlink(missing_ok=True)
            results["cold"].append(await one_start(lab))
        for _ in range(runs):
            results["warm"].append(await one_start(lab))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    results = asyncio.run(measure(args.runs))
    print("| start | connected (median / worst) | ready (median / worst) | stop on SIGTERM |")
    print("|---|---|---|---|")
    for name, starts in results.items():
        connected = [s.connected for s in starts]
        ready = [s.ready for s in starts]
        stop = [s.stop for s in starts]
        print(
            f"| {name} | {statistics.median(connected):.2f} / {max(connected):.2f} s "
            f"| {statistics.median(ready):.2f} / {max(ready):.2f} s "
            f"| {statistics.median(stop):.2f} / {max(stop):.2f} s |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

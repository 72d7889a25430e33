"""Digest wall time for 1 and for 24 simulated nodes (target, bench/RESULTS.md: 24 nodes ≤ 1.5 × one node).

Run: .venv/bin/python bench/digest.py [--nodes 1 24] [--runs 5] [--node-latency 0 0.5]

Each lab is `Lab(full=True)` with N nodes over real sshd, the GitHub emulator with one open
Renovate PR, and labbot connected to the Slack emulator. A Turing Pi board has four slots and
labbot's config wants a BMC per board, so N nodes sit on ceil(N/4) boards: the lab's own BMC
emulator drives the first, and `labsim/boards.py` starts one more `BmcEmulator` per further board
and writes the config for them (inventory inline: board, slot, host, port per node).

Figures per lab, each the median of `--runs` runs after one warm-up run, 5 s apart (a nightly
digest finds the channel's posting allowance full; back to back, Slack's pacing would count):
- digest: `scheduler.run("digest")` end to end (gather every source, judge, post the summary
  and its thread to the Slack emulator, store the snapshot) — the figure the target is about;
  labbot keeps its SSH connections to the nodes between reads (`Services.ssh_readers`), so
  these runs reuse the logins the warm-up made;
- first: the warm-up run, the first digest after labbot started: one SSH login per node;
- nodes: `LabSnapshotCollector.collect(all nodes)`, i.e. the BMCs and one SSH command per
  node, without GitHub, the store or Slack.
`--node-latency S` makes every simulated node wait S seconds before it answers a command
(labsim's `hang_commands`), standing in for the time a real node takes to run the commands;
with 0 each answer costs only the simulator's own CPU, which 24 nodes share with everything
else on this machine (two cores here), so the 24-node figure there measures the simulator.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass

import psutil

from bot.app import LabBot
from bot.config import Config
from handlers.status.digest import SCHEDULE_NAME
from handlers.status.lab_snapshot import LabSnapshotCollector
from labsim.bmc import BmcEmulator
from labsim.boards import board_specs, boards_config, start_board_bmcs
from labsim.lab import LAB_CHANNEL, Lab

PAUSE_SECONDS = 5.0  # between runs: the channel's posting allowance refills (see measure)
SHELL_SERVER = "labsim.nodes.shell_server"


@dataclass(frozen=True)
class Figures:
    """Medians of one lab's runs, in seconds."""

    nodes: int
    latency: float
    digest: float
    first: float
    gather: float
    digest_runs: tuple[float, ...]
    own_cpu: float  # this process (labbot and the in-process emulators) per digest
    node_cpu: float  # sshd and the simulated nodes' shells per digest


def bench_config(lab: Lab, bmcs: list[BmcEmulator]) -> Config:
    """The lab's config with one board (and BMC) per four nodes (`labsim/boards.py`)."""
    return Config.model_validate(boards_config(lab, bmcs))


async def measure(count: int, runs: int, latency: float) -> Figures:
    """Start a lab of `count` nodes and time the digest and the node gathering."""
    async with AsyncExitStack() as stack:
        lab = await stack.enter_async_context(Lab(full=True, node_specs=board_specs(count)))
        assert lab.bmc is not None and lab.cluster is not None and lab.github is not None
        bmcs = await start_board_bmcs(lab, stack)
        await lab.github.open_renovate_pr()
        for node in lab.cluster.nodes:
            node.hang_commands(latency)
        config = bench_config(lab, bmcs)
        bot = await stack.enter_async_context(LabBot(config))
        await lab.slack.wait_connected()
        collector = LabSnapshotCollector(config, bot.jobs.services, bot.store)
        names = [n.name for n in config.inventory.nodes]
        digest_times: list[float] = []
        first = 0.0
        gather_times: list[float] = []
        own_cpu: list[float] = []
        node_cpu: list[float] = []
        for run in range(runs + 1):
            if run > 0:
                # A nightly digest finds the channel's chat.postMessage allowance full (labbot's
                # budget: a burst of 4, refilled at 55 a minute, bot/slack_budget.py); digests
                # back to back would measure that pacing instead, more with every run.
                await asyncio.sleep(PAUSE_SECONDS)
            posted = len(lab.slack.messages(LAB_CHANNEL))
            cpu_before, sim_before = time.process_time(), simulator_cpu()
            started = time.perf_counter()
            await bot.scheduler.run(SCHEDULE_NAME)
            took = time.perf_counter() - started
            own, sim = time.process_time() - cpu_before, simulator_cpu() - sim_before
            if len(lab.slack.messages(LAB_CHANNEL)) == posted:
                raise RuntimeError("the digest posted nothing; see the log")
            started = time.perf_counter()
            snapshot = await collector.collect(names)
            gathered = time.perf_counter() - started
            unreachable = [n.name for n in snapshot.nodes if not n.reachable]
            if unreachable:
                raise RuntimeError(f"nodes did not answer: {unreachable}")
            if run == 0:  # the first run logs in to every node and warms up connections
                first = took
            else:
                digest_times.append(took)
                gather_times.append(gathered)
                own_cpu.append(own)
                node_cpu.append(sim)
        return Figures(
            nodes=count,
            latency=latency,
            digest=statistics.median(digest_times),
            first=first,
            gather=statistics.median(gather_times),
            digest_runs=tuple(digest_times),
            own_cpu=statistics.median(own_cpu),
            node_cpu=statistics.median(node_cpu),
        )


def simulator_cpu() -> float:
    """CPU seconds used so far by the simulated nodes: the sshd processes (with the clients
    they ran and reaped) and the shell server (with the node shells it forked and reaped)."""
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            if child.name() != "sshd" and SHELL_SERVER not in child.cmdline():
                continue
            times = child.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
        except psutil.NoSuchProcess:
            continue
    return total


async def main_async(counts: list[int], runs: int, latencies: list[float]) -> list[Figures]:
    results = []
    for latency in latencies:
        for count in counts:
            results.append(await measure(count, runs, latency))
            figures = results[-1]
            print(
                f"  {figures.nodes:3d} nodes, node latency {latency:g} s: digest "
                f"{figures.digest:.3f} s (first {figures.first:.3f} s), nodes "
                f"{figures.gather:.3f} s, CPU: this process "
                f"{figures.own_cpu:.2f} s, simulated nodes {figures.node_cpu:.2f} s "
                f"(digest runs: {', '.join(f'{t:.2f}' for t in figures.digest_runs)})",
                flush=True,
            )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 24])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--node-latency", type=float, nargs="+", default=[0.0, 0.5])
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    results = asyncio.run(main_async(args.nodes, args.runs, args.node_latency))
    print(
        "| node latency | nodes | digest (median) | digest ÷ 1-node | first digest (logins) "
        "| first ÷ 1-node first | nodes+BMC gather | CPU: this process | CPU: simulated nodes |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for figures in results:
        base = next(
            (r for r in results if r.latency == figures.latency and r.nodes == min(args.nodes)),
            figures,
        )
        print(
            f"| {figures.latency:g} s | {figures.nodes} | {figures.digest:.2f} s "
            f"| {figures.digest / base.digest:.2f} × | {figures.first:.2f} s "
            f"| {figures.first / base.first:.2f} × | {figures.gather:.2f} s "
            f"| {figures.own_cpu:.2f} s | {figures.node_cpu:.2f} s |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

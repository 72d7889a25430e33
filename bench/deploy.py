"""Deploy wall time for 1 and for 24 simulated nodes (target, bench/RESULTS.md: 24 nodes ≤ 1.5 × one node).

Run: .venv/bin/python bench/deploy.py [--nodes 1 24] [--runs 3] [--node-latency 0.5]
                                      [--parallel 2 10 0]

Each lab is the one `bench/digest.py` builds: `Lab(full=True)` with N nodes over real sshd, one
board (and BMC emulator) per four nodes, labbot in this process connected to the Slack emulator.
One run is a whole `/lab deploy all` through Slack: the slash command, the plan (record each
node's generation over SSH, `colmena build`, closure diffs), the approval click, the rebuild
check, `colmena apply switch`, the health gate on every node and the verdict in the thread.
Before each run a shared file of the infra checkout changes, so every node has a new system.

`--node-latency S` makes every simulated node wait S seconds before it answers any SSH command
(labsim's `hang_commands`: labbot's and the colmena double's alike) and the colmena double take
S seconds to build each node's system (its `build_delay` knob, inside the node's `--parallel`
permit as in colmena). `--parallel` is `colmena.parallel` in labbot's config (passed as `-p`;
0 is colmena's "no limit"); labbot's default is 2, colmena's own 10. `--ssh-kex curve25519-sha256`
adds `KexAlgorithms` to the SSH client config the colmena double's `ssh` reads (`-F`): OpenSSH
9's default key exchange (sntrup761x25519) costs its client ~85 ms of CPU per login here, and
colmena logs in four times per node (push: two commands, activation: two), so on two cores
shared with 24 simulated nodes the 24-node figure otherwise measures OpenSSH's handshakes.

Figures per lab and setting, the median of `--runs` runs after one warm-up run: "deploy" from
the slash command to the verdict in the thread; "to approval" from the command to the approval
message; "apply" from the click to the verdict.
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

from digest import bench_config, simulator_cpu

from bot.app import LabBot
from labsim.boards import board_specs, start_board_bmcs
from labsim.lab import LAB_CHANNEL, Lab
from labsim.slack import Message

RUN_FILE = "bench-run.nix"  # a shared file: every node's system depends on it
SHOW_THREAD = bool(os.environ.get("BENCH_SHOW_THREAD"))  # print each job's thread


@dataclass(frozen=True)
class Figures:
    """Medians of one lab's runs, in seconds."""

    nodes: int
    latency: float
    parallel: int
    deploy: float
    plan: float
    apply: float
    runs: tuple[float, ...]
    own_cpu: float  # this process (labbot, the Slack and BMC emulators) per deploy
    tool_cpu: float  # the colmena and nix doubles with the ssh clients they ran
    node_cpu: float  # sshd and the simulated nodes' shells


def thread_of(lab: Lab, job_id: int) -> list[Message]:
    """The job's thread (root first), or [] before its root is posted."""
    for message in lab.slack.messages(LAB_CHANNEL):
        if message.thread_ts is None and f"(job {job_id})" in message.text:
            return lab.slack.thread(LAB_CHANNEL, message.ts)
    return []


async def deploy_once(lab: Lab, run: int) -> tuple[float, float, float]:
    """One `/lab deploy all`, approved at once; (whole, to approval, apply) in seconds."""
    (lab.flake_dir / RUN_FILE).write_text(
        f'{{ ... }}:\n{{ environment.etc."bench".text = "{run}"; }}\n'
    )
    user = lab.users.operator
    before = len(lab.slack.ephemerals(user))
    started = time.perf_counter()
    result = await lab.slack.user(user).slash("deploy all", channel=LAB_CHANNEL)
    await result.acked()
    [reply] = await lab.slack.wait_for(lambda: lab.slack.ephemerals(user)[before:] or None, 30)
    if not reply.text.startswith("Started job "):
        raise RuntimeError(f"the deploy did not start: {reply.text}")
    job_id = int(reply.text.removeprefix("Started job ").rstrip("."))

    def approval() -> Message | None:
        for message in thread_of(lab, job_id):
            if any(b.action_id == "labbot:approve" for b in message.buttons()):
                return message
            if f"Job {job_id} " in message.text and "succeeded" in message.text:
                raise RuntimeError(f"job {job_id} had nothing to deploy")
        return None

    prompt = await lab.slack.wait_for(approval, 600)
    planned = time.perf_counter()
    clicked = await lab.slack.user(lab.users.operator2).click(prompt, "labbot:approve")
    await clicked.acked()
    verdicts = (f"Job {job_id} succeeded", f"Job {job_id} failed", f"Job {job_id} rolled back")

    def verdict() -> str | None:
        text = "\n".join(m.all_text() for m in thread_of(lab, job_id))
        return next((v for v in verdicts if v in text), None)

    said = await lab.slack.wait_for(verdict, 600)
    ended = time.perf_counter()
    if said != verdicts[0] or SHOW_THREAD:
        text = "\n".join(m.all_text() for m in thread_of(lab, job_id))
        print(text if SHOW_THREAD else text[-3000:], flush=True)
        if said != verdicts[0]:
            raise RuntimeError(f"job {job_id}: {said}")
    return ended - started, planned - started, ended - planned


async def measure(count: int, runs: int, latency: float, parallel: int, kex: str) -> Figures:
    """Start a lab of `count` nodes and time whole deploys."""
    async with AsyncExitStack() as stack:
        lab = await stack.enter_async_context(Lab(full=True, node_specs=board_specs(count)))
        assert lab.cluster is not None
        bmcs = await start_board_bmcs(lab, stack)
        for node in lab.cluster.nodes:
            node.hang_commands(latency)
        if kex:
            with lab.cluster.ssh_config_path.open("a") as config_file:
                config_file.write(f"    KexAlgorithms {kex}\n")
        (lab.flake_dir / ".labsim-colmena.json").write_text(f'{{"build_delay": {latency}}}')
        config = bench_config(lab, bmcs)
        config = config.model_copy(
            update={"colmena": config.colmena.model_copy(update={"parallel": parallel})}
            if config.colmena is not None
            else {}
        )
        await stack.enter_async_context(LabBot(config))
        await lab.slack.wait_connected()
        times: list[tuple[float, float, float]] = []
        cpu: list[tuple[float, float, float]] = []
        for run in range(runs + 1):
            own, tools, nodes = time.process_time(), reaped_cpu(), simulator_cpu()
            took = await deploy_once(lab, run)
            if run > 0:  # the first run warms up logins, the node list cache and the store
                times.append(took)
                cpu.append(
                    (
                        time.process_time() - own,
                        reaped_cpu() - tools,
                        simulator_cpu() - nodes,
                    )
                )
        return Figures(
            nodes=count,
            latency=latency,
            parallel=parallel,
            deploy=statistics.median(t[0] for t in times),
            plan=statistics.median(t[1] for t in times),
            apply=statistics.median(t[2] for t in times),
            runs=tuple(t[0] for t in times),
            own_cpu=statistics.median(c[0] for c in cpu),
            tool_cpu=statistics.median(c[1] for c in cpu),
            node_cpu=statistics.median(c[2] for c in cpu),
        )


def reaped_cpu() -> float:
    """CPU seconds of this process's children that ended (labbot runs the colmena and nix
    doubles as child processes; each reaps the ssh clients it ran)."""
    times = os.times()
    return times.children_user + times.children_system


async def main_async(
    counts: list[int], runs: int, latencies: list[float], parallels: list[int], kex: str
) -> list[Figures]:
    results = []
    for latency in latencies:
        for parallel in parallels:
            for count in counts:
                figures = await measure(count, runs, latency, parallel, kex)
                results.append(figures)
                print(
                    f"  {count:3d} nodes, node latency {latency:g} s, -p {parallel}: deploy "
                    f"{figures.deploy:.2f} s (to approval {figures.plan:.2f} s, apply "
                    f"{figures.apply:.2f} s; runs: {', '.join(f'{t:.2f}' for t in figures.runs)}; "
                    f"CPU: this process {figures.own_cpu:.2f} s, colmena/nix doubles "
                    f"{figures.tool_cpu:.2f} s, simulated nodes {figures.node_cpu:.2f} s)",
                    flush=True,
                )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 24])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--node-latency", type=float, nargs="+", default=[0.5])
    parser.add_argument("--parallel", type=int, nargs="+", default=[2])
    parser.add_argument("--ssh-kex", default="", help="KexAlgorithms for colmena's ssh")
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    results = asyncio.run(
        main_async(args.nodes, args.runs, args.node_latency, args.parallel, args.ssh_kex)
    )
    print(f"colmena's ssh key exchange: {args.ssh_kex or 'OpenSSH default'}")
    print(
        "| node latency | colmena -p | nodes | deploy (median) | to approval | apply | deploy ÷ 1-node |"
    )
    print("|---|---|---|---|---|---|---|")
    for figures in results:
        base = next(
            (
                r
                for r in results
                if (r.latency, r.parallel) == (figures.latency, figures.parallel)
                and r.nodes == min(args.nodes)
            ),
            figures,
        )
        print(
            f"| {figures.latency:g} s | {figures.parallel} | {figures.nodes} "
            f"| {figures.deploy:.2f} s | {figures.plan:.2f} s | {figures.apply:.2f} s "
            f"| {figures.deploy / base.deploy:.2f} × |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

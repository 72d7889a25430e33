"""GitHub rate limit spent per Renovate poll (target, bench/RESULTS.md: unchanged poll ≤ 2 requests).

Run: .venv/bin/python bench/renovate_poll.py [--prs 1 10 50] [--unchanged 3]

Each lab is `Lab(full=True)` (the GitHub emulator with the infra repo, Slack, labbot in this
process) with N open Renovate PRs, each with a green required check. Every poll is the scheduled
check itself (`scheduler.run("renovate-check")`: list the PRs, read each PR, its files, CI and
flake.lock, post or update its card). Per lab, in order:
- first: the bot has read nothing yet, as every poll was before conditional requests;
- unchanged: `--unchanged` polls with nothing changed (figures: the worst of them);
- one PR pushed: one PR got a new commit (new head: new CI, a new flake.lock);
- one PR's CI: the first PR's required check on its current head reports failure;
- unchanged again: one more poll after those.

Figures per poll, from the emulator's request records (it charges the primary rate limit as
GitHub does: every request but a `304 Not Modified` and `GET /rate_limit`): requests counted
against the rate limit, requests sent (counted or not), and counted ÷ the first poll's counted.
Request spacing is off (`seconds_between_requests=0`): the counts do not depend on it, and the
wall time is given for the simulator only; with GitHub's advised 0.25 s between requests a poll
takes at least `sent × 0.25 s` more.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass

import bot.integrations.github as github_client
from bot.app import LabBot
from bot.integrations.github import GitHubTuning
from handlers.renovate.board import SCHEDULE_NAME
from labsim.lab import LAB_CHANNEL, Lab

REQUIRED = "nix flake check"
# GitHubClient's defaults without the request spacing; mergeability is still computed lazily
# by the emulator (null on the first GET after a change), as on GitHub.
TUNING = GitHubTuning(
    seconds_between_requests=0, seconds_between_writes=0, mergeable_retry_delay=0.05
)


@dataclass(frozen=True)
class Poll:
    """One scheduled check: what it cost against GitHub's rate limit."""

    prs: int
    name: str
    counted: int
    sent: int
    seconds: float
    edited: int  # Slack messages posted or edited by the poll


def cards_state(lab: Lab) -> list[tuple[str, int]]:
    return [(m.ts, m.updates) for m in lab.slack.messages(LAB_CHANNEL)]


async def poll(lab: Lab, bot: LabBot, prs: int, name: str) -> Poll:
    """Run the Renovate check once and count its GitHub requests."""
    assert lab.github is not None
    mark = len(lab.github.requests())
    before = cards_state(lab)
    started = time.perf_counter()
    await bot.scheduler.run(SCHEDULE_NAME)
    took = time.perf_counter() - started
    made = lab.github.requests()[mark:]
    edited = len(set(cards_state(lab)) - set(before))
    return Poll(prs, name, sum(r.counted for r in made), len(made), took, edited)


async def measure(prs: int, unchanged: int) -> list[Poll]:
    """Start a lab with `prs` open Renovate PRs and poll it through the scenario above."""
    async with AsyncExitStack() as stack:
        lab = await stack.enter_async_context(
            Lab(full=True, config_overrides={"github": {"required_checks": [REQUIRED]}})
        )
        gh = lab.github
        assert gh is not None
        opened = []
        for n in range(prs):
            pr = await gh.open_renovate_pr(branch=f"renovate/nixpkgs-{n}")
            gh.set_check_run(pr.head_sha, REQUIRED, "completed", "success")
            opened.append(pr)
        bot = await stack.enter_async_context(lab.bot())
        await lab.slack.wait_connected()
        polls = [await poll(lab, bot, prs, "first")]
        if polls[0].edited != prs:
            raise RuntimeError(f"the first poll drew {polls[0].edited} cards, not {prs}")
        quiet = [await poll(lab, bot, prs, "unchanged") for _ in range(unchanged)]
        polls.append(max(quiet, key=lambda p: (p.counted, p.seconds)))
        middle = opened[len(opened) // 2]
        await gh.push_commit_to_pr(middle.number, {"README.md": "a new commit\n"})
        polls.append(await poll(lab, bot, prs, "one PR pushed"))
        # The first PR's current head (with one PR, the one just pushed: its new head).
        gh.set_check_run(
            gh.pull_request(opened[0].number).head_sha, REQUIRED, "completed", "failure"
        )
        polls.append(await poll(lab, bot, prs, "one PR's CI"))
        polls.append(await poll(lab, bot, prs, "unchanged again"))
        for quiet_poll in [*quiet, polls[-1]]:
            if quiet_poll.edited:
                raise RuntimeError("an unchanged poll posted or edited a Slack message")
        return polls


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


async def main_async(sizes: list[int], unchanged: int) -> list[Poll]:
    results: list[Poll] = []
    for prs in sizes:
        polls = await measure(prs, unchanged)
        results.extend(polls)
        for p in polls:
            print(
                f"  {prs:3d} PRs, {p.name:16s}: {p.counted:4d} counted, {p.sent:4d} sent, "
                f"{p.seconds:6.2f} s, {p.edited} Slack edits",
                flush=True,
            )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prs", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--unchanged", type=int, default=3)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()} {os.cpu_count()} CPUs ({cpu_model()}), "
        f"python {sys.version.split()[0]}"
    )
    # The bot builds its GitHubClient with GitHubTuning() (bot/services.py): give it TUNING.
    github_client.GitHubTuning = lambda: TUNING  # type: ignore[assignment,misc]
    results = asyncio.run(main_async(args.prs, args.unchanged))
    print(
        "| open PRs | poll | counted requests | requests sent (304s free) | counted per PR "
        "| ÷ first poll | Slack edits | wall time (no spacing) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for p in results:
        first = next(r for r in results if r.prs == p.prs and r.name == "first")
        print(
            f"| {p.prs} | {p.name} | {p.counted} | {p.sent} | {p.counted / p.prs:.2f} "
            f"| {p.counted / first.counted:.3f} × | {p.edited} | {p.seconds:.2f} s |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

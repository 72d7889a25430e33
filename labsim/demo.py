"""`labbot demo`: the simulated lab and the real bot, with a terminal Slack client in front.

Everything runs in this process on loopback; stopping the demo stops every part of the lab.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from labsim.lab import LAB_CHANNEL, Lab
from labsim.terminal import SlackTerminal

DEMO_CHECK = "nix flake check"
DIGEST_SCHEDULE = "digest"  # the status capability's schedule name


async def seed_renovate_prs(lab: Lab) -> None:
    """Three Renovate PRs as a real infra repo has them: one green, one with failing CI, one
    that conflicts with main. `/lab renovate check` (or the schedule) turns them into cards."""
    github = lab.github
    assert github is not None
    green = await github.open_renovate_pr(input_name="nixpkgs")
    github.set_check_run(green.head_sha, DEMO_CHECK, "completed", "success")
    failing = await github.open_renovate_pr(input_name="sops-nix")
    github.set_check_run(failing.head_sha, DEMO_CHECK, "completed", "failure")
    conflicting = await github.open_renovate_pr(input_name="nixos-generators")
    github.set_check_run(conflicting.head_sha, DEMO_CHECK, "completed", "success")
    github.set_mergeable(conflicting.number, False, "dirty")


async def demo(
    keep: bool = False, out: TextIO = sys.stdout, read_line: Callable[[], str] | None = None
) -> None:
    """Start the lab and the bot, run the terminal until the user quits, then tear down."""
    directory = Path(tempfile.mkdtemp(prefix="labbot-demo-"))
    # Nodes take a few seconds to boot, so power actions and flashes look as they would.
    lab = Lab(directory=directory, full=True, boot_seconds=3.0)
    try:
        async with lab:
            out.write(f"Simulated lab in {directory}\n")
            async with lab.bot() as bot:
                await lab.slack.wait_connected()
                await bot.ready.wait()
                await seed_renovate_prs(lab)
                u = lab.users
                users = {
                    "admin": u.admin,
                    "admin2": u.admin2,
                    "operator": u.operator,
                    "operator2": u.operator2,
                    "viewer": u.viewer,
                    "stranger": u.stranger,
                }
                terminal = SlackTerminal(
                    lab.slack,
                    LAB_CHANNEL,
                    users,
                    "admin",
                    out,
                    read_line,
                    # What the nightly schedule does, at the keyboard's request.
                    extra={":digest": lambda: bot.scheduler.run(DIGEST_SCHEDULE)},
                )
                await terminal.run()
    finally:
        if keep:
            out.write(f"Kept the lab's files in {directory}\n")
        else:
            shutil.rmtree(directory, ignore_errors=True)


def run_demo(keep: bool = False) -> int:
    """Entry point of `labbot demo`."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(demo(keep))
    except KeyboardInterrupt:
        pass
    print("Demo stopped; nothing is left running.")
    return 0

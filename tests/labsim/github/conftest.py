"""Fixtures for the GitHub emulator tests: a seeded emulator, PyGithub clients, a git runner."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from github import Auth, Github

from labsim.github import GitHubEmulator

GitRunner = Callable[..., Awaitable[str]]
ClientFactory = Callable[..., Github]


@pytest.fixture
async def gh() -> AsyncIterator[GitHubEmulator]:
    """A started emulator with homelab/thelab-infra seeded from the default files."""
    async with GitHubEmulator() as emulator:
        await emulator.seed_infra_repo()
        yield emulator


@pytest.fixture
def connect(gh: GitHubEmulator) -> Iterator[ClientFactory]:
    """Build real PyGithub clients against the emulator (closed at teardown).

    PyGithub is synchronous: tests call it through asyncio.to_thread only.
    """
    clients: list[Github] = []

    def make(**kwargs: Any) -> Github:
        kwargs.setdefault("auth", Auth.Token("ghp_emulatortoken"))
        kwargs.setdefault("retry", None)
        client = Github(
            base_url=gh.api_url, seconds_between_requests=0, seconds_between_writes=0, **kwargs
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def git() -> GitRunner:
    """Run `git args...` (argv list, isolated from user config) and return its stdout."""

    async def run(*args: str, cwd: Path | None = None) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_TERMINAL_PROMPT="0")
        proc = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=cwd,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, f"git {args} failed: {err.decode()}"
        return out.decode().strip()

    return run

"""GitHubClient's conditional reads against the GitHub emulator: 304s re-use what was read.

What is counted is what the emulator charged against its primary rate limit (GitHub does not
charge a 304), from its request records.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from github import Auth, Github, UnknownObjectException
from github.Requester import Requester

from bot.config import GitHubConfig, SecretSource
from bot.integrations.github import CiVerdict, GitHubClient, GitHubTuning
from bot.integrations.github_conditional import ConditionalReads
from handlers.renovate.pull_request import gather_card
from labsim.github import GitHubEmulator, RequestRecord

REPO = "homelab/thelab-infra"
FAST = GitHubTuning(
    http_timeout=5,
    call_timeout=20,
    seconds_between_requests=0,
    seconds_between_writes=0,
    backoff_factor=0,
    mergeable_retry_delay=0.01,
)


@pytest.fixture
async def gh() -> AsyncIterator[GitHubEmulator]:
    async with GitHubEmulator() as emulator:
        await emulator.seed_infra_repo()
        emulator.set_mergeable_delay(0)
        yield emulator


def client_for(gh: GitHubEmulator, tmp_path: Path, tuning: GitHubTuning = FAST) -> GitHubClient:
    secret = tmp_path / "github-token"
    secret.write_text("ghp_emulatortoken\n")
    config = GitHubConfig(repo=REPO, base_url=gh.api_url, token=SecretSource(file=secret))
    return GitHubClient(config, tuning)


def since(gh: GitHubEmulator, mark: int) -> list[RequestRecord]:
    return gh.requests()[mark:]


async def test_an_unchanged_card_is_read_with_304s_only(gh: GitHubEmulator, tmp_path: Path) -> None:
    pr = await gh.open_renovate_pr()
    gh.set_check_run(pr.head_sha, "nix flake check", "completed", "success")
    async with client_for(gh, tmp_path) as client:
        first = await gather_card(client, pr.number)
        assert first.changes and first.ci.verdict is CiVerdict.green
        mark = len(gh.requests())
        again = await gather_card(client, pr.number)
        polled = since(gh, mark)
    assert dataclasses.replace(again, gathered_at=first.gathered_at) == first
    assert polled, "the PR, its files and its CI are asked for again"
    assert all(r.method == "GET" and r.conditional and r.status == 304 for r in polled), polled
    assert sum(r.counted for r in polled) == 0
    # flake.lock at the base and head shas cannot change: it is not asked for again.
    assert not any("/contents/" in r.path for r in polled)


async def test_what_changed_is_read_again(gh: GitHubEmulator, tmp_path: Path) -> None:
    pr = await gh.open_renovate_pr()
    async with client_for(gh, tmp_path) as client:
        before = await gather_card(client, pr.number)
        assert before.ci.verdict is CiVerdict.no_checks
        assert [p.title for p in await client.list_renovate_prs()] == [pr.title]

        gh.set_check_run(pr.head_sha, "nix flake check", "completed", "failure")
        mark = len(gh.requests())
        failing = await client.ci(pr.head_sha)
        assert failing.verdict is CiVerdict.failing
        fresh = [r.path.rsplit("/", 1)[-1] for r in since(gh, mark) if r.status == 200]
        assert fresh == ["check-runs"], "the combined status did not change: a 304"

        new_head = await gh.push_commit_to_pr(pr.number, {"README.md": "moved\n"})
        mark = len(gh.requests())
        after = await gather_card(client, pr.number)
        assert after.head_sha == new_head and after.ci.verdict is CiVerdict.no_checks
        counted = [r for r in since(gh, mark) if r.counted]
        assert all(r.status == 200 for r in counted)
        # The PR and its files changed; the new head's CI and flake.lock are new resources;
        # flake.lock at the unchanged base is remembered.
        assert sorted(r.path.rsplit("/", 1)[-1] for r in counted) == sorted(
            [str(pr.number), "files", "status", "check-runs", "flake.lock"]
        )
        assert all(new_head in r.query for r in counted if r.path.endswith("flake.lock"))

        gh.pull_request(pr.number).title = "chore(deps): renamed"
        mark = len(gh.requests())
        [listed] = await client.list_renovate_prs()
        assert listed.title == "chore(deps): renamed"
        assert [(r.status, r.conditional) for r in since(gh, mark)] == [(200, True)]


async def test_every_page_of_the_pr_list_is_conditional(gh: GitHubEmulator, tmp_path: Path) -> None:
    opened = [await gh.open_renovate_pr(branch=f"renovate/nixpkgs-{n}") for n in range(3)]
    small_pages = dataclasses.replace(FAST, per_page=2)
    async with client_for(gh, tmp_path, small_pages) as client:
        listed = await client.list_renovate_prs()
        assert [p.number for p in listed] == [p.number for p in opened], "oldest first"
        mark = len(gh.requests())
        assert await client.list_renovate_prs() == listed
        assert [(r.status, r.counted) for r in since(gh, mark)] == [(304, False), (304, False)]

        newest = await gh.open_renovate_pr(input_name="sops-nix")
        mark = len(gh.requests())
        grown = await client.list_renovate_prs()
        assert [p.number for p in grown] == [p.number for p in opened] + [newest.number]
        assert all(r.status == 200 for r in since(gh, mark)), "each page moved by one"

        await gh.close_pr(opened[0].number)
        assert [p.number for p in await client.list_renovate_prs()] == [
            p.number for p in opened[1:]
        ] + [newest.number]


async def test_reads_beyond_capacity_are_forgotten_and_errors_raise_as_in_pygithub(
    gh: GitHubEmulator,
) -> None:
    pr = await gh.open_renovate_pr()
    github = Github(auth=Auth.Token("ghp_emulatortoken"), base_url=gh.api_url, retry=None)
    reads = ConditionalReads(capacity=1)
    files = f"/repos/{REPO}/pulls/{pr.number}/files"
    status = f"/repos/{REPO}/commits/{pr.head_sha}/status"

    def names(requester: Requester, headers: dict[str, Any], data: Any) -> list[str]:
        return [item["filename"] for item in data]

    def read(url: str) -> list[str]:
        return reads.listing(github.requester, url, names)

    try:
        assert await asyncio.to_thread(read, files) == ["flake.lock"]
        assert await asyncio.to_thread(read, files) == ["flake.lock"]
        await asyncio.to_thread(reads.document, github.requester, status, lambda *_: None)
        assert await asyncio.to_thread(read, files) == ["flake.lock"], "forgotten: read again"
        with pytest.raises(UnknownObjectException):
            await asyncio.to_thread(read, f"/repos/{REPO}/pulls/999/files")
    finally:
        github.close()
    asked = [(r.status, r.conditional) for r in gh.requests() if r.path == files]
    assert asked == [(200, False), (304, True), (200, False)]

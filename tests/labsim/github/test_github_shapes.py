"""Response shapes: `url` fields PyGithub can follow, lazy completion, smaller endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
from github import Github, GithubException

from labsim.github import GitHubEmulator

ClientFactory = Callable[..., Github]
REPO = "homelab/thelab-infra"


def _urls(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _urls(v, k)
    elif isinstance(value, list):
        for item in value:
            yield from _urls(item, key)
    elif isinstance(value, str) and (key == "url" or key.endswith("_url") or key == "href"):
        yield key, value


async def test_every_url_field_is_under_the_exact_base_url(gh: GitHubEmulator) -> None:
    pr = await gh.open_renovate_pr()
    gh.set_status(pr.head_sha, "ci", "success")
    gh.set_check_run(pr.head_sha, "build")
    paths = [
        f"/repos/{REPO}",
        f"/repos/{REPO}/pulls",
        f"/repos/{REPO}/pulls/{pr.number}",
        f"/repos/{REPO}/commits/{pr.head_sha}",
        f"/repos/{REPO}/commits/{pr.head_sha}/status",
        f"/repos/{REPO}/commits/{pr.head_sha}/check-runs",
        f"/repos/{REPO}/contents/flake.lock?ref={pr.branch}",
        f"/repos/{REPO}/contents/hosts",
        f"/repos/{REPO}/branches/main",
        f"/repos/{REPO}/git/ref/heads/{pr.branch}",
        f"/repos/{REPO}/compare/main...{pr.branch}",
    ]
    headers = {"Authorization": "token ghp_emulatortoken"}
    seen = 0
    async with aiohttp.ClientSession(headers=headers) as session:
        for path in paths:
            async with session.get(gh.api_url + path) as response:
                assert response.status == 200, path
                assert response.headers["X-RateLimit-Resource"] == "core"
                body = await response.json()
            for key, url in _urls(body):
                seen += 1
                if key == "url":
                    assert url.startswith(gh.api_url + "/"), (path, key, url)
                elif url.startswith("http"):
                    assert url.startswith(gh.web_url + "/"), (path, key, url)
    assert seen > 100


async def test_list_items_complete_lazily_and_head_filter_is_exact(
    gh: GitHubEmulator, connect: ClientFactory
) -> None:
    nixpkgs = await gh.open_renovate_pr(input_name="nixpkgs")
    await gh.open_renovate_pr(input_name="sops-nix")
    client = connect()

    def read() -> tuple[list[int], Any, int]:
        repo = client.get_repo(REPO)
        pulls = list(repo.get_pulls(head=f"homelab:{nixpkgs.branch}"))
        first = pulls[0]
        return [p.number for p in pulls], first.mergeable, first.changed_files

    numbers, mergeable, changed = await asyncio.to_thread(read)
    assert numbers == [nixpkgs.number]
    assert mergeable is None and changed == 1, "list items lack detail fields; PyGithub GETs url"
    assert (
        "GET",
        f"/repos/{REPO}/pulls/{nixpkgs.number}",
    ) in [(r.method, r.path) for r in gh.requests()]


async def test_edit_closes_the_pr_and_directory_contents_list(
    gh: GitHubEmulator, connect: ClientFactory
) -> None:
    pr = await gh.open_renovate_pr()
    client = connect()

    def act() -> tuple[str, list[str]]:
        repo = client.get_repo(REPO)
        pull = repo.get_pull(pr.number)
        pull.edit(state="closed")
        listing = repo.get_contents("hosts", ref="main")
        assert isinstance(listing, list)
        return repo.get_pull(pr.number).state, sorted(c.path for c in listing)

    state, files = await asyncio.to_thread(act)
    assert state == "closed"
    assert files == [f"hosts/node{n}.nix" for n in range(1, 5)]
    assert gh.pull_request(pr.number).state == "closed"


async def test_statuses_created_through_the_api_feed_the_combined_status(
    gh: GitHubEmulator, connect: ClientFactory
) -> None:
    pr = await gh.open_renovate_pr()
    client = connect()

    def act() -> str:
        commit = client.get_repo(REPO).get_commit(pr.head_sha)
        commit.create_status("failure", context="labbot/health", description="node2 down")
        return commit.get_combined_status().state

    assert await asyncio.to_thread(act) == "failure"


async def test_git_refs_create_read_and_refuse_duplicates(
    gh: GitHubEmulator, connect: ClientFactory
) -> None:
    client = connect()

    def act() -> tuple[str, str, str, int]:
        repo = client.get_repo(REPO)
        main = repo.get_branch("main").commit.sha
        repo.create_git_ref("refs/heads/labbot/pin", main)
        ref = repo.get_git_ref("heads/labbot/pin")
        try:
            repo.create_git_ref("refs/heads/labbot/pin", main)
        except GithubException as exc:
            status = exc.status
        return main, ref.object.sha, client.get_user().login, status

    main, pinned, login, duplicate = await asyncio.to_thread(act)
    assert pinned == main
    assert login == "labbot"
    assert duplicate == 422
    branches = await gh.state.repos[REPO].git.branches()
    assert branches["labbot/pin"] == main

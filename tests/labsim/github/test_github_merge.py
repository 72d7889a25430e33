"""Merging through the emulator with real PyGithub: real commits in the bare repo, and refusals."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from github import Github, GithubException
from github.PullRequestMergeStatus import PullRequestMergeStatus

from labsim.github import GitHubEmulator, bump_input, fake_rev

ClientFactory = Callable[..., Github]
GitRunner = Callable[..., Awaitable[str]]
REPO = "homelab/thelab-infra"


async def _merge(connect: ClientFactory, number: int, **kwargs: Any) -> PullRequestMergeStatus:
    client = connect()
    return await asyncio.to_thread(lambda: client.get_repo(REPO).get_pull(number).merge(**kwargs))


async def test_merge_with_the_head_sha_makes_a_merge_commit_on_main(
    gh: GitHubEmulator, connect: ClientFactory, git: GitRunner
) -> None:
    pr = await gh.open_renovate_pr()
    old_main = await git("--git-dir", gh.git_url().removeprefix("file://"), "rev-parse", "main")
    status = await _merge(connect, pr.number, sha=pr.head_sha, merge_method="merge")
    assert status.merged is True
    assert status.message == "Pull Request successfully merged"
    bare = ["--git-dir", gh.git_url().removeprefix("file://")]
    main = await git(*bare, "rev-parse", "main")
    assert main == status.sha
    assert (await git(*bare, "show", "-s", "--format=%P", "main")).split() == [
        old_main,
        pr.head_sha,
    ]
    subject = await git(*bare, "show", "-s", "--format=%s%n%cn", "main")
    assert subject == f"Merge pull request #{pr.number} from homelab/{pr.branch}\nGitHub"
    [record] = gh.merges()
    assert (record.number, record.head_sha, record.method, record.merge_commit_sha) == (
        pr.number,
        pr.head_sha,
        "merge",
        status.sha,
    )
    client = connect()
    pull = await asyncio.to_thread(lambda: client.get_repo(REPO).get_pull(pr.number))
    assert (pull.state, pull.merged, pull.merge_commit_sha) == ("closed", True, status.sha)
    assert await asyncio.to_thread(pull.is_merged)


@pytest.mark.parametrize("method", ["squash", "rebase"])
async def test_squash_and_rebase_write_one_parent_commits(
    gh: GitHubEmulator, connect: ClientFactory, git: GitRunner, method: str
) -> None:
    pr = await gh.open_renovate_pr()
    await gh.push_to_branch("main", {"README.md": "# moved on\n"})
    status = await _merge(connect, pr.number, merge_method=method)
    bare = ["--git-dir", gh.git_url().removeprefix("file://")]
    parents = (await git(*bare, "show", "-s", "--format=%P", status.sha)).split()
    assert len(parents) == 1
    assert await git(*bare, "show", f"{status.sha}:flake.lock") == await git(
        *bare, "show", f"{pr.head_sha}:flake.lock"
    )
    author = await git(*bare, "show", "-s", "--format=%an", status.sha)
    assert author == "renovate[bot]"
    if method == "squash":
        subject = await git(*bare, "show", "-s", "--format=%s", status.sha)
        assert subject == f"{pr.title} (#{pr.number})"


async def test_merge_with_a_stale_sha_is_409(gh: GitHubEmulator, connect: ClientFactory) -> None:
    pr = await gh.open_renovate_pr()
    new_head = await gh.push_commit_to_pr(pr.number, {"flake.lock": "{}\n"})
    with pytest.raises(GithubException) as caught:
        await _merge(connect, pr.number, sha=pr.head_sha)
    assert caught.value.status == 409
    assert (
        caught.value.data["message"] == "Head branch was modified. Review and try the merge again."
    )
    assert gh.merges() == []
    status = await _merge(connect, pr.number, sha=new_head)
    assert status.merged


async def test_conflicting_pr_is_dirty_and_merge_is_405(
    gh: GitHubEmulator, connect: ClientFactory
) -> None:
    pr = await gh.open_renovate_pr(input_name="nixpkgs")
    lock = await gh.state.repos[REPO].git.read_file("main", "flake.lock")
    assert lock is not None
    await gh.push_to_branch(
        "main", {"flake.lock": bump_input(lock.decode(), "nixpkgs", rev=fake_rev("x"))}
    )
    client = connect()
    repo = await asyncio.to_thread(client.get_repo, REPO)
    await asyncio.to_thread(repo.get_pull, pr.number)  # starts the computation
    pull = await asyncio.to_thread(repo.get_pull, pr.number)
    assert (pull.mergeable, pull.mergeable_state) == (False, "dirty")
    with pytest.raises(GithubException) as caught:
        await asyncio.to_thread(pull.merge, sha=pull.head.sha)
    assert (caught.value.status, caught.value.data["message"]) == (
        405,
        "Pull Request is not mergeable",
    )


async def test_set_mergeable_knob_overrides_and_blocks_merge(
    gh: GitHubEmulator, connect: ClientFactory
) -> None:
    pr = await gh.open_renovate_pr()
    gh.set_mergeable(pr.number, False, "blocked")
    client = connect()
    pull = await asyncio.to_thread(lambda: client.get_repo(REPO).get_pull(pr.number))
    assert (pull.mergeable, pull.mergeable_state) == (False, "blocked")
    with pytest.raises(GithubException) as caught:
        await asyncio.to_thread(pull.merge)
    assert caught.value.status == 405
    gh.clear_mergeable(pr.number)
    assert (await _merge(connect, pr.number)).merged


async def test_bad_and_disabled_merge_methods(gh: GitHubEmulator, connect: ClientFactory) -> None:
    pr = await gh.open_renovate_pr()
    with pytest.raises(GithubException) as invalid:
        await _merge(connect, pr.number, merge_method="octopus")
    assert invalid.value.status == 422
    gh.set_merge_methods(["squash"])
    with pytest.raises(GithubException) as disabled:
        await _merge(connect, pr.number, merge_method="merge")
    assert disabled.value.status == 405
    assert "not allowed" in disabled.value.data["message"]


async def test_required_check_blocks_until_it_passes(
    gh: GitHubEmulator, connect: ClientFactory
) -> None:
    pr = await gh.open_renovate_pr()
    gh.protect_branch("main", required_contexts=["nix flake check"])
    gh.set_check_run(pr.head_sha, "nix flake check", "in_progress")
    client = connect()
    repo = await asyncio.to_thread(client.get_repo, REPO)
    await asyncio.to_thread(repo.get_pull, pr.number)
    pull = await asyncio.to_thread(repo.get_pull, pr.number)
    assert (pull.mergeable, pull.mergeable_state) == (True, "blocked")
    with pytest.raises(GithubException) as caught:
        await asyncio.to_thread(pull.merge, sha=pr.head_sha)
    assert caught.value.status == 405
    gh.set_check_run(pr.head_sha, "nix flake check", "completed", "success")
    pull = await asyncio.to_thread(repo.get_pull, pr.number)
    assert pull.mergeable_state == "clean"
    assert (await asyncio.to_thread(pull.merge, sha=pr.head_sha)).merged


async def test_closed_or_externally_merged_prs_are_not_mergeable(
    gh: GitHubEmulator, connect: ClientFactory
) -> None:
    closed = await gh.open_renovate_pr(input_name="sops-nix")
    elsewhere = await gh.open_renovate_pr(input_name="nixos-generators")
    await gh.close_pr(closed.number)
    merge_sha = await gh.merge_elsewhere(elsewhere.number)
    for number in (closed.number, elsewhere.number):
        with pytest.raises(GithubException) as caught:
            await _merge(connect, number)
        assert caught.value.status == 405
    client = connect()
    pull = await asyncio.to_thread(lambda: client.get_repo(REPO).get_pull(elsewhere.number))
    assert (pull.merged, pull.merge_commit_sha, pull.merged_by.login) == (
        True,
        merge_sha,
        "lab-admin",
    )
    assert gh.merges() == [], "merges done outside the API are not the bot's"

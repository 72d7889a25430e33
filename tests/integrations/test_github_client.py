"""GitHubClient against the GitHub emulator: Renovate PRs, details, CI, files, cards and merges.

PyGithub is synchronous: the client runs it in its own threads while the emulator serves from the
test's event loop, so every call here is awaited and nothing blocks the loop.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import GitHubConfig, SecretSource
from bot.integrations.flake_lock import ChangeKind
from bot.integrations.github import (
    CiVerdict,
    GitHubClient,
    GitHubError,
    GitHubTuning,
    MergeRefused,
)
from bot.outside_text import Outside
from handlers.renovate.pull_request import ChangeSource, gather_card
from labsim.github import GitHubEmulator

REPO = "homelab/thelab-infra"
TOKEN = "ghp_emulatortoken"
FAST = GitHubTuning(
    http_timeout=5,
    call_timeout=20,
    seconds_between_requests=0,
    seconds_between_writes=0,
    max_rate_limit_wait=5,
    backoff_factor=0,
    mergeable_retry_delay=0.01,
)


def token_config(gh: GitHubEmulator, tmp_path: Path, **fields: Any) -> GitHubConfig:
    """A config for the emulator with the token read from a file, as in production."""
    secret = tmp_path / "github-token"
    secret.write_text(TOKEN + "\n")
    return GitHubConfig(repo=REPO, base_url=gh.api_url, token=SecretSource(file=secret), **fields)


@pytest.fixture
async def gh() -> AsyncIterator[GitHubEmulator]:
    async with GitHubEmulator() as emulator:
        await emulator.seed_infra_repo()
        yield emulator


@asynccontextmanager
async def connected(
    gh: GitHubEmulator, tmp_path: Path, tuning: GitHubTuning = FAST, **fields: Any
) -> AsyncIterator[GitHubClient]:
    async with GitHubClient(token_config(gh, tmp_path, **fields), tuning) as client:
        yield client


@pytest.fixture
async def client(gh: GitHubEmulator, tmp_path: Path) -> AsyncIterator[GitHubClient]:
    async with connected(gh, tmp_path) as opened:
        yield opened


# -- reads -------------------------------------------------------------------------------------


async def test_list_filters_by_author_and_branch_prefix(
    gh: GitHubEmulator, client: GitHubClient, tmp_path: Path
) -> None:
    nixpkgs = await gh.open_renovate_pr()
    sops = await gh.open_renovate_pr(input_name="sops-nix")
    await gh.close_pr(sops.number)
    await gh.push_to_branch("renovate/by-a-human", {"README.md": "edited by hand\n"})
    human = await client.create_pull("renovate/by-a-human", "main", "Docs", "by hand")

    listed = await client.list_renovate_prs()
    assert [p.number for p in listed] == [nixpkgs.number], "closed and human PRs are left out"
    [summary] = listed
    assert (summary.author, summary.head_ref, summary.head_sha) == (
        "renovate[bot]",
        "renovate/nixpkgs-digest",
        nixpkgs.head_sha,
    )
    assert summary.title == nixpkgs.title
    # Text GitHub users wrote is typed as such: it escapes itself in any message f-string.
    assert all(isinstance(v, Outside) for v in (summary.title, summary.author, summary.head_ref))
    assert summary.html_url.endswith(f"/{REPO}/pull/{nixpkgs.number}")
    assert human.author == "labbot"
    async with connected(gh, tmp_path, renovate_author="labbot") as as_human:
        assert [p.number for p in await as_human.list_renovate_prs()] == [human.number]
    async with connected(gh, tmp_path, renovate_branch_prefix="deps/") as other_prefix:
        assert await other_prefix.list_renovate_prs() == []


async def test_pull_asks_again_while_mergeable_is_null(gh: GitHubEmulator, tmp_path: Path) -> None:
    pr = await gh.open_renovate_pr()
    gh.set_mergeable_delay(2)
    async with connected(gh, tmp_path) as client:
        details = await client.pull(pr.number)
    gets = [r for r in gh.requests() if r.method == "GET" and r.path.endswith(f"/{pr.number}")]
    assert len(gets) == 3, "two null answers, then the computed value"
    assert (details.mergeable, details.mergeable_state) == (True, "clean")
    assert (details.head_sha, details.base_ref, details.state) == (pr.head_sha, "main", "open")
    assert details.changed_files == ("flake.lock",)
    assert "This PR contains the following updates" in details.body
    assert details.created_at.tzinfo is not None
    assert not details.closed and not details.merged

    pr2 = await gh.open_renovate_pr(input_name="sops-nix")
    gh.set_mergeable_delay(5)
    one_try = GitHubTuning(**{**FAST.__dict__, "mergeable_attempts": 1})
    async with connected(gh, tmp_path, tuning=one_try) as client:
        assert (await client.pull(pr2.number)).mergeable is None


async def test_ci_verdicts_and_required_checks(gh: GitHubEmulator, tmp_path: Path) -> None:
    pr = await gh.open_renovate_pr()
    sha = pr.head_sha
    async with connected(gh, tmp_path) as plain:
        none = await plain.ci(sha)
    assert (none.verdict, none.combined_state) == (CiVerdict.no_checks, "pending")

    async with connected(gh, tmp_path, required_checks=["build"]) as client:
        missing = await client.ci(sha)
        assert (missing.verdict, missing.missing_required) == (CiVerdict.pending, ("build",))

        gh.set_check_run(sha, "build", status="in_progress", conclusion=None)
        running = await client.ci(sha)
        assert (running.verdict, running.pending_required) == (CiVerdict.pending, ("build",))
        assert [(r.name, r.status, r.conclusion) for r in running.check_runs] == [
            ("build", "in_progress", None)
        ]

        gh.set_check_run(sha, "build", status="completed", conclusion="success")
        gh.set_status(sha, "ci/hydra", "success", description="eval ok")
        green = await client.ci(sha)
        assert green.verdict is CiVerdict.green and green.required_ok
        assert green.combined_state == "success"
        assert [(s.context, s.state, s.description) for s in green.statuses] == [
            ("ci/hydra", "success", "eval ok")
        ]

        gh.set_status(sha, "ci/hydra", "failure")
        failing = await client.ci(sha)
        assert (failing.verdict, failing.failing) == (CiVerdict.failing, ("ci/hydra",))
        assert failing.required_ok, "the failing context is not a required one"

        gh.set_check_run(sha, "build", status="completed", conclusion="timed_out")
        assert (await client.ci(sha)).failing_required == ("build",)


async def test_file_at_reads_text_and_misses_are_none(
    gh: GitHubEmulator, client: GitHubClient
) -> None:
    pr = await gh.open_renovate_pr()
    head_lock = await client.file_at("flake.lock", pr.head_sha)
    assert head_lock is not None and pr.new_rev in head_lock
    main_lock = await client.file_at("flake.lock", "main")
    assert main_lock is not None and pr.old_rev in main_lock and pr.new_rev not in main_lock
    assert await client.file_at("no/such/file", "main") is None
    with pytest.raises(GitHubError, match="is a directory"):
        await client.file_at("hosts", "main")


async def test_card_shows_the_flake_lock_change(gh: GitHubEmulator, client: GitHubClient) -> None:
    pr = await gh.open_renovate_pr()
    gh.set_check_run(pr.head_sha, "build", status="completed", conclusion="success")
    created = gh.pull_request(pr.number).created_at
    card = await gather_card(client, pr.number, now=created + timedelta(hours=3))

    assert card.change_source is ChangeSource.flake_lock and card.lock_problem is None
    [change] = card.changes
    assert (change.name, change.kind, change.source) == (
        "nixpkgs",
        ChangeKind.updated,
        "NixOS/nixpkgs",
    )
    assert (change.old_rev, change.new_rev) == (pr.old_rev, pr.new_rev)
    assert change.old_date is not None and change.new_date is not None
    assert change.new_date - change.old_date == timedelta(days=1)
    assert change.old_date.tzinfo is UTC
    [row] = card.table
    assert (row.package, row.old, row.new) == ("nixpkgs", pr.old_rev[:7], pr.new_rev[:7])
    assert card.ci.verdict is CiVerdict.green
    assert (card.title, card.branch, card.head_sha) == (pr.title, pr.branch, pr.head_sha)
    assert card.age == timedelta(hours=3)


async def test_card_for_lock_file_maintenance_lists_every_input(
    gh: GitHubEmulator, client: GitHubClient
) -> None:
    pr = await gh.open_renovate_pr(lock_file_maintenance=True)
    card = await gather_card(client, pr.number)
    assert [c.name for c in card.changes] == ["nixos-generators", "nixpkgs", "sops-nix"]
    assert all(c.old_rev != c.new_rev for c in card.changes)
    assert [(r.update, r.change) for r in card.table] == [
        ("lockFileMaintenance", "All locks refreshed")
    ]
    assert card.ci.verdict is CiVerdict.no_checks
    assert timedelta(0) <= card.age < timedelta(minutes=5)
    assert card.gathered_at <= datetime.now(UTC)


# -- writes ------------------------------------------------------------------------------------


async def test_approve_submits_an_approving_review(
    gh: GitHubEmulator, client: GitHubClient
) -> None:
    pr = await gh.open_renovate_pr()
    review = await client.approve(pr.number, "Approved in Slack by @alice", sha=pr.head_sha)
    [recorded] = gh.reviews(pr.number)
    assert (recorded.state, recorded.body) == ("APPROVED", "Approved in Slack by @alice")
    assert (recorded.user.login, recorded.commit_id) == ("labbot", pr.head_sha)
    assert (review.id, review.state, review.commit_id) == (recorded.id, "APPROVED", pr.head_sha)


async def test_merge_pins_the_head_sha(gh: GitHubEmulator, client: GitHubClient) -> None:
    pr = await gh.open_renovate_pr()
    details = await client.pull(pr.number)
    result = await client.merge(pr.number, details.head_sha)
    [merge] = gh.merges()
    assert (merge.number, merge.head_sha, merge.method) == (pr.number, pr.head_sha, "squash")
    assert (result.merged, result.sha, result.head_sha) == (
        True,
        merge.merge_commit_sha,
        pr.head_sha,
    )
    after = await client.pull(pr.number)
    assert after.merged and after.closed
    assert await client.list_renovate_prs() == []


async def test_merge_with_a_stale_sha_is_refused_409(
    gh: GitHubEmulator, client: GitHubClient
) -> None:
    pr = await gh.open_renovate_pr()
    await gh.push_commit_to_pr(pr.number, {"README.md": "a late push\n"})
    with pytest.raises(MergeRefused) as refused:
        await client.merge(pr.number, pr.head_sha)
    assert refused.value.status == 409 and refused.value.head_moved
    assert refused.value.reason == "Head branch was modified. Review and try the merge again."
    assert f"PR #{pr.number}" in str(refused.value)
    assert gh.merges() == []


async def test_merge_of_an_unmergeable_pr_is_refused_405(
    gh: GitHubEmulator, client: GitHubClient
) -> None:
    pr = await gh.open_renovate_pr()
    gh.set_mergeable(pr.number, False)
    with pytest.raises(MergeRefused) as refused:
        await client.merge(pr.number, pr.head_sha, "merge")
    assert (refused.value.status, refused.value.reason) == (405, "Pull Request is not mergeable")
    assert not (refused.value.already_merged or refused.value.already_closed)
    assert gh.merges() == []


async def test_pr_closed_or_merged_elsewhere_is_detected(
    gh: GitHubEmulator, client: GitHubClient
) -> None:
    closed = await gh.open_renovate_pr()
    await gh.close_pr(closed.number)
    details = await client.pull(closed.number)
    assert details.closed and not details.merged
    with pytest.raises(MergeRefused) as refused:
        await client.merge(closed.number, closed.head_sha)
    assert refused.value.already_closed and not refused.value.already_merged

    merged = await gh.open_renovate_pr(input_name="sops-nix")
    await gh.merge_elsewhere(merged.number)
    assert (await client.pull(merged.number)).merged
    with pytest.raises(MergeRefused) as refused:
        await client.merge(merged.number, merged.head_sha)
    assert refused.value.already_merged and "already merged" in str(refused.value)
    assert await client.list_renovate_prs() == []
    assert gh.merges() == []


async def test_comment_is_posted_on_the_conversation(
    gh: GitHubEmulator, client: GitHubClient
) -> None:
    pr = await gh.open_renovate_pr()
    posted = await client.comment(pr.number, "Deploying tp-node3 after merge.")
    [recorded] = gh.comments(pr.number)
    assert (recorded.id, recorded.body) == (posted.id, "Deploying tp-node3 after merge.")
    assert posted.html_url.startswith(gh.web_url)


async def test_close_ends_the_threads_and_later_calls_are_refused(
    gh: GitHubEmulator, tmp_path: Path
) -> None:
    client = GitHubClient(token_config(gh, tmp_path), FAST)
    await client.open()
    assert any(t.name.startswith("labbot-github") for t in threading.enumerate())
    await client.aclose()
    assert not any(t.name.startswith("labbot-github") for t in threading.enumerate())
    with pytest.raises(RuntimeError, match="not open"):
        await client.list_renovate_prs()

"""Tests for bot/integrations/infra_worktree.py against real git: clone, branch, commit, push, remote checks."""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.integrations.infra_worktree import GitError, InfraWorktree, origin_url, prune_worktrees
from bot.job_run import JobCancelled
from bot.redact import Redactor

GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


@dataclass(frozen=True)
class Remote:
    bare: Path
    checkout: Path  # the operator's checkout, which labbot must leave alone


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    bare = tmp_path / "infra.git"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    checkout = tmp_path / "operator"
    git("clone", "--quiet", str(bare), str(checkout))
    (checkout / "secrets").mkdir()
    (checkout / "secrets" / "secrets.yaml").write_text("k3s_token: ENC[...]\n")
    (checkout / "README.md").write_text("# infra\n")
    git("add", "--all", cwd=checkout)
    git("commit", "--quiet", "-m", "initial", cwd=checkout)
    git("push", "--quiet", "origin", "HEAD:refs/heads/main", cwd=checkout)
    return Remote(bare, checkout)


async def test_clone_branch_commit_push_leaves_the_operator_checkout_alone(
    remote: Remote, tmp_path: Path
) -> None:
    url = await origin_url(remote.checkout)
    assert url == str(remote.bare)
    before = git("status", "--porcelain", cwd=remote.checkout), git("branch", cwd=remote.checkout)
    tree = await InfraWorktree.clone(url, tmp_path / "jobs" / "job-7", reference=remote.checkout)
    assert not (tree.path / ".git" / "objects" / "info" / "alternates").exists()  # dissociated
    assert await tree.branch() == "main"
    base = await tree.head()
    assert base == git("rev-parse", "main", cwd=remote.bare)
    await tree.start_branch("labbot/sops-rotate-7-20250131")
    (tree.path / "secrets" / "secrets.yaml").write_text("k3s_token: ENC[new]\n")
    commit = await tree.commit(
        "sops: rotate data keys", "Values unchanged.", requester="U0ADM", job_id=7
    )
    assert commit.files == ("secrets/secrets.yaml",)
    assert commit.tree == git("rev-parse", "HEAD^{tree}", cwd=tree.path)
    message = git("log", "-1", "--format=%an <%ae>%n%B", cwd=tree.path)
    assert message.startswith("labbot <labbot@users.noreply.github.com>\nsops: rotate data keys")
    assert "Requested-by: U0ADM (Slack user, labbot job 7)" in message
    assert await tree.remote_branch("labbot/sops-rotate-7-20250131") is None
    await tree.push("labbot/sops-rotate-7-20250131")
    assert await tree.remote_branch("labbot/sops-rotate-7-20250131") == commit.sha
    assert git("rev-parse", "labbot/sops-rotate-7-20250131", cwd=remote.bare) == commit.sha
    assert await tree.changed_files(base, commit.sha) == ["secrets/secrets.yaml"]
    assert await tree.changed_files(base, commit.sha, ["README.md"]) == []
    assert await tree.has_commit(commit.sha) and not await tree.has_commit("0" * 40)
    after = git("status", "--porcelain", cwd=remote.checkout), git("branch", cwd=remote.checkout)
    assert after == before
    tree.remove()
    assert not tree.path.exists()


async def test_reopened_clone_sees_a_moved_base_and_refuses_a_non_fast_forward(
    remote: Remote, tmp_path: Path
) -> None:
    tree = await InfraWorktree.clone(str(remote.bare), tmp_path / "job-1")
    base = await tree.head()
    (tree.path / "README.md").write_text("# infra, edited by the job\n")
    await tree.commit("docs", "body", requester="U1")
    # Someone else pushes to main meanwhile, touching a different file.
    (remote.checkout / "other.nix").write_text("{ }\n")
    git("add", "--all", cwd=remote.checkout)
    git("commit", "--quiet", "-m", "other", cwd=remote.checkout)
    git("push", "--quiet", "origin", "HEAD:refs/heads/main", cwd=remote.checkout)
    reopened = InfraWorktree(tree.path)  # as after a bot restart
    moved = await reopened.remote_branch("main")
    assert moved is not None and moved != base
    assert await reopened.fetch("main") == moved
    assert await reopened.changed_files(base, moved) == ["other.nix"]
    with pytest.raises(GitError, match=r"git push failed for the infra repo: .*\(exit 1\)\."):
        await reopened.push("main")


async def test_nothing_to_commit_is_an_error(remote: Remote, tmp_path: Path) -> None:
    tree = await InfraWorktree.clone(str(remote.bare), tmp_path / "job-2")
    with pytest.raises(GitError, match="nothing to commit"):
        await tree.commit("empty", "body", requester="U1")


async def test_git_errors_are_redacted(tmp_path: Path) -> None:
    url = f"{tmp_path}/missing-{GITHUB_TOKEN}.git"
    with pytest.raises(GitError) as caught:
        await InfraWorktree.clone(url, tmp_path / "job-3", redactor=Redactor())
    assert GITHUB_TOKEN not in str(caught.value) and GITHUB_TOKEN not in caught.value.detail
    assert "[redacted:github-token]" in str(caught.value)
    assert not (tmp_path / "job-3").exists()


async def test_a_bad_branch_name_is_refused(remote: Remote, tmp_path: Path) -> None:
    tree = await InfraWorktree.clone(str(remote.bare), tmp_path / "job-4")
    with pytest.raises(GitError, match="check-ref-format"):
        await tree.start_branch("labbot/bad..name")


async def test_cancel_stops_git(remote: Remote, tmp_path: Path) -> None:
    cancel = asyncio.Event()
    cancel.set()
    with pytest.raises(JobCancelled):
        await InfraWorktree.clone(str(remote.bare), tmp_path / "job-5", cancel=cancel)


def test_prune_keeps_only_the_current_clone(tmp_path: Path) -> None:
    root = tmp_path / "clones"
    for name in ("job-1", "job-2", "job-3"):
        (root / name).mkdir(parents=True)
    removed = prune_worktrees(root, root / "job-2")
    assert sorted(p.name for p in removed) == ["job-1", "job-3"]
    assert [p.name for p in root.iterdir()] == ["job-2"]
    assert prune_worktrees(tmp_path / "absent", root) == []


async def test_a_shallow_reference_still_clones(remote: Remote, tmp_path: Path) -> None:
    shallow = tmp_path / "shallow"
    git("clone", "--quiet", "--depth", "1", f"file://{remote.bare}", str(shallow))
    tree = await InfraWorktree.clone(str(remote.bare), tmp_path / "job-6", reference=shallow)
    assert (tree.path / "README.md").read_text() == "# infra\n"
    assert await tree.head() == git("rev-parse", "main", cwd=remote.bare)

"""The operator's infra checkout: fast-forwarded to a merged commit, or left alone with a reason."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.integrations.infra_checkout import CheckoutFailed, CheckoutRefused, InfraCheckout

IDENTITY = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]


async def git(cwd: Path, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "git", *IDENTITY, *args, cwd=cwd, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    assert process.returncode == 0, args
    return out.decode().strip()


async def commit(repo: Path, name: str, text: str) -> str:
    (repo / name).write_text(text)
    await git(repo, "add", name)
    await git(repo, "commit", "-q", "-m", f"change {name}")
    return await git(repo, "rev-parse", "HEAD")


@pytest.fixture
async def repos(tmp_path: Path) -> tuple[Path, Path]:
    """An upstream clone that pushes to origin, and the bot's checkout of origin."""
    origin, upstream, checkout = tmp_path / "origin.git", tmp_path / "up", tmp_path / "infra"
    await git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    await git(tmp_path, "clone", "-q", str(origin), str(upstream))
    await git(upstream, "checkout", "-q", "-b", "main")
    await commit(upstream, "flake.lock", "{}\n")
    await git(upstream, "push", "-q", "origin", "main")
    await git(tmp_path, "clone", "-q", str(origin), str(checkout))
    return upstream, checkout


async def test_fast_forwards_to_the_merged_commit(repos: tuple[Path, Path]) -> None:
    upstream, checkout = repos
    merged = await commit(upstream, "flake.lock", '{"v": 2}\n')
    later = await commit(upstream, "README.md", "later\n")
    await git(upstream, "push", "-q", "origin", "main")
    (checkout / "result").write_text("an untracked build link is fine\n")
    head = await InfraCheckout(checkout).fast_forward("main", merged)
    assert head == merged != later  # exactly the merged commit, not origin's newest
    assert (checkout / "flake.lock").read_text() == '{"v": 2}\n'


async def test_local_changes_are_never_touched(repos: tuple[Path, Path]) -> None:
    upstream, checkout = repos
    merged = await commit(upstream, "flake.lock", '{"v": 2}\n')
    await git(upstream, "push", "-q", "origin", "main")
    (checkout / "flake.lock").write_text("edited by hand\n")
    with pytest.raises(CheckoutRefused, match=r"has local changes \(flake.lock\)"):
        await InfraCheckout(checkout).fast_forward("main", merged)
    assert (checkout / "flake.lock").read_text() == "edited by hand\n"


async def test_other_branch_and_diverged_history_are_refused(repos: tuple[Path, Path]) -> None:
    upstream, checkout = repos
    merged = await commit(upstream, "flake.lock", '{"v": 2}\n')
    await git(upstream, "push", "-q", "origin", "main")
    await git(checkout, "checkout", "-q", "-b", "experiment")
    with pytest.raises(CheckoutRefused, match="is on branch `experiment`, not `main`"):
        await InfraCheckout(checkout).fast_forward("main", merged)
    await git(checkout, "checkout", "-q", "main")
    local = await commit(checkout, "hosts.nix", "{ }\n")
    with pytest.raises(CheckoutRefused, match="has commits that"):
        await InfraCheckout(checkout).fast_forward("main", merged)
    assert await InfraCheckout(checkout).head() == local


async def test_a_commit_origin_does_not_have_fails(repos: tuple[Path, Path]) -> None:
    _, checkout = repos
    with pytest.raises(CheckoutFailed, match="does not contain commit 0123456789ab"):
        await InfraCheckout(checkout).fast_forward("main", "0123456789ab" * 3 + "0123")

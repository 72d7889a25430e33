"""Seeding helpers: flake.lock generator, Renovate PR shape, and emulator lifecycle."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from labsim.github import (
    RENOVATE_USER_ID,
    GitHubEmulator,
    bump_input,
    default_flake_inputs,
    locked_rev,
    render_flake_lock,
)

GitRunner = Callable[..., Awaitable[str]]


def test_flake_lock_has_the_homelab_nodes_in_nix_format() -> None:
    text = render_flake_lock()
    lock = json.loads(text)
    assert lock["version"] == 7 and lock["root"] == "root"
    assert set(lock["nodes"]["root"]["inputs"]) == {"nixpkgs", "sops-nix", "nixos-generators"}
    nixpkgs = lock["nodes"]["nixpkgs"]
    assert nixpkgs["original"] == {
        "owner": "NixOS",
        "ref": "nixos-24.11",
        "repo": "nixpkgs",
        "type": "github",
    }
    assert len(nixpkgs["locked"]["rev"]) == 40
    assert nixpkgs["locked"]["narHash"].startswith("sha256-")
    assert lock["nodes"]["sops-nix"]["inputs"] == {"nixpkgs": ["nixpkgs"]}
    assert text == json.dumps(lock, indent=2, sort_keys=True) + "\n", "nix's serialisation"


def test_bump_changes_only_the_named_input() -> None:
    text = render_flake_lock(default_flake_inputs(seed="a"))
    bumped = bump_input(text, "nixpkgs", rev="f" * 40)
    before, after = json.loads(text)["nodes"], json.loads(bumped)["nodes"]
    assert locked_rev(bumped, "nixpkgs") == "f" * 40
    assert after["nixpkgs"]["locked"]["narHash"] != before["nixpkgs"]["locked"]["narHash"]
    assert {k: v for k, v in after.items() if k != "nixpkgs"} == {
        k: v for k, v in before.items() if k != "nixpkgs"
    }


async def test_renovate_pr_is_a_real_bot_commit_with_renovate_body(
    gh: GitHubEmulator, git: GitRunner
) -> None:
    pr = await gh.open_renovate_pr(new_rev="abc1234" + "1" * 33)
    bare = ["--git-dir", gh.git_url().removeprefix("file://")]
    assert await git(*bare, "rev-parse", f"refs/heads/{pr.branch}") == pr.head_sha
    author = await git(*bare, "show", "-s", "--format=%an <%ae>%n%s", pr.head_sha)
    assert author == (
        f"renovate[bot] <{RENOVATE_USER_ID}+renovate[bot]@users.noreply.github.com>\n"
        "chore(deps): update nixpkgs digest to abc1234"
    )
    changed = await git(*bare, "diff", "--name-only", "main", pr.head_sha)
    assert changed == "flake.lock"
    model = gh.pull_request(pr.number)
    assert (model.user.login, model.user.type, model.head_ref) == (
        "renovate[bot]",
        "Bot",
        "renovate/nixpkgs-digest",
    )
    body = model.body
    assert body.startswith("This PR contains the following updates:")
    assert f"| `{pr.old_rev[:7]}` -> `abc1234` |" in body
    assert "### Configuration" in body and "🚦 **Automerge**: Disabled by config." in body
    assert "<!-- rebase-check -->" in body
    assert "<!--renovate-debug:" in body


async def test_second_update_of_the_same_input_reuses_the_open_pr(gh: GitHubEmulator) -> None:
    first = await gh.open_renovate_pr()
    second = await gh.open_renovate_pr()
    assert second.number == first.number
    assert second.head_sha != first.head_sha
    assert gh.pull_request(first.number).head_sha == second.head_sha


async def test_stop_closes_the_port_and_removes_the_repos(tmp_path: Path) -> None:
    gh = GitHubEmulator()
    await gh.start()
    await gh.seed_infra_repo()
    repo_dir = Path(gh.git_url().removeprefix("file://"))
    port = int(gh.api_url.split(":")[2].split("/")[0])
    assert await asyncio.to_thread(repo_dir.is_dir)
    await gh.stop()
    assert not await asyncio.to_thread(repo_dir.exists)
    with pytest.raises(OSError):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()

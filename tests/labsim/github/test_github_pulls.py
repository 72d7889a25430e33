"""Real PyGithub against the emulator: listing, reading and reviewing pull requests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from github import Auth, Github

from labsim.github import RENOVATE_LOGIN, GitHubEmulator

ClientFactory = Callable[..., Github]
GitRunner = Callable[..., Awaitable[str]]

REPO = "homelab/thelab-infra"


async def test_open_renovate_prs_are_found_by_author_and_branch_prefix(
    gh: GitHubEmulator, connect: ClientFactory
) -> None:
    first = await gh.open_renovate_pr(input_name="nixpkgs")
    await gh.open_renovate_pr(input_name="sops-nix")
    maintenance = await gh.open_renovate_pr(lock_file_maintenance=True)
    await gh.push_to_branch("human/tweak", {"README.md": "# tweaked\n"})  # creates the branch
    human = gh.state.add_account("lab-admin")
    gh.add_token("ghp_admin", human.login)
    admin = connect(auth=Auth.Token("ghp_admin"))
    await asyncio.to_thread(
        lambda: admin.get_repo(REPO).create_pull(base="main", head="human/tweak", title="Tweak")
    )
    await gh.close_pr(maintenance.number)
    client = connect(per_page=2)

    def renovate_prs() -> list[tuple[int, str, str]]:
        pulls = client.get_repo(REPO).get_pulls(state="open", base="main")
        return [
            (pr.number, pr.user.type, pr.head.ref)
            for pr in pulls
            if pr.user.login == RENOVATE_LOGIN and pr.head.ref.startswith("renovate/")
        ]

    found = await asyncio.to_thread(renovate_prs)
    assert sorted(found) == [
        (first.number, "Bot", "renovate/nixpkgs-digest"),
        (first.number + 1, "Bot", "renovate/sops-nix-digest"),
    ]
    listed = [r for r in gh.requests() if (r.method, r.path) == ("GET", f"/repos/{REPO}/pulls")]
    assert len(listed) == 2, "three open PRs at per_page=2 must take two pages via the Link header"
    assert "page=2" in listed[1].query


async def test_total_count_uses_the_last_link(gh: GitHubEmulator, connect: ClientFactory) -> None:
    for name in ("nixpkgs", "sops-nix", "nixos-generators"):
        await gh.open_renovate_pr(input_name=name)
    client = connect()
    total = await asyncio.to_thread(lambda: client.get_repo(REPO).get_pulls(state="all").totalCount)
    assert total == 3


async def test_mergeable_is_null_first_then_computed(
    gh: GitHubEmulator, connect: ClientFactory
) -> None:
    pr = await gh.open_renovate_pr()
    repo = await asyncio.to_thread(lambda: connect().get_repo(REPO))
    first = await asyncio.to_thread(repo.get_pull, pr.number)
    second = await asyncio.to_thread(repo.get_pull, pr.number)
    assert first.mergeable is None
    assert first.mergeable_state == "unknown"
    assert (second.mergeable, second.mergeable_state) == (True, "clean")
    await gh.push_commit_to_pr(pr.number, {"notes.txt": "x\n"})
    third = await asyncio.to_thread(repo.get_pull, pr.number)
    assert third.mergeable is None, "a head change restarts the background computation"
    assert third.head.sha != pr.head_sha


async def test_flake_lock_read_at_base_and_head_shows_the_nixpkgs_bump(
    gh: GitHubEmulator, connect: ClientFactory
) -> None:
    pr = await gh.open_renovate_pr(input_name="nixpkgs", new_rev="abc1234" + "0" * 33)
    repo = await asyncio.to_thread(lambda: connect().get_repo(REPO))
    pull = await asyncio.to_thread(repo.get_pull, pr.number)
    base = await asyncio.to_thread(repo.get_contents, "flake.lock", ref=pull.base.sha)
    head = await asyncio.to_thread(repo.get_contents, "flake.lock", ref=pull.head.ref)
    assert not isinstance(base, list) and not isinstance(head, list)
    before = json.loads(base.decoded_content)["nodes"]["nixpkgs"]["locked"]
    after = json.loads(head.decoded_content)["nodes"]["nixpkgs"]["locked"]
    assert before["rev"] == pr.old_rev
    assert after["rev"] == "abc1234" + "0" * 33
    assert after["narHash"] != before["narHash"]
    assert after["lastModified"] > before["lastModified"]
    assert pull.title == "chore(deps): update nixpkgs digest to abc1234"
    blob = await gh.state.repos[REPO].git.text("rev-parse", f"{pull.head.sha}:flake.lock")
    assert head.sha == blob, "contents sha is the git blob sha"


async def test_combined_status_and_check_runs(gh: GitHubEmulator, connect: ClientFactory) -> None:
    pr = await gh.open_renovate_pr()
    gh.set_status(pr.head_sha, "hydra/eval", "pending")
    gh.set_status(pr.head_sha, "hydra/eval", "success")
    gh.set_status(pr.head_sha, "lint", "success")
    gh.set_check_run(pr.head_sha, "nix flake check", "in_progress")
    gh.set_check_run(pr.head_sha, "nix build", "completed", "failure")
    repo = await asyncio.to_thread(lambda: connect().get_repo(REPO))

    def read() -> tuple[str, int, dict[str, tuple[str, str | None]]]:
        commit = repo.get_commit(pr.head_sha)
        combined = commit.get_combined_status()
        runs: dict[str, tuple[str, str | None]] = {
            r.name: (r.status, r.conclusion) for r in commit.get_check_runs()
        }
        return combined.state, combined.total_count, runs

    state, count, runs = await asyncio.to_thread(read)
    assert (state, count) == ("success", 2)
    assert runs == {"nix flake check": ("in_progress", None), "nix build": ("completed", "failure")}
    pull = await asyncio.to_thread(repo.get_pull, pr.number)
    pull = await asyncio.to_thread(repo.get_pull, pr.number)
    assert pull.mergeable_state == "unstable", "non-required failing checks make it unstable"


async def test_combined_status_is_pending_without_statuses(
    gh: GitHubEmulator, connect: ClientFactory
) -> None:
    pr = await gh.open_renovate_pr()
    repo = await asyncio.to_thread(lambda: connect().get_repo(REPO))
    combined = await asyncio.to_thread(lambda: repo.get_commit(pr.head_sha).get_combined_status())
    assert (combined.state, combined.total_count) == ("pending", 0)


async def test_approve_review_and_comment_are_recorded(
    gh: GitHubEmulator, connect: ClientFactory
) -> None:
    pr = await gh.open_renovate_pr()
    repo = await asyncio.to_thread(lambda: connect().get_repo(REPO))

    def act() -> str:
        pull = repo.get_pull(pr.number)
        review = pull.create_review(event="APPROVE", body="Health gate passed")
        pull.create_issue_comment("Deploying to node1")
        return review.state

    assert await asyncio.to_thread(act) == "APPROVED"
    [review] = gh.reviews(pr.number)
    assert (review.user.login, review.state, review.body) == (
        "labbot",
        "APPROVED",
        "Health gate passed",
    )
    assert review.commit_id == pr.head_sha
    assert [c.body for c in gh.comments(pr.number)] == ["Deploying to node1"]


async def test_pushed_branch_becomes_a_pr_created_with_create_pull(
    gh: GitHubEmulator, connect: ClientFactory, git: GitRunner, tmp_path: Path
) -> None:
    work = tmp_path / "clone"
    await git("clone", "--quiet", gh.git_url("homelab", "thelab-infra"), str(work))
    (work / "hosts" / "node1.nix").write_text("{ ... }:\n{\n  services.openssh.enable = true;\n}\n")
    ident = ["-c", "user.name=Lab Admin", "-c", "user.email=admin@thelab.example"]
    await git(*ident, "commit", "--quiet", "-am", "node1: enable ssh", cwd=work)
    pushed = await git("rev-parse", "HEAD", cwd=work)
    await git("push", "--quiet", "origin", "HEAD:refs/heads/feature/ssh", cwd=work)
    repo = await asyncio.to_thread(lambda: connect().get_repo(REPO))

    def create() -> tuple[int, str, list[str]]:
        pull = repo.create_pull(base="main", head="feature/ssh", title="Enable ssh", body="")
        return pull.number, pull.head.sha, [f.filename for f in pull.get_files()]

    number, head_sha, files = await asyncio.to_thread(create)
    assert head_sha == pushed
    assert files == ["hosts/node1.nix"]
    (work / "README.md").write_text("# moved\n")
    await git(*ident, "commit", "--quiet", "-am", "readme", cwd=work)
    await git("push", "--quiet", "origin", "HEAD:refs/heads/feature/ssh", cwd=work)
    moved = await asyncio.to_thread(lambda: repo.get_pull(number).head.sha)
    assert moved == await git("rev-parse", "HEAD", cwd=work)


async def test_deleting_the_head_branch_closes_the_pr(
    gh: GitHubEmulator, connect: ClientFactory
) -> None:
    pr = await gh.open_renovate_pr()
    repo = await asyncio.to_thread(lambda: connect().get_repo(REPO))
    await asyncio.to_thread(lambda: repo.get_git_ref(f"heads/{pr.branch}").delete())
    pull = await asyncio.to_thread(repo.get_pull, pr.number)
    assert (pull.state, pull.merged) == ("closed", False)

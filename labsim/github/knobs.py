"""Test-side controls of the GitHub emulator: seeding, Renovate PRs, CI state, PR mutations.

It must not serve HTTP: `GitHubEmulator` (emulator.py) inherits these methods and owns the server.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from labsim.github.access import AccessControl
from labsim.github.flake_lock import (
    bump_input,
    default_infra_files,
    fake_rev,
    locked_rev,
    refresh_all_inputs,
)
from labsim.github.gitstore import Identity
from labsim.github.merging import MergeRefusal, merge_pull, sync_pulls
from labsim.github.model import (
    MERGE_METHODS,
    BranchProtection,
    CheckRun,
    Installation,
    PullRequest,
    Repository,
    StatusEntry,
    utcnow,
)
from labsim.github.renovate import RENOVATE_EMAIL, RENOVATE_LOGIN, RenovateUpdate, render_pr_body
from labsim.github.state import GitHubState

DEFAULT_REPO = "homelab/thelab-infra"
ADMIN_IDENTITY = Identity("Lab Admin", "admin@thelab.example")
_SHA = re.compile(r"^[0-9a-f]{40}$")
_SOURCE_URLS = {"nixpkgs": "https://github.com/NixOS/nixpkgs"}


@dataclass(frozen=True)
class RenovatePr:
    """What `open_renovate_pr` created."""

    number: int
    branch: str
    head_sha: str
    old_rev: str
    new_rev: str
    title: str


class GitHubKnobs:
    """Seeding and fault/CI knobs shared by `GitHubEmulator`; needs a started emulator."""

    _access: AccessControl
    _app_slug: str
    _default_repo: str = DEFAULT_REPO
    _renovate_counter: int = 0

    @property
    def state(self) -> GitHubState:
        """The live emulator state (raises if the emulator is not started)."""
        raise NotImplementedError

    def _repo(self, repo: str | None) -> Repository:
        owner, _, name = (repo or self._default_repo).partition("/")
        found = self.state.find_repo(owner, name)
        if found is None:
            raise KeyError(f"no repository {repo or self._default_repo} in the emulator")
        return found

    def pull_request(self, number: int, repo: str | None = None) -> PullRequest:
        """The live pull request model (read it; change it only through the knobs)."""
        return self._repo(repo).pulls[number]

    async def seed_infra_repo(
        self,
        files: Mapping[str, str] | None = None,
        *,
        repo: str = DEFAULT_REPO,
        default_branch: str = "main",
    ) -> str:
        """Create `repo` with one commit of `files` (default: `default_infra_files()`) on main."""
        owner, _, name = repo.partition("/")
        if self.state.find_repo(owner, name) is not None:
            raise ValueError(f"{repo} is already seeded")
        created = await self.state.create_repo(owner, name, default_branch)
        contents = dict(files) if files is not None else default_infra_files()
        sha = await created.git.commit_files(None, contents, "Initial commit\n", ADMIN_IDENTITY)
        await created.git.update_ref(f"refs/heads/{default_branch}", sha)
        if self._access.app_id is not None and not any(
            i.account == created.owner for i in self.state.installations.values()
        ):
            inst_id = self.state.ids.next()
            self.state.installations[inst_id] = Installation(
                inst_id, created.owner, self._access.app_id, self._app_slug, utcnow()
            )
        self._default_repo = created.full_name
        return created.full_name

    def installation_id(self, owner: str = "homelab") -> int:
        """The app installation id on `owner` (requires app_id at construction)."""
        for inst in self.state.installations.values():
            if inst.account.login.lower() == owner.lower():
                return inst.id
        raise KeyError(f"no app installation on {owner}")

    async def open_renovate_pr(
        self,
        *,
        input_name: str = "nixpkgs",
        new_rev: str | None = None,
        lock_file_maintenance: bool = False,
        automerge: bool = False,
        base: str | None = None,
        repo: str | None = None,
        branch: str | None = None,
    ) -> RenovatePr:
        """Commit a flake.lock bump as renovate[bot] on `renovate/...`; open (or update) its PR.

        `branch` overrides Renovate's branch name (e.g. to open many PRs on one input, as
        Renovate's `branchTopic` or grouping settings can).
        """
        target = self._repo(repo)
        base_ref = base or target.default_branch
        base_sha = await target.git.resolve(f"refs/heads/{base_ref}")
        lock = await target.git.read_file(base_sha, "flake.lock") if base_sha else None
        if base_sha is None or lock is None:
            raise ValueError(f"{target.full_name}:{base_ref} has no flake.lock to update")
        self._renovate_counter += 1
        seed = f"renovate-{self._renovate_counter}"
        old_rev = locked_rev(lock.decode(), input_name)
        if lock_file_maintenance:
            rev, text = "", refresh_all_inputs(lock.decode(), seed)
        else:
            rev = new_rev or fake_rev(f"{seed}:{input_name}")
            text = bump_input(lock.decode(), input_name, rev=rev)
        update = RenovateUpdate(
            dep_name=input_name,
            old_rev=old_rev,
            new_rev=rev,
            source_url=_SOURCE_URLS.get(input_name, f"https://github.com/{input_name}"),
            lock_file_maintenance=lock_file_maintenance,
        )
        bot = self.state.accounts[RENOVATE_LOGIN.lower()]
        head = await target.git.commit_files(
            base_sha,
            {"flake.lock": text},
            update.title + "\n",
            Identity(RENOVATE_LOGIN, RENOVATE_EMAIL),
        )
        head_ref = branch or update.branch
        await target.git.update_ref(f"refs/heads/{head_ref}", head)  # force, as Renovate does
        await sync_pulls(target)
        body = render_pr_body(
            update, repository=target.full_name, base_branch=base_ref, automerge=automerge
        )
        for pr in target.pulls.values():
            if pr.state == "open" and pr.head_ref == head_ref:
                pr.title, pr.body = update.title, body
                return RenovatePr(pr.number, head_ref, head, old_rev, rev, update.title)
        now = utcnow()
        pr = PullRequest(
            number=target.take_number(),
            id=self.state.ids.next(),
            title=update.title,
            body=body,
            user=bot,
            head_ref=head_ref,
            base_ref=base_ref,
            head_sha=head,
            base_sha=base_sha,
            created_at=now,
            updated_at=now,
        )
        target.pulls[pr.number] = pr
        return RenovatePr(pr.number, head_ref, head, old_rev, rev, update.title)

    async def push_commit_to_pr(
        self,
        number: int,
        files: Mapping[str, str | None],
        *,
        message: str = "Update files",
        author: Identity | None = None,
        repo: str | None = None,
    ) -> str:
        """Add a commit to the PR's head branch (the head sha moves); returns the new sha."""
        target = self._repo(repo)
        pr = target.pulls[number]
        await sync_pulls(target)
        async with target.lock:
            commit = await target.git.commit_files(
                pr.head_sha,
                files,
                message + "\n",
                author or Identity(RENOVATE_LOGIN, RENOVATE_EMAIL),
            )
            await target.git.update_ref(f"refs/heads/{pr.head_ref}", commit, pr.head_sha)
        await sync_pulls(target)
        return commit

    async def push_to_branch(
        self,
        branch: str,
        files: Mapping[str, str | None],
        *,
        message: str = "Update",
        repo: str | None = None,
    ) -> str:
        """Commit `files` on top of `branch` as the lab admin (e.g. to move main under a PR).

        A missing branch is created from the default branch.
        """
        target = self._repo(repo)
        async with target.lock:
            parent = await target.git.resolve(f"refs/heads/{branch}")
            start = parent or await target.git.resolve(f"refs/heads/{target.default_branch}")
            commit = await target.git.commit_files(start, files, message + "\n", ADMIN_IDENTITY)
            await target.git.update_ref(f"refs/heads/{branch}", commit, parent or "0" * 40)
        await sync_pulls(target)
        return commit

    async def close_pr(self, number: int, repo: str | None = None) -> None:
        """Close the PR without merging (as a human would in the web UI)."""
        pr = self._repo(repo).pulls[number]
        if pr.state == "open":
            pr.state, pr.closed_at, pr.updated_at = "closed", utcnow(), utcnow()

    async def merge_elsewhere(
        self, number: int, *, method: str = "merge", repo: str | None = None
    ) -> str:
        """Merge the PR as a human outside the bot (real commit; not listed in `merges()`)."""
        target = self._repo(repo)
        human = self.state.add_account("lab-admin")
        outcome = await merge_pull(
            self.state, target, target.pulls[number], actor=human, method=method
        )
        if isinstance(outcome, MergeRefusal):
            raise RuntimeError(f"merge_elsewhere refused: {outcome.status} {outcome.message}")
        return outcome

    def set_mergeable(
        self, number: int, value: bool | None, state: str | None = None, repo: str | None = None
    ) -> None:
        """Force `mergeable`/`mergeable_state` (default: clean/dirty/unknown) until cleared."""
        default = "unknown" if value is None else ("clean" if value else "dirty")
        self._repo(repo).pulls[number].mergeable_override = (value, state or default)

    def clear_mergeable(self, number: int, repo: str | None = None) -> None:
        """Go back to mergeability computed from the git repo and CI."""
        self._repo(repo).pulls[number].mergeable_override = None

    def set_mergeable_delay(self, gets: int) -> None:
        """How many single-PR GETs after a change report `mergeable: null` (default 1)."""
        self.state.mergeable_null_gets = gets

    def set_status(
        self,
        sha: str,
        context: str,
        state: str,
        *,
        description: str | None = None,
        target_url: str | None = None,
        repo: str | None = None,
    ) -> None:
        """Add a commit status (as an outside CI would); state: error/failure/pending/success."""
        _require_sha(sha)
        target = self._repo(repo)
        creator = self.state.add_account("ci-bot", "Bot")
        target.statuses.append(
            StatusEntry(
                self.state.ids.next(),
                sha,
                context,
                state,
                description,
                target_url,
                utcnow(),
                creator,
            )
        )

    def set_check_run(
        self,
        sha: str,
        name: str,
        status: str = "completed",
        conclusion: str | None = "success",
        *,
        repo: str | None = None,
    ) -> int:
        """Create or update (in place) the check run `name` on `sha`; returns its id."""
        _require_sha(sha)
        target = self._repo(repo)
        conclusion = conclusion if status == "completed" else None
        for run in target.check_runs.values():
            if run.head_sha == sha and run.name == name:
                run.status, run.conclusion = status, conclusion
                run.completed_at = utcnow() if status == "completed" else None
                return run.id
        run = CheckRun(self.state.ids.next(), name, sha, status, conclusion, utcnow())
        run.completed_at = utcnow() if status == "completed" else None
        target.check_runs[run.id] = run
        return run.id

    def protect_branch(
        self,
        branch: str,
        *,
        required_contexts: Iterable[str] = (),
        required_approvals: int = 0,
        strict: bool = False,
        repo: str | None = None,
    ) -> None:
        """Branch protection: required checks/statuses, approvals, up-to-date (strict)."""
        self._repo(repo).protections[branch] = BranchProtection(
            tuple(required_contexts), required_approvals, strict
        )

    def unprotect_branch(self, branch: str, *, repo: str | None = None) -> None:
        """Remove the branch's protection rule (if any)."""
        self._repo(repo).protections.pop(branch, None)

    def set_merge_methods(self, methods: Iterable[str], repo: str | None = None) -> None:
        """Which merge methods the repository allows (others → 405)."""
        allowed = set(methods)
        unknown = allowed - set(MERGE_METHODS)
        if unknown:
            raise ValueError(f"unknown merge methods: {sorted(unknown)}")
        self._repo(repo).merge_methods = allowed


def _require_sha(sha: str) -> None:
    if not _SHA.match(sha):
        raise ValueError(f"expected a full 40-hex commit sha, got {sha!r}")

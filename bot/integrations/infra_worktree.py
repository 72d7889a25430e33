"""A job's own clone of the infra repo: branch, commit naming the requester, push.

Must not touch the operator's checkout (it is only read, as a source of objects) or use a shell.

Each job that edits the infra repo clones it afresh into a directory of its own (under the
bot's state dir, so a prepared change survives a restart while it waits for approval), commits
there and pushes from there. git runs through `run_process` with an argv list, an allowlisted
environment (`tool_environment`: HOME stays, so the machine's git credentials work) and no
terminal prompts; its stderr is redacted before it reaches an error message.

Usage::

    url = await origin_url(config.colmena.flake_dir)
    tree = await InfraWorktree.clone(url, state_dir / "infra-worktrees" / "job-17")
    await tree.start_branch("labbot/sops-rotate-17-20250131")
    ...  # edit files under tree.path
    commit = await tree.commit("sops: rotate data keys", "Why and what.", requester="U0ADMIN001")
    await tree.push("labbot/sops-rotate-17-20250131")
    tree.remove()
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.integrations.git import GitError, GitOutput, run_git
from bot.redact import Redactor

DEFAULT_TIMEOUT = 120.0
AUTHOR_NAME = "labbot"
AUTHOR_EMAIL = "labbot@users.noreply.github.com"


@dataclass(frozen=True)
class PreparedCommit:
    """A commit made in the clone: its hash, its tree hash and the files it changed."""

    sha: str
    tree: str
    files: tuple[str, ...]


async def origin_url(
    checkout: Path, *, timeout: float = DEFAULT_TIMEOUT, redactor: Redactor | None = None
) -> str:
    """The URL of `origin` in an existing checkout (read only; the checkout is not changed)."""
    out = await run_git(
        ["-C", str(checkout), "remote", "get-url", "origin"],
        operation="remote get-url",
        cwd=None,
        timeout=timeout,
        redactor=redactor or Redactor(),
    )
    if not out.stdout or not out.stdout[0].strip():
        raise GitError("remote get-url", f"{checkout} has no `origin` remote")
    return out.stdout[0].strip()


class InfraWorktree:
    """One job's clone of the infra repo; see the module docstring for the flow.

    Example: `tree = await InfraWorktree.clone(url, path)`; after a restart the same clone is
    reopened with `InfraWorktree(path)`.
    """

    def __init__(
        self,
        path: Path,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        redactor: Redactor | None = None,
        cancel: asyncio.Event | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.path = path
        self._timeout = timeout
        self._redactor = redactor or Redactor()
        self._cancel = cancel

    @classmethod
    async def clone(
        cls,
        url: str,
        path: Path,
        *,
        reference: Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        redactor: Redactor | None = None,
        cancel: asyncio.Event | None = None,
    ) -> InfraWorktree:
        """Clone the default branch of `url` into `path` (absent or empty; parents are made).

        `reference` (the operator's checkout) lends its objects to speed the clone up; the
        clone is dissociated from it afterwards, so it never depends on or changes it.
        """
        args = ["clone", "--quiet", "--no-tags", "--single-branch"]
        tree = cls(path, timeout=timeout, redactor=redactor, cancel=cancel)
        if reference is not None:  # "if able": a missing or shallow checkout only gets a warning
            args += ["--reference-if-able", str(reference), "--dissociate"]
        # On failure git removes what it created, and it refuses a non-empty `path`.
        await tree._run([*args, "--", url, str(path)], "clone", in_clone=False)
        return tree

    # --- reading --------------------------------------------------------------------------------

    async def branch(self) -> str:
        """The checked-out branch's name."""
        out = await self._run(["symbolic-ref", "--quiet", "--short", "HEAD"], "symbolic-ref")
        return out.stdout[0].strip()

    async def head(self) -> str:
        """The commit hash of HEAD."""
        return await self.resolve("HEAD")

    async def resolve(self, rev: str) -> str:
        """The full hash of the commit `rev` names; `GitError` when it names none."""
        args = ["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"]
        out = await self._run(args, "rev-parse", allowed_exit=(0, 1))
        if out.exit_code != 0 or not out.stdout:
            raise GitError("rev-parse", f"`{rev}` names no commit in the clone")
        return out.stdout[0].strip()

    async def has_commit(self, sha: str) -> bool:
        """Whether the clone holds commit `sha`."""
        args = ["rev-parse", "--verify", "--quiet", f"{sha}^{{commit}}"]
        out = await self._run(args, "rev-parse", allowed_exit=(0, 1))
        return out.exit_code == 0 and out.stdout[:1] == [sha]

    async def dirty(self) -> bool:
        """Whether the clone has changes that are not committed."""
        out = await self._run(["status", "--porcelain", "--untracked-files=all"], "status")
        return any(line.strip() for line in out.stdout)

    async def tracked_files(self) -> list[str]:
        """Every file in HEAD's tree plus staged ones, as repo-relative POSIX paths."""
        out = await self._run(["ls-files", "--cached"], "ls-files")
        return [line for line in out.stdout if line]

    async def changed_files(self, old: str, new: str, paths: Sequence[str] = ()) -> list[str]:
        """Files that differ between commits `old` and `new` (only among `paths`, if given)."""
        args = ["diff", "--name-only", "--no-renames", old, new]
        out = await self._run([*args, "--", *paths] if paths else args, "diff")
        return [line for line in out.stdout if line]

    # --- remote ---------------------------------------------------------------------------------

    async def remote_branch(self, branch: str) -> str | None:
        """The hash `branch` has on origin now, or None if origin has no such branch."""
        out = await self._run(
            ["ls-remote", "--heads", "origin", f"refs/heads/{branch}"], "ls-remote"
        )
        for line in out.stdout:
            sha, _, ref = line.partition("\t")
            if ref == f"refs/heads/{branch}":
                return sha
        return None

    async def fetch(self, branch: str) -> str:
        """Fetch `branch` from origin; returns the hash it has there."""
        await self._run(
            ["fetch", "--quiet", "--no-tags", "origin", f"refs/heads/{branch}"], "fetch"
        )
        return await self.resolve("FETCH_HEAD")

    async def push(self, branch: str, *, to: str | None = None) -> None:
        """Push HEAD to origin's `to` (default: `branch`); only fast-forwards are accepted."""
        target = to or branch
        refspec = f"HEAD:refs/heads/{target}"
        await self._run(["push", "--quiet", "--no-verify", "origin", refspec], "push")

    # --- writing --------------------------------------------------------------------------------

    async def start_branch(self, name: str) -> None:
        """Create branch `name` at HEAD and check it out."""
        await self._run(["check-ref-format", "--branch", name], "check-ref-format")
        await self._run(["switch", "--quiet", "--create", name], "switch")

    async def commit(
        self,
        title: str,
        body: str,
        *,
        requester: str,
        job_id: int | None = None,
        author: tuple[str, str] = (AUTHOR_NAME, AUTHOR_EMAIL),
    ) -> PreparedCommit:
        """Commit every change in the clone; the message's trailer names the requester.

        Raises `GitError` when there is nothing to commit.
        """
        if not await self.dirty():
            raise GitError("commit", "the job changed no file, so there is nothing to commit")
        before = await self.head()
        await self._run(["add", "--all"], "add")
        job = f", labbot job {job_id}" if job_id is not None else ""
        trailer = f"Requested-by: {requester} (Slack user{job})"
        name, email = author
        identity = ["-c", f"user.name={name}", "-c", f"user.email={email}"]
        await self._run(
            [*identity, "commit", "--quiet", "--no-verify", "-m", title, "-m", body, "-m", trailer],
            "commit",
        )
        sha = await self.head()
        out = await self._run(["rev-parse", f"{sha}^{{tree}}"], "rev-parse")
        files = await self.changed_files(before, sha)
        return PreparedCommit(sha=sha, tree=out.stdout[0].strip(), files=tuple(files))

    def remove(self) -> None:
        """Delete the clone from disk (nothing else is touched)."""
        shutil.rmtree(self.path, ignore_errors=True)

    # --- plumbing -------------------------------------------------------------------------------

    async def _run(
        self,
        args: list[str],
        operation: str,
        *,
        in_clone: bool = True,
        allowed_exit: tuple[int, ...] = (0,),
    ) -> GitOutput:
        return await run_git(
            args,
            operation=operation,
            cwd=self.path if in_clone else None,
            timeout=self._timeout,
            redactor=self._redactor,
            cancel=self._cancel,
            allowed_exit=allowed_exit,
        )


def prune_worktrees(root: Path, keep: Path) -> list[Path]:
    """Delete every clone under `root` except `keep`; the caller holds the repo lock."""
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for entry in root.iterdir():
        if entry.resolve() != keep.resolve():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed

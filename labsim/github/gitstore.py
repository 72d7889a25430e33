"""A real bare git repository driven through the `git` CLI (asyncio subprocess, argv lists only).

It must not know about HTTP or GitHub JSON: it only reads and writes git objects and refs.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_ZERO_SHA = "0" * 40


class GitError(RuntimeError):
    """Raised when a git command the emulator relies on fails unexpectedly."""


@dataclass(frozen=True)
class Identity:
    """A git author or committer; `date` is anything git accepts (None = now)."""

    name: str
    email: str
    date: str | None = None


@dataclass(frozen=True)
class CommitInfo:
    """The parsed header and message of one commit object."""

    sha: str
    tree: str
    parents: tuple[str, ...]
    author: Identity
    committer: Identity
    message: str


@dataclass(frozen=True)
class TreeEntry:
    """One `git ls-tree -l` line: a blob or a tree at `path`."""

    mode: str
    kind: str
    sha: str
    size: int
    path: str


@dataclass(frozen=True)
class FileChange:
    """A file changed between two commits, with line counts (0/0 for binary files)."""

    path: str
    status: str
    blob_sha: str
    additions: int
    deletions: int


def _git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        {
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C",
        }
    )
    if extra:
        env.update(extra)
    return env


def _identity_env(author: Identity, committer: Identity) -> dict[str, str]:
    env = {
        "GIT_AUTHOR_NAME": author.name,
        "GIT_AUTHOR_EMAIL": author.email,
        "GIT_COMMITTER_NAME": committer.name,
        "GIT_COMMITTER_EMAIL": committer.email,
    }
    if author.date:
        env["GIT_AUTHOR_DATE"] = author.date
    if committer.date:
        env["GIT_COMMITTER_DATE"] = committer.date
    return env


class BareRepo:
    """A bare repository on disk; every mutation goes through git plumbing.

    Example: ``repo = BareRepo(tmp / "r.git", tmp / "scratch"); await repo.init("main")``.
    """

    def __init__(self, path: Path, scratch: Path) -> None:
        self.path = path
        self._scratch = scratch

    @property
    def url(self) -> str:
        """The file:// URL usable by `git clone` and `git push`."""
        return self.path.resolve().as_uri()

    async def run(
        self,
        *args: str,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        ok_codes: tuple[int, ...] = (0,),
        cwd: Path | None = None,
    ) -> tuple[int, bytes]:
        """Run `git --git-dir=<repo> args...`; return (exit code, stdout) or raise GitError."""
        argv = ["git", f"--git-dir={self.path}", *args] if cwd is None else ["git", *args]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=_git_env(env),
            cwd=cwd,
        )
        out, err = await proc.communicate(stdin)
        code = proc.returncode if proc.returncode is not None else -1
        if code not in ok_codes:
            raise GitError(f"git {' '.join(args)} exited {code}: {err.decode(errors='replace')}")
        return code, out

    async def text(self, *args: str, stdin: bytes | None = None) -> str:
        """Run git and return its stripped stdout as text."""
        _, out = await self.run(*args, stdin=stdin)
        return out.decode().strip()

    async def init(self, default_branch: str) -> None:
        """Create the bare repository with `default_branch` as HEAD."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._scratch.mkdir(parents=True, exist_ok=True)
        proc = await asyncio.create_subprocess_exec(
            "git",
            "init",
            "--quiet",
            "--bare",
            f"--initial-branch={default_branch}",
            str(self.path),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=_git_env(),
        )
        _, err = await proc.communicate()
        if proc.returncode != 0:
            raise GitError(f"git init failed: {err.decode(errors='replace')}")

    async def resolve(self, rev: str) -> str | None:
        """The commit sha `rev` names (branch, tag, sha, refs/...), or None."""
        code, out = await self.run(
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            f"{rev}^{{commit}}",
            ok_codes=(0, 1),
        )
        return out.decode().strip() if code == 0 else None

    async def refs(self, prefix: str = "refs/") -> dict[str, str]:
        """All refs under `prefix` mapped to the sha they point at."""
        out = await self.text("for-each-ref", "--format=%(refname) %(objectname)", prefix)
        pairs = (line.split(" ", 1) for line in out.splitlines() if line)
        return {name: sha for name, sha in pairs}

    async def branches(self) -> dict[str, str]:
        """Branch name (without refs/heads/) to tip sha."""
        heads = await self.refs("refs/heads/")
        return {name.removeprefix("refs/heads/"): sha for name, sha in heads.items()}

    async def update_ref(self, ref: str, new: str, old: str | None = None) -> bool:
        """Point `ref` at `new`; with `old`, only if it still points there (CAS); False if not."""
        args = ["update-ref", ref, new] + ([old] if old is not None else [])
        code, _ = await self.run(*args, ok_codes=(0, 1, 128))
        return code == 0

    async def delete_ref(self, ref: str) -> None:
        """Delete `ref`."""
        await self.run("update-ref", "-d", ref)

    async def commit_files(
        self,
        parent: str | None,
        files: Mapping[str, str | bytes | None],
        message: str,
        author: Identity,
        committer: Identity | None = None,
    ) -> str:
        """Write a commit on top of `parent` that sets (or, for None, deletes) `files`."""
        index = self._scratch / f"index-{uuid.uuid4().hex}"
        env = {"GIT_INDEX_FILE": str(index)}
        try:
            if parent is not None:
                await self.run("read-tree", parent, env=env)
            lines: list[str] = []
            for path, content in files.items():
                if content is None:
                    lines.append(f"0 {_ZERO_SHA}\t{path}")
                    continue
                data = content.encode() if isinstance(content, str) else content
                blob = (await self.run("hash-object", "-w", "--stdin", stdin=data))[1]
                lines.append(f"100644 {blob.decode().strip()}\t{path}")
            if lines:
                await self.run(
                    "update-index", "--index-info", stdin="\n".join(lines).encode() + b"\n", env=env
                )
            _, tree = await self.run("write-tree", env=env)
        finally:
            index.unlink(missing_ok=True)
        parents = [parent] if parent is not None else []
        return await self.create_commit(tree.decode().strip(), parents, message, author, committer)

    async def create_commit(
        self,
        tree: str,
        parents: list[str],
        message: str,
        author: Identity,
        committer: Identity | None = None,
    ) -> str:
        """`git commit-tree` with explicit identities; returns the new commit sha."""
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        env = _identity_env(author, committer or author)
        _, out = await self.run(*args, stdin=message.encode(), env=env)
        return out.decode().strip()

    async def merge_tree(self, ours: str, theirs: str) -> str | None:
        """The tree of a three-way merge of two commits, or None if it conflicts."""
        code, out = await self.run("merge-tree", "--write-tree", ours, theirs, ok_codes=(0, 1))
        return out.decode().split("\n", 1)[0].strip() if code == 0 else None

    async def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """True if `ancestor` is reachable from `descendant`."""
        code, _ = await self.run(
            "merge-base", "--is-ancestor", ancestor, descendant, ok_codes=(0, 1)
        )
        return code == 0

    async def merge_base(self, a: str, b: str) -> str | None:
        """The best common ancestor of two commits, or None for unrelated histories."""
        code, out = await self.run("merge-base", a, b, ok_codes=(0, 1))
        return out.decode().strip() if code == 0 else None

    async def rev_list(self, *spec: str, limit: int | None = None) -> list[str]:
        """Commit shas selected by rev-list `spec`, newest first."""
        args = ["rev-list", *([f"--max-count={limit}"] if limit is not None else []), *spec, "--"]
        return (await self.text(*args)).split()

    async def commit_info(self, sha: str) -> CommitInfo:
        """Parse one commit object."""
        fmt = "%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B"
        _, out = await self.run("show", "-s", f"--format={fmt}", sha, "--")
        fields = out.decode().split("\x00")
        return CommitInfo(
            sha=fields[0],
            tree=fields[1],
            parents=tuple(fields[2].split()),
            author=Identity(fields[3], fields[4], fields[5]),
            committer=Identity(fields[6], fields[7], fields[8]),
            message=fields[9].rstrip("\n"),
        )

    async def entry(self, rev: str, path: str) -> TreeEntry | None:
        """The tree entry at `path` in `rev` (a file or a directory), or None."""
        _, out = await self.run("ls-tree", "-l", "--full-tree", rev, "--", path.strip("/"))
        entries = _parse_ls_tree(out.decode())
        return entries[0] if entries else None

    async def list_tree(self, rev: str, path: str = "") -> list[TreeEntry]:
        """The entries directly inside directory `path` of `rev` ("" = root)."""
        target = f"{rev}:{path.strip('/')}" if path.strip("/") else f"{rev}^{{tree}}"
        _, out = await self.run("ls-tree", "-l", target)
        prefix = f"{path.strip('/')}/" if path.strip("/") else ""
        return [
            TreeEntry(e.mode, e.kind, e.sha, e.size, prefix + e.path)
            for e in _parse_ls_tree(out.decode())
        ]

    async def read_blob(self, sha: str) -> bytes:
        """The raw bytes of a blob."""
        return (await self.run("cat-file", "blob", sha))[1]

    async def read_file(self, rev: str, path: str) -> bytes | None:
        """The content of file `path` at `rev`, or None if there is no such file."""
        found = await self.entry(rev, path)
        if found is None or found.kind != "blob":
            return None
        return await self.read_blob(found.sha)

    async def changed_files(self, base: str, head: str) -> list[FileChange]:
        """Files that differ between two commits (like `git diff base head`)."""
        _, raw = await self.run("diff-tree", "-r", "--no-renames", "--raw", base, head)
        _, num = await self.run("diff-tree", "-r", "--no-renames", "--numstat", base, head)
        counts: dict[str, tuple[int, int]] = {}
        for line in num.decode().splitlines():
            plus, minus, path = line.split("\t", 2)
            counts[path] = (
                int(plus) if plus.isdigit() else 0,
                int(minus) if minus.isdigit() else 0,
            )
        changes = []
        for line in raw.decode().splitlines():
            meta, path = line.split("\t", 1)
            parts = meta.split()
            status = {"A": "added", "D": "removed", "M": "modified"}.get(parts[4][0], "changed")
            blob = parts[2] if status == "removed" else parts[3]
            added, deleted = counts.get(path, (0, 0))
            changes.append(FileChange(path, status, blob, added, deleted))
        return changes

    async def cherry_pick_onto(
        self, base: str, commits: list[str], committer: Identity
    ) -> str | None:
        """Replay `commits` (oldest first) on `base` in a scratch worktree; None on conflict."""
        worktree = self._scratch / f"rebase-{uuid.uuid4().hex}"
        await self.run("worktree", "add", "--quiet", "--detach", str(worktree), base)
        env = {"GIT_COMMITTER_NAME": committer.name, "GIT_COMMITTER_EMAIL": committer.email}
        try:
            code, _ = await self.run(
                "-c",
                "core.hooksPath=/dev/null",
                "cherry-pick",
                "--allow-empty",
                *commits,
                env=env,
                ok_codes=(0, 1),
                cwd=worktree,
            )
            if code != 0:
                await self.run("cherry-pick", "--abort", cwd=worktree, ok_codes=(0, 128))
                return None
            _, out = await self.run("rev-parse", "HEAD", cwd=worktree)
            return out.decode().strip()
        finally:
            await self.run("worktree", "remove", "--force", str(worktree), ok_codes=(0, 128))
            shutil.rmtree(worktree, ignore_errors=True)
            await self.run("worktree", "prune")


def _parse_ls_tree(text: str) -> list[TreeEntry]:
    entries = []
    for line in text.splitlines():
        meta, path = line.split("\t", 1)
        mode, kind, sha, size = meta.split()
        entries.append(TreeEntry(mode, kind, sha, int(size) if size.isdigit() else 0, path))
    return entries

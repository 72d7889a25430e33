"""The operator's checkout of the infra repo (colmena's flake dir), moved to a merged commit.

Must not merge, rebase, reset or discard anything: it only fast-forwards a clean checkout of
the right branch, and refuses (`CheckoutRefused`) in every other case, saying why.

Usage::

    head = await InfraCheckout(config.colmena.flake_dir).fast_forward("main", merge_sha)
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.errors import IntegrationError
from bot.integrations.git import GitError, GitOutput, run_git
from bot.redact import Redactor

DEFAULT_TIMEOUT = 120.0


class CheckoutRefused(IntegrationError):
    """Raised when the checkout cannot simply move forward: local changes, another branch,
    or local commits that the merged commit does not contain."""


class CheckoutFailed(IntegrationError):
    """Raised when git itself fails (fetch from origin, a missing commit, a timeout)."""


class InfraCheckout:
    """One existing checkout; see the module docstring.

    Example: ``await InfraCheckout(path, redactor=run.redactor).fast_forward("main", sha)``.
    """

    def __init__(
        self,
        path: Path,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        redactor: Redactor | None = None,
        cancel: asyncio.Event | None = None,
    ) -> None:
        """`cancel` (a job's Cancel) kills a running git and raises `JobCancelled`."""
        self.path = path
        self._timeout = timeout
        self._redactor = redactor or Redactor()
        self._cancel = cancel

    async def head(self) -> str:
        """The commit the checkout is at."""
        return (await self._git("rev-parse", "HEAD")).stdout[0].strip()

    async def fast_forward(self, branch: str, sha: str) -> str:
        """Fetch `branch` from origin and fast-forward to commit `sha`; returns the new HEAD."""
        current = await self._git("symbolic-ref", "--quiet", "--short", "HEAD", allowed=(0, 1))
        on = current.stdout[0].strip() if current.exit_code == 0 and current.stdout else None
        if on != branch:
            where = f"branch `{on}`" if on else "a detached HEAD"
            raise CheckoutRefused(
                f"the infra checkout {self.path} is on {where}, not `{branch}`; it was left as it is."
            )
        status = await self._git("status", "--porcelain", "--untracked-files=no")
        changed = [line[3:] for line in status.stdout if line.strip()]
        if changed:
            listed = ", ".join(changed[:5]) + (" …" if len(changed) > 5 else "")
            raise CheckoutRefused(
                f"the infra checkout {self.path} has local changes ({listed}); "
                "it was left as it is."
            )
        await self._git("fetch", "--quiet", "--no-tags", "origin", f"refs/heads/{branch}")
        known = await self._git("cat-file", "-e", f"{sha}^{{commit}}", allowed=(0, 1, 128))
        if known.exit_code != 0:
            raise CheckoutFailed(
                f"origin's `{branch}` in {self.path} does not contain commit {sha[:12]} after a fetch."
            )
        ahead = await self._git("merge-base", "--is-ancestor", "HEAD", sha, allowed=(0, 1))
        if ahead.exit_code != 0:
            raise CheckoutRefused(
                f"the infra checkout {self.path} has commits that {sha[:12]} does not contain; "
                "it was left as it is."
            )
        await self._git("merge", "--ff-only", "--quiet", sha)
        head = await self.head()
        if head != sha:
            raise CheckoutFailed(
                f"the infra checkout {self.path} is at {head[:12]}, not {sha[:12]}."
            )
        return head

    async def _git(self, *args: str, allowed: tuple[int, ...] = (0,)) -> GitOutput:
        try:
            return await run_git(
                args,
                operation=args[0],
                cwd=self.path,
                timeout=self._timeout,
                redactor=self._redactor,
                cancel=self._cancel,
                allowed_exit=allowed,
            )
        except GitError as error:
            raise CheckoutFailed(f"git {args[0]} in {self.path} failed: {error.reason}") from None

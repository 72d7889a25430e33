"""Running git for the infra repo: argv lists, a fixed environment, bounded output, errors translated.

The one git runner; `bot/integrations/infra_worktree.py` (a job's clone) and `bot/integrations/infra_checkout.py` (the
operator's checkout) both go through it. Never prompts for credentials.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import IntegrationError
from bot.integrations.process import Stream, run_process
from bot.integrations.tool_env import tool_environment
from bot.job_run import JobCancelled
from bot.redact import Redactor

MAX_OUTPUT_LINES = 100_000
GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",  # fail instead of asking for a password nobody can type
    "GIT_ASKPASS": "true",
    "SSH_ASKPASS": "true",
    "LC_ALL": "C",  # stable messages
}
GIT_CONFIG = ("-c", "core.quotepath=off", "-c", "commit.gpgsign=false", "-c", "color.ui=false")


class GitError(IntegrationError):
    """Raised when git fails; names the operation, with git's stderr redacted."""

    def __init__(self, operation: str, reason: str, *, detail: str = "") -> None:
        super().__init__(f"git {operation} failed for the infra repo: {reason.rstrip('.')}.")
        self.operation = operation
        self.reason = reason
        self.detail = detail


@dataclass
class GitOutput:
    """What git printed (bounded) and its exit code."""

    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    exit_code: int = 0


async def run_git(
    args: Sequence[str],
    *,
    operation: str,
    cwd: Path | None,
    timeout: float,
    redactor: Redactor,
    cancel: asyncio.Event | None = None,
    allowed_exit: tuple[int, ...] = (0,),
) -> GitOutput:
    """Run `git args`; its output, or `GitError` (or `JobCancelled`) when it fails."""
    out = GitOutput()

    def keep(stream: Stream, line: str) -> None:
        lines = out.stdout if stream is Stream.stdout else out.stderr
        if len(lines) < MAX_OUTPUT_LINES:
            lines.append(line)

    result = await run_process(
        ["git", *GIT_CONFIG, *args],
        env=tool_environment(GIT_ENV),
        cwd=str(cwd) if cwd is not None else None,
        timeout=timeout,
        on_line=keep,
        cancel=cancel,
    )
    if result.cancelled:
        raise JobCancelled
    if result.timed_out:
        raise GitError(operation, f"git did not finish within {timeout:g} s")
    out.exit_code = result.exit_code
    if result.exit_code not in allowed_exit:
        text = redactor.redact("\n".join(out.stderr))
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        summary = next((line for line in lines if line.startswith(("fatal:", "error:"))), None)
        reason = summary or (lines[-1] if lines else f"git exited with code {result.exit_code}")
        raise GitError(
            operation, f"{reason[:200]} (exit {result.exit_code})", detail="\n".join(lines[-20:])
        )
    return out

"""GitHub's failures as labbot errors, and the one function that translates PyGithub's exceptions.

Must not make requests: it only classifies exceptions that a call into PyGithub already raised.

    IntegrationError (bot.errors)
    └── GitHubError             a GitHub call failed (carries the HTTP status if there is one)
        ├── GitHubAuthFailed    bad or revoked token, bad app key, app not installed there
        ├── GitHubNotFound      the repo, pull request, file or ref does not exist (404)
        ├── GitHubRateLimited   primary or secondary rate limit longer than the bot will wait
        └── MergeRefused        GitHub answered a merge with 405, 409 or 422
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from github import (
    BadCredentialsException,
    GithubException,
    RateLimitExceededException,
    UnknownObjectException,
)
from github.GithubException import RateLimitExceededExceedsMaxWait
from jwt import PyJWTError

from bot.errors import IntegrationError

MERGE_REFUSALS = {
    405: "it cannot be merged now: conflicts, a missing required check or review, "
    "a disallowed merge method, or it is no longer open",
    409: "its head branch moved after the bot pinned the head sha, so nothing was merged",
    422: "GitHub found the merge request invalid",
}


class GitHubError(IntegrationError):
    """Raised when a GitHub call fails; `status` is the HTTP status (None without a response) and
    `detail` GitHub's own error message."""

    def __init__(self, message: str, status: int | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class GitHubAuthFailed(GitHubError):
    """Raised when GitHub refuses the credentials: bad token, bad app key or no installation."""


class GitHubNotFound(GitHubError):
    """Raised when the repository, pull request, file or ref does not exist (HTTP 404)."""


class GitHubRateLimited(GitHubError):
    """Raised when a rate limit would need a longer wait than the bot allows; `retry_after` in s."""

    def __init__(
        self, message: str, status: int | None, retry_after: float | None, detail: str | None = None
    ) -> None:
        super().__init__(message, status, detail)
        self.retry_after = retry_after


class MergeRefused(GitHubError):
    """Raised when GitHub answers a merge with 405, 409 or 422; `reason` is GitHub's own words.

    Example: ``MergeRefused(409, "Head branch was modified. Review and try the merge again.")``.
    """

    def __init__(
        self,
        status: int,
        reason: str,
        *,
        number: int | None = None,
        already_merged: bool = False,
        already_closed: bool = False,
    ) -> None:
        explanation = MERGE_REFUSALS.get(status, f"GitHub answered HTTP {status}")
        if already_merged:
            explanation = "it is already merged"
        elif already_closed:
            explanation = "it was closed without being merged"
        target = f"PR #{number}" if number is not None else "the pull request"
        super().__init__(
            f"GitHub refused to merge {target}: {explanation} (GitHub says: {reason.rstrip('.')}).",
            status,
            reason,
        )
        self.reason = reason
        self.number = number
        self.already_merged = already_merged
        self.already_closed = already_closed

    @property
    def head_moved(self) -> bool:
        """Whether the refusal is the head-sha guard (someone pushed to the PR branch)."""
        return self.status == 409


LIBRARY_ERRORS: tuple[type[BaseException], ...] = (GithubException, PyJWTError, OSError)
"""What a PyGithub call may raise for an outside failure (requests' errors are OSErrors)."""


def describe_failure(data: Any) -> str:
    """GitHub's error body as one line: `message` plus any `errors` entries."""
    if not isinstance(data, dict):
        return str(data).strip() or "no message"
    parts = [str(data.get("message") or "").strip()]
    errors = data.get("errors")
    if isinstance(errors, list):
        for item in errors:
            text = item.get("message") or item.get("code") if isinstance(item, dict) else item
            if text:
                parts.append(str(text).strip())
    return ": ".join(part for part in parts if part) or "no message"


def translate_github_error(exc: BaseException, target: str, action: str) -> GitHubError:
    """The labbot error for a PyGithub/requests/JWT exception raised while doing `action`."""
    where = f"GitHub {target}: {action}"
    if isinstance(exc, PyJWTError):
        return GitHubAuthFailed(f"{where} failed: the app key cannot sign a token ({exc}).")
    if isinstance(exc, OSError):
        reason = type(exc).__name__
        return GitHubError(f"{where} failed: GitHub is unreachable ({reason}).")
    if not isinstance(exc, GithubException):
        return GitHubError(f"{where} failed: {type(exc).__name__}.")
    status = exc.status
    detail = describe_failure(exc.data)
    if isinstance(exc, RateLimitExceededException) or status == 429:
        wait = _rate_limit_wait(exc)
        when = f"; retry in {wait:.0f} s" if wait is not None else ""
        return GitHubRateLimited(f"{where} was rate-limited by GitHub{when}.", status, wait, detail)
    if isinstance(exc, BadCredentialsException) or status == 401:
        return GitHubAuthFailed(
            f"{where} failed: GitHub refused the credentials ({detail}).", 401, detail
        )
    if isinstance(exc, UnknownObjectException) or status == 404:
        return GitHubNotFound(f"{where} failed: not found (HTTP 404).", 404, detail)
    return GitHubError(f"{where} failed: HTTP {status} ({detail}).", status, detail)


def _rate_limit_wait(exc: GithubException) -> float | None:
    if isinstance(exc, RateLimitExceededExceedsMaxWait) and exc.wait is not None:
        return float(exc.wait)
    headers = {key.lower(): value for key, value in (exc.headers or {}).items()}
    retry_after = headers.get("retry-after", "")
    if retry_after.strip().isdigit():
        return float(retry_after)
    reset = headers.get("x-ratelimit-reset", "")
    if headers.get("x-ratelimit-remaining") == "0" and reset.isdigit():
        return max(0.0, int(reset) - datetime.now(UTC).timestamp())
    return None

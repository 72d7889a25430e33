"""Building labbot's PyGithub connection: credentials, request spacing, bounded rate-limit retries.

Must not run on the event loop: `connect_github` blocks (it may look up the app installation).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from github import Auth, Github, GithubIntegration, GithubRetry, UnknownObjectException
from github.GithubException import RateLimitExceededExceedsMaxWait
from urllib3.connectionpool import ConnectionPool
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from bot.config import GitHubConfig
from bot.integrations.github_errors import GitHubAuthFailed

# Retrying these after a 5xx could post a second review, comment or pull request.
_NOT_IDEMPOTENT = frozenset({"POST", "PATCH"})


@dataclass(frozen=True)
class GitHubTuning:
    """Timeouts, request spacing and retry bounds of `GitHubClient` (tests set spacing to 0).

    The spacing defaults are GitHub's own advice (and PyGithub's): 0.25 s between requests and
    1 s between writes, which keeps a bot clear of secondary rate limits.

    Example: ``GitHubClient(config, GitHubTuning(seconds_between_requests=0, retries=1))``.
    """

    http_timeout: float = 15.0
    call_timeout: float = 120.0
    seconds_between_requests: float = 0.25
    seconds_between_writes: float = 1.0
    retries: int = 3
    max_rate_limit_wait: float = 30.0
    backoff_factor: float = 0.5
    mergeable_attempts: int = 3
    mergeable_retry_delay: float = 1.0
    workers: int = 4
    per_page: int = 100


class BoundedRetry(GithubRetry):
    """PyGithub's retry policy with a ceiling: a Retry-After longer than `max_rate_limit_wait`
    raises at once instead of sleeping, and POST/PATCH are not repeated after a 5xx.

    Example: ``BoundedRetry(total=3, max_rate_limit_wait=30, raise_on_status=False)``.
    """

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        """urllib3's rule, minus 5xx retries of requests that are not idempotent."""
        if method.upper() in _NOT_IDEMPOTENT and status_code >= 500:
            return False
        return super().is_retry(method, status_code, has_retry_after)

    def increment(  # type: ignore[override]
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Retry:
        """Refuse to wait out a Retry-After above the ceiling; otherwise as GithubRetry."""
        if response is not None and response.status in (403, 429):
            wait = _retry_after_seconds(response.headers.get("Retry-After"))
            limit = self.max_rate_limit_wait
            if wait is not None and limit is not None and wait > limit:
                raise RateLimitExceededExceedsMaxWait(
                    response.status,
                    _error_body(response),
                    dict(response.headers),
                    wait=wait,
                )
        retry: Retry = super().increment(
            method,
            url,
            response,  # type: ignore[arg-type]
            error,
            _pool,
            _stacktrace,
        )
        return retry


def _retry_after_seconds(value: str | None) -> float | None:
    if value is None or not value.strip().isdigit():
        return None  # an HTTP-date Retry-After is left to urllib3
    return float(value.strip())


def _error_body(response: BaseHTTPResponse) -> Any:
    try:
        return json.loads(response.data or b"{}")
    except ValueError:
        return {"message": response.reason or f"HTTP {response.status}"}


def make_retry(tuning: GitHubTuning) -> BoundedRetry:
    """The retry policy for `tuning`: few attempts, honoured Retry-After, bounded waits."""
    return BoundedRetry(
        total=tuning.retries,
        backoff_factor=tuning.backoff_factor,
        # GitHub: without Retry-After, wait at least a minute after a secondary rate limit.
        secondary_rate_wait=60.0,
        max_rate_limit_wait=tuning.max_rate_limit_wait,
        raise_on_status=False,
    )


def _read_private_key(config: GitHubConfig) -> str:
    assert config.app_private_key is not None
    try:
        pem = config.app_private_key.read()
    except LookupError as exc:
        raise GitHubAuthFailed(
            f"GitHub {config.repo}: the app private key is missing: {exc}."
        ) from None
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise GitHubAuthFailed(
            f"GitHub {config.repo}: the app private key from "
            f"{config.app_private_key.describe()} is not an unencrypted PEM key."
        ) from None
    if not isinstance(key, RSAPrivateKey):
        raise GitHubAuthFailed(f"GitHub {config.repo}: the app private key is not an RSA key.")
    return pem


def _installation_id(config: GitHubConfig, app_auth: Auth.AppAuth, tuning: GitHubTuning) -> int:
    """`GET /repos/{owner}/{repo}/installation` with the app's JWT."""
    owner, _, name = config.repo.partition("/")
    integration = GithubIntegration(
        auth=app_auth,
        base_url=config.base_url,
        timeout=math.ceil(tuning.http_timeout),
        retry=make_retry(tuning),
        seconds_between_requests=tuning.seconds_between_requests,
        seconds_between_writes=tuning.seconds_between_writes,
    )
    try:
        return int(integration.get_repo_installation(owner, name).id)
    finally:
        integration.close()


def connect_github(config: GitHubConfig, tuning: GitHubTuning) -> Github:
    """A PyGithub client for `config` (blocking; PyGithub errors propagate to the caller's seam).

    With a GitHub App and no `installation_id`, the installation is looked up for the repo.
    """
    auth: Auth.Auth
    if config.token is not None:
        try:
            auth = Auth.Token(config.token.read())
        except LookupError as exc:
            raise GitHubAuthFailed(f"GitHub {config.repo}: the token is missing: {exc}.") from None
    else:
        assert config.app_id is not None
        app_auth = Auth.AppAuth(config.app_id, _read_private_key(config))
        installation = config.installation_id
        if installation is None:
            try:
                installation = _installation_id(config, app_auth, tuning)
            except UnknownObjectException:
                raise GitHubAuthFailed(
                    f"GitHub {config.repo}: app {config.app_id} is not installed on the repo.", 404
                ) from None
        auth = app_auth.get_installation_auth(installation)
    return Github(
        auth=auth,
        base_url=config.base_url,
        timeout=math.ceil(tuning.http_timeout),
        per_page=tuning.per_page,
        retry=make_retry(tuning),
        seconds_between_requests=tuning.seconds_between_requests,
        seconds_between_writes=tuning.seconds_between_writes,
        lazy=True,  # objects are fetched when read, so get_repo() itself makes no request
    )

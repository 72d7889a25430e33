"""Who is calling and may they: tokens, GitHub App JWTs, installation tokens, primary rate limit.

It must not route requests or shape resources: it answers "which actor" and "over the limit?".
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from labsim.github.model import Actor, Installation, utcnow

# GitHub rejects app JWTs valid for over 10 minutes (exp - iat); wording believed, not verified.
MAX_JWT_LIFETIME = 600
JWT_UNDECODABLE = "A JSON web token could not be decoded"
JWT_EXP_TOO_FAR = "'Expiration time' claim ('exp') is too far in the future"
JWT_EXPIRED = (
    "'Expiration time' claim ('exp') must be a numeric value representing the future time at "
    "which the assertion expires"
)
BAD_CREDENTIALS = "Bad credentials"
NOT_ACCESSIBLE = "Resource not accessible by integration"
TOKEN_LIFETIME = timedelta(hours=1)


@dataclass(frozen=True)
class TokenGrant:
    """What a personal access token may do.

    A classic token (`ghp_`) has OAuth scopes, which GitHub names in the `X-OAuth-Scopes`
    header of every answer ("Scopes for OAuth apps", docs.github.com/en/apps/oauth-apps/
    building-oauth-apps/scopes-for-oauth-apps); without `repo` a private repository answers
    404 as if it did not exist ("Troubleshooting the REST API": 404 for an existing
    resource). A fine-grained token (`github_pat_`) has repository permissions instead: a call
    it lacks one for answers 403 "Resource not accessible by personal access token" and the
    `X-Accepted-GitHub-Permissions` header names what the endpoint needs (same page, "Resource
    not accessible"; github.blog/changelog/2023-08-10-x-accepted-github-permissions-header-
    for-fine-grained-permission-actors).
    """

    scopes: tuple[str, ...] | None = ("repo",)
    permissions: dict[str, str] | None = None

    @property
    def fine_grained(self) -> bool:
        """Permissions rather than scopes."""
        return self.permissions is not None

    def allows(self, permission: str, access: str) -> bool:
        """Whether a fine-grained token has `permission` at `access` ("read" or "write")."""
        granted = (self.permissions or {}).get(permission)
        if permission == "metadata":
            return True  # every fine-grained token has Metadata: read
        return granted == "write" or (granted == "read" and access == "read")


FULL_TOKEN = TokenGrant()
"""A classic token with the `repo` scope: all a token for a private repository needs."""
NOT_ACCESSIBLE_BY_PAT = "Resource not accessible by personal access token"


@dataclass(frozen=True)
class Credential:
    """An authenticated caller: a user token, an installation token or the app itself (JWT)."""

    actor: Actor
    kind: str
    installation_id: int | None = None
    grant: TokenGrant | None = None


@dataclass(frozen=True)
class AuthFailure:
    """Authentication refused: the HTTP status and GitHub's message."""

    status: int
    message: str


@dataclass
class InstallationToken:
    """A `ghs_` token minted by `POST /app/installations/{id}/access_tokens`."""

    token: str
    installation: Installation
    actor: Actor
    expires_at: datetime


def is_app_path(path: str) -> bool:
    """Endpoints that take the app JWT rather than a token."""
    parts = path.strip("/").split("/")
    return parts[0] == "app" or (
        len(parts) == 4 and parts[0] == "repos" and parts[3] == "installation"
    )


class AccessControl:
    """Resolves `Authorization` headers to a `Credential` (or an `AuthFailure`).

    Example: ``AccessControl({"ghp_x": bot}, 1, pem).authenticate(header, "/user")``.
    """

    def __init__(
        self, user_tokens: dict[str, Actor], app_id: int | None, public_key_pem: str | None
    ) -> None:
        self.user_tokens = user_tokens
        self.grants: dict[str, TokenGrant] = {}
        self.app_id = app_id
        self.public_key_pem = public_key_pem
        self.app_actor: Actor | None = None
        self.installation_tokens: dict[str, InstallationToken] = {}

    def authenticate(self, header: str | None, path: str) -> Credential | AuthFailure:
        """Check the header for `path` (relative to the API root)."""
        if not header:
            return AuthFailure(401, "Requires authentication")
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() not in ("token", "bearer") or not value:
            return AuthFailure(401, BAD_CREDENTIALS)
        value = value.strip()
        if value.count(".") == 2 and value.startswith("eyJ"):
            return self._authenticate_jwt(value, path)
        if is_app_path(path):
            return AuthFailure(401, JWT_UNDECODABLE)
        actor = self.user_tokens.get(value)
        if actor is not None:
            return Credential(actor, "token", grant=self.grants.get(value, FULL_TOKEN))
        minted = self.installation_tokens.get(value)
        if minted is not None and minted.expires_at > utcnow():
            return Credential(minted.actor, "installation", minted.installation.id)
        return AuthFailure(401, BAD_CREDENTIALS)

    def _authenticate_jwt(self, token: str, path: str) -> Credential | AuthFailure:
        if self.app_id is None or self.public_key_pem is None or self.app_actor is None:
            return AuthFailure(401, JWT_UNDECODABLE)
        try:
            claims = jwt.decode(
                token,
                self.public_key_pem,
                algorithms=["RS256"],
                options={"require": ["iat", "exp", "iss"], "verify_iss": False},
                leeway=60,
            )
        except jwt.ExpiredSignatureError:
            return AuthFailure(401, JWT_EXPIRED)
        except jwt.PyJWTError:
            return AuthFailure(401, JWT_UNDECODABLE)
        if str(claims["iss"]) != str(self.app_id):
            return AuthFailure(401, JWT_UNDECODABLE)
        if int(claims["exp"]) - int(claims["iat"]) > MAX_JWT_LIFETIME + 60:
            return AuthFailure(401, JWT_EXP_TOO_FAR)
        if not is_app_path(path):
            # Inferred: app JWTs only work on /app endpoints; elsewhere GitHub refuses them.
            return AuthFailure(403, NOT_ACCESSIBLE)
        return Credential(self.app_actor, "app")

    def mint(self, installation: Installation, actor: Actor) -> InstallationToken:
        """Issue a fresh one-hour installation token."""
        token = InstallationToken(
            token="ghs_" + secrets.token_hex(18),
            installation=installation,
            actor=actor,
            expires_at=utcnow() + TOKEN_LIFETIME,
        )
        self.installation_tokens[token.token] = token
        return token

    def expire_installation_tokens(self) -> None:
        """Make every minted installation token expired (to exercise token refresh)."""
        for minted in self.installation_tokens.values():
            minted.expires_at = utcnow() - timedelta(seconds=1)


class RateLimit:
    """The primary `core` rate limit: one bucket for the whole emulator (a simplification)."""

    def __init__(self, limit: int = 5000, window: int = 3600) -> None:
        self.limit = limit
        self.window = window
        self.used = 0
        self.reset = int(time.time()) + window

    def _roll(self) -> None:
        now = int(time.time())
        if now >= self.reset:
            self.used, self.reset = 0, now + self.window

    @property
    def remaining(self) -> int:
        """Requests left in the current window."""
        self._roll()
        return max(self.limit - self.used, 0)

    def charge(self) -> bool:
        """Count one request; False if the limit was already exhausted."""
        if self.remaining <= 0:
            return False
        self.used += 1
        return True

    def refund(self) -> None:
        """Give back one charged request: a `304 Not Modified` does not count (GitHub, "Best
        practices for using the REST API", https://docs.github.com/en/rest/using-the-rest-api/
        best-practices-for-using-the-rest-api#use-conditional-requests-if-appropriate)."""
        self._roll()
        self.used = max(self.used - 1, 0)

    def exhaust(self, reset_in: float) -> None:
        """Use up the bucket until `reset_in` seconds from now."""
        self.used, self.reset = self.limit, int(time.time() + reset_in)

    def headers(self) -> dict[str, str]:
        """X-RateLimit-* headers as GitHub sends them on every response."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
            "X-RateLimit-Used": str(self.used),
            "X-RateLimit-Resource": "core",
        }

    def resource(self) -> dict[str, int | str]:
        """The `core` entry of `GET /rate_limit`."""
        return {
            "limit": self.limit,
            "remaining": self.remaining,
            "reset": self.reset,
            "used": self.used,
            "resource": "core",
        }

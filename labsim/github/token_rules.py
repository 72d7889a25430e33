"""What each emulated endpoint needs of a personal access token: a classic token's scope, a
fine-grained token's repository permission.

It must not authenticate or route: the emulator asks `refusal` once it knows the caller. The
permissions per endpoint are GitHub's table, "Permissions required for fine-grained personal
access tokens" (docs.github.com/en/rest/authentication/permissions-required-for-fine-grained-
personal-access-tokens); an issue comment takes Issues or Pull requests (the "Additional
permissions" alternatives, joined by ";" in the header as "Troubleshooting the REST API" shows).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from labsim.github.access import NOT_ACCESSIBLE_BY_PAT, TokenGrant

_REPO = r"^/repos/[^/]+/[^/]+"
Needs = tuple[tuple[str, str], ...]
"""Alternatives, any one of which suffices: (permission, "read" | "write")."""

_RULES: tuple[tuple[str, re.Pattern[str], Needs], ...] = tuple(
    (method, re.compile(_REPO + path), needs)
    for method, path, needs in (
        ("GET", r"$", (("metadata", "read"),)),
        ("GET", r"/pulls(/\d+(/.*)?)?$", (("pull_requests", "read"),)),
        ("PUT", r"/pulls/\d+/merge$", (("contents", "write"),)),
        ("POST", r"/pulls(/\d+/reviews)?$", (("pull_requests", "write"),)),
        ("PATCH", r"/pulls/\d+$", (("pull_requests", "write"),)),
        ("GET", r"/issues/\d+(/comments)?$", (("issues", "read"), ("pull_requests", "read"))),
        ("POST", r"/issues/\d+/comments$", (("issues", "write"), ("pull_requests", "write"))),
        ("GET", r"/commits/.+/check-runs$", (("checks", "read"),)),
        ("GET", r"/check-runs/\d+$", (("checks", "read"),)),
        ("POST", r"/check-runs$", (("checks", "write"),)),
        ("PATCH", r"/check-runs/\d+$", (("checks", "write"),)),
        ("GET", r"/commits/.+/status(es)?$", (("statuses", "read"),)),
        ("POST", r"/statuses/[0-9a-f]+$", (("statuses", "write"),)),
        ("GET", r"/(branches|git|contents|commits|compare)(/.*)?$", (("contents", "read"),)),
        ("POST", r"/git/refs$", (("contents", "write"),)),
        ("PATCH", r"/git/refs/.+$", (("contents", "write"),)),
        ("DELETE", r"/git/refs/.+$", (("contents", "write"),)),
        ("PUT", r"/contents/.+$", (("contents", "write"),)),
    )
)


@dataclass(frozen=True)
class Refusal:
    """The answer to a call the token may not make: status, message, extra headers."""

    status: int
    message: str
    headers: dict[str, str]


def needs(method: str, path: str) -> Needs | None:
    """The permissions `method path` needs (alternatives), or None for a path outside a
    repository or not in the table."""
    for rule_method, pattern, wanted in _RULES:
        if rule_method == method and pattern.search(path):
            return wanted
    return None


def accepted_header(wanted: Needs) -> str:
    """`X-Accepted-GitHub-Permissions`: alternatives separated by "; "."""
    return "; ".join(f"{permission}={access}" for permission, access in wanted)


def refusal(grant: TokenGrant, method: str, path: str, private: bool) -> Refusal | None:
    """None when the token may make the call; otherwise GitHub's answer."""
    if not path.startswith("/repos/"):
        return None
    if not grant.fine_grained:
        scopes = set(grant.scopes or ())
        if private and "repo" not in scopes:
            return Refusal(404, "Not Found", {})  # private repositories need `repo`
        return None
    wanted = needs(method, path)
    if wanted is None or any(grant.allows(p, a) for p, a in wanted):
        return None
    return Refusal(
        403, NOT_ACCESSIBLE_BY_PAT, {"X-Accepted-GitHub-Permissions": accepted_header(wanted)}
    )

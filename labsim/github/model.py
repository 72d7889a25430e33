"""The GitHub emulator's in-memory state: accounts, repositories, pull requests, CI, records.

It must not do I/O: git lives in `gitstore`, HTTP in the route modules.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from labsim.github.gitstore import BareRepo

JsonValue = Any
"""Decoded JSON as received on the wire (kept as-is for recording)."""

MERGE_METHODS = ("merge", "squash", "rebase")


def utcnow() -> datetime:
    """Now, in UTC, truncated to whole seconds (GitHub timestamps have no fraction)."""
    return datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Actor:
    """A GitHub account (user, bot or organisation)."""

    login: str
    id: int
    type: str = "User"

    @property
    def noreply_email(self) -> str:
        """The `<id>+<login>@users.noreply.github.com` address GitHub uses for web commits."""
        return f"{self.id}+{self.login}@users.noreply.github.com"


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP request the emulator answered: path is relative to the API root.

    `conditional`: it carried `If-None-Match` or `If-Modified-Since`; `counted`: it was charged
    against the primary rate limit (a 304 is not, nor is `GET /rate_limit`).
    """

    method: str
    path: str
    status: int
    query: str = ""
    body: JsonValue = None
    conditional: bool = False
    counted: bool = False


@dataclass(frozen=True)
class MergeRecord:
    """A merge performed through `PUT /pulls/{n}/merge`."""

    repo: str
    number: int
    head_sha: str
    method: str
    merge_commit_sha: str
    merged_by: str


@dataclass(frozen=True)
class ReviewRecord:
    """A submitted (or pending) pull request review."""

    id: int
    number: int
    user: Actor
    state: str
    body: str
    commit_id: str
    submitted_at: datetime


@dataclass(frozen=True)
class CommentRecord:
    """An issue comment (PRs are issues, so PR conversation comments land here too)."""

    id: int
    number: int
    user: Actor
    body: str
    created_at: datetime


@dataclass(frozen=True)
class StatusEntry:
    """One commit status (`POST /statuses/{sha}`); the newest per context wins."""

    id: int
    sha: str
    context: str
    state: str
    description: str | None
    target_url: str | None
    created_at: datetime
    creator: Actor


@dataclass
class CheckRun:
    """A check run on a commit; mutable because check runs are updated in place."""

    id: int
    name: str
    head_sha: str
    status: str
    conclusion: str | None
    started_at: datetime
    completed_at: datetime | None = None
    details_url: str | None = None
    external_id: str | None = None
    output: dict[str, JsonValue] = field(default_factory=dict)
    app_slug: str = "github-actions"


@dataclass(frozen=True)
class BranchProtection:
    """What GitHub requires before merging into a protected branch."""

    required_contexts: tuple[str, ...] = ()
    required_approvals: int = 0
    strict: bool = False


@dataclass
class PullRequest:
    """A pull request; `head_sha`/`base_sha` follow the branches while it is open."""

    number: int
    id: int
    title: str
    body: str
    user: Actor
    head_ref: str
    base_ref: str
    head_sha: str
    base_sha: str
    created_at: datetime
    updated_at: datetime
    draft: bool = False
    state: str = "open"
    closed_at: datetime | None = None
    merged: bool = False
    merged_at: datetime | None = None
    merged_by: Actor | None = None
    merge_commit_sha: str | None = None
    labels: list[str] = field(default_factory=list)
    reviews: list[ReviewRecord] = field(default_factory=list)
    comments: list[CommentRecord] = field(default_factory=list)
    # Mergeability as GitHub computes it in the background (reference §6: null, then a value).
    synced_key: tuple[str, str] | None = None
    mergeable_key: tuple[str, str] | None = None
    conflict_free: bool | None = None
    null_gets_left: int = 0
    mergeable_override: tuple[bool | None, str] | None = None


@dataclass
class Repository:
    """A repository: its bare git repo plus the GitHub-only objects attached to it."""

    id: int
    owner: Actor
    name: str
    git: BareRepo
    default_branch: str
    created_at: datetime
    private: bool = True
    pulls: dict[int, PullRequest] = field(default_factory=dict)
    statuses: list[StatusEntry] = field(default_factory=list)
    check_runs: dict[int, CheckRun] = field(default_factory=dict)
    protections: dict[str, BranchProtection] = field(default_factory=dict)
    merge_methods: set[str] = field(default_factory=lambda: set(MERGE_METHODS))
    next_number: int = 1
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def full_name(self) -> str:
        """`owner/name`."""
        return f"{self.owner.login}/{self.name}"

    def take_number(self) -> int:
        """Allocate the next issue/PR number (they share one sequence)."""
        number = self.next_number
        self.next_number += 1
        return number


@dataclass
class Installation:
    """A GitHub App installation on an account."""

    id: int
    account: Actor
    app_id: int
    app_slug: str
    created_at: datetime


@dataclass
class IdSequence:
    """Monotonic ids shared by every object the emulator creates."""

    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1_000_001))

    def next(self) -> int:
        """The next unused id."""
        return next(self.counter)


@dataclass(frozen=True)
class PullDetail:
    """The fields only the single-PR GET returns (computed on demand)."""

    mergeable: bool | None
    mergeable_state: str
    commits: int
    additions: int
    deletions: int
    changed_files: int

"""What labbot's GitHub client returns: frozen snapshots of pull requests, reviews and merges.

Must not hold PyGithub objects: every value here is plain data, safe to pass between tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class PullSummary:
    """A pull request as the list endpoint shows it (no mergeability, no files)."""

    number: int
    title: str
    url: str
    html_url: str
    author: str
    head_ref: str
    head_sha: str
    base_ref: str
    draft: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PullDetails(PullSummary):
    """One pull request in full: the summary plus mergeability, state, body and changed files.

    `mergeable` is None when GitHub had not computed it yet after the client's retries.
    """

    base_sha: str
    mergeable: bool | None
    mergeable_state: str
    state: str
    merged: bool
    closed_at: datetime | None
    merge_commit_sha: str | None
    body: str
    changed_files: tuple[str, ...]

    @property
    def closed(self) -> bool:
        """Whether the pull request is closed (merged or not)."""
        return self.state == "closed"


@dataclass(frozen=True)
class ReviewResult:
    """A submitted review: its id, state (e.g. APPROVED) and the commit it applies to."""

    id: int
    state: str
    commit_id: str
    html_url: str


@dataclass(frozen=True)
class MergeResult:
    """A successful merge: the merge commit's sha and the head sha that was merged."""

    number: int
    merged: bool
    sha: str
    head_sha: str
    method: str
    message: str


@dataclass(frozen=True)
class PostedComment:
    """A comment posted on a pull request's conversation."""

    id: int
    html_url: str


@dataclass(frozen=True)
class BranchRule:
    """A branch's protection as anyone who can read the branch sees it."""

    protected: bool
    required_checks: tuple[str, ...] = ()


@dataclass(frozen=True)
class RepoAccess:
    """The repository as the token sees it: the account's role (`can_push`), a classic
    token's scopes (None for a fine-grained token or an app, which have none), the reads
    GitHub refused (what for → the permission it asked for) and the default branch's rule."""

    default_branch: str
    can_push: bool
    private: bool = True
    oauth_scopes: tuple[str, ...] | None = None
    refused_reads: tuple[tuple[str, str], ...] = ()
    branch_rule: BranchRule | None = None

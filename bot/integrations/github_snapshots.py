"""PyGithub's objects as labbot's snapshots: pull requests, CI entries, file text.

Must not make requests: every function reads attributes a response already filled (a lazily
built object is only ever given the attributes of a list item or a full GET).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from github.CheckRun import CheckRun
from github.CommitCombinedStatus import CommitCombinedStatus
from github.ContentFile import ContentFile
from github.File import File
from github.PullRequest import PullRequest
from github.Requester import Requester

from bot.integrations.github_ci import CheckRunState, StatusContext
from bot.integrations.github_conditional import ParseJson
from bot.integrations.github_errors import GitHubError
from bot.integrations.github_models import PullDetails, PullSummary
from bot.outside_text import Outside, outside_or_none

# PyGithub's own Accept header for check runs (github/Commit.py, get_check_runs).
CHECK_RUNS_ACCEPT = {"Accept": "application/vnd.github.v3+json"}


def summary_of(pr: PullRequest) -> PullSummary:
    """The list-item view of a pull request."""
    return PullSummary(
        number=pr.number,
        title=Outside(pr.title),
        url=pr.url,
        html_url=pr.html_url,
        author=Outside(pr.user.login),
        head_ref=Outside(pr.head.ref),
        head_sha=pr.head.sha,
        base_ref=Outside(pr.base.ref),
        draft=bool(pr.draft),
        created_at=pr.created_at,
        updated_at=pr.updated_at or pr.created_at,
    )


def pull_summaries(requester: Requester, headers: dict[str, Any], data: Any) -> list[PullSummary]:
    """Parses a page of `GET /pulls`."""
    return [summary_of(PullRequest(requester, headers, item)) for item in data]


def file_names(requester: Requester, headers: dict[str, Any], data: Any) -> list[str]:
    """Parses a page of `GET /pulls/{n}/files` into the changed paths."""
    return [File(requester, headers, item).filename for item in data]


def check_run_states(
    requester: Requester, headers: dict[str, Any], data: Any
) -> list[tuple[int, CheckRunState]]:
    """Parses a page of `GET /commits/{sha}/check-runs` into (run id, state) pairs."""
    runs = (CheckRun(requester, headers, item) for item in data["check_runs"])
    return [(run.id, check_run_state(run)) for run in runs]


def combined_status(
    requester: Requester, headers: dict[str, Any], data: Any
) -> tuple[str, list[StatusContext]]:
    """Parses `GET /commits/{sha}/status` into its state and its contexts."""
    combined = CommitCombinedStatus(requester, headers, data)
    return combined.state, [
        StatusContext(Outside(s.context), s.state, outside_or_none(s.description), s.target_url)
        for s in combined.statuses
    ]


def file_text(what: str) -> ParseJson[str]:
    """Parses `GET /contents/{path}?ref=` into the file's text; `what` names it in errors."""

    def parse(requester: Requester, headers: dict[str, Any], data: Any) -> str:
        if not isinstance(data, dict):
            raise GitHubError(f"{what} is a directory.")
        content = ContentFile(requester, headers, data, completed=True)
        if content.encoding != "base64":
            raise GitHubError(f"{what} is too large for the contents API.")
        return content.decoded_content.decode("utf-8", errors="replace")

    return parse


def check_run_state(run: CheckRun) -> CheckRunState:
    """One check run as the CI verdict needs it."""
    return CheckRunState(Outside(run.name), run.status, run.conclusion, run.details_url)


def details_of(pr: PullRequest) -> PullDetails:
    """Every field but the changed files (one GET of the PR)."""
    summary = summary_of(pr)
    return PullDetails(
        **{f.name: getattr(summary, f.name) for f in dataclasses.fields(PullSummary)},
        base_sha=pr.base.sha,
        mergeable=pr.mergeable,
        mergeable_state=pr.mergeable_state or "unknown",
        state=pr.state,
        merged=bool(pr.merged),
        closed_at=pr.closed_at,
        merge_commit_sha=pr.merge_commit_sha,
        body=Outside(pr.body or ""),
        changed_files=(),
    )

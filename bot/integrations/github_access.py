"""What labbot's GitHub credentials may do on the infra repository, found by reading only
(`labbot doctor`).

GitHub shows a token's rights in three places, and this reads each:
- the repository's `permissions` ("Get a repository"): the account's role, which a token never
  exceeds (docs.github.com/en/rest/repos/repos#get-a-repository);
- a classic token's scopes, in the `X-OAuth-Scopes` header of every answer (PyGithub keeps it
  as `Github.oauth_scopes`; docs.github.com/en/apps/oauth-apps/building-oauth-apps/scopes-for-
  oauth-apps);
- for a fine-grained token or an app, nothing lists its permissions: one read per permission
  labbot needs answers 403 "Resource not accessible by …" when it lacks it, with the
  `X-Accepted-GitHub-Permissions` header naming the permission (docs.github.com/en/rest/
  using-the-rest-api/troubleshooting-the-rest-api#resource-not-accessible). A write permission
  cannot be seen without writing, so a read-only check cannot confirm one.
The branch read also gives its protection summary ("Get a branch": `protected`, `protection`).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from github import Github, GithubException, RateLimitExceededException
from github.Repository import Repository

from bot.integrations.github_models import BranchRule, RepoAccess

READS = (
    ("contents", "branches/{branch}"),
    ("pull requests", "pulls"),
    ("checks", "commits/{branch}/check-runs"),
    ("commit statuses", "commits/{branch}/status"),
)
"""What labbot reads, each with one GET that needs that permission (Metadata aside)."""


def read_access(github: Github, repo: Repository) -> RepoAccess:
    """Ask GitHub, reading only. Runs in a pool thread; PyGithub's errors propagate except a
    403 refusal of one of `READS`, which is the finding."""
    permissions = repo.permissions  # GET /repos/{owner}/{repo}
    scopes = github.oauth_scopes
    branch = urllib.parse.quote(repo.default_branch, safe="")
    refused: list[tuple[str, str]] = []
    rule: BranchRule | None = None
    for what, path in READS:
        url = f"{repo.url}/{path.format(branch=branch)}"
        try:
            # One item is enough to learn whether the read is allowed.
            _, data = github.requester.requestJsonAndCheck("GET", url, parameters={"per_page": 1})
        except RateLimitExceededException:
            raise
        except GithubException as exc:
            if exc.status != 403:
                raise
            headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
            message = str((exc.data or {}).get("message", "")) if isinstance(exc.data, dict) else ""
            refused.append((what, headers.get("x-accepted-github-permissions") or message))
            continue
        if what == "contents":
            rule = _rule(data)
    return RepoAccess(
        default_branch=repo.default_branch,
        can_push=bool(permissions and permissions.push),
        private=bool(repo.private),
        oauth_scopes=tuple(scopes) if scopes is not None else None,
        refused_reads=tuple(refused),
        branch_rule=rule,
    )


def _rule(branch: Any) -> BranchRule:
    if not isinstance(branch, dict):
        return BranchRule(False)
    protection = branch.get("protection") or {}
    checks = (protection.get("required_status_checks") or {}).get("contexts") or []
    return BranchRule(bool(branch.get("protected")), tuple(str(c) for c in checks))

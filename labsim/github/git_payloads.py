"""JSON bodies for accounts, repositories and git data, shaped like GitHub's REST responses.

It must not read git or decide anything: callers pass in the facts, this module only shapes them.
PyGithub follows `url` fields (reference §6), so they all start with the exact API base URL.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from labsim.github.gitstore import CommitInfo, FileChange, TreeEntry
from labsim.github.model import Actor, BranchProtection, Installation, Repository

LEVELS = ("pull", "triage", "push", "maintain", "admin")
"""A repository role's levels, lowest first; a role has its own and every lower one."""
_LEVEL_OF_ROLE = {"read": "pull", "write": "push"}

Json = dict[str, Any]


def iso(moment: datetime | None) -> str | None:
    """GitHub's timestamp format (`2025-01-31T12:00:00Z`)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None


def node_id(kind: str, ident: int | str) -> str:
    """An opaque GraphQL-style node id."""
    return base64.b64encode(f"{kind}:{ident}".encode()).decode().rstrip("=")


class GitPayloads:
    """Account, repository and git-data bodies for one emulator (fixed API and web roots).

    Example: ``GitPayloads("http://127.0.0.1:8080/api/v3", "http://127.0.0.1:8080", {}).user(a)``.
    """

    def __init__(self, api_url: str, web_url: str, accounts_by_email: Mapping[str, Actor]) -> None:
        self.api = api_url.rstrip("/")
        self.web = web_url.rstrip("/")
        self._by_email = accounts_by_email

    def repo_api(self, repo: Repository) -> str:
        """`{api}/repos/{owner}/{name}`."""
        return f"{self.api}/repos/{repo.full_name}"

    def user(self, actor: Actor) -> Json:
        """A simple-user object."""
        return {
            "login": actor.login,
            "id": actor.id,
            "node_id": node_id("User", actor.id),
            "avatar_url": f"{self.web}/avatars/u/{actor.id}?v=4",
            "url": f"{self.api}/users/{urllib.parse.quote(actor.login)}",
            "html_url": f"{self.web}/{urllib.parse.quote(actor.login)}",
            "type": actor.type,
            "site_admin": False,
        }

    def repository(self, repo: Repository, clone_url: str, role: str = "admin") -> Json:
        """A full repository object; `clone_url` is the file:// URL of the bare repo."""
        base = self.repo_api(repo)
        return {
            "id": repo.id,
            "node_id": node_id("Repository", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "owner": self.user(repo.owner),
            "private": repo.private,
            "visibility": "private" if repo.private else "public",
            "html_url": f"{self.web}/{repo.full_name}",
            "description": None,
            "fork": False,
            "url": base,
            "pulls_url": f"{base}/pulls{{/number}}",
            "statuses_url": f"{base}/statuses/{{sha}}",
            "contents_url": f"{base}/contents/{{+path}}",
            "git_refs_url": f"{base}/git/refs{{/sha}}",
            "branches_url": f"{base}/branches{{/branch}}",
            "commits_url": f"{base}/commits{{/sha}}",
            # GitHub gives https/ssh URLs; the emulator hands out the bare repo's file:// URL.
            "clone_url": clone_url,
            "git_url": clone_url,
            "ssh_url": clone_url,
            "default_branch": repo.default_branch,
            "created_at": iso(repo.created_at),
            "updated_at": iso(repo.created_at),
            "pushed_at": iso(repo.created_at),
            "archived": False,
            "disabled": False,
            # The caller's role on the repository ("Get a repository": `permissions`), a
            # collaborator's role from read to admin, each including the ones below it.
            "permissions": {
                level: LEVELS.index(level) <= LEVELS.index(_LEVEL_OF_ROLE.get(role, role))
                for level in reversed(LEVELS)
            },
            "allow_merge_commit": "merge" in repo.merge_methods,
            "allow_squash_merge": "squash" in repo.merge_methods,
            "allow_rebase_merge": "rebase" in repo.merge_methods,
            "delete_branch_on_merge": False,
        }

    def _account_for(self, email: str) -> Json | None:
        actor = self._by_email.get(email)
        return self.user(actor) if actor is not None else None

    def commit(
        self, repo: Repository, info: CommitInfo, files: Sequence[FileChange] | None = None
    ) -> Json:
        """A commit; `files`/`stats` are included when `files` is given (single-commit GET)."""
        base = self.repo_api(repo)
        body: Json = {
            "sha": info.sha,
            "node_id": node_id("Commit", info.sha),
            "url": f"{base}/commits/{info.sha}",
            "html_url": f"{self.web}/{repo.full_name}/commit/{info.sha}",
            "comments_url": f"{base}/commits/{info.sha}/comments",
            "commit": self.git_commit(repo, info),
            "author": self._account_for(info.author.email),
            "committer": self._account_for(info.committer.email),
            "parents": [
                {
                    "sha": p,
                    "url": f"{base}/commits/{p}",
                    "html_url": f"{self.web}/{repo.full_name}/commit/{p}",
                }
                for p in info.parents
            ],
        }
        if files is not None:
            additions = sum(f.additions for f in files)
            deletions = sum(f.deletions for f in files)
            body["stats"] = {
                "total": additions + deletions,
                "additions": additions,
                "deletions": deletions,
            }
            body["files"] = [self.file_change(repo, info.sha, f) for f in files]
        return body

    def git_commit(self, repo: Repository, info: CommitInfo) -> Json:
        """The git-data view of a commit (`commit` inside a commit, or GET /git/commits/{sha})."""
        base = self.repo_api(repo)
        return {
            "sha": info.sha,
            "url": f"{base}/git/commits/{info.sha}",
            "html_url": f"{self.web}/{repo.full_name}/commit/{info.sha}",
            "author": {
                "name": info.author.name,
                "email": info.author.email,
                "date": _git_date(info.author.date),
            },
            "committer": {
                "name": info.committer.name,
                "email": info.committer.email,
                "date": _git_date(info.committer.date),
            },
            "message": info.message,
            "tree": {"sha": info.tree, "url": f"{base}/git/trees/{info.tree}"},
            "parents": [{"sha": p, "url": f"{base}/git/commits/{p}"} for p in info.parents],
            "comment_count": 0,
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
            },
        }

    def file_change(self, repo: Repository, ref: str, change: FileChange) -> Json:
        """One entry of a commit's, comparison's or PR's `files`."""
        quoted = urllib.parse.quote(change.path)
        return {
            "sha": change.blob_sha,
            "filename": change.path,
            "status": change.status,
            "additions": change.additions,
            "deletions": change.deletions,
            "changes": change.additions + change.deletions,
            "blob_url": f"{self.web}/{repo.full_name}/blob/{ref}/{quoted}",
            "raw_url": f"{self.web}/{repo.full_name}/raw/{ref}/{quoted}",
            "contents_url": f"{self.repo_api(repo)}/contents/{quoted}?ref={ref}",
        }

    def git_ref(self, repo: Repository, ref: str, sha: str) -> Json:
        """A git reference (`ref` is the full name, e.g. refs/heads/main)."""
        base = self.repo_api(repo)
        return {
            "ref": ref,
            "node_id": node_id("Ref", ref),
            "url": f"{base}/git/{ref}",
            "object": {"type": "commit", "sha": sha, "url": f"{base}/git/commits/{sha}"},
        }

    def branch(
        self, repo: Repository, name: str, info: CommitInfo, rule: BranchProtection | None
    ) -> Json:
        """`GET /branches/{branch}`, with the `protection` summary that anyone who can read the
        branch sees ("Get a branch", docs.github.com/en/rest/branches/branches#get-a-branch:
        `enabled` and the required status checks; the full rule needs Administration)."""
        base = self.repo_api(repo)
        contexts = list(rule.required_contexts) if rule is not None else []
        return {
            "name": name,
            "commit": self.commit(repo, info),
            "_links": {
                "self": f"{base}/branches/{name}",
                "html": f"{self.web}/{repo.full_name}/tree/{name}",
            },
            "protected": rule is not None,
            "protection": {
                "enabled": rule is not None,
                "required_status_checks": {
                    "enforcement_level": "non_admins" if contexts else "off",
                    "contexts": contexts,
                    "checks": [{"context": c, "app_id": None} for c in contexts],
                },
            },
            "protection_url": f"{base}/branches/{name}/protection",
        }

    def content(self, repo: Repository, ref: str, entry: TreeEntry, data: bytes | None) -> Json:
        """A contents entry; file content (base64, 60-char lines as GitHub sends) when `data`."""
        base = self.repo_api(repo)
        quoted = urllib.parse.quote(entry.path)
        kind = "dir" if entry.kind == "tree" else "file"
        git_kind, view = ("trees", "tree") if kind == "dir" else ("blobs", "blob")
        body: Json = {
            "type": kind,
            "size": entry.size if kind == "file" else 0,
            "name": entry.path.rsplit("/", 1)[-1],
            "path": entry.path,
            "sha": entry.sha,
            "url": f"{base}/contents/{quoted}?ref={urllib.parse.quote(ref)}",
            "git_url": f"{base}/git/{git_kind}/{entry.sha}",
            "html_url": f"{self.web}/{repo.full_name}/{view}/{ref}/{quoted}",
            "download_url": f"{self.web}/{repo.full_name}/raw/{ref}/{quoted}"
            if kind == "file"
            else None,
        }
        body["_links"] = {"self": body["url"], "git": body["git_url"], "html": body["html_url"]}
        if data is not None:
            encoded = base64.b64encode(data).decode()
            body["encoding"] = "base64"
            body["content"] = "".join(
                encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60)
            )
        return body

    def installation(self, inst: Installation) -> Json:
        """A GitHub App installation."""
        return {
            "id": inst.id,
            "account": self.user(inst.account),
            "repository_selection": "selected",
            "access_tokens_url": f"{self.api}/app/installations/{inst.id}/access_tokens",
            "repositories_url": f"{self.api}/installation/repositories",
            "html_url": f"{self.web}/settings/installations/{inst.id}",
            "app_id": inst.app_id,
            "app_slug": inst.app_slug,
            "target_id": inst.account.id,
            "target_type": inst.account.type,
            "permissions": dict(INSTALLATION_PERMISSIONS),
            "events": ["pull_request", "check_run", "status"],
            "created_at": iso(inst.created_at),
            "updated_at": iso(inst.created_at),
            "single_file_name": None,
            "suspended_at": None,
        }


INSTALLATION_PERMISSIONS: Mapping[str, str] = {
    "checks": "write",
    "contents": "write",
    "metadata": "read",
    "pull_requests": "write",
    "statuses": "write",
}


def _git_date(value: str | None) -> str | None:
    """Convert git's strict ISO date (with offset) to GitHub's UTC `Z` form."""
    if not value:
        return None
    return iso(datetime.fromisoformat(value).astimezone(UTC))

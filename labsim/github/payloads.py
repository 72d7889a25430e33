"""JSON bodies for pull requests, reviews, comments and CI, shaped like GitHub's REST responses.

It must not read git or decide anything: callers pass in the facts, this module only shapes them.
"""

from __future__ import annotations

from collections.abc import Sequence

from labsim.github.git_payloads import GitPayloads, Json, iso, node_id
from labsim.github.model import (
    CheckRun,
    CommentRecord,
    PullDetail,
    PullRequest,
    Repository,
    ReviewRecord,
    StatusEntry,
)


class Payloads(GitPayloads):
    """All response bodies: git data (inherited) plus pulls, reviews, comments, statuses, checks.

    Example: ``Payloads(api_url, web_url, accounts_by_email).pull(repo, pr, clone_url)``.
    """

    def branch_side(self, repo: Repository, ref: str, sha: str, clone_url: str) -> Json:
        """The `head`/`base` object of a pull request."""
        return {
            "label": f"{repo.owner.login}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self.user(repo.owner),
            "repo": self.repository(repo, clone_url),
        }

    def pull(
        self, repo: Repository, pr: PullRequest, clone_url: str, detail: PullDetail | None = None
    ) -> Json:
        """A pull request; list items omit the detail fields (mergeable, merged, counts...)."""
        base = self.repo_api(repo)
        url = f"{base}/pulls/{pr.number}"
        html = f"{self.web}/{repo.full_name}/pull/{pr.number}"
        body: Json = {
            "url": url,
            "id": pr.id,
            "node_id": node_id("PullRequest", pr.id),
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": f"{base}/issues/{pr.number}",
            "commits_url": f"{url}/commits",
            "review_comments_url": f"{url}/comments",
            "review_comment_url": f"{base}/pulls/comments{{/number}}",
            "comments_url": f"{base}/issues/{pr.number}/comments",
            "statuses_url": f"{base}/statuses/{pr.head_sha}",
            "number": pr.number,
            "state": pr.state,
            "locked": False,
            "title": pr.title,
            "user": self.user(pr.user),
            "body": pr.body,
            "labels": [{"name": name, "color": "ededed", "default": False} for name in pr.labels],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": iso(pr.created_at),
            "updated_at": iso(pr.updated_at),
            "closed_at": iso(pr.closed_at),
            "merged_at": iso(pr.merged_at),
            "merge_commit_sha": pr.merge_commit_sha,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": self.branch_side(repo, pr.head_ref, pr.head_sha, clone_url),
            "base": self.branch_side(repo, pr.base_ref, pr.base_sha, clone_url),
            "_links": {
                "self": {"href": url},
                "html": {"href": html},
                "issue": {"href": f"{base}/issues/{pr.number}"},
                "comments": {"href": f"{base}/issues/{pr.number}/comments"},
                "review_comments": {"href": f"{url}/comments"},
                "commits": {"href": f"{url}/commits"},
                "statuses": {"href": f"{base}/statuses/{pr.head_sha}"},
            },
            "author_association": "NONE" if pr.user.type == "Bot" else "OWNER",
            "auto_merge": None,
            "draft": pr.draft,
        }
        if detail is not None:
            body.update(
                merged=pr.merged,
                mergeable=detail.mergeable,
                rebaseable=detail.mergeable,
                mergeable_state=detail.mergeable_state,
                merged_by=self.user(pr.merged_by) if pr.merged_by else None,
                comments=len(pr.comments),
                review_comments=0,
                maintainer_can_modify=False,
                commits=detail.commits,
                additions=detail.additions,
                deletions=detail.deletions,
                changed_files=detail.changed_files,
            )
        return body

    def issue(self, repo: Repository, pr: PullRequest) -> Json:
        """The issue view of a pull request (PRs are issues)."""
        base = self.repo_api(repo)
        return {
            "url": f"{base}/issues/{pr.number}",
            "id": pr.id,
            "node_id": node_id("Issue", pr.id),
            "number": pr.number,
            "title": pr.title,
            "body": pr.body,
            "user": self.user(pr.user),
            "state": pr.state,
            "labels": [{"name": name} for name in pr.labels],
            "comments": len(pr.comments),
            "comments_url": f"{base}/issues/{pr.number}/comments",
            "html_url": f"{self.web}/{repo.full_name}/pull/{pr.number}",
            "created_at": iso(pr.created_at),
            "updated_at": iso(pr.updated_at),
            "closed_at": iso(pr.closed_at),
            "repository_url": base,
            "pull_request": {
                "url": f"{base}/pulls/{pr.number}",
                "html_url": f"{self.web}/{repo.full_name}/pull/{pr.number}",
                "merged_at": iso(pr.merged_at),
            },
        }

    def comment(self, repo: Repository, comment: CommentRecord) -> Json:
        """An issue comment."""
        base = self.repo_api(repo)
        html = f"{self.web}/{repo.full_name}/pull/{comment.number}"
        return {
            "id": comment.id,
            "node_id": node_id("IssueComment", comment.id),
            "url": f"{base}/issues/comments/{comment.id}",
            "html_url": f"{html}#issuecomment-{comment.id}",
            "issue_url": f"{base}/issues/{comment.number}",
            "body": comment.body,
            "user": self.user(comment.user),
            "created_at": iso(comment.created_at),
            "updated_at": iso(comment.created_at),
            "author_association": "OWNER",
        }

    def review(self, repo: Repository, review: ReviewRecord) -> Json:
        """A pull request review."""
        pull_url = f"{self.repo_api(repo)}/pulls/{review.number}"
        html = f"{self.web}/{repo.full_name}/pull/{review.number}#pullrequestreview-{review.id}"
        return {
            "id": review.id,
            "node_id": node_id("PullRequestReview", review.id),
            "user": self.user(review.user),
            "body": review.body,
            "state": review.state,
            "html_url": html,
            "pull_request_url": pull_url,
            "author_association": "OWNER",
            "_links": {"html": {"href": html}, "pull_request": {"href": pull_url}},
            "submitted_at": iso(review.submitted_at) if review.state != "PENDING" else None,
            "commit_id": review.commit_id,
        }

    def status(self, repo: Repository, entry: StatusEntry) -> Json:
        """One commit status."""
        return {
            "url": f"{self.repo_api(repo)}/statuses/{entry.sha}",
            "avatar_url": None,
            "id": entry.id,
            "node_id": node_id("StatusContext", entry.id),
            "state": entry.state,
            "description": entry.description,
            "target_url": entry.target_url,
            "context": entry.context,
            "created_at": iso(entry.created_at),
            "updated_at": iso(entry.created_at),
            "creator": self.user(entry.creator),
        }

    def combined_status(
        self, repo: Repository, sha: str, state: str, latest: Sequence[StatusEntry]
    ) -> Json:
        """`GET /commits/{ref}/status`."""
        base = self.repo_api(repo)
        return {
            "state": state,
            "statuses": [self.status(repo, s) for s in latest],
            "sha": sha,
            "total_count": len(latest),
            "repository": {
                "id": repo.id,
                "name": repo.name,
                "full_name": repo.full_name,
                "url": base,
            },
            "commit_url": f"{base}/commits/{sha}",
            "url": f"{base}/commits/{sha}/status",
        }

    def check_run(self, repo: Repository, run: CheckRun) -> Json:
        """One check run."""
        base = self.repo_api(repo)
        html = f"{self.web}/{repo.full_name}/runs/{run.id}"
        output = {"title": None, "summary": None, "text": None, **run.output}
        output.update(
            annotations_count=0, annotations_url=f"{base}/check-runs/{run.id}/annotations"
        )
        return {
            "id": run.id,
            "node_id": node_id("CheckRun", run.id),
            "head_sha": run.head_sha,
            "external_id": run.external_id or "",
            "url": f"{base}/check-runs/{run.id}",
            "html_url": html,
            "details_url": run.details_url or html,
            "status": run.status,
            "conclusion": run.conclusion,
            "started_at": iso(run.started_at),
            "completed_at": iso(run.completed_at),
            "output": output,
            "name": run.name,
            "check_suite": {"id": run.id + 500_000},
            "app": {"id": 15368, "slug": run.app_slug, "name": run.app_slug, "owner": None},
            "pull_requests": [],
        }

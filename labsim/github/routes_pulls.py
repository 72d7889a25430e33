"""Pull request endpoints: list/get/create/update, merge, reviews, files, issue comments.

It must not run git itself beyond reads: merges go through `merging`, state lives in `state`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from labsim.github.conditional import last_modified_header
from labsim.github.merging import MergeRefusal, merge_pull, pull_detail, sync_pulls
from labsim.github.model import (
    MERGE_METHODS,
    CommentRecord,
    MergeRecord,
    PullRequest,
    Repository,
    ReviewRecord,
    utcnow,
)
from labsim.github.replies import (
    caller,
    error_reply,
    json_reply,
    not_found,
    paginate,
    read_json,
    validation_failed,
)
from labsim.github.state import GitHubState

REVIEW_STATES = {
    "APPROVE": "APPROVED",
    "REQUEST_CHANGES": "CHANGES_REQUESTED",
    "COMMENT": "COMMENTED",
}


class PullRoutes:
    """Handlers for `/repos/{owner}/{repo}/pulls...` and `/issues/{n}...`.

    Example: ``app.add_routes(PullRoutes(state).routes("/api/v3"))``.
    """

    def __init__(self, state: GitHubState) -> None:
        self.state = state

    def routes(self, prefix: str) -> list[web.RouteDef]:
        """The route table under `prefix`."""
        base = f"{prefix}/repos/{{owner}}/{{repo}}"
        pull = f"{base}/pulls/{{number:\\d+}}"
        return [
            web.get(f"{base}/pulls", self.list_pulls),
            web.post(f"{base}/pulls", self.create_pull),
            web.get(pull, self.get_pull),
            web.patch(pull, self.update_pull),
            web.get(f"{pull}/merge", self.is_merged),
            web.put(f"{pull}/merge", self.merge),
            web.get(f"{pull}/reviews", self.list_reviews),
            web.post(f"{pull}/reviews", self.create_review),
            web.get(f"{pull}/commits", self.list_commits),
            web.get(f"{pull}/files", self.list_files),
            web.get(f"{base}/issues/{{number:\\d+}}", self.get_issue),
            web.get(f"{base}/issues/{{number:\\d+}}/comments", self.list_comments),
            web.post(f"{base}/issues/{{number:\\d+}}/comments", self.create_comment),
        ]

    async def _lookup(self, request: web.Request) -> tuple[Repository, PullRequest | None] | None:
        repo = self.state.find_repo(request.match_info["owner"], request.match_info["repo"])
        if repo is None:
            return None
        await sync_pulls(repo)
        number = request.match_info.get("number")
        return repo, repo.pulls.get(int(number)) if number is not None else None

    async def _pull(self, request: web.Request) -> tuple[Repository, PullRequest] | None:
        found = await self._lookup(request)
        if found is None or found[1] is None:
            return None
        return found[0], found[1]

    def _render(self, repo: Repository, pr: PullRequest, detail: Any = None) -> dict[str, Any]:
        return self.state.payloads.pull(repo, pr, repo.git.url, detail)

    async def list_pulls(self, request: web.Request) -> web.Response:
        """`GET /pulls?state=&head=&base=&sort=&direction=` (no author filter exists)."""
        found = await self._lookup(request)
        if found is None:
            return not_found()
        repo = found[0]
        state = request.query.get("state", "open")
        head = request.query.get("head")
        base = request.query.get("base")
        pulls = [
            pr
            for pr in repo.pulls.values()
            if state == "all" or pr.state == state
            if head is None or head in (f"{repo.owner.login}:{pr.head_ref}", pr.head_ref)
            if base is None or pr.base_ref == base
        ]
        sort = request.query.get("sort", "created")
        default_direction = "desc" if sort == "created" else "asc"
        descending = request.query.get("direction", default_direction) == "desc"
        by_updated = sort == "updated"
        pulls.sort(
            key=lambda p: (p.updated_at if by_updated else p.created_at, p.number),
            reverse=descending,
        )
        page, headers = paginate(request, pulls, self.state.payloads.web)
        return json_reply([self._render(repo, pr) for pr in page], headers=headers)

    async def get_pull(self, request: web.Request) -> web.Response:
        """`GET /pulls/{n}` with the detail fields; mergeable is computed lazily."""
        found = await self._pull(request)
        if found is None:
            return not_found()
        repo, pr = found
        detail = await pull_detail(repo, pr, self.state.mergeable_null_gets)
        # A single PR carries Last-Modified (its updated_at; believed from GitHub's answers). It
        # does not move when only mergeability or CI changes, so clients should send the ETag.
        return json_reply(
            self._render(repo, pr, detail), headers=last_modified_header(pr.updated_at)
        )

    async def create_pull(self, request: web.Request) -> web.Response:
        """`POST /pulls` from a branch of this repository."""
        found = await self._lookup(request)
        data = await read_json(request)
        if found is None:
            return not_found()
        if data is None:
            return error_reply(400, "Problems parsing JSON")
        repo = found[0]
        head_ref = str(data.get("head", "")).split(":", 1)[-1]
        base_ref = str(data.get("base", ""))
        title = data.get("title")
        if not title:
            return validation_failed(
                {"resource": "PullRequest", "field": "title", "code": "missing_field"}
            )
        branches = await repo.git.branches()
        if head_ref not in branches:
            return validation_failed(
                {"resource": "PullRequest", "field": "head", "code": "invalid"}
            )
        if base_ref not in branches:
            return validation_failed(
                {"resource": "PullRequest", "field": "base", "code": "invalid"}
            )
        head_sha, base_sha = branches[head_ref], branches[base_ref]
        if await repo.git.merge_base(base_sha, head_sha) is None:
            message = f"The {base_ref} branch has no history in common with {head_ref}"
            return validation_failed(
                {"resource": "PullRequest", "code": "custom", "message": message}
            )
        if head_sha == base_sha or await repo.git.is_ancestor(head_sha, base_sha):
            message = f"No commits between {base_ref} and {head_ref}"
            return validation_failed(
                {"resource": "PullRequest", "code": "custom", "message": message}
            )
        for other in repo.pulls.values():
            if other.state == "open" and (other.head_ref, other.base_ref) == (head_ref, base_ref):
                message = f"A pull request already exists for {repo.owner.login}:{head_ref}."
                return validation_failed(
                    {"resource": "PullRequest", "code": "custom", "message": message}
                )
        now = utcnow()
        pr = PullRequest(
            number=repo.take_number(),
            id=self.state.ids.next(),
            title=str(title),
            body=str(data.get("body") or ""),
            user=caller(request),
            head_ref=head_ref,
            base_ref=base_ref,
            head_sha=head_sha,
            base_sha=base_sha,
            created_at=now,
            updated_at=now,
            draft=bool(data.get("draft", False)),
        )
        repo.pulls[pr.number] = pr
        detail = await pull_detail(repo, pr, self.state.mergeable_null_gets)
        pr.null_gets_left += 1  # the creation response does not count as the first GET
        return json_reply(self._render(repo, pr, detail), status=201)

    async def update_pull(self, request: web.Request) -> web.Response:
        """`PATCH /pulls/{n}`: title, body, state (close/reopen), base."""
        found = await self._pull(request)
        data = await read_json(request)
        if found is None:
            return not_found()
        if data is None:
            return error_reply(400, "Problems parsing JSON")
        repo, pr = found
        if "state" in data and data["state"] not in ("open", "closed"):
            return validation_failed(
                {"resource": "PullRequest", "field": "state", "code": "invalid"}
            )
        if data.get("state") == "open" and pr.state == "closed":
            if pr.merged or pr.head_ref not in await repo.git.branches():
                return validation_failed(
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": "state cannot be changed.",
                    }
                )
            pr.state, pr.closed_at, pr.synced_key = "open", None, None
        elif data.get("state") == "closed" and pr.state == "open":
            pr.state, pr.closed_at = "closed", utcnow()
        if "title" in data:
            pr.title = str(data["title"])
        if "body" in data:
            pr.body = str(data["body"] or "")
        if "base" in data:
            pr.base_ref, pr.synced_key = str(data["base"]), None
        pr.updated_at = utcnow()
        await sync_pulls(repo)
        detail = await pull_detail(repo, pr, self.state.mergeable_null_gets)
        return json_reply(self._render(repo, pr, detail))

    async def is_merged(self, request: web.Request) -> web.Response:
        """`GET /pulls/{n}/merge`: 204 if merged, else 404."""
        found = await self._pull(request)
        if found is None or not found[1].merged:
            return not_found()
        return web.Response(status=204)

    async def merge(self, request: web.Request) -> web.Response:
        """`PUT /pulls/{n}/merge` with the head-sha guard (200 / 405 / 409 / 422)."""
        found = await self._pull(request)
        data = await read_json(request)
        if found is None:
            return not_found()
        if data is None:
            return error_reply(400, "Problems parsing JSON")
        repo, pr = found
        method = data.get("merge_method", "merge")
        if method not in MERGE_METHODS:
            # Schema validation failure; exact wording inferred from GitHub's other 422s.
            return error_reply(
                422,
                f'Invalid request.\n\n"{method}" is not a member of ["merge", "squash", "rebase"].',
            )
        sha = data.get("sha")
        outcome = await merge_pull(
            self.state,
            repo,
            pr,
            actor=caller(request),
            method=str(method),
            expected_sha=str(sha) if sha is not None else None,
            title=data.get("commit_title"),
            message=data.get("commit_message"),
        )
        if isinstance(outcome, MergeRefusal):
            return error_reply(outcome.status, outcome.message)
        self.state.merges.append(
            MergeRecord(
                repo.full_name, pr.number, pr.head_sha, str(method), outcome, caller(request).login
            )
        )
        return json_reply(
            {"sha": outcome, "merged": True, "message": "Pull Request successfully merged"}
        )

    async def list_reviews(self, request: web.Request) -> web.Response:
        """`GET /pulls/{n}/reviews`."""
        found = await self._pull(request)
        if found is None:
            return not_found()
        repo, pr = found
        page, headers = paginate(request, pr.reviews, self.state.payloads.web)
        return json_reply([self.state.payloads.review(repo, r) for r in page], headers=headers)

    async def create_review(self, request: web.Request) -> web.Response:
        """`POST /pulls/{n}/reviews` with event APPROVE / REQUEST_CHANGES / COMMENT (or pending)."""
        found = await self._pull(request)
        data = await read_json(request)
        if found is None:
            return not_found()
        if data is None:
            return error_reply(400, "Problems parsing JSON")
        repo, pr = found
        actor = caller(request)
        event = data.get("event")
        body = str(data.get("body") or "")
        if event is not None and event not in REVIEW_STATES:
            return validation_failed(
                {"resource": "PullRequestReview", "field": "event", "code": "invalid"}
            )
        own = actor.login == pr.user.login
        if own and event == "APPROVE":
            return error_reply(
                422, "Unprocessable Entity", errors=["Can not approve your own pull request"]
            )
        if own and event == "REQUEST_CHANGES":
            return error_reply(
                422,
                "Unprocessable Entity",
                errors=["Can not request changes on your own pull request"],
            )
        if event in ("REQUEST_CHANGES", "COMMENT") and not body:
            # GitHub requires a body for these events; wording inferred.
            return error_reply(422, "Unprocessable Entity", errors=["Body can't be blank"])
        commit_id = str(data.get("commit_id") or pr.head_sha)
        if await repo.git.resolve(commit_id) is None:
            return validation_failed(
                {"resource": "PullRequestReview", "field": "commit_id", "code": "invalid"}
            )
        review = ReviewRecord(
            id=self.state.ids.next(),
            number=pr.number,
            user=actor,
            state=REVIEW_STATES[event] if event is not None else "PENDING",
            body=body,
            commit_id=commit_id,
            submitted_at=utcnow(),
        )
        pr.reviews.append(review)
        return json_reply(self.state.payloads.review(repo, review))

    async def list_commits(self, request: web.Request) -> web.Response:
        """`GET /pulls/{n}/commits`, oldest first."""
        found = await self._pull(request)
        if found is None:
            return not_found()
        repo, pr = found
        shas = list(reversed(await repo.git.rev_list(pr.head_sha, f"^{pr.base_sha}")))
        page, headers = paginate(request, shas, self.state.payloads.web)
        infos = [await repo.git.commit_info(sha) for sha in page]
        return json_reply([self.state.payloads.commit(repo, i) for i in infos], headers=headers)

    async def list_files(self, request: web.Request) -> web.Response:
        """`GET /pulls/{n}/files`: the diff between the merge base and the head."""
        found = await self._pull(request)
        if found is None:
            return not_found()
        repo, pr = found
        base = await repo.git.merge_base(pr.base_sha, pr.head_sha) or pr.base_sha
        files = await repo.git.changed_files(base, pr.head_sha)
        page, headers = paginate(request, files, self.state.payloads.web)
        body = [self.state.payloads.file_change(repo, pr.head_sha, f) for f in page]
        return json_reply(body, headers=headers)

    async def get_issue(self, request: web.Request) -> web.Response:
        """`GET /issues/{n}` for a pull request."""
        found = await self._pull(request)
        if found is None:
            return not_found()
        return json_reply(self.state.payloads.issue(*found))

    async def list_comments(self, request: web.Request) -> web.Response:
        """`GET /issues/{n}/comments`."""
        found = await self._pull(request)
        if found is None:
            return not_found()
        repo, pr = found
        page, headers = paginate(request, pr.comments, self.state.payloads.web)
        return json_reply([self.state.payloads.comment(repo, c) for c in page], headers=headers)

    async def create_comment(self, request: web.Request) -> web.Response:
        """`POST /issues/{n}/comments` (PR conversation comment)."""
        found = await self._pull(request)
        data = await read_json(request)
        if found is None:
            return not_found()
        if data is None or not data.get("body"):
            return validation_failed(
                {"resource": "IssueComment", "field": "body", "code": "missing_field"}
            )
        repo, pr = found
        comment = CommentRecord(
            id=self.state.ids.next(),
            number=pr.number,
            user=caller(request),
            body=str(data["body"]),
            created_at=utcnow(),
        )
        pr.comments.append(comment)
        pr.updated_at = comment.created_at
        return json_reply(self.state.payloads.comment(repo, comment), status=201)

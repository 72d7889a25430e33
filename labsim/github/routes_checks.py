"""Commit and CI endpoints: single commit, combined status, statuses, check runs.

It must not decide mergeability: it records CI facts that `merging` later reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from labsim.github.ci import (
    CHECK_CONCLUSIONS,
    CHECK_STATUSES,
    STATUS_STATES,
    combined_state,
    latest_check_runs,
    latest_statuses,
)
from labsim.github.model import CheckRun, Repository, StatusEntry, utcnow
from labsim.github.replies import (
    caller,
    credential_of,
    error_reply,
    json_reply,
    not_found,
    paginate,
    read_json,
    validation_failed,
)
from labsim.github.state import GitHubState

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


class CheckRoutes:
    """Handlers for `/commits/{ref}...`, `/statuses/{sha}` and `/check-runs...`.

    Example: ``app.add_routes(CheckRoutes(state).routes("/api/v3"))``.
    """

    def __init__(self, state: GitHubState) -> None:
        self.state = state

    def routes(self, prefix: str) -> list[web.RouteDef]:
        """The route table under `prefix` (suffix routes first: refs may contain slashes)."""
        base = f"{prefix}/repos/{{owner}}/{{repo}}"
        return [
            web.get(f"{base}/commits/{{ref:.+}}/status", self.combined_status),
            web.get(f"{base}/commits/{{ref:.+}}/statuses", self.list_statuses),
            web.get(f"{base}/commits/{{ref:.+}}/check-runs", self.list_check_runs),
            web.get(f"{base}/commits/{{ref:.+}}", self.get_commit),
            web.post(f"{base}/statuses/{{sha}}", self.create_status),
            web.post(f"{base}/check-runs", self.create_check_run),
            web.get(f"{base}/check-runs/{{id:\\d+}}", self.get_check_run),
            web.patch(f"{base}/check-runs/{{id:\\d+}}", self.update_check_run),
        ]

    async def _resolve(self, request: web.Request) -> tuple[Repository, str] | web.Response:
        repo = self.state.find_repo(request.match_info["owner"], request.match_info["repo"])
        if repo is None:
            return not_found()
        ref = request.match_info.get("ref") or request.match_info.get("sha", "")
        sha = await repo.git.resolve(ref)
        if sha is None:
            return error_reply(422, f"No commit found for SHA: {ref}")
        return repo, sha

    async def get_commit(self, request: web.Request) -> web.Response:
        """`GET /commits/{ref}` with files and stats against the first parent."""
        found = await self._resolve(request)
        if isinstance(found, web.Response):
            return found
        repo, sha = found
        info = await repo.git.commit_info(sha)
        files = await repo.git.changed_files(info.parents[0] if info.parents else EMPTY_TREE, sha)
        return json_reply(self.state.payloads.commit(repo, info, files))

    async def combined_status(self, request: web.Request) -> web.Response:
        """`GET /commits/{ref}/status`: pending when there are no statuses at all."""
        found = await self._resolve(request)
        if isinstance(found, web.Response):
            return found
        repo, sha = found
        latest = latest_statuses(repo, sha)
        body = self.state.payloads.combined_status(repo, sha, combined_state(latest), latest)
        return json_reply(body)

    async def list_statuses(self, request: web.Request) -> web.Response:
        """`GET /commits/{ref}/statuses`: every status, newest first."""
        found = await self._resolve(request)
        if isinstance(found, web.Response):
            return found
        repo, sha = found
        entries = sorted((s for s in repo.statuses if s.sha == sha), key=lambda s: -s.id)
        page, headers = paginate(request, entries, self.state.payloads.web)
        return json_reply([self.state.payloads.status(repo, s) for s in page], headers=headers)

    async def list_check_runs(self, request: web.Request) -> web.Response:
        """`GET /commits/{ref}/check-runs?check_name=&status=&filter=` (`total_count` wrapper)."""
        found = await self._resolve(request)
        if isinstance(found, web.Response):
            return found
        repo, sha = found
        if request.query.get("filter", "latest") == "all":
            runs = sorted(
                (r for r in repo.check_runs.values() if r.head_sha == sha), key=lambda r: -r.id
            )
        else:
            runs = latest_check_runs(repo, sha)
        if "check_name" in request.query:
            runs = [r for r in runs if r.name == request.query["check_name"]]
        if "status" in request.query:
            runs = [r for r in runs if r.status == request.query["status"]]
        page, headers = paginate(request, runs, self.state.payloads.web)
        body = {
            "total_count": len(runs),
            "check_runs": [self.state.payloads.check_run(repo, r) for r in page],
        }
        return json_reply(body, headers=headers)

    async def create_status(self, request: web.Request) -> web.Response:
        """`POST /statuses/{sha}` `{state, target_url, description, context}`."""
        found = await self._resolve(request)
        data = await read_json(request)
        if isinstance(found, web.Response):
            return found
        if data is None or data.get("state") not in STATUS_STATES:
            return validation_failed({"resource": "Status", "field": "state", "code": "custom"})
        repo, sha = found
        entry = StatusEntry(
            id=self.state.ids.next(),
            sha=sha,
            context=str(data.get("context") or "default"),
            state=str(data["state"]),
            description=data.get("description"),
            target_url=data.get("target_url"),
            created_at=utcnow(),
            creator=caller(request),
        )
        repo.statuses.append(entry)
        return json_reply(self.state.payloads.status(repo, entry), status=201)

    def _apply(self, run: CheckRun, data: dict[str, Any]) -> web.Response | None:
        status = data.get("status", run.status)
        conclusion = data.get("conclusion", run.conclusion)
        if conclusion is not None and "status" not in data:
            status = "completed"
        if status not in CHECK_STATUSES:
            return validation_failed({"resource": "CheckRun", "field": "status", "code": "invalid"})
        if conclusion is not None and conclusion not in CHECK_CONCLUSIONS:
            return validation_failed(
                {"resource": "CheckRun", "field": "conclusion", "code": "invalid"}
            )
        if status == "completed" and conclusion is None:
            return error_reply(
                422, "Invalid request.\n\nNo conclusion given for a completed check run."
            )
        run.status, run.conclusion = str(status), conclusion
        run.started_at = _parse_time(data.get("started_at")) or run.started_at
        run.completed_at = _parse_time(data.get("completed_at")) or (
            run.completed_at or utcnow() if status == "completed" else None
        )
        for field in ("name", "details_url", "external_id"):
            if field in data:
                setattr(run, field, data[field])
        if isinstance(data.get("output"), dict):
            run.output = {
                k: v for k, v in data["output"].items() if k in ("title", "summary", "text")
            }
        return None

    async def create_check_run(self, request: web.Request) -> web.Response:
        """`POST /check-runs` (GitHub only accepts this from a GitHub App installation)."""
        repo = self.state.find_repo(request.match_info["owner"], request.match_info["repo"])
        data = await read_json(request)
        if repo is None:
            return not_found()
        credential = credential_of(request)
        if credential.kind != "installation":
            return error_reply(403, "You must authenticate via a GitHub App.")
        if data is None or not data.get("name") or not data.get("head_sha"):
            return validation_failed(
                {"resource": "CheckRun", "field": "name", "code": "missing_field"}
            )
        sha = await repo.git.resolve(str(data["head_sha"]))
        if sha is None:
            return error_reply(422, f"No commit found for SHA: {data['head_sha']}")
        slug = credential.actor.login.removesuffix("[bot]")
        run = CheckRun(
            self.state.ids.next(), str(data["name"]), sha, "queued", None, utcnow(), app_slug=slug
        )
        failure = self._apply(run, data)
        if failure is not None:
            return failure
        repo.check_runs[run.id] = run
        return json_reply(self.state.payloads.check_run(repo, run), status=201)

    async def get_check_run(self, request: web.Request) -> web.Response:
        """`GET /check-runs/{id}`."""
        repo = self.state.find_repo(request.match_info["owner"], request.match_info["repo"])
        run = repo.check_runs.get(int(request.match_info["id"])) if repo else None
        if repo is None or run is None:
            return not_found()
        return json_reply(self.state.payloads.check_run(repo, run))

    async def update_check_run(self, request: web.Request) -> web.Response:
        """`PATCH /check-runs/{id}`."""
        repo = self.state.find_repo(request.match_info["owner"], request.match_info["repo"])
        run = repo.check_runs.get(int(request.match_info["id"])) if repo else None
        data = await read_json(request)
        if repo is None or run is None:
            return not_found()
        if data is None:
            return error_reply(400, "Problems parsing JSON")
        failure = self._apply(run, data)
        return failure or json_reply(self.state.payloads.check_run(repo, run))

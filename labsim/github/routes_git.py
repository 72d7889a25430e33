"""Repository and git-data endpoints: repo, branches, refs, contents, commits, compare.

It must not touch pull requests or CI beyond letting open PRs follow ref changes.
"""

from __future__ import annotations

import base64
import binascii
import urllib.parse

from aiohttp import web

from labsim.github.merging import sync_pulls
from labsim.github.model import Repository
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


class GitRoutes:
    """Handlers for `/repos/{owner}/{repo}` and its git data.

    Example: ``app.add_routes(GitRoutes(state).routes("/api/v3"))``.
    """

    def __init__(self, state: GitHubState) -> None:
        self.state = state

    def routes(self, prefix: str) -> list[web.RouteDef]:
        """The route table under `prefix`."""
        base = f"{prefix}/repos/{{owner}}/{{repo}}"
        return [
            web.get(base, self.get_repo),
            web.get(f"{base}/branches", self.list_branches),
            web.get(f"{base}/branches/{{branch:.+}}", self.get_branch),
            web.get(f"{base}/git/ref/{{ref:.+}}", self.get_ref),
            web.get(f"{base}/git/refs", self.list_refs),
            web.get(f"{base}/git/refs/{{ref:.+}}", self.get_ref),
            web.post(f"{base}/git/refs", self.create_ref),
            web.patch(f"{base}/git/refs/{{ref:.+}}", self.update_ref),
            web.delete(f"{base}/git/refs/{{ref:.+}}", self.delete_ref),
            web.get(f"{base}/git/commits/{{sha}}", self.get_git_commit),
            web.get(f"{base}/contents", self.get_contents),
            web.get(f"{base}/contents/{{path:.*}}", self.get_contents),
            web.put(f"{base}/contents/{{path:.+}}", self.put_contents),
            web.get(f"{base}/commits", self.list_commits),
            web.get(f"{base}/compare/{{basehead:.+}}", self.compare),
        ]

    def _repo(self, request: web.Request) -> Repository | None:
        return self.state.find_repo(request.match_info["owner"], request.match_info["repo"])

    async def get_repo(self, request: web.Request) -> web.Response:
        """`GET /repos/{owner}/{repo}`."""
        repo = self._repo(request)
        if repo is None:
            return not_found()
        role = self.state.roles.get(caller(request).login, "admin")
        return json_reply(self.state.payloads.repository(repo, repo.git.url, role))

    async def list_branches(self, request: web.Request) -> web.Response:
        """`GET /branches` (name, commit sha/url, protected)."""
        repo = self._repo(request)
        if repo is None:
            return not_found()
        branches = sorted((await repo.git.branches()).items())
        page, headers = paginate(request, branches, self.state.payloads.web)
        api = self.state.payloads.repo_api(repo)
        body = [
            {
                "name": name,
                "commit": {"sha": sha, "url": f"{api}/commits/{sha}"},
                "protected": name in repo.protections,
            }
            for name, sha in page
        ]
        return json_reply(body, headers=headers)

    async def get_branch(self, request: web.Request) -> web.Response:
        """`GET /branches/{branch}` (branch names may contain slashes)."""
        repo = self._repo(request)
        if repo is None:
            return not_found()
        name = request.match_info["branch"]
        sha = (await repo.git.branches()).get(name)
        if sha is None:
            return error_reply(404, "Branch not found")
        info = await repo.git.commit_info(sha)
        rule = repo.protections.get(name)
        return json_reply(self.state.payloads.branch(repo, name, info, rule))

    async def get_ref(self, request: web.Request) -> web.Response:
        """`GET /git/ref/heads/x` (and the legacy `/git/refs/heads/x`)."""
        repo = self._repo(request)
        if repo is None:
            return not_found()
        ref = "refs/" + urllib.parse.unquote(request.match_info["ref"]).removeprefix("refs/")
        refs = await repo.git.refs()
        if ref in refs:
            return json_reply(self.state.payloads.git_ref(repo, ref, refs[ref]))
        if request.path.split("/git/", 1)[1].startswith("refs/"):
            matching = [
                (name, sha) for name, sha in sorted(refs.items()) if name.startswith(ref + "/")
            ]
            if matching:
                return json_reply([self.state.payloads.git_ref(repo, n, s) for n, s in matching])
        return not_found()

    async def list_refs(self, request: web.Request) -> web.Response:
        """`GET /git/refs`."""
        repo = self._repo(request)
        if repo is None:
            return not_found()
        refs = sorted((await repo.git.refs()).items())
        page, headers = paginate(request, refs, self.state.payloads.web)
        return json_reply(
            [self.state.payloads.git_ref(repo, n, s) for n, s in page], headers=headers
        )

    async def create_ref(self, request: web.Request) -> web.Response:
        """`POST /git/refs` `{"ref": "refs/heads/x", "sha": ...}`."""
        repo = self._repo(request)
        data = await read_json(request)
        if repo is None:
            return not_found()
        if data is None:
            return error_reply(400, "Problems parsing JSON")
        ref, sha = str(data.get("ref", "")), str(data.get("sha", ""))
        if not ref.startswith("refs/") or ref.count("/") < 2:
            return error_reply(
                422, "Reference name must start with 'refs/' and have at least two slashes."
            )
        target = await repo.git.resolve(sha) if len(sha) == 40 else None
        if target is None:
            return error_reply(422, "Object does not exist")
        async with repo.lock:
            if not await repo.git.update_ref(ref, target, "0" * 40):
                return error_reply(422, "Reference already exists")
        return json_reply(self.state.payloads.git_ref(repo, ref, target), status=201)

    async def update_ref(self, request: web.Request) -> web.Response:
        """`PATCH /git/refs/{ref}` `{"sha", "force"}`: fast-forward only unless forced."""
        repo = self._repo(request)
        data = await read_json(request)
        if repo is None:
            return not_found()
        if data is None:
            return error_reply(400, "Problems parsing JSON")
        ref = "refs/" + urllib.parse.unquote(request.match_info["ref"]).removeprefix("refs/")
        async with repo.lock:
            current = (await repo.git.refs()).get(ref)
            target = await repo.git.resolve(str(data.get("sha", "")))
            if current is None:
                return error_reply(422, "Reference does not exist")
            if target is None:
                return error_reply(422, "Object does not exist")
            if not data.get("force") and not await repo.git.is_ancestor(current, target):
                return error_reply(422, "Update is not a fast forward")
            await repo.git.update_ref(ref, target, current)
        await sync_pulls(repo)
        return json_reply(self.state.payloads.git_ref(repo, ref, target))

    async def delete_ref(self, request: web.Request) -> web.Response:
        """`DELETE /git/refs/{ref}` → 204; open PRs from a deleted branch get closed."""
        repo = self._repo(request)
        if repo is None:
            return not_found()
        ref = "refs/" + urllib.parse.unquote(request.match_info["ref"]).removeprefix("refs/")
        async with repo.lock:
            if ref not in await repo.git.refs():
                return error_reply(422, "Reference does not exist")
            await repo.git.delete_ref(ref)
        await sync_pulls(repo)
        return web.Response(status=204)

    async def get_git_commit(self, request: web.Request) -> web.Response:
        """`GET /git/commits/{sha}`."""
        repo = self._repo(request)
        if repo is None:
            return not_found()
        sha = await repo.git.resolve(request.match_info["sha"])
        if sha is None or sha != request.match_info["sha"]:
            return not_found()
        return json_reply(self.state.payloads.git_commit(repo, await repo.git.commit_info(sha)))

    async def get_contents(self, request: web.Request) -> web.Response:
        """`GET /contents/{path}?ref=`: a file (base64, sha = blob sha) or a directory listing."""
        repo = self._repo(request)
        if repo is None:
            return not_found()
        ref = request.query.get("ref") or repo.default_branch
        path = urllib.parse.unquote(request.match_info.get("path", "")).strip("/")
        sha = await repo.git.resolve(ref)
        if sha is None:
            return error_reply(404, f"No commit found for the ref {ref}")
        payloads = self.state.payloads
        if path:
            entry = await repo.git.entry(sha, path)
            if entry is None:
                return not_found()
            if entry.kind == "blob":
                data = await repo.git.read_blob(entry.sha)
                return json_reply(payloads.content(repo, ref, entry, data))
        listing = await repo.git.list_tree(sha, path)
        return json_reply([payloads.content(repo, ref, e, None) for e in listing])

    async def put_contents(self, request: web.Request) -> web.Response:
        """`PUT /contents/{path}`: create or update one file with a commit on `branch`."""
        repo = self._repo(request)
        data = await read_json(request)
        if repo is None:
            return not_found()
        if data is None or "message" not in data or "content" not in data:
            return validation_failed(
                {"resource": "Commit", "field": "content", "code": "missing_field"}
            )
        path = urllib.parse.unquote(request.match_info["path"]).strip("/")
        branch = str(data.get("branch") or repo.default_branch)
        try:
            content = base64.b64decode(str(data["content"]), validate=True)
        except (binascii.Error, ValueError):
            return error_reply(422, "content is not valid Base64")
        actor = caller(request)
        async with repo.lock:
            parent = (await repo.git.branches()).get(branch)
            if parent is None:
                return error_reply(404, f"Branch {branch} not found")
            existing = await repo.git.entry(parent, path)
            if existing is not None and data.get("sha") != existing.sha:
                return error_reply(409, f"{path} does not match {data.get('sha') or 'nothing'}")
            if existing is None and data.get("sha"):
                return error_reply(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
            identity = self.state.identity(actor)
            commit = await repo.git.commit_files(
                parent, {path: content}, str(data["message"]), identity
            )
            await repo.git.update_ref(f"refs/heads/{branch}", commit, parent)
        await sync_pulls(repo)
        entry = await repo.git.entry(commit, path)
        assert entry is not None
        info = await repo.git.commit_info(commit)
        payloads = self.state.payloads
        body = {
            "content": payloads.content(repo, branch, entry, None),
            "commit": payloads.git_commit(repo, info),
        }
        return json_reply(body, status=201 if existing is None else 200)

    async def list_commits(self, request: web.Request) -> web.Response:
        """`GET /commits?sha=&path=` newest first."""
        repo = self._repo(request)
        if repo is None:
            return not_found()
        start = await repo.git.resolve(request.query.get("sha") or repo.default_branch)
        if start is None:
            return not_found()
        spec = [start] + (["--", request.query["path"]] if "path" in request.query else [])
        shas = (await repo.git.text("rev-list", *spec)).split()
        page, headers = paginate(request, shas, self.state.payloads.web)
        infos = [await repo.git.commit_info(sha) for sha in page]
        return json_reply([self.state.payloads.commit(repo, i) for i in infos], headers=headers)

    async def compare(self, request: web.Request) -> web.Response:
        """`GET /compare/{base}...{head}`: status, ahead/behind, commits, files."""
        repo = self._repo(request)
        if repo is None:
            return not_found()
        base_name, sep, head_name = urllib.parse.unquote(request.match_info["basehead"]).partition(
            "..."
        )
        base = await repo.git.resolve(base_name) if sep else None
        head = await repo.git.resolve(head_name) if sep else None
        if base is None or head is None:
            return not_found()
        merge_base = await repo.git.merge_base(base, head)
        if merge_base is None:
            return not_found()
        ahead = list(reversed(await repo.git.rev_list(head, f"^{base}")))
        behind = await repo.git.rev_list(base, f"^{head}")
        status = (
            "identical"
            if base == head
            else ("ahead" if not behind else "behind" if not ahead else "diverged")
        )
        payloads = self.state.payloads
        files = await repo.git.changed_files(merge_base, head)
        api = payloads.repo_api(repo)
        html = f"{payloads.web}/{repo.full_name}/compare/{base_name}...{head_name}"
        body = {
            "url": f"{api}/compare/{base_name}...{head_name}",
            "html_url": html,
            "permalink_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "base_commit": payloads.commit(repo, await repo.git.commit_info(base)),
            "merge_base_commit": payloads.commit(repo, await repo.git.commit_info(merge_base)),
            "status": status,
            "ahead_by": len(ahead),
            "behind_by": len(behind),
            "total_commits": len(ahead),
            "commits": [payloads.commit(repo, await repo.git.commit_info(s)) for s in ahead],
            "files": [payloads.file_change(repo, head, f) for f in files],
        }
        return json_reply(body)

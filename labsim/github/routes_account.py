"""Account-level endpoints: /user, /users/{login}, /rate_limit, and the GitHub App endpoints.

It must not touch repositories' git data.
"""

from __future__ import annotations

import time

from aiohttp import web

from labsim.github.access import NOT_ACCESSIBLE, AccessControl, RateLimit
from labsim.github.git_payloads import INSTALLATION_PERMISSIONS, iso
from labsim.github.model import Installation
from labsim.github.replies import credential_of, error_reply, json_reply, not_found, read_json
from labsim.github.state import GitHubState


class AccountRoutes:
    """Handlers for the authenticated user, rate limits, and app installations.

    Example: ``app.add_routes(AccountRoutes(state, access, rate).routes("/api/v3"))``.
    """

    def __init__(self, state: GitHubState, access: AccessControl, rate: RateLimit) -> None:
        self.state = state
        self.access = access
        self.rate = rate

    def routes(self, prefix: str) -> list[web.RouteDef]:
        """The route table under `prefix`."""
        return [
            web.get(f"{prefix}/user", self.get_user),
            web.get(f"{prefix}/users/{{login}}", self.get_named_user),
            web.get(f"{prefix}/rate_limit", self.rate_limit),
            web.get(f"{prefix}/app", self.get_app),
            web.get(f"{prefix}/app/installations", self.list_installations),
            web.get(f"{prefix}/app/installations/{{id:\\d+}}", self.get_installation),
            web.post(f"{prefix}/app/installations/{{id:\\d+}}/access_tokens", self.create_token),
            web.get(f"{prefix}/repos/{{owner}}/{{repo}}/installation", self.repo_installation),
        ]

    async def get_user(self, request: web.Request) -> web.Response:
        """`GET /user`; installation tokens are refused as on GitHub."""
        credential = credential_of(request)
        if credential.kind != "token":
            return error_reply(403, NOT_ACCESSIBLE)
        body = self.state.payloads.user(credential.actor)
        body.update(name=credential.actor.login, email=None)
        return json_reply(body)

    async def get_named_user(self, request: web.Request) -> web.Response:
        """`GET /users/{login}`."""
        actor = self.state.accounts.get(request.match_info["login"].lower())
        if actor is None:
            return not_found()
        return json_reply(self.state.payloads.user(actor))

    async def rate_limit(self, request: web.Request) -> web.Response:
        """`GET /rate_limit` (does not count against the limit, as on GitHub)."""
        core = self.rate.resource()
        reset = int(time.time()) + 60
        search = {"limit": 30, "remaining": 30, "reset": reset, "used": 0, "resource": "search"}
        graphql = {
            "limit": 5000,
            "remaining": 5000,
            "reset": reset,
            "used": 0,
            "resource": "graphql",
        }
        return json_reply(
            {"resources": {"core": core, "search": search, "graphql": graphql}, "rate": core}
        )

    async def get_app(self, request: web.Request) -> web.Response:
        """`GET /app` (JWT)."""
        app_actor = self.access.app_actor
        if app_actor is None or self.access.app_id is None:
            return not_found()
        slug = app_actor.login.removesuffix("[bot]")
        return json_reply(
            {
                "id": self.access.app_id,
                "slug": slug,
                "node_id": f"A_{self.access.app_id}",
                "name": slug,
                "owner": None,
                "permissions": dict(INSTALLATION_PERMISSIONS),
                "events": ["pull_request", "check_run", "status"],
                "html_url": f"{self.state.payloads.web}/apps/{slug}",
            }
        )

    async def list_installations(self, request: web.Request) -> web.Response:
        """`GET /app/installations` (JWT)."""
        body = [self.state.payloads.installation(i) for i in self.state.installations.values()]
        return json_reply(body)

    async def get_installation(self, request: web.Request) -> web.Response:
        """`GET /app/installations/{id}` (JWT)."""
        inst = self.state.installations.get(int(request.match_info["id"]))
        if inst is None:
            return not_found()
        return json_reply(self.state.payloads.installation(inst))

    async def create_token(self, request: web.Request) -> web.Response:
        """`POST /app/installations/{id}/access_tokens` (JWT) → 201 with a one-hour `ghs_` token."""
        inst = self.state.installations.get(int(request.match_info["id"]))
        data = await read_json(request)
        if inst is None:
            return not_found()
        if data is None:
            return error_reply(400, "Problems parsing JSON")
        app_actor = self.access.app_actor
        assert app_actor is not None
        minted = self.access.mint(inst, app_actor)
        permissions = data.get("permissions") or dict(INSTALLATION_PERMISSIONS)
        body = {
            "token": minted.token,
            "expires_at": iso(minted.expires_at),
            "permissions": permissions,
            "repository_selection": "selected",
        }
        return json_reply(body, status=201)

    async def repo_installation(self, request: web.Request) -> web.Response:
        """`GET /repos/{owner}/{repo}/installation` (JWT)."""
        repo = self.state.find_repo(request.match_info["owner"], request.match_info["repo"])
        inst = self._installation_for(repo.owner.login) if repo is not None else None
        if inst is None:
            return not_found()
        return json_reply(self.state.payloads.installation(inst))

    def _installation_for(self, login: str) -> Installation | None:
        for inst in self.state.installations.values():
            if inst.account.login.lower() == login.lower():
                return inst
        return None

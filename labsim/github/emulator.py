"""GitHubEmulator: an aiohttp server speaking the GitHub REST subset PyGithub uses for labbot.

It must not be imported by the bot: it is test infrastructure bound to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from labsim.github import conditional
from labsim.github.access import AccessControl, AuthFailure, Credential, RateLimit, TokenGrant
from labsim.github.faults import SECONDARY_RATE_LIMIT_DOCS, SECONDARY_RATE_LIMIT_MESSAGE, FaultPlan
from labsim.github.gitstore import GitError
from labsim.github.knobs import GitHubKnobs
from labsim.github.model import CommentRecord, MergeRecord, RequestRecord, ReviewRecord
from labsim.github.replies import CURRENT_CREDENTIAL, error_reply, json_reply
from labsim.github.routes_account import AccountRoutes
from labsim.github.routes_checks import CheckRoutes
from labsim.github.routes_git import GitRoutes
from labsim.github.routes_pulls import PullRoutes
from labsim.github.state import GitHubState
from labsim.github.token_rules import accepted_header, needs, refusal

API_PREFIX = "/api/v3"
_log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class GitHubEmulator(GitHubKnobs):
    """A local GitHub (REST v3) backed by real bare git repositories.

    Example::

        async with GitHubEmulator() as gh:
            await gh.seed_infra_repo()
            pr = await gh.open_renovate_pr()
            g = Github(auth=Auth.Token("ghp_emulatortoken"), base_url=gh.api_url)
    """

    def __init__(
        self,
        *,
        tokens: Collection[str] = frozenset({"ghp_emulatortoken"}),
        app_id: int | None = None,
        app_public_key_pem: str | None = None,
        user_login: str = "labbot",
        app_slug: str = "labbot",
    ) -> None:
        self._tokens = set(tokens)
        self._user_login = user_login
        self._app_slug = app_slug
        self._access = AccessControl({}, app_id, app_public_key_pem)
        self._rate = RateLimit()
        self._faults = FaultPlan()
        self._state: GitHubState | None = None
        self._runner: web.AppRunner | None = None
        self._root: Path | None = None
        self._port = 0

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind 127.0.0.1 on an ephemeral port and start serving."""
        if self._runner is not None:
            raise RuntimeError("GitHubEmulator already started")
        self._root = Path(tempfile.mkdtemp(prefix="labsim-github-"))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        state = GitHubState(self._root, self.api_url, self.web_url)
        self._state = state
        user = state.add_account(self._user_login)
        self._access.user_tokens.update({token: user for token in self._tokens})
        self._access.app_actor = state.add_account(f"{self._app_slug}[bot]", "Bot")
        app = web.Application(middlewares=[self._middleware])
        app.add_routes(AccountRoutes(state, self._access, self._rate).routes(API_PREFIX))
        app.add_routes(PullRoutes(state).routes(API_PREFIX))
        app.add_routes(CheckRoutes(state).routes(API_PREFIX))
        app.add_routes(GitRoutes(state).routes(API_PREFIX))
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        try:
            await web.SockSite(self._runner, sock).start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop serving and delete the repositories on disk."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    async def __aenter__(self) -> GitHubEmulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- addresses -----------------------------------------------------------------------------

    @property
    def state(self) -> GitHubState:
        """The live emulator state (raises if the emulator is not started)."""
        if self._state is None:
            raise RuntimeError("GitHubEmulator is not started")
        return self._state

    @property
    def web_url(self) -> str:
        """`http://127.0.0.1:PORT` (html_url root)."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        """The base_url to give PyGithub: `http://127.0.0.1:PORT/api/v3`."""
        return f"{self.web_url}{API_PREFIX}"

    def git_url(self, owner: str = "homelab", repo: str = "thelab-infra") -> str:
        """file:// URL of the bare repository (for `git clone` / `git push`)."""
        found = self.state.find_repo(owner, repo)
        if found is None:
            raise KeyError(f"no repository {owner}/{repo}")
        return found.git.url

    # -- auth and faults -----------------------------------------------------------------------

    def add_token(
        self,
        token: str,
        login: str,
        kind: str = "User",
        *,
        scopes: tuple[str, ...] = ("repo",),
        permissions: dict[str, str] | None = None,
    ) -> None:
        """Accept `token` as account `login` (created if needed): a classic token with these
        OAuth `scopes`, or, given `permissions` ({"contents": "write", "checks": "read", …}),
        a fine-grained one with those repository permissions (see access.TokenGrant)."""
        self._access.user_tokens[token] = self.state.add_account(login, kind)
        self._access.grants[token] = TokenGrant(
            scopes=None if permissions is not None else scopes, permissions=permissions
        )

    def set_role(self, login: str, role: str) -> None:
        """Account `login`'s role on the repositories: "read", "triage", "write", "maintain"
        or "admin" (the default). It shows in a repository's `permissions`."""
        self.state.roles[login] = role

    def revoke_token(self, token: str) -> None:
        """Stop accepting `token` (later calls get 401 Bad credentials)."""
        self._access.user_tokens.pop(token, None)
        self._access.installation_tokens.pop(token, None)

    def expire_installation_tokens(self) -> None:
        """Expire every minted installation token (PyGithub then mints a new one)."""
        self._access.expire_installation_tokens()

    def inject_secondary_rate_limit(self, count: int = 1, retry_after: int = 60) -> None:
        """Answer the next `count` requests with GitHub's secondary-rate-limit 403 + Retry-After."""
        message = SECONDARY_RATE_LIMIT_MESSAGE.format(request_id=uuid.uuid4().hex[:16].upper())
        self._faults.add(
            "*",
            ".*",
            403,
            count,
            body={"message": message, "documentation_url": SECONDARY_RATE_LIMIT_DOCS},
            headers={"Retry-After": str(retry_after)},
        )

    def inject_status(
        self,
        method: str,
        path_regex: str,
        status: int,
        count: int = 1,
        *,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next `count` requests matching method ("*" = any) and path regex (searched
        in the path relative to /api/v3, e.g. r"/pulls/\\d+/merge$") with `status`."""
        self._faults.add(method, path_regex, status, count, body, headers)

    def exhaust_rate_limit(self, reset_in: float = 60) -> None:
        """Use up the primary rate limit: 403 "API rate limit exceeded" until the reset."""
        self._rate.exhaust(reset_in)

    # -- records -------------------------------------------------------------------------------

    def requests(self) -> list[RequestRecord]:
        """Every request answered so far, in order."""
        return list(self.state.requests)

    def merges(self) -> list[MergeRecord]:
        """Merges done through the API (not `merge_elsewhere`)."""
        return list(self.state.merges)

    def reviews(self, number: int, repo: str | None = None) -> list[ReviewRecord]:
        """Reviews submitted on PR `number`."""
        return list(self._repo(repo).pulls[number].reviews)

    def comments(self, number: int, repo: str | None = None) -> list[CommentRecord]:
        """Issue comments posted on PR `number`."""
        return list(self._repo(repo).pulls[number].comments)

    # -- HTTP plumbing -------------------------------------------------------------------------

    def _is_private(self, path: str) -> bool:
        parts = path.strip("/").split("/")
        found = self.state.find_repo(parts[1], parts[2]) if len(parts) >= 3 else None
        return found is None or found.private

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = await request.read() if request.body_exists else b""
        path = (
            request.path.removeprefix(API_PREFIX) if request.path.startswith(API_PREFIX) else None
        )
        response, counted = await self._dispatch(request, handler, path)
        response.headers.update(self._rate.headers())
        response.headers.setdefault("X-GitHub-Request-Id", uuid.uuid4().hex[:20].upper())
        response.headers.setdefault("Server", "GitHub.com")
        if self._state is not None:
            self._state.requests.append(
                RequestRecord(
                    method=request.method,
                    path=path if path is not None else request.path,
                    status=response.status,
                    query=request.query_string,
                    body=_decode_body(raw),
                    conditional=conditional.is_conditional(request),
                    counted=counted,
                )
            )
        return response

    async def _dispatch(
        self, request: web.Request, handler: Handler, path: str | None
    ) -> tuple[web.StreamResponse, bool]:
        """The response, and whether it counted against the primary rate limit."""
        if path is None:
            return error_reply(404, "Not Found"), False
        fault = self._faults.take(request.method, path or "/")
        if fault is not None:
            return json_reply(fault.body, fault.status, headers=dict(fault.headers)), False
        credential = self._access.authenticate(request.headers.get("Authorization"), path)
        if isinstance(credential, AuthFailure):
            return error_reply(credential.status, credential.message), False
        counted = path != "/rate_limit"
        # Believed, not verified: with the limit used up, a conditional request is refused too
        # (GitHub only promises that a 304 is free, not that it is answered past the limit).
        if counted and not self._rate.charge():
            message = f"API rate limit exceeded for user ID {credential.actor.id}."
            return error_reply(403, message), False
        grant = credential.grant
        if grant is not None:
            refused = refusal(grant, request.method, path, self._is_private(path))
            if refused is not None:
                reply = error_reply(refused.status, refused.message)
                reply.headers.update({**refused.headers, **_grant_headers(grant, request, path)})
                return reply, counted
        response = conditional.answer(request, await self._handle(request, handler, credential))
        if grant is not None:
            response.headers.update(_grant_headers(grant, request, path))
        if counted and response.status == 304:
            self._rate.refund()  # a 304 does not count (see labsim/github/conditional.py)
            counted = False
        return response, counted

    async def _handle(
        self, request: web.Request, handler: Handler, credential: Credential
    ) -> web.StreamResponse:
        token = CURRENT_CREDENTIAL.set(credential)
        try:
            return await handler(request)
        except web.HTTPMethodNotAllowed:
            return error_reply(404, "Not Found")
        except web.HTTPException as exc:
            return error_reply(exc.status, exc.reason)
        except GitError:
            _log.exception("git failed while serving %s %s", request.method, request.path)
            return error_reply(500, "Server Error")
        finally:
            CURRENT_CREDENTIAL.reset(token)


def _grant_headers(grant: TokenGrant, request: web.Request, path: str) -> dict[str, str]:
    """What GitHub tells a token's caller about its rights on each answer: a classic token's
    scopes (`X-OAuth-Scopes`, comma and space as GitHub sends them); for a fine-grained one,
    what the endpoint needs (`X-Accepted-GitHub-Permissions`). See access.TokenGrant."""
    if not grant.fine_grained:
        return {"X-OAuth-Scopes": ", ".join(grant.scopes or ())}
    wanted = needs(request.method, path)
    return {"X-Accepted-GitHub-Permissions": accepted_header(wanted)} if wanted else {}


def _decode_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")

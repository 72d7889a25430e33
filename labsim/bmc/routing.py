"""Request routing of the emulated bmcd 2.3.4: web UI fallback, login, auth gate, API routes.

Reproduces bmcd's matching rules (turing-machines/bmcd), including the raw-substring
flash guards; the handlers themselves live in `legacy_api` and `flash_api`.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from labsim.bmc.auth import Authenticator, AuthFailure, Session
from labsim.bmc.board import SLOTS, Board
from labsim.bmc.flash_api import FlashApi
from labsim.bmc.legacy_api import LegacyApi, set_node_info
from labsim.bmc.responses import compact_json, index_page, plain_text

API_ROOT = "/api/bmc"
LOGIN_PATH = "/api/bmc/authenticate"


class BmcRouter:
    """The one request handler of the emulated BMC's HTTPS server."""

    def __init__(
        self,
        auth: Authenticator,
        legacy: LegacyApi,
        flash_api: FlashApi,
        board: Board,
        *,
        serialize_requests: bool = True,
    ) -> None:
        self._auth = auth
        # bmcd serves every /api/bmc request, the login included, under one mutex held until the
        # handler returns: turing-machines/bmcd v2.3.4, src/authentication/authentication_service.rs
        # (`let mut context = context.lock().await;` lives across `service.call(request).await`),
        # shared by both HTTP workers (src/main.rs, `.workers(2)`, one `authentication` value).
        # A long upload POST therefore holds up every other API request. tokio's Mutex is fair
        # (FIFO), like asyncio.Lock. `serialize_requests=False` is for tests that need it off.
        self._serialized = asyncio.Lock() if serialize_requests else None
        self._legacy = legacy
        self._flash_api = flash_api
        self._board = board
        self._connection_tasks: set[asyncio.Task[None]] = set()

    async def end_connections(self) -> None:
        """Cancel and await connection tasks aiohttp left finishing after a server shutdown."""
        current = asyncio.current_task()
        pending = [task for task in self._connection_tasks if task is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer one request the way bmcd's actix app would."""
        connection = request.task
        if connection not in self._connection_tasks and not connection.done():
            self._connection_tasks.add(connection)
            connection.add_done_callback(self._connection_tasks.discard)
        path = request.rel_url.raw_path
        if path != API_ROOT and not path.startswith(API_ROOT + "/"):
            return index_page()
        if self._serialized is None:
            return await self._api(request, path)
        async with self._serialized:
            return await self._api(request, path)

    async def _api(self, request: web.BaseRequest, path: str) -> web.StreamResponse:
        # Not emulated: bmcd skips authentication (and the mutex) for loopback peers; a real
        # client is never on the BMC's own loopback, so every peer here counts as remote.
        peer = request.remote or ""
        if path == LOGIN_PATH:  # any method; the body is JSON whatever the content type says
            outcome = self._auth.login(peer, await request.read())
            if isinstance(outcome, Session):
                return web.Response(
                    status=200,
                    text=compact_json(outcome.body()),
                    content_type="application/json",  # bmcd sets no content type (inferred)
                    headers={"X-Auth-Token": outcome.token},
                )
            return _refusal(outcome)
        failure = self._auth.authorize(peer, request.headers.get("Authorization"))
        if failure is not None:
            return _refusal(failure)
        return await self._route(request, path)

    async def _route(self, request: web.BaseRequest, path: str) -> web.StreamResponse:
        raw_query = request.rel_url.raw_query_string
        # serde_urlencoded into a HashMap: a repeated key keeps its last value.
        query = dict(request.rel_url.query.items())
        if path == API_ROOT:
            mentions_flash = "type=flash" in raw_query or "type=firmware" in raw_query
            if request.method == "GET":
                if "opt=get" in raw_query and mentions_flash:
                    return self._flash_api.status()
                if "opt=set" in raw_query and mentions_flash:
                    return await self._flash_api.request_transfer(query)
                return await self._legacy.handle(query)
            if (
                request.method == "POST"
                and "opt=set" in raw_query
                and "type=node_info" in raw_query
            ):
                return set_node_info(self._board, await request.read())
            return web.Response(status=405)
        segments = path[len(API_ROOT) + 1 :].split("/")
        if len(segments) == 2 and segments[0] == "upload" and segments[1]:
            if request.method != "POST":
                return web.Response(status=405)
            return await self._flash_api.upload(request, segments[1])
        if (
            len(segments) == 3
            and segments[0] == "upload"
            and segments[1]
            and segments[2] == "cancel"
        ):
            if request.method != "GET":
                return web.Response(status=405)
            return self._flash_api.cancel()
        if segments == ["serial", "status"] and request.method == "POST":
            return web.Response(
                text=compact_json(["Running"] * SLOTS), content_type="application/json"
            )
        # Unmatched paths inside the authenticated scope fall back to the web UI (inferred).
        # Not emulated, so they land here too: /serial/ws (WebSocket) and /backup.
        return index_page()


def _refusal(failure: AuthFailure) -> web.Response:
    response = plain_text(failure.status, failure.message)
    if failure.challenge is not None:
        response.headers["WWW-Authenticate"] = failure.challenge
    return response

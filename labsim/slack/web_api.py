"""HTTP side of the emulated Web API: parameter parsing, tokens, 429s, recording, file uploads.

Method semantics live in methods.py; this module only turns requests into calls and answers.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from labsim.slack.methods import METHODS, ApiError, Body, Params, SlackMethods
from labsim.slack.rate_limits import RateLimiter
from labsim.slack.workspace import Workspace


async def read_params(request: web.Request) -> tuple[Params, str | None]:
    """Merge query, form and JSON parameters; return them with the presented token (if any)."""
    params: Params = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                body = None
            if isinstance(body, dict):
                params.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
    token = params.pop("token", None)
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        token = header.removeprefix("Bearer ").strip()
    return params, token if isinstance(token, str) and token else None


class WebApi:
    """Answers ``/api/<method>`` and ``/upload/v1/<file_id>`` for one emulator."""

    def __init__(self, workspace: Workspace, methods: SlackMethods, limiter: RateLimiter) -> None:
        self._ws = workspace
        self._methods = methods
        self._limiter = limiter

    def _answer(self, method: str, params: Params, token: str | None) -> tuple[int, Body, Any]:
        spec = METHODS.get(method)
        if spec is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        retry_after = self._limiter.check(method, params)
        if retry_after is not None:
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}
        ident = self._ws.identity
        if token is None:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if token not in (ident.bot_token, ident.app_token):
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        expected = ident.app_token if spec.token == "app" else ident.bot_token
        if token != expected:
            return 200, {"ok": False, "error": "not_allowed_token_type"}, {}
        # Slack names the calling token's scopes in the `x-oauth-scopes` header of each Web API
        # answer (and the method's in `x-accepted-oauth-scopes`); the SDKs expose them as
        # `response_metadata.scopes` / `acceptedScopes` (docs.slack.dev/tools/node-slack-sdk/
        # reference/web-api/interfaces/WebAPICallResult, read from those headers in
        # @slack/web-api's WebClient.ts).
        scopes = ",".join(self._ws.granted_scopes)
        headers = {"x-oauth-scopes": scopes} if spec.token == "bot" else {}
        try:
            return 200, spec.handler(self._methods, params), headers
        except ApiError as error:
            return 200, error.body(), headers

    async def handle_method(self, request: web.Request) -> web.Response:
        """One Web API call (GET or POST)."""
        method = request.match_info["method"]
        params, token = await read_params(request)
        status, body, headers = self._answer(method, params, token)
        self._ws.record_call(method, params, status, body)
        return web.json_response(body, status=status, headers=headers, dumps=json.dumps)

    async def handle_upload(self, request: web.Request) -> web.Response:
        """The raw POST of a file's bytes to the upload_url from files.getUploadURLExternal."""
        file_id = request.match_info["file_id"]
        content = await request.read()
        upload = self._ws.find_upload(file_id)
        params: Params = {"file_id": file_id, "size": len(content)}
        if upload is None:
            self._ws.record_call("upload_url", params, 404, {"ok": False, "error": "not_found"})
            return web.Response(status=404, text="not found", content_type="text/plain")
        upload.content = content
        self._ws.record_call("upload_url", params, 200, {"ok": True})
        # files.slack.com answers a plain-text "OK - <length>"; slack_sdk only checks status 200.
        return web.Response(text=f"OK - {len(content)}", content_type="text/plain")

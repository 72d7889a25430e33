"""The response_url endpoint (``/webhook/<id>``) handed out with slash commands and clicks.

Follows reference §3: JSON ``{text, blocks, response_type, replace_original, delete_original,
thread_ts}``, ephemeral by default, usable 5 times within 30 minutes.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from labsim.slack.limits import BlockProblem, check_content
from labsim.slack.methods import ApiError, parse_blocks
from labsim.slack.workspace import Workspace

MAX_USES = 5
LIFETIME_SECONDS = 30 * 60


@dataclass
class ResponseTarget:
    """Where posts to one response_url land, and how often it was used."""

    user: str
    channel: str
    original_ts: str | None
    """The clicked message (or ephemeral) ts; None for slash commands."""
    original_ephemeral: bool
    created: float
    uses: int = 0


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


class ResponseUrls:
    """Issues response_urls and answers posts to them."""

    def __init__(self, workspace: Workspace, root_url: Callable[[], str]) -> None:
        self._ws = workspace
        self._root_url = root_url
        self._targets: dict[str, ResponseTarget] = {}

    def issue(
        self, *, user: str, channel: str, original_ts: str | None, original_ephemeral: bool
    ) -> str:
        """A fresh absolute response_url on this emulator."""
        hook_id = uuid.uuid4().hex
        self._targets[hook_id] = ResponseTarget(
            user, channel, original_ts, original_ephemeral, time.monotonic()
        )
        return f"{self._root_url()}/webhook/{hook_id}"

    async def handle(self, request: web.Request) -> web.Response:
        """POST /webhook/<id>: apply one response and record it as call ``response_url``."""
        hook_id = request.match_info["hook_id"]
        body = await self._read_body(request)
        status, answer = self._apply(hook_id, body)
        self._ws.record_call("response_url", {**body, "hook_id": hook_id}, status, answer)
        return web.json_response(answer, status=status)

    @staticmethod
    async def _read_body(request: web.Request) -> dict[str, Any]:
        raw = await request.text()
        if request.content_type == "application/x-www-form-urlencoded":
            form = await request.post()
            raw = str(form.get("payload", "{}"))
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def _apply(self, hook_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        # Status codes and error names of hooks.slack.com failures are not documented; these
        # (404 used_url / expired_url / invalid_url, 400 for bad content) are inferred.
        target = self._targets.get(hook_id)
        if target is None:
            return 404, {"ok": False, "error": "invalid_url"}
        if time.monotonic() - target.created > LIFETIME_SECONDS:
            return 404, {"ok": False, "error": "expired_url"}
        if target.uses >= MAX_USES:
            return 404, {"ok": False, "error": "used_url"}
        try:
            self._post(target, body)
        except ApiError as error:
            return 400, error.body()
        target.uses += 1
        return 200, {"ok": True}

    def _post(self, target: ResponseTarget, body: dict[str, Any]) -> None:
        if _flag(body.get("delete_original")):
            self._delete_original(target)
            return
        text = body.get("text") if isinstance(body.get("text"), str) else ""
        blocks = parse_blocks(body.get("blocks"))
        if not text and not blocks:
            raise ApiError("no_text")
        checked = check_content(text or "", blocks or [])
        if isinstance(checked, BlockProblem):
            raise ApiError(checked.error, errors=[checked.detail])
        new_blocks = None if blocks is None else checked.blocks
        if _flag(body.get("replace_original")) and target.original_ts is not None:
            self._replace_original(target, checked.text, new_blocks)
            return
        thread_ts = body.get("thread_ts") if isinstance(body.get("thread_ts"), str) else None
        if body.get("response_type") == "in_channel":
            self._ws.post_message(
                channel=target.channel,
                user=self._ws.identity.bot_user_id,
                text=checked.text,
                blocks=checked.blocks,
                thread_ts=thread_ts,
                via="response_url",
            )
        else:
            self._ws.add_ephemeral(
                channel=target.channel,
                user=target.user,
                text=checked.text,
                blocks=checked.blocks,
                thread_ts=thread_ts,
                via="response_url",
            )

    def _replace_original(self, target: ResponseTarget, text: str, blocks: Any) -> None:
        assert target.original_ts is not None
        if target.original_ephemeral:
            eph = self._ws.find_ephemeral(target.original_ts)
            if eph is None or eph.deleted:
                raise ApiError("message_not_found")
            self._ws.replace_ephemeral(eph, text=text, blocks=blocks)
        else:
            msg = self._ws.find_message(target.channel, target.original_ts)
            if msg is None or msg.deleted:
                raise ApiError("message_not_found")
            self._ws.replace_message(msg, text=text, blocks=blocks)

    def _delete_original(self, target: ResponseTarget) -> None:
        if target.original_ts is None:
            return
        if target.original_ephemeral:
            eph = self._ws.find_ephemeral(target.original_ts)
            if eph is not None:
                self._ws.delete_ephemeral(eph)
        else:
            msg = self._ws.find_message(target.channel, target.original_ts)
            if msg is not None:
                self._ws.delete_message(msg)

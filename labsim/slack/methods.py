"""Implementations of the emulated Web API methods (chat.*, users.*, files.*, auth.test, ...).

Each takes the parsed parameters and returns the JSON body or raises ApiError; HTTP, tokens and
rate limits are handled by web_api.

Long because: every emulated method is one short handler over the same workspace, and `METHODS`,
the one table of them, sits beside them; block checks and payload shapes are already apart
(limits.py, payloads.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from labsim.slack.limits import (
    MAX_VIEW_BLOCKS,
    MAX_VIEW_BYTES,
    BlockProblem,
    Content,
    check_content,
    find_block_problem,
)
from labsim.slack.payloads import home_view_json, message_json
from labsim.slack.records import Block, Channel, Message
from labsim.slack.socket_mode import SocketModeHub
from labsim.slack.workspace import Workspace, WorkspaceIdentity

Params = dict[str, Any]
Body = dict[str, Any]


class ApiError(Exception):
    """A Web API error answer: ``{"ok": false, "error": code, **extra}`` (HTTP 200, like Slack)."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def body(self) -> Body:
        """The JSON body Slack sends for this error."""
        return {"ok": False, "error": self.error, **self.extra}


def block_error(problem: BlockProblem) -> ApiError:
    """The ApiError for a block-limit problem, with Slack-style ``errors`` and metadata."""
    return ApiError(
        problem.error,
        errors=[problem.detail],
        response_metadata={"messages": [f"[ERROR] {problem.detail}"]},
    )


def invalid_arguments(detail: str) -> ApiError:
    """``invalid_arguments`` with Slack's ``[ERROR] …`` explanation, as the views methods answer
    a view they refuse (e.g. ``[ERROR] no more than 100 items allowed
    [json-pointer:/view/blocks]``, quoted in grafana/oncall pull request #210)."""
    return ApiError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {detail}"]})


def truncation_warning() -> Body:
    """Fields Slack adds to a success body when ``text`` was cut to 40,000 characters."""
    return {
        "warning": "message_truncated",
        "response_metadata": {
            "warnings": ["message_truncated"],
            "messages": ["[WARN] A message was truncated to 40000 characters"],
        },
    }


def parse_blocks(raw: Any) -> list[Block] | None:
    """Blocks from a JSON body (a list) or a form field (a JSON string); None when absent."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ApiError("invalid_blocks_format") from None
    if not isinstance(raw, list):
        raise ApiError("invalid_blocks_format")
    return raw


def _string(params: Params, key: str) -> str | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    return str(value)


def _content(text: str, blocks: list[Block]) -> Content:
    checked = check_content(text, blocks)
    if isinstance(checked, BlockProblem):
        raise block_error(checked)
    return checked


TokenKind = Literal["bot", "app"]


@dataclass(frozen=True)
class MethodSpec:
    """One Web API method: which token it needs and what answers it."""

    token: TokenKind
    handler: Callable[[SlackMethods, Params], Body]


class SlackMethods:
    """The method implementations, over one Workspace."""

    def __init__(
        self, workspace: Workspace, hub: SocketModeHub, root_url: Callable[[], str]
    ) -> None:
        self._ws = workspace
        self._hub = hub
        self._root_url = root_url

    @property
    def _identity(self) -> WorkspaceIdentity:
        return self._ws.identity

    def _channel(self, params: Params, key: str = "channel") -> Channel:
        ref = _string(params, key)
        channel = self._ws.resolve_channel(ref) if ref else None
        if channel is None:
            raise ApiError("channel_not_found")
        return channel

    def _postable(self, params: Params) -> Channel:
        """The channel the bot writes to. Without `chat:write.public` (labbot's manifest asks
        only for `chat:write`) a bot can write only where it is a member; elsewhere Slack answers
        `not_in_channel` (api.slack.com/methods/chat.postMessage, Errors)."""
        channel = self._channel(params)
        if not channel.bot_member:
            raise ApiError("not_in_channel")
        return channel

    def _message(self, channel: Channel, ts: str | None) -> Message:
        msg = self._ws.find_message(channel.id, ts) if ts else None
        if msg is None or msg.deleted:
            raise ApiError("message_not_found")
        return msg

    # -- auth and connections -------------------------------------------------------------------

    def auth_test(self, params: Params) -> Body:
        """auth.test: the bot identity Bolt reads on its first dispatch."""
        ident = self._identity
        return {
            "ok": True,
            "url": f"https://{ident.team_domain}.slack.com/",
            "team": ident.team_name,
            "user": ident.bot_name,
            "team_id": ident.team_id,
            "user_id": ident.bot_user_id,
            "bot_id": ident.bot_id,
            "is_enterprise_install": False,
        }

    def apps_connections_open(self, params: Params) -> Body:
        """apps.connections.open: a ws:// URL on this emulator with a fresh ticket."""
        ticket = self._hub.issue_ticket()
        root = self._root_url().replace("http://", "ws://", 1)
        return {"ok": True, "url": f"{root}/link/?ticket={ticket}&app_id={self._identity.app_id}"}

    # -- chat -----------------------------------------------------------------------------------

    def chat_post_message(self, params: Params) -> Body:
        """chat.postMessage."""
        channel = self._postable(params)
        text = _string(params, "text") or ""
        blocks = parse_blocks(params.get("blocks"))
        if not text and not blocks and not params.get("attachments"):
            raise ApiError("no_text")
        content = _content(text, blocks or [])
        msg = self._ws.post_message(
            channel=channel.id,
            user=self._identity.bot_user_id,
            text=content.text,
            blocks=content.blocks,
            thread_ts=_string(params, "thread_ts"),
            via="chat.postMessage",
        )
        body: Body = {
            "ok": True,
            "channel": channel.id,
            "ts": msg.ts,
            "message": message_json(msg, self._identity),
        }
        return {**body, **truncation_warning()} if content.truncated else body

    def chat_update(self, params: Params) -> Body:
        """chat.update: a text or blocks field that is absent keeps its old value (inferred)."""
        channel = self._postable(params)
        msg = self._message(channel, _string(params, "ts"))
        if msg.user != self._identity.bot_user_id:
            raise ApiError("cant_update_message")
        text = _string(params, "text") if "text" in params else None
        blocks = parse_blocks(params.get("blocks")) if "blocks" in params else None
        if not text and not blocks:
            raise ApiError("no_text")
        content = _content(text if text is not None else msg.text, blocks or [])
        self._ws.replace_message(
            msg, text=content.text, blocks=None if blocks is None else content.blocks
        )
        body: Body = {
            "ok": True,
            "channel": channel.id,
            "ts": msg.ts,
            "text": msg.text,
            "message": message_json(msg, self._identity),
        }
        return {**body, **truncation_warning()} if content.truncated else body

    def chat_post_ephemeral(self, params: Params) -> Body:
        """chat.postEphemeral."""
        channel = self._postable(params)
        user = _string(params, "user")
        if user is None or user not in self._ws.users:
            raise ApiError("user_not_found")
        text = _string(params, "text") or ""
        blocks = parse_blocks(params.get("blocks"))
        if not text and not blocks:
            raise ApiError("no_text")
        content = _content(text, blocks or [])
        eph = self._ws.add_ephemeral(
            channel=channel.id,
            user=user,
            text=content.text,
            blocks=content.blocks,
            thread_ts=_string(params, "thread_ts"),
            via="chat.postEphemeral",
        )
        return {"ok": True, "message_ts": eph.ts}

    def chat_get_permalink(self, params: Params) -> Body:
        """chat.getPermalink."""
        channel = self._channel(params)
        msg = self._message(channel, _string(params, "message_ts"))
        link = (
            f"https://{self._identity.team_domain}.slack.com/archives/"
            f"{channel.id}/p{msg.ts.replace('.', '')}"
        )
        if msg.thread_ts and msg.thread_ts != msg.ts:
            link += f"?thread_ts={msg.thread_ts}&cid={channel.id}"
        return {"ok": True, "channel": channel.id, "permalink": link}

    # -- views ----------------------------------------------------------------------------------

    def views_publish(self, params: Params) -> Body:
        """views.publish: set one user's Home tab (docs.slack.dev/reference/methods/views.publish).

        `user_id` and `view` are required; the view must be of type `home` and hold at most
        100 blocks (docs.slack.dev/reference/block-kit/blocks), each valid Block Kit; a view
        over 250 kB is `view_too_large`; a Home tab the app has not enabled is `not_enabled`;
        a `hash` that is not the current view's is `hash_conflict` (all from the method's
        Errors). Which refusals come as `invalid_arguments`, and their `[ERROR]` wording, is
        inferred from answers quoted in public issues; an unknown user's `user_not_found` is
        inferred too.
        """
        user = _string(params, "user_id")
        if user is None:
            raise invalid_arguments("missing required field: user_id")
        raw = params.get("view")
        if raw is None or raw == "":
            raise invalid_arguments("missing required field: view")
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                raise invalid_arguments("invalid json [json-pointer:/view]") from None
        if not isinstance(raw, dict):
            raise invalid_arguments("must be an object [json-pointer:/view]")
        if raw.get("type") != "home":
            raise invalid_arguments(
                f"must be 'home' to publish, got {raw.get('type')!r} [json-pointer:/view/type]"
            )
        if len(json.dumps(raw).encode()) > MAX_VIEW_BYTES:
            raise ApiError("view_too_large")
        problem = find_block_problem(
            raw.get("blocks", []), max_blocks=MAX_VIEW_BLOCKS, root="/view/blocks", text_limit=None
        )
        if problem is not None:
            raise invalid_arguments(problem.detail)
        if not self._ws.home_tab_enabled:
            raise ApiError("not_enabled")
        if user not in self._ws.users:
            raise ApiError("user_not_found")
        current = self._ws.home_view(user)
        given_hash = _string(params, "hash")
        if given_hash is not None and (current is None or current.hash != given_hash):
            raise ApiError("hash_conflict")
        view = self._ws.publish_home(user, list(raw.get("blocks", [])))
        return {"ok": True, "view": home_view_json(view, self._identity)}

    # -- directory ------------------------------------------------------------------------------

    def conversations_info(self, params: Params) -> Body:
        """conversations.info (minimal). `is_member` is the calling bot's membership
        (docs.slack.dev/reference/methods/conversations.info: "is_member" in the channel object)."""
        channel = self._channel(params)
        return {
            "ok": True,
            "channel": {
                "id": channel.id,
                "name": channel.name,
                "is_channel": True,
                "is_private": False,
                "is_archived": False,
                "is_member": channel.bot_member,
            },
        }

    def users_info(self, params: Params) -> Body:
        """users.info (minimal)."""
        user = self._ws.users.get(_string(params, "user") or "")
        if user is None:
            raise ApiError("user_not_found")
        return {
            "ok": True,
            "user": {
                "id": user.id,
                "team_id": self._identity.team_id,
                "name": user.name,
                "real_name": user.name,
                "deleted": False,
                "is_bot": user.is_bot,
                "profile": {"display_name": user.name, "real_name": user.name},
            },
        }

    def usergroups_users_list(self, params: Params) -> Body:
        """usergroups.users.list."""
        members = self._ws.usergroups.get(_string(params, "usergroup") or "")
        if members is None:
            raise ApiError("no_such_subteam")
        return {"ok": True, "users": list(members)}

    # -- files ----------------------------------------------------------------------------------

    def files_get_upload_url_external(self, params: Params) -> Body:
        """files.getUploadURLExternal: a file id and an upload URL on this emulator."""
        filename = _string(params, "filename")
        length = _string(params, "length")
        if filename is None or length is None or not length.isdigit():
            raise ApiError("invalid_arguments")
        upload = self._ws.begin_upload(filename, int(length))
        return {
            "ok": True,
            "upload_url": f"{self._root_url()}/upload/v1/{upload.id}",
            "file_id": upload.id,
        }

    def files_complete_upload_external(self, params: Params) -> Body:
        """files.completeUploadExternal: finish uploads, optionally sharing them in a channel."""
        raw = params.get("files")
        try:
            items = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            raise ApiError("invalid_arguments") from None
        if not isinstance(items, list) or not items:
            raise ApiError("invalid_arguments")
        shared_in = _string(params, "channels") or ""
        channel_ref = _string(params, "channel_id") or shared_in.split(",")[0]
        channel = self._channel({"channel": channel_ref}) if channel_ref else None
        uploads = []
        for item in items:
            file_id = str(item.get("id", "")) if isinstance(item, dict) else ""
            upload = self._ws.find_upload(file_id)
            # Error code for an unknown or never-POSTed file id is not documented (inferred).
            if upload is None or upload.content is None:
                raise ApiError("file_not_found")
            uploads.append((upload, str(item.get("title") or upload.filename)))
        thread_ts = _string(params, "thread_ts")
        comment = _string(params, "initial_comment")
        done = [
            self._ws.complete_upload(
                upload,
                title=title,
                channel=channel.id if channel else None,
                thread_ts=thread_ts,
                initial_comment=comment,
            )
            for upload, title in uploads
        ]
        if channel is not None:
            self._ws.post_message(
                channel=channel.id,
                user=self._identity.bot_user_id,
                text=comment or "",
                blocks=[],
                thread_ts=thread_ts,
                via="files.completeUploadExternal",
                files=[f.id for f in done],
            )
        return {
            "ok": True,
            "files": [
                {
                    "id": f.id,
                    "name": f.filename,
                    "title": f.title,
                    "size": len(f.content),
                    "user": self._identity.bot_user_id,
                    "created": int(time.time()),
                    "channels": [f.channel] if f.channel else [],
                }
                for f in done
            ],
        }


METHODS: dict[str, MethodSpec] = {
    "auth.test": MethodSpec("bot", SlackMethods.auth_test),
    "apps.connections.open": MethodSpec("app", SlackMethods.apps_connections_open),
    "chat.postMessage": MethodSpec("bot", SlackMethods.chat_post_message),
    "chat.update": MethodSpec("bot", SlackMethods.chat_update),
    "chat.postEphemeral": MethodSpec("bot", SlackMethods.chat_post_ephemeral),
    "chat.getPermalink": MethodSpec("bot", SlackMethods.chat_get_permalink),
    "conversations.info": MethodSpec("bot", SlackMethods.conversations_info),
    "users.info": MethodSpec("bot", SlackMethods.users_info),
    "usergroups.users.list": MethodSpec("bot", SlackMethods.usergroups_users_list),
    "files.getUploadURLExternal": MethodSpec("bot", SlackMethods.files_get_upload_url_external),
    "files.completeUploadExternal": MethodSpec("bot", SlackMethods.files_complete_upload_external),
    "views.publish": MethodSpec("bot", SlackMethods.views_publish),
}
"""Every Web API method the emulator answers; any other name gets ``unknown_method``."""

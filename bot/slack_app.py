"""The Slack edge: the only module that imports slack_bolt and slack_sdk.

Registers `/lab` and button actions, acks at once, and hands typed requests to the `Dispatcher`
in tasks owned by the app. Never holds lab logic.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.app.async_server import AsyncSlackAppServer
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot import actions, messages
from bot.chat import Block, ChatError, PosterRateLimited
from bot.config import SlackConfig, SlackMode
from bot.dispatch import ClickRequest, CommandRequest, Dispatcher
from bot.outcome import Reply
from bot.tasks import TaskSet

log = logging.getLogger(__name__)

SEEN_LIMIT = 4096
PACING_MARGIN = 0.05


class ResponseUrlResponder:
    """Replies through the request's response_url (works in channels the bot has not joined)."""

    def __init__(self, response_url: str) -> None:
        self._url = response_url

    async def reply(self, reply: Reply) -> None:
        """Post the reply: ephemeral unless it is marked in channel."""
        client = AsyncWebhookClient(self._url)
        response = await client.send(
            text=reply.text,
            blocks=reply.blocks or None,
            response_type="in_channel" if reply.in_channel else "ephemeral",
            replace_original=False,
        )
        if response.status_code != 200:
            log.warning("response_url answered %s: %s", response.status_code, response.body)


class SlackUsergroups:
    """Group membership through usergroups.users.list."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def members(self, group_id: str) -> set[str]:
        """User IDs in the group."""
        response = await self._client.usergroups_users_list(usergroup=group_id)
        return set(response.get("users") or [])


class SlackChat:
    """`bot.chat.Chat` over the Slack Web API; errors translated at this one seam.

    Edits of one message are paced to at most one per `min_interval` seconds (counting its
    post), so no caller can trip chat.update's per-message limit.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        min_interval: float = 1.0,
        on_error: Callable[[str, str], None] | None = None,
    ) -> None:
        self._client = client
        self._min_interval = min_interval
        self._on_error = on_error
        self._last_write: OrderedDict[tuple[str, str], float] = OrderedDict()

    async def _pace(self, channel: str, ts: str) -> None:
        key = (channel, ts)
        last = self._last_write.get(key)
        if last is not None:
            # A small margin: Slack measures arrival, and requests do not arrive evenly spaced.
            wait = last + self._min_interval + PACING_MARGIN - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)  # pacing to Slack's limit, not waiting for an event
        self._mark(channel, ts)

    def _mark(self, channel: str, ts: str) -> None:
        self._last_write[(channel, ts)] = time.monotonic()
        self._last_write.move_to_end((channel, ts))
        while len(self._last_write) > SEEN_LIMIT:
            self._last_write.popitem(last=False)

    async def post(
        self,
        channel: str,
        text: str,
        blocks: list[Block] | None = None,
        thread_ts: str | None = None,
    ) -> str:
        """chat.postMessage; returns the ts."""
        async with _translated(self._on_error, "chat.postMessage"):
            response = await self._client.chat_postMessage(
                channel=channel, text=text, blocks=blocks, thread_ts=thread_ts
            )
        self._mark(channel, str(response["ts"]))
        return str(response["ts"])

    async def update(
        self, channel: str, ts: str, text: str, blocks: list[Block] | None = None
    ) -> None:
        """chat.update (blocks replaced; none given means text only)."""
        await self._pace(channel, ts)
        async with _translated(self._on_error, "chat.update"):
            await self._client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks or [])

    async def upload(self, channel: str, thread_ts: str, path: Path, title: str) -> None:
        """files upload v2 into the thread."""
        async with _translated(self._on_error, "files.upload"):
            await self._client.files_upload_v2(
                channel=channel,
                thread_ts=thread_ts,
                file=str(path),
                filename=path.name,
                title=title,
            )

    async def permalink(self, channel: str, ts: str) -> str | None:
        """chat.getPermalink; None when Slack will not say."""
        try:
            async with _translated(self._on_error, "chat.getPermalink"):
                response = await self._client.chat_getPermalink(channel=channel, message_ts=ts)
        except (ChatError, PosterRateLimited):
            return None
        link = response.get("permalink")
        return str(link) if link else None

    async def ephemeral(self, channel: str, user: str, text: str) -> None:
        """chat.postEphemeral."""
        async with _translated(self._on_error, "chat.postEphemeral"):
            await self._client.chat_postEphemeral(channel=channel, user=user, text=text)


@asynccontextmanager
async def _translated(
    on_error: Callable[[str, str], None] | None, method: str
) -> AsyncIterator[None]:
    try:
        yield
    except SlackApiError as exc:
        status = exc.response.status_code
        if on_error is not None:
            on_error(method, str(exc.response.get("error", status)))
        if status == 429:
            retry_after = float(exc.response.headers.get("Retry-After", 1) or 1)
            raise PosterRateLimited(retry_after) from None
        error = exc.response.get("error", "unknown_error")
        raise ChatError(f"Slack refused {method}: {error}.", code=str(error)) from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        if on_error is not None:
            on_error(method, type(exc).__name__)
        raise ChatError(f"Slack could not be reached for {method}: {type(exc).__name__}.") from None


_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


@web.middleware
async def _refuse_malformed_signature_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """401 for a request whose signing headers cannot even be checked (bolt's verifier raises
    on a timestamp that is not a number, which would be a 500): Slack always sends a decimal
    Unix time and `v0=` with 64 hex digits (api.slack.com/authentication/verifying-requests)."""
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    signature = request.headers.get("X-Slack-Signature", "")
    if not (timestamp.isascii() and timestamp.isdigit()) or not _SIGNATURE.fullmatch(signature):
        return web.Response(status=401, text="invalid request signature")
    return await handler(request)


def make_web_client(config: SlackConfig, bot_token: str) -> AsyncWebClient:
    """The Web API client: the configured base URL, and 429s retried after their Retry-After."""
    client = AsyncWebClient(token=bot_token, base_url=config.api_url)
    client.retry_handlers.append(
        AsyncRateLimitErrorRetryHandler(max_retry_count=config.rate_limit_retries)
    )
    return client


class SlackEdge:
    """Connects to Slack (Socket Mode or HTTP) and routes commands and clicks to the dispatcher."""

    def __init__(
        self,
        config: SlackConfig,
        dispatcher: Dispatcher,
        tasks: TaskSet,
        client: AsyncWebClient,
        app_token: str | None = None,
        signing_secret: str | None = None,
        on_ack: Callable[[float], None] | None = None,
    ) -> None:
        self._config = config
        self._on_ack = on_ack
        self._dispatcher = dispatcher
        self._tasks = tasks
        self._app_token = app_token
        self.client = client
        self.app = AsyncApp(
            client=self.client,
            # Our listeners only ack and hand off to a task, so running them inline is the fast
            # path: otherwise bolt polls for the ack every 10 ms.
            process_before_response=True,
            signing_secret=signing_secret,
            request_verification_enabled=config.mode is SlackMode.http,
        )
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._socket: AsyncSocketModeHandler | None = None
        self._http: web.AppRunner | None = None
        self.app.command(config.command)(self._on_command)
        self.app.action({"action_id": re.compile("^" + re.escape(actions.PREFIX))})(self._on_action)

    @property
    def connected(self) -> bool:
        """Whether the Socket Mode socket is up (always true in HTTP mode once started)."""
        if self._http is not None:
            return True
        client = self._socket.client if self._socket else None
        return bool(client and client.current_session is not None and not client.closed)

    async def start(self) -> None:
        """Open the Socket Mode connection, or start the HTTP listener."""
        if self._config.mode is SlackMode.socket:
            self._socket = AsyncSocketModeHandler(self.app, self._app_token)
            await self._socket.connect_async()  # type: ignore[no-untyped-call]
        else:
            server = AsyncSlackAppServer(
                port=self._config.http_port, path="/slack/events", app=self.app
            )
            server.web_app.middlewares.append(_refuse_malformed_signature_headers)
            self._http = web.AppRunner(server.web_app)
            await self._http.setup()
            await web.TCPSite(self._http, port=self._config.http_port).start()

    async def stop(self) -> None:
        """Close the connection and the HTTP client session."""
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        if self._http is not None:
            await self._http.cleanup()
            self._http = None

    def _first_delivery(self, key: str) -> bool:
        # Slack delivers at least once; a re-delivered envelope carries the same trigger_id.
        if not key:
            return True
        if key in self._seen:
            return False
        self._seen[key] = None
        while len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)
        return True

    async def _acked(self, ack: AsyncAck) -> None:
        started = time.monotonic()
        await ack()
        if self._on_ack is not None:
            self._on_ack(time.monotonic() - started)

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await self._acked(ack)
        if not self._first_delivery(str(body.get("trigger_id", ""))):
            log.info("ignoring a re-delivered command %s", body.get("trigger_id"))
            return
        responder = ResponseUrlResponder(str(body["response_url"]))
        if self._tasks.closing:
            self._tasks.spawn(responder.reply(Reply(messages.shutting_down())), name="refuse")
            return
        request = CommandRequest(
            user_id=str(body["user_id"]),
            channel_id=str(body["channel_id"]),
            text=str(body.get("text", "")),
        )
        self._tasks.spawn(self._dispatcher.handle_command(request, responder), name="command")

    async def _on_action(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await self._acked(ack)
        action = body["actions"][0]
        if not self._first_delivery(str(body.get("trigger_id", ""))):
            return
        container = body.get("container", {})
        user = body["user"]
        click = ClickRequest(
            user_id=str(user["id"]),
            user_name=str(user.get("username") or user.get("name") or ""),
            channel_id=str(container.get("channel_id") or body.get("channel", {}).get("id", "")),
            action_id=str(action["action_id"]),
            value=str(action.get("value", "")),
            message_ts=str(container.get("message_ts", "")),
        )
        responder = ResponseUrlResponder(str(body["response_url"]))
        self._tasks.spawn(self._dispatcher.handle_click(click, responder), name="click")

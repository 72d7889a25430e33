"""labbot's side of the Slack Web API: `SlackChat` (the `Chat` every message leaves through),
replies through a request's response_url, user groups, and the Web API client.

With `bot/slack_app.py` (the edge that receives commands and clicks), the only modules that
import slack_sdk. Errors are translated here, at this one seam: `PosterRateLimited` for a 429,
`ChatError` for everything else.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.chat import Block, ChatError, PosterRateLimited
from bot.config import SlackConfig
from bot.outcome import Reply
from bot.slack_budget import SlackBudget

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_REMEMBERED_MESSAGES = 4096  # messages whose last change is remembered for pacing


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

    Every call waits for its turn in the app's one `SlackBudget`, so however many jobs stream at
    once, labbot stays inside Slack's per-app and per-channel limits. A 429 that still comes holds
    that limit back for its Retry-After and the call is tried again, for up to `patience` seconds
    in all; only a live refresh gives up at once (the next refresh carries newer text anyway).
    Every edit names its message, so the budget can tell how long that message has waited, and
    one message changes at most once per `min_interval` (its post counting), so that a reader
    can follow it: labbot's own rule, within whatever Slack allows.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        budget: SlackBudget | None = None,
        on_error: Callable[[str, str], None] | None = None,
        patience: float = 900.0,
        min_interval: float = 1.0,
    ) -> None:
        self._client = client
        self._budget = budget or SlackBudget()
        self._on_error = on_error
        self._patience = patience
        self._min_interval = min_interval
        self._written: OrderedDict[tuple[str, str], float] = OrderedDict()

    async def _pace(self, message: tuple[str, str]) -> None:
        last = self._written.get(message)
        if last is not None:
            wait = last + self._min_interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)  # pacing one message, not waiting for an event

    def _wrote(self, message: tuple[str, str]) -> None:
        self._written[message] = time.monotonic()
        self._written.move_to_end(message)
        while len(self._written) > _REMEMBERED_MESSAGES:
            self._written.popitem(last=False)

    async def _call(
        self,
        method: str,
        channel: str,
        send: Callable[[], Awaitable[_T]],
        message: tuple[str, str] | None = None,
        background: bool = False,
        live: bool = False,
        once: bool = False,
    ) -> _T:
        deadline = time.monotonic() + self._patience
        while True:
            if message is not None:
                await self._pace(message)
            await self._budget.take(
                method, channel, message=message, background=background, live=live
            )
            try:
                async with _translated(self._on_error, method):
                    answer = await send()
                if message is not None:
                    self._wrote(message)
                return answer
            except PosterRateLimited as exc:
                self._budget.refused(method, channel, exc.retry_after)
                if live or once or time.monotonic() + exc.retry_after > deadline:
                    raise

    async def post(
        self,
        channel: str,
        text: str,
        blocks: list[Block] | None = None,
        thread_ts: str | None = None,
    ) -> str:
        """chat.postMessage; returns the ts."""
        response = await self._call(
            "chat.postMessage",
            channel,
            lambda: self._client.chat_postMessage(
                channel=channel, text=text, blocks=blocks, thread_ts=thread_ts
            ),
        )
        ts = str(response["ts"])
        self._wrote((channel, ts))
        return ts

    async def update(
        self,
        channel: str,
        ts: str,
        text: str,
        blocks: list[Block] | None = None,
        *,
        background: bool = False,
    ) -> None:
        """chat.update (blocks replaced; none given means text only); a `background` edit
        waits for its turn like a live refresh but is retried through 429s."""
        await self._call(
            "chat.update",
            channel,
            lambda: self._client.chat_update(
                channel=channel, ts=ts, text=text, blocks=blocks or []
            ),
            message=(channel, ts),
            background=background,
        )

    async def refresh(self, channel: str, ts: str, render: Callable[[], str]) -> None:
        """chat.update of a live message when the budget gives it a turn, with the text
        `render()` returns at that moment (so a slow turn never sends stale text)."""
        await self._call(
            "chat.update",
            channel,
            lambda: self._client.chat_update(channel=channel, ts=ts, text=render(), blocks=[]),
            message=(channel, ts),
            live=True,
        )

    async def upload(self, channel: str, thread_ts: str, path: Path, title: str) -> None:
        """files upload v2 into the thread."""
        await self._call(
            "files.upload",
            channel,
            lambda: self._client.files_upload_v2(
                channel=channel,
                thread_ts=thread_ts,
                file=str(path),
                filename=path.name,
                title=title,
            ),
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

    async def publish_home(self, user: str, blocks: list[Block]) -> None:
        """views.publish of a `home` view for one user (docs.slack.dev/reference/methods/
        views.publish: `user_id` and a `view` of type `home`; no scope beyond the bot token).
        Tried once: a 429 holds the budget back and is raised, the next publish carries newer
        content anyway."""
        await self._call(
            "views.publish",
            "",
            lambda: self._client.views_publish(
                user_id=user, view={"type": "home", "blocks": blocks}
            ),
            once=True,
        )

    async def ephemeral(self, channel: str, user: str, text: str) -> None:
        """chat.postEphemeral."""
        await self._call(
            "chat.postEphemeral",
            channel,
            lambda: self._client.chat_postEphemeral(channel=channel, user=user, text=text),
        )


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


def make_web_client(
    config: SlackConfig, bot_token: str, *, retry_429: bool = True
) -> AsyncWebClient:
    """The Web API client at the configured base URL. With `retry_429`, slack_sdk retries a 429
    after its Retry-After (for the few calls outside `SlackChat`, which paces and retries itself
    through the shared `SlackBudget`)."""
    client = AsyncWebClient(token=bot_token, base_url=config.api_url)
    if retry_429:
        client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=5))
    return client

"""The seam between labbot and a chat: post, update, upload, ephemeral. Slack implements it.

The job engine and handlers speak through `Chat`; only `bot/slack_app.py` knows it is Slack.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from bot.errors import IntegrationError
from bot.stream import PosterRateLimited

Block = dict[str, Any]

__all__ = ["Block", "Chat", "ChatError", "PosterRateLimited", "ThreadPosterOf"]


class ChatError(IntegrationError):
    """Raised when the chat refuses a call for a reason other than a rate limit; `code` is the
    chat's own error code (Slack's `error`, e.g. `not_in_channel`)."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class Chat(Protocol):
    """Messages in channels and threads. Raises `PosterRateLimited` on 429, `ChatError` otherwise."""

    async def post(
        self,
        channel: str,
        text: str,
        blocks: list[Block] | None = None,
        thread_ts: str | None = None,
    ) -> str:
        """Post a message (a thread reply when `thread_ts` is given); returns its ts."""
        ...

    async def update(
        self,
        channel: str,
        ts: str,
        text: str,
        blocks: list[Block] | None = None,
        *,
        background: bool = False,
    ) -> None:
        """Replace a message's text and blocks. A `background` edit is a status nobody waits
        on (a job's root message): it yields to live refreshes due sooner."""
        ...

    async def refresh(self, channel: str, ts: str, render: Callable[[], str]) -> None:
        """Edit a live message (a job's streaming output) when the chat's shared budget gives it
        a turn, with the text `render()` returns then. Refreshes yield to every other call and
        share what is left fairly; a rate limit raises `PosterRateLimited` at once."""
        ...

    async def upload(self, channel: str, thread_ts: str, path: Path, title: str) -> None:
        """Upload a file into a thread."""
        ...

    async def ephemeral(self, channel: str, user: str, text: str) -> None:
        """Show a message to one user only."""
        ...

    async def permalink(self, channel: str, ts: str) -> str | None:
        """A link to a message (None when the chat cannot give one)."""
        ...

    async def publish_home(self, user: str, blocks: list[Block]) -> None:
        """Replace what one user sees on the app's Home tab. Nobody waits on it: a rate limit
        raises `PosterRateLimited` at once rather than waiting its turn again."""
        ...


class ThreadPosterOf:
    """One thread of a `Chat`, in the shape `ThreadStream` needs."""

    def __init__(self, chat: Chat, channel: str, thread_ts: str) -> None:
        self._chat = chat
        self._channel = channel
        self._thread_ts = thread_ts

    async def post(self, text: str) -> str:
        """A new reply in the thread."""
        return await self._chat.post(self._channel, text, thread_ts=self._thread_ts)

    async def update(self, ts: str, text: str) -> None:
        """Edit a reply."""
        await self._chat.update(self._channel, ts, text)

    async def refresh(self, ts: str, render: Callable[[], str]) -> None:
        """Edit a live reply when the chat's budget gives it a turn."""
        await self._chat.refresh(self._channel, ts, render)

    async def upload(self, path: Path, title: str) -> None:
        """Attach a file to the thread."""
        await self._chat.upload(self._channel, self._thread_ts, path, title)

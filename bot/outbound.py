"""The one way out to Slack for messages: every post, update, ephemeral and Home tab is redacted,
then fit to Block Kit's limits, in that order, whoever built it.

Redacting first matters: a configured secret shorter than its `[redacted:secret]` marker makes
text longer, so text cut to a limit before redaction can end up over it (Slack then refuses the
whole message with `invalid_blocks`). Outside text is escaped where a message embeds it
(`bot.redact.escape_mrkdwn`); the redactor also catches secrets in their escaped form.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.blocks import MAX_BLOCKS, MAX_VIEW_BLOCKS, clip, fit_blocks
from bot.chat import Block, Chat
from bot.redact import Redactor

#: chat.postMessage's `text` limit (api.slack.com/methods/chat.postMessage: "truncated" beyond
#: 40,000 characters; labbot cuts it itself, on a safe boundary).
MESSAGE_TEXT_LIMIT = 40_000


def outbound_text(redactor: Redactor, text: str) -> str:
    """Message text as it may leave: redacted, then cut to Slack's text limit."""
    return clip(redactor.redact(text), MESSAGE_TEXT_LIMIT)


def outbound_blocks(
    redactor: Redactor, blocks: list[Block], max_blocks: int = MAX_BLOCKS
) -> list[Block]:
    """Blocks as they may leave: redacted, then fitted to Block Kit's limits again."""
    return fit_blocks(redactor.redact_blocks(blocks), max_blocks)


class OutboundChat:
    """A `Chat` that redacts and fits everything before the chat it wraps sends it."""

    def __init__(self, chat: Chat, redactor: Redactor) -> None:
        self._chat = chat
        self._redactor = redactor

    def _text(self, text: str) -> str:
        return outbound_text(self._redactor, text)

    def _blocks(self, blocks: list[Block] | None) -> list[Block] | None:
        return None if blocks is None else outbound_blocks(self._redactor, blocks)

    async def post(
        self,
        channel: str,
        text: str,
        blocks: list[Block] | None = None,
        thread_ts: str | None = None,
    ) -> str:
        """Post, redacted and fitted."""
        return await self._chat.post(channel, self._text(text), self._blocks(blocks), thread_ts)

    async def update(
        self,
        channel: str,
        ts: str,
        text: str,
        blocks: list[Block] | None = None,
        *,
        background: bool = False,
    ) -> None:
        """Edit, redacted and fitted."""
        await self._chat.update(
            channel, ts, self._text(text), self._blocks(blocks), background=background
        )

    async def refresh(self, channel: str, ts: str, render: Callable[[], str]) -> None:
        """A live edit, redacted and fitted when its turn comes."""
        await self._chat.refresh(channel, ts, lambda: self._text(render()))

    async def upload(self, channel: str, thread_ts: str, path: Path, title: str) -> None:
        """Upload a file (its content is written redacted by whoever wrote it; the title is
        redacted here)."""
        await self._chat.upload(channel, thread_ts, path, self._redactor.redact(title))

    async def ephemeral(self, channel: str, user: str, text: str) -> None:
        """An ephemeral message, redacted and fitted."""
        await self._chat.ephemeral(channel, user, self._text(text))

    async def permalink(self, channel: str, ts: str) -> str | None:
        """A link to a message."""
        return await self._chat.permalink(channel, ts)

    async def publish_home(self, user: str, blocks: list[Block]) -> None:
        """A Home tab, redacted and fitted to a view's 100 blocks."""
        await self._chat.publish_home(
            user, outbound_blocks(self._redactor, blocks, MAX_VIEW_BLOCKS)
        )

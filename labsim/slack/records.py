"""Records of what happened in the emulated Slack workspace, as tests read them.

Plain dataclasses only: no I/O and no workspace logic live here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

Block = dict[str, Any]
"""One Block Kit block as JSON (a dict straight from the wire)."""


@dataclass(frozen=True)
class Button:
    """A button found in a message's blocks (actions elements and section accessories)."""

    action_id: str
    value: str | None
    text: str
    block_id: str | None
    style: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class MessageVersion:
    """One earlier version of a message or ephemeral, kept when it is replaced."""

    text: str
    blocks: list[Block]
    at: float
    """time.monotonic() when this version was written."""


def _iter_text_objects(node: Any) -> Iterator[str]:
    """Yield every string under a ``text`` key (text objects, rich text) in block JSON."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                yield value
            else:
                yield from _iter_text_objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from _iter_text_objects(item)


def _iter_buttons(blocks: list[Block]) -> Iterator[Button]:
    for block in blocks:
        block_id = block.get("block_id")
        candidates: list[Any] = []
        if block.get("type") == "actions":
            candidates.extend(block.get("elements") or [])
        accessory = block.get("accessory")
        if accessory is not None:
            candidates.append(accessory)
        for element in candidates:
            if not isinstance(element, dict) or element.get("type") != "button":
                continue
            label = element.get("text")
            yield Button(
                action_id=str(element.get("action_id", "")),
                value=element.get("value"),
                text=label.get("text", "") if isinstance(label, dict) else str(label or ""),
                block_id=block_id,
                style=element.get("style"),
                url=element.get("url"),
            )


class BlockContent:
    """Mixin for records that carry ``text`` and ``blocks``: button lookup and text search."""

    text: str
    blocks: list[Block]

    def buttons(self) -> list[Button]:
        """All buttons in the blocks, in display order."""
        return list(_iter_buttons(self.blocks))

    def button(self, action_id: str) -> Button:
        """The button with this action_id; KeyError listing the ones present otherwise."""
        for candidate in self.buttons():
            if candidate.action_id == action_id:
                return candidate
        present = [b.action_id for b in self.buttons()]
        raise KeyError(f"no button with action_id {action_id!r}; buttons present: {present}")

    def all_text(self) -> str:
        """``text`` plus every text found in the blocks, newline-joined (for assertions)."""
        return "\n".join([self.text, *_iter_text_objects(self.blocks)])


@dataclass
class Message(BlockContent):
    """A message in a channel, in its current version (``history`` holds the earlier ones)."""

    channel: str
    ts: str
    thread_ts: str | None
    user: str
    text: str
    blocks: list[Block]
    edited: bool = False
    history: list[MessageVersion] = field(default_factory=list)
    deleted: bool = False
    files: list[str] = field(default_factory=list)
    """ids of files shared with this message (files.completeUploadExternal)."""
    posted_at: float = 0.0
    """time.monotonic() of the post."""
    via: str = "chat.postMessage"
    """what created it: chat.postMessage, response_url, ack, files.completeUploadExternal."""

    @property
    def updates(self) -> int:
        """How many times the message was replaced (chat.update or replace_original)."""
        return len(self.history)


@dataclass
class Ephemeral(BlockContent):
    """A message only ``user`` sees: postEphemeral, ephemeral response_url posts, slash acks."""

    channel: str
    user: str
    text: str
    blocks: list[Block]
    ts: str
    thread_ts: str | None
    at: float
    """time.monotonic() when it was shown."""
    via: str
    """chat.postEphemeral, response_url or ack."""
    deleted: bool = False
    history: list[MessageVersion] = field(default_factory=list)


@dataclass
class HomeView(BlockContent):
    """What one user sees on the app's Home tab: the last view views.publish set for them.

    Slack keeps one `home` view per user and app; each publish replaces it, with a new `hash`
    (docs.slack.dev/reference/methods/views.publish, docs.slack.dev/surfaces/app-home).
    """

    user: str
    id: str
    hash: str
    blocks: list[Block]
    published_at: float
    """time.monotonic() of the latest publish."""
    text: str = ""  # a view has no top-level text; kept so `all_text()` reads like a message's
    history: list[MessageVersion] = field(default_factory=list)

    @property
    def publishes(self) -> int:
        """How many times the view was published (the first time included)."""
        return len(self.history) + 1


@dataclass(frozen=True)
class UploadedFile:
    """A completed files_upload_v2 upload with its bytes."""

    id: str
    filename: str
    title: str
    content: bytes
    channel: str | None
    thread_ts: str | None
    initial_comment: str | None


@dataclass(frozen=True)
class ApiCall:
    """One recorded call: a Web API method, a response_url post or an upload_url post."""

    method: str
    """Web API method name, or ``response_url`` / ``upload_url`` for those endpoints."""
    params: dict[str, Any]
    status: int
    ok: bool
    error: str | None
    at: float
    """time.monotonic() when the call was answered."""


@dataclass(frozen=True)
class Ack:
    """The client's acknowledgement of one Socket Mode envelope."""

    envelope_id: str
    payload: dict[str, Any] | None
    at: float
    """time.monotonic() when the ack frame arrived."""
    sent_at: float
    """time.monotonic() when the (last) delivery of the envelope was sent."""

    @property
    def latency(self) -> float:
        """Seconds from sending the envelope to receiving its ack."""
        return self.at - self.sent_at


@dataclass(frozen=True)
class User:
    """A workspace member."""

    id: str
    name: str
    is_bot: bool = False


@dataclass(frozen=True)
class Channel:
    """A public channel; the bot posts only where it is a member (invited with `/invite`)."""

    id: str
    name: str
    bot_member: bool = True

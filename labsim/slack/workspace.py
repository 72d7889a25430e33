"""State of the emulated Slack workspace: members, channels, messages, files, calls, acks.

In-memory and transport-free: HTTP and WebSocket code lives in web_api, socket_mode, response_url.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from labsim.slack.records import (
    Ack,
    ApiCall,
    Block,
    Channel,
    Ephemeral,
    HomeView,
    Message,
    MessageVersion,
    UploadedFile,
    User,
)

MANIFEST_SCOPES = ("commands", "chat:write", "files:write", "usergroups:read", "channels:read")
"""The bot scopes of slack-app-manifest.yaml: what installing the app from it grants."""
T = TypeVar("T")


@dataclass(frozen=True)
class WorkspaceIdentity:
    """Who the bot is in this workspace, and the tokens it must present."""

    team_id: str
    bot_user_id: str
    app_id: str
    bot_token: str
    app_token: str
    bot_id: str = "B0LABBOT"
    bot_name: str = "labbot"
    team_domain: str = "lab"
    team_name: str = "Lab"


@dataclass
class PendingUpload:
    """A file id handed out by files.getUploadURLExternal, with its bytes once POSTed."""

    id: str
    filename: str
    length: int
    content: bytes | None = None


class Workspace:
    """All mutable workspace state, with change notification for ``wait_for``.

    Readers get deep copies (snapshots), so a test holding a Message sees it as it was.
    """

    def __init__(self, identity: WorkspaceIdentity) -> None:
        self.identity = identity
        self.users: dict[str, User] = {
            identity.bot_user_id: User(identity.bot_user_id, identity.bot_name, is_bot=True)
        }
        self.channels: dict[str, Channel] = {}
        self.usergroups: dict[str, list[str]] = {}
        self._messages: list[Message] = []
        self._message_index: dict[tuple[str, str], Message] = {}
        self._ephemerals: list[Ephemeral] = []
        self._ephemeral_index: dict[str, Ephemeral] = {}
        self._uploads: dict[str, PendingUpload] = {}
        self._files: list[UploadedFile] = []
        self._calls: list[ApiCall] = []
        self._acks: dict[str, Ack] = {}
        self._home_views: dict[str, HomeView] = {}
        self.granted_scopes: tuple[str, ...] = MANIFEST_SCOPES
        """The bot token's scopes: those the app was installed with (the manifest's, unless a
        test installs it with fewer)."""
        self.home_tab_enabled = True
        """labbot's manifest enables the Home tab (`features.app_home.home_tab_enabled`);
        without it views.publish of a `home` view answers `not_enabled`."""
        self._ack_log: list[Ack] = []
        self._changed = asyncio.Event()
        self._last_ts_us = 0
        self._ids = itertools.count(1)

    # -- change notification ------------------------------------------------------------------

    def notify(self) -> None:
        """Wake every ``wait_for``: state changed."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(
        self,
        predicate: Callable[[], T | bool | None],
        timeout: float = 5.0,
    ) -> T:
        """Re-evaluate ``predicate`` on every change; return its first truthy value."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    changed = self._changed
                    value = predicate()
                    if value:
                        return cast(T, value)
                    await changed.wait()
        except TimeoutError:
            raise TimeoutError(
                f"condition not met within {timeout}s\n{self.describe_recent()}"
            ) from None

    def describe_recent(self, count: int = 10) -> str:
        """A readable dump of the latest messages, ephemerals and calls (for failure messages)."""
        lines = ["recent messages:"]
        for msg in self._messages[-count:]:
            thread = f" thread={msg.thread_ts}" if msg.thread_ts else ""
            lines.append(f"  {msg.channel} ts={msg.ts}{thread} user={msg.user}: {msg.all_text()!r}")
        lines.append("recent ephemerals:")
        for eph in self._ephemerals[-count:]:
            lines.append(f"  {eph.channel} to={eph.user} via={eph.via}: {eph.all_text()!r}")
        lines.append("recent calls:")
        for call in self._calls[-count:]:
            lines.append(f"  {call.method} status={call.status} ok={call.ok} error={call.error}")
        return "\n".join(lines)

    # -- ids ------------------------------------------------------------------------------------

    def next_ts(self) -> str:
        """A Slack-style timestamp ("1700000000.000100"), unique and increasing."""
        now_us = int(time.time() * 1_000_000)
        self._last_ts_us = max(now_us, self._last_ts_us + 1)
        seconds, micros = divmod(self._last_ts_us, 1_000_000)
        return f"{seconds}.{micros:06d}"

    def new_id(self, prefix: str) -> str:
        """A fresh Slack-looking id such as ``F0000000007``."""
        return f"{prefix}{next(self._ids):010d}"

    # -- members and channels -----------------------------------------------------------------

    def resolve_channel(self, ref: str) -> Channel | None:
        """Find a channel by id, name or ``#name``."""
        if ref in self.channels:
            return self.channels[ref]
        name = ref.removeprefix("#")
        return next((c for c in self.channels.values() if c.name == name), None)

    def require_channel(self, channel_id: str) -> Channel:
        """The channel with this id; KeyError naming the known ones otherwise."""
        found = self.resolve_channel(channel_id)
        if found is None:
            raise KeyError(f"unknown channel {channel_id!r}; known: {sorted(self.channels)}")
        return found

    def require_user(self, user_id: str) -> User:
        """The user with this id; KeyError naming the known ones otherwise."""
        if user_id not in self.users:
            raise KeyError(
                f"unknown user {user_id!r}; add_user() first; known: {sorted(self.users)}"
            )
        return self.users[user_id]

    # -- messages -------------------------------------------------------------------------------

    def post_message(
        self,
        *,
        channel: str,
        user: str,
        text: str,
        blocks: list[Block],
        thread_ts: str | None,
        via: str,
        files: list[str] | None = None,
    ) -> Message:
        """Append a message and return the live record."""
        msg = Message(
            channel=channel,
            ts=self.next_ts(),
            thread_ts=thread_ts,
            user=user,
            text=text,
            blocks=copy.deepcopy(blocks),
            files=list(files or []),
            posted_at=time.monotonic(),
            via=via,
        )
        self._messages.append(msg)
        self._message_index[(channel, msg.ts)] = msg
        self.notify()
        return msg

    def find_message(self, channel: str, ts: str) -> Message | None:
        """The live message record, or None."""
        return self._message_index.get((channel, ts))

    def replace_message(
        self, msg: Message, *, text: str | None, blocks: list[Block] | None
    ) -> None:
        """Replace text and/or blocks, keeping the previous version in ``history``."""
        msg.history.append(MessageVersion(msg.text, msg.blocks, time.monotonic()))
        if text is not None:
            msg.text = text
        if blocks is not None:
            msg.blocks = copy.deepcopy(blocks)
        msg.edited = True
        self.notify()

    def delete_message(self, msg: Message) -> None:
        """Mark a message deleted (it stays in the record for assertions)."""
        msg.deleted = True
        self.notify()

    def messages(self, channel: str) -> list[Message]:
        """Snapshots of every message in the channel, thread replies included, in post order."""
        channel_id = self.require_channel(channel).id
        return [copy.deepcopy(m) for m in self._messages if m.channel == channel_id]

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """Snapshots of the replies in one thread (the parent excluded)."""
        return [m for m in self.messages(channel) if m.thread_ts == thread_ts and m.ts != thread_ts]

    def message(self, channel: str, ts: str) -> Message:
        """A snapshot of the current version of one message; KeyError if there is none."""
        channel_id = self.require_channel(channel).id
        found = self.find_message(channel_id, ts)
        if found is None:
            raise KeyError(f"no message ts={ts} in {channel_id}\n{self.describe_recent()}")
        return copy.deepcopy(found)

    # -- ephemerals -----------------------------------------------------------------------------

    def add_ephemeral(
        self,
        *,
        channel: str,
        user: str,
        text: str,
        blocks: list[Block],
        thread_ts: str | None,
        via: str,
    ) -> Ephemeral:
        """Record a message shown only to ``user``."""
        eph = Ephemeral(
            channel=channel,
            user=user,
            text=text,
            blocks=copy.deepcopy(blocks),
            ts=self.next_ts(),
            thread_ts=thread_ts,
            at=time.monotonic(),
            via=via,
        )
        self._ephemerals.append(eph)
        self._ephemeral_index[eph.ts] = eph
        self.notify()
        return eph

    def find_ephemeral(self, ts: str) -> Ephemeral | None:
        """The live ephemeral record with this ts, or None."""
        return self._ephemeral_index.get(ts)

    def replace_ephemeral(
        self, eph: Ephemeral, *, text: str | None, blocks: list[Block] | None
    ) -> None:
        """Replace an ephemeral's content (response_url ``replace_original``)."""
        eph.history.append(MessageVersion(eph.text, eph.blocks, time.monotonic()))
        if text is not None:
            eph.text = text
        if blocks is not None:
            eph.blocks = copy.deepcopy(blocks)
        self.notify()

    def delete_ephemeral(self, eph: Ephemeral) -> None:
        """Mark an ephemeral deleted (response_url ``delete_original``)."""
        eph.deleted = True
        self.notify()

    def ephemerals(self, user_id: str) -> list[Ephemeral]:
        """Snapshots of everything shown only to this user, in order."""
        return [copy.deepcopy(e) for e in self._ephemerals if e.user == user_id]

    # -- files ----------------------------------------------------------------------------------

    def begin_upload(self, filename: str, length: int) -> PendingUpload:
        """Hand out a file id for files.getUploadURLExternal."""
        upload = PendingUpload(self.new_id("F"), filename, length)
        self._uploads[upload.id] = upload
        return upload

    def find_upload(self, file_id: str) -> PendingUpload | None:
        """The pending upload with this id, or None."""
        return self._uploads.get(file_id)

    def complete_upload(
        self,
        upload: PendingUpload,
        *,
        title: str,
        channel: str | None,
        thread_ts: str | None,
        initial_comment: str | None,
    ) -> UploadedFile:
        """Turn a pending upload with bytes into a file."""
        done = UploadedFile(
            id=upload.id,
            filename=upload.filename,
            title=title,
            content=upload.content or b"",
            channel=channel,
            thread_ts=thread_ts,
            initial_comment=initial_comment,
        )
        del self._uploads[upload.id]
        self._files.append(done)
        self.notify()
        return done

    def files(self) -> list[UploadedFile]:
        """Every completed upload, in completion order."""
        return list(self._files)

    # -- the app's Home tab ---------------------------------------------------------------------

    def dm_channel(self, user_id: str) -> str:
        """The id of the app's direct-message channel with a user (`D…`), as app_home_opened
        names it in `channel`; stable per user."""
        return "D" + user_id.removeprefix("U")

    def publish_home(self, user: str, blocks: list[Block]) -> HomeView:
        """Set a user's Home tab view, keeping the previous one in ``history``."""
        view_hash = f"{time.time():.6f}.{next(self._ids):08x}"
        current = self._home_views.get(user)
        if current is None:
            current = HomeView(
                user=user,
                id=self.new_id("V"),
                hash=view_hash,
                blocks=copy.deepcopy(blocks),
                published_at=time.monotonic(),
            )
            self._home_views[user] = current
        else:
            current.history.append(MessageVersion("", current.blocks, current.published_at))
            current.blocks = copy.deepcopy(blocks)
            current.hash = view_hash
            current.published_at = time.monotonic()
        self.notify()
        return current

    def home_view(self, user: str) -> HomeView | None:
        """A snapshot of the user's Home tab view; None until one is published."""
        view = self._home_views.get(user)
        return copy.deepcopy(view) if view is not None else None

    # -- calls and acks -------------------------------------------------------------------------

    def record_call(
        self, method: str, params: dict[str, Any], status: int, body: dict[str, Any]
    ) -> None:
        """Record one answered call."""
        ok = bool(body.get("ok"))
        error = body.get("error")
        call = ApiCall(
            method=method,
            params=copy.deepcopy(params),
            status=status,
            ok=ok,
            error=error if isinstance(error, str) else None,
            at=time.monotonic(),
        )
        self._calls.append(call)
        self.notify()

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """Recorded calls, all or those of one method, in order."""
        return [c for c in self._calls if method is None or c.method == method]

    def record_ack(self, ack: Ack) -> None:
        """Record an ack frame; ``ack()`` keeps answering with the first one per envelope."""
        self._acks.setdefault(ack.envelope_id, ack)
        self._ack_log.append(ack)
        self.notify()

    def ack(self, envelope_id: str) -> Ack | None:
        """The first ack of this envelope, or None."""
        return self._acks.get(envelope_id)

    def acks(self, envelope_id: str) -> list[Ack]:
        """Every ack frame received for this envelope (one per acked delivery), in order."""
        return [a for a in self._ack_log if a.envelope_id == envelope_id]

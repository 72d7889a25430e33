"""Acting as a Slack user: slash commands and button clicks sent over the real Socket Mode socket.

Builds envelopes only from workspace state; it never calls the bot directly.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

from labsim.slack.payloads import (
    app_home_opened_event,
    block_actions_payload,
    events_api_payload,
    home_view_json,
    slash_command_payload,
    view_block_actions_payload,
)
from labsim.slack.records import Ack, Ephemeral, HomeView, Message, User
from labsim.slack.response_url import ResponseUrls
from labsim.slack.socket_mode import Envelope, SocketModeHub
from labsim.slack.workspace import Workspace


@dataclass
class EnvelopeResult:
    """Handle on one sent envelope; await ``acked()`` for the client's ack."""

    envelope_id: str
    sent_at: float
    """time.monotonic() of the first delivery (or of creation, if no client was connected)."""
    envelope: Envelope = field(repr=False)
    _workspace: Workspace = field(repr=False)

    @property
    def deliveries(self) -> int:
        """How many times the envelope was sent (more than 1 after re-delivery)."""
        return len(self.envelope.deliveries)

    async def acked(
        self,
        timeout: float = 5.0,
    ) -> Ack:
        """The ack frame for this envelope; TimeoutError if none arrives in ``timeout`` s."""
        try:
            return await self._workspace.wait_for(
                lambda: self._workspace.ack(self.envelope_id), timeout
            )
        except TimeoutError:
            raise TimeoutError(
                f"no ack for {self.envelope.type} envelope {self.envelope_id} within {timeout}s "
                f"(delivered {self.deliveries} time(s))"
            ) from None


@dataclass
class SlashResult(EnvelopeResult):
    """A sent slash command."""

    response_url: str = ""
    trigger_id: str = ""


@dataclass
class ClickResult(EnvelopeResult):
    """A sent block_actions click."""

    response_url: str = ""
    value: str | None = None


class SlackActor:
    """A workspace member whose actions reach the bot as Socket Mode envelopes.

    Example::

        alice = emulator.user("U0ALICE")
        result = await alice.slash("deploy tp-node3", channel="C0LAB")
        ack = await result.acked()
        msg = await emulator.wait_for(lambda: next(iter(emulator.messages("C0LAB")), None))
        await alice.click(msg, "approve")
    """

    def __init__(
        self, user: User, workspace: Workspace, hub: SocketModeHub, response_urls: ResponseUrls
    ) -> None:
        self.user = user
        self._ws = workspace
        self._hub = hub
        self._response_urls = response_urls

    @property
    def user_id(self) -> str:
        """The member's user id."""
        return self.user.id

    async def slash(self, text: str, *, channel: str, command: str = "/lab") -> SlashResult:
        """Type ``<command> <text>`` in ``channel``; returns as soon as the envelope is sent."""
        chan = self._ws.require_channel(channel)
        response_url = self._response_urls.issue(
            user=self.user.id, channel=chan.id, original_ts=None, original_ephemeral=False
        )
        payload = slash_command_payload(
            identity=self._ws.identity,
            user=self.user,
            channel=chan,
            command=command,
            text=text,
            response_url=response_url,
        )
        envelope = await self._hub.send("slash_commands", payload, accepts_response_payload=True)
        return SlashResult(
            envelope.envelope_id,
            envelope.first_sent_at or time.monotonic(),
            envelope,
            self._ws,
            response_url=response_url,
            trigger_id=payload["trigger_id"],
        )

    async def click(
        self,
        message: Message | Ephemeral,
        action_id: str,
        *,
        value: str | None = None,
        stale: bool = False,
    ) -> ClickResult:
        """Click the button ``action_id`` on the current version of ``message``.

        ``value`` overrides the button's value (a forged click). ``stale`` clicks the version
        the caller holds, as a client that has not refreshed yet does (two people clicking at
        once). Raises LookupError when the message is gone and KeyError when there is no such
        button.
        """
        target: Message | Ephemeral | None
        if isinstance(message, Ephemeral):
            target = self._ws.find_ephemeral(message.ts)
            if target is not None and target.user != self.user.id:
                raise LookupError(f"ephemeral {message.ts} is not visible to {self.user.id}")
        else:
            target = self._ws.find_message(message.channel, message.ts)
        if target is None or target.deleted:
            raise LookupError(f"message {message.ts} in {message.channel} no longer exists")
        if stale:
            target = copy.deepcopy(message)
        button = target.button(action_id)
        chan = self._ws.require_channel(target.channel)
        response_url = self._response_urls.issue(
            user=self.user.id,
            channel=chan.id,
            original_ts=target.ts,
            original_ephemeral=isinstance(target, Ephemeral),
        )
        sent_value = value if value is not None else button.value
        payload = block_actions_payload(
            identity=self._ws.identity,
            user=self.user,
            channel=chan,
            target=copy.deepcopy(target),
            button=button,
            value=sent_value,
            response_url=response_url,
        )
        envelope = await self._hub.send("interactive", payload, accepts_response_payload=False)
        return ClickResult(
            envelope.envelope_id,
            envelope.first_sent_at or time.monotonic(),
            envelope,
            self._ws,
            response_url=response_url,
            value=sent_value,
        )

    async def open_home(self, tab: str = "home") -> EnvelopeResult:
        """Open the app's Home tab (or its Messages tab, ``tab="messages"``), as clicking the
        app in Slack's sidebar does: an app_home_opened event over Socket Mode, carrying the
        current view once one was published."""
        if tab not in ("home", "messages"):
            raise ValueError(f"an App Home tab is 'home' or 'messages', not {tab!r}")
        current = self._ws.home_view(self.user.id) if tab == "home" else None
        event = app_home_opened_event(
            user=self.user,
            channel=self._ws.dm_channel(self.user.id),
            tab=tab,
            event_ts=self._ws.next_ts(),
            view=home_view_json(current, self._ws.identity) if current is not None else None,
        )
        payload = events_api_payload(
            identity=self._ws.identity, event=event, event_id=self._ws.new_id("Ev")
        )
        envelope = await self._hub.send("events_api", payload, accepts_response_payload=False)
        return EnvelopeResult(
            envelope.envelope_id,
            envelope.first_sent_at or time.monotonic(),
            envelope,
            self._ws,
        )

    async def click_home(self, action_id: str) -> EnvelopeResult:
        """Click the button ``action_id`` on this member's Home tab (KeyError when it has none,
        LookupError when no view was published for them)."""
        view = self._ws.home_view(self.user.id)
        if view is None:
            raise LookupError(f"no Home tab was published for {self.user.id}")
        payload = view_block_actions_payload(
            identity=self._ws.identity, user=self.user, view=view, button=view.button(action_id)
        )
        envelope = await self._hub.send("interactive", payload, accepts_response_payload=False)
        return EnvelopeResult(
            envelope.envelope_id,
            envelope.first_sent_at or time.monotonic(),
            envelope,
            self._ws,
        )

    def home(self) -> HomeView | None:
        """What this member sees on the app's Home tab now; None until a view is published."""
        return self._ws.home_view(self.user.id)

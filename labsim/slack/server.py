"""SlackEmulator: one aiohttp server on 127.0.0.1 serving the Web API, Socket Mode and webhooks.

Ties workspace, web_api, socket_mode and response_url together; it holds no protocol logic itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from labsim.slack.actor import EnvelopeResult, SlackActor
from labsim.slack.limits import BlockProblem, check_content
from labsim.slack.methods import SlackMethods
from labsim.slack.payloads import events_api_payload
from labsim.slack.rate_limits import Limit, RateLimiter
from labsim.slack.records import (
    Ack,
    ApiCall,
    Channel,
    Ephemeral,
    HomeView,
    Message,
    UploadedFile,
    User,
)
from labsim.slack.response_url import ResponseUrls
from labsim.slack.socket_mode import DEFAULT_RETRY_REASON, Envelope, SocketModeHub
from labsim.slack.web_api import WebApi
from labsim.slack.workspace import Workspace, WorkspaceIdentity

T = TypeVar("T")

MAX_UPLOAD_BYTES = 1 << 30


class SlackEmulator:
    """A Slack workspace (Web API + Socket Mode) on an ephemeral loopback port.

    Example::

        async with SlackEmulator() as slack:
            slack.add_channel("C0LAB", "lab")
            client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
            await client.chat_postMessage(channel="C0LAB", text="hi")
            assert slack.messages("C0LAB")[0].text == "hi"
    """

    def __init__(
        self,
        *,
        team_id: str = "T0LAB",
        bot_user_id: str = "U0LABBOT",
        app_id: str = "A0LABBOT",
        bot_token: str = "xoxb-emulator-bot",
        app_token: str = "xapp-emulator-app",
    ) -> None:
        self.identity = WorkspaceIdentity(
            team_id=team_id,
            bot_user_id=bot_user_id,
            app_id=app_id,
            bot_token=bot_token,
            app_token=app_token,
        )
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.app_id = app_id
        self.bot_token = bot_token
        self.app_token = app_token
        self.root_url = ""
        """``http://127.0.0.1:PORT`` once started."""
        self.workspace = Workspace(self.identity)
        self.rate_limiter = RateLimiter()
        self.socket = SocketModeHub(self.workspace, on_ack=self._on_ack)
        self.response_urls = ResponseUrls(self.workspace, lambda: self.root_url)
        self._web_api = WebApi(
            self.workspace,
            SlackMethods(self.workspace, self.socket, lambda: self.root_url),
            self.rate_limiter,
        )
        self._runner: web.AppRunner | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind 127.0.0.1 on an ephemeral port and start serving."""
        if self._runner is not None:
            return
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES)
        app.router.add_route("*", "/api/{method}", self._web_api.handle_method)
        app.router.add_post("/upload/v1/{file_id}", self._web_api.handle_upload)
        app.router.add_get("/link/", self.socket.handle)
        app.router.add_get("/link", self.socket.handle)
        app.router.add_post("/webhook/{hook_id}", self.response_urls.handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        self.root_url = f"http://127.0.0.1:{port}"
        self._runner = runner

    async def stop(self) -> None:
        """Close every WebSocket and the server. Idempotent."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        await self.socket.close()
        await runner.cleanup()

    async def __aenter__(self) -> SlackEmulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def api_url(self) -> str:
        """Base URL for ``AsyncWebClient(base_url=...)``, e.g. ``http://127.0.0.1:PORT/api/``."""
        if not self.root_url:
            raise RuntimeError("SlackEmulator is not started")
        return f"{self.root_url}/api/"

    # -- seeding --------------------------------------------------------------------------------

    def add_user(self, user_id: str, name: str) -> None:
        """Add (or rename) a workspace member."""
        self.workspace.users[user_id] = User(user_id, name)
        self.workspace.notify()

    def add_channel(self, channel_id: str, name: str, *, bot_member: bool = True) -> None:
        """Add a public channel; `bot_member=False` for one the bot was not invited to."""
        self.workspace.channels[channel_id] = Channel(channel_id, name, bot_member)
        self.workspace.notify()

    def set_usergroup(self, group_id: str, user_ids: list[str]) -> None:
        """Create or replace a user group (``S…`` id) with these members."""
        self.workspace.usergroups[group_id] = list(user_ids)
        self.workspace.notify()

    def user(self, user_id: str) -> SlackActor:
        """Act as this member (added with ``add_user`` first)."""
        member = self.workspace.require_user(user_id)
        return SlackActor(member, self.workspace, self.socket, self.response_urls)

    # -- reading state --------------------------------------------------------------------------

    def messages(self, channel: str) -> list[Message]:
        """Every message in the channel (thread replies included), in post order."""
        return self.workspace.messages(channel)

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """The replies in one thread, parent excluded."""
        return self.workspace.thread(channel, thread_ts)

    def message(self, channel: str, ts: str) -> Message:
        """The current version of one message."""
        return self.workspace.message(channel, ts)

    def ephemerals(self, user_id: str) -> list[Ephemeral]:
        """What only this user saw: postEphemeral, ephemeral response_url posts, slash acks."""
        return self.workspace.ephemerals(user_id)

    def home_view(self, user_id: str) -> HomeView | None:
        """What a member sees on the app's Home tab (the last view published for them)."""
        return self.workspace.home_view(user_id)

    def files(self) -> list[UploadedFile]:
        """Completed uploads with their bytes."""
        return self.workspace.files()

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """Recorded calls (Web API methods, plus ``response_url`` and ``upload_url`` posts)."""
        return self.workspace.calls(method)

    def ack(self, envelope_id: str) -> Ack | None:
        """The ack of an envelope, if one arrived."""
        return self.workspace.ack(envelope_id)

    async def wait_for(
        self,
        predicate: Callable[[], T | bool | None],
        timeout: float = 5.0,
    ) -> T:
        """Return the first truthy value of ``predicate``, re-checked on every state change.

        Raises TimeoutError with a dump of recent messages, ephemerals and calls.
        """
        return await self.workspace.wait_for(predicate, timeout)

    # -- Socket Mode ----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """A Socket Mode client is connected."""
        return self.socket.connected

    @property
    def live_connections(self) -> int:
        """How many Socket Mode connections can receive envelopes now (one per replica)."""
        return self.socket.live_connections

    async def wait_connected(
        self,
        timeout: float = 5.0,
    ) -> None:
        """Wait until a Socket Mode client is connected."""
        await self.wait_for(lambda: self.socket.connected, timeout)

    async def send_event(self, event: dict[str, Any]) -> EnvelopeResult:
        """Deliver one Events API event (e.g. ``{"type": "app_mention", ...}``) to the app."""
        event_id = self.workspace.new_id("Ev")
        payload = events_api_payload(identity=self.identity, event=event, event_id=event_id)
        envelope = await self.socket.send("events_api", payload, accepts_response_payload=False)
        return EnvelopeResult(
            envelope.envelope_id,
            envelope.first_sent_at or time.monotonic(),
            envelope,
            self.workspace,
        )

    def _on_ack(self, envelope: Envelope, ack: Ack) -> None:
        """A slash command's ack payload is shown to the user, as Slack does."""
        payload = ack.payload
        if envelope.type != "slash_commands" or not payload:
            return
        text = payload.get("text") if isinstance(payload.get("text"), str) else ""
        blocks = payload.get("blocks") if isinstance(payload.get("blocks"), list) else []
        if not text and not blocks:
            return
        checked = check_content(text or "", blocks or [])
        user = str(envelope.payload.get("user_id"))
        channel = str(envelope.payload.get("channel_id"))
        if isinstance(checked, BlockProblem):
            # Slack would show the user an error instead; record it where tests can see it.
            body = {"ok": False, "error": checked.error, "errors": [checked.detail]}
            self.workspace.record_call("ack", payload, 200, body)
            return
        if payload.get("response_type") == "in_channel":
            # Slack also echoes the command itself in the channel; not emulated.
            self.workspace.post_message(
                channel=channel,
                user=self.bot_user_id,
                text=checked.text,
                blocks=checked.blocks,
                thread_ts=None,
                via="ack",
            )
        else:
            self.workspace.add_ephemeral(
                channel=channel,
                user=user,
                text=checked.text,
                blocks=checked.blocks,
                thread_ts=None,
                via="ack",
            )

    # -- fault injection ------------------------------------------------------------------------

    def install_with_scopes(self, scopes: Iterable[str]) -> None:
        """The app was (re)installed granting the bot token only these scopes: an admin removed
        one on OAuth & Permissions, or the app was installed from an older manifest. Slack
        reports them in each answer's `x-oauth-scopes` header (see web_api.py)."""
        self.workspace.granted_scopes = tuple(scopes)

    def inject_rate_limit(self, method: str, count: int, retry_after: int = 1) -> None:
        """The next ``count`` calls of ``method`` get HTTP 429, Retry-After and ``ratelimited``."""
        self.rate_limiter.inject(method, count, retry_after)

    def enforce_rate_limits(
        self,
        enforce: bool = True,
        *,
        app_limits: dict[str, Limit] | None = None,
        channel_limits: dict[str, Limit] | None = None,
    ) -> None:
        """Slack's documented limits are on from the start; turn them off (a test about something
        else) or replace them (per method: ``Limit(per_minute, burst)``)."""
        self.rate_limiter.configure(
            enforce=enforce, app_limits=app_limits, channel_limits=channel_limits
        )

    async def drop_socket(self, reason: str | None = "warning", *, abort: bool = False) -> None:
        """Drop the Socket Mode connection(s); unacked envelopes are re-delivered on reconnect.

        ``reason`` (e.g. "warning", "refresh_requested", "too_many_websockets") sends a
        ``disconnect`` frame; None closes the WebSocket without one; ``abort=True`` cuts TCP.
        """
        await self.socket.drop(reason, abort=abort)

    async def redeliver(
        self,
        envelope_id: str,
        reason: str = DEFAULT_RETRY_REASON,
        timeout: float = 5.0,
    ) -> Ack:
        """Re-send one envelope as Slack's retry would (even if it was acked) and await its ack.

        The frame carries ``retry_attempt`` + 1 and ``retry_reason``; the payload (and so its
        trigger_id) is unchanged. TimeoutError if the app does not ack the re-delivery.
        """
        before = len(self.workspace.acks(envelope_id))

        def fresh_ack() -> Ack | None:
            fresh = self.workspace.acks(envelope_id)[before:]
            return fresh[0] if fresh else None

        await self.socket.redeliver(envelope_id, reason)
        try:
            return await self.wait_for(fresh_ack, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"re-delivered envelope {envelope_id} was not acked within {timeout}s"
            ) from None

    def acks(self, envelope_id: str) -> list[Ack]:
        """Every ack frame received for an envelope (more than one after re-deliveries)."""
        return self.workspace.acks(envelope_id)

    def lose_acks(self, count: int = 1) -> None:
        """Treat the next ``count`` ack frames as lost, so their envelopes stay unacked."""
        self.socket.lose_acks(count)

    async def redeliver_unacked(self, reason: str = DEFAULT_RETRY_REASON) -> int:
        """Re-send every unacked envelope now with ``retry_attempt`` + 1; returns how many."""
        return await self.socket.redeliver_unacked(reason)

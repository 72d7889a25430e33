"""The Slack edge: the only module that imports slack_bolt (`bot/slack_chat.py` is the Web API).

Registers `/lab` and button actions, writes each request to the intake (`bot/intake.py`), acks
it, and hands it to the `Dispatcher` in a task owned by the app; a user opening the Home tab
goes to the capabilities listening on `ChatEvents`. Never holds lab logic.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.app.async_server import AsyncSlackAppServer
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot import actions, messages
from bot.chat_events import ChatEvents
from bot.config import SlackConfig, SlackMode
from bot.dispatch import Dispatcher
from bot.intake import ClickRequest, CommandRequest, Intake, IntakeRecords, handling
from bot.job_records import now_utc
from bot.outcome import Reply
from bot.slack_chat import ResponseUrlResponder
from bot.slack_setup import connection_url
from bot.store_fault import STORE_FAULTS
from bot.tasks import TaskSet

log = logging.getLogger(__name__)

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


class SlackEdge:
    """Connects to Slack (Socket Mode or HTTP) and routes commands and clicks to the dispatcher."""

    def __init__(
        self,
        config: SlackConfig,
        dispatcher: Dispatcher,
        intake: IntakeRecords,
        tasks: TaskSet,
        client: AsyncWebClient,
        app_token: str | None = None,
        signing_secret: str | None = None,
        on_ack: Callable[[float], None] | None = None,
        events: ChatEvents | None = None,
    ) -> None:
        self._config = config
        self._events = events or ChatEvents()
        self._on_ack = on_ack
        self._dispatcher = dispatcher
        self._intake = intake
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
        self._socket: AsyncSocketModeHandler | None = None
        self._http: web.AppRunner | None = None
        self.app.command(config.command)(self._on_command)
        self.app.action({"action_id": re.compile("^" + re.escape(actions.PREFIX))})(self._on_action)
        self.app.action({"action_id": re.compile("^" + re.escape(actions.LINK_PREFIX))})(
            self._on_link
        )
        self.app.event("app_home_opened")(self._on_home_opened)

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
            assert self._app_token is not None  # the config requires it in socket mode
            self._socket = AsyncSocketModeHandler(self.app, self._app_token)
            # One apps.connections.open (Tier 1) both checks the app token and gives the URL:
            # the client connects to it instead of asking again.
            self._socket.client.wss_uri = await connection_url(self.client, self._app_token)
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

    async def _acked(self, ack: AsyncAck, text: str | None = None) -> None:
        started = time.monotonic()
        await ack(text=text) if text else await ack()
        if self._on_ack is not None:
            self._on_ack(time.monotonic() - started)

    async def _received(self, ack: AsyncAck, intake: Intake) -> bool:
        """Write the request, then ack it; False when it must not be handled (a re-delivery,
        or the store cannot keep it: then the ack says so and nothing is done)."""
        try:
            new = await self._intake.receive(intake)
        except STORE_FAULTS as fault:  # say so rather than ack what could be lost
            log.exception("could not record request %s before acking it", intake.key)
            await self._acked(ack, messages.store_unavailable(self._intake.describe_fault(fault)))
            return False
        await self._acked(ack)
        if not new:
            log.info("ignoring a re-delivered request %s", intake.key)
        return new

    async def _handle(self, intake: Intake, responder: ResponseUrlResponder) -> None:
        """Hand a written request to the dispatcher, then mark it handled."""
        with handling(intake.key):
            if isinstance(intake.request, ClickRequest):
                await self._dispatcher.handle_click(intake.request, responder)
            else:
                await self._dispatcher.handle_command(intake.request, responder)
        await self._intake.handled(intake.key)

    async def replay(self) -> int:
        """Hand every request acked but never handled (a crash came between) to the
        dispatcher again; returns how many. Jobs they started are found, not started again."""
        await self._intake.forget_handled()
        unfinished = await self._intake.unfinished()
        for intake in unfinished:
            log.info("handling request %s, acked before a restart", intake.key)
            self._tasks.spawn(
                self._handle(intake, ResponseUrlResponder(intake.response_url)), name="replay"
            )
        return len(unfinished)

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        intake = Intake(
            key=_request_key(body),
            request=CommandRequest(
                user_id=str(body["user_id"]),
                channel_id=str(body["channel_id"]),
                text=str(body.get("text", "")),
            ),
            response_url=str(body["response_url"]),
            received_at=now_utc(),
        )
        if not await self._received(ack, intake):
            return
        responder = ResponseUrlResponder(intake.response_url)
        if self._tasks.closing:
            self._tasks.spawn(responder.reply(Reply(messages.shutting_down())), name="refuse")
            await self._intake.handled(intake.key)
            return
        self._tasks.spawn(self._handle(intake, responder), name="command")

    async def _on_action(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        action = body["actions"][0]
        container = body.get("container", {})
        user = body["user"]
        intake = Intake(
            key=_request_key(body),
            request=ClickRequest(
                user_id=str(user["id"]),
                user_name=str(user.get("username") or user.get("name") or ""),
                channel_id=str(
                    container.get("channel_id") or body.get("channel", {}).get("id", "")
                ),
                action_id=str(action["action_id"]),
                value=str(action.get("value", "")),
                message_ts=str(container.get("message_ts", "")),
            ),
            response_url=str(body["response_url"]),
            received_at=now_utc(),
        )
        if not await self._received(ack, intake):
            return
        self._tasks.spawn(
            self._handle(intake, ResponseUrlResponder(intake.response_url)), name="click"
        )

    async def _on_link(self, ack: AsyncAck) -> None:
        """A link button was clicked: Slack opened its URL; only the ack is ours to send."""
        await self._acked(ack)

    async def _on_home_opened(self, event: dict[str, Any]) -> None:
        """Someone opened the app's Home or Messages tab. Bolt acks an event itself once this
        returns (slackapi/bolt-python, slack_bolt/app/async_app.py: `event()` registers its
        listener with auto_acknowledgement; slack_bolt/listener/asyncio_runner.py acks after
        the listener when processing before the response), so the work goes to a task.
        Only the Home tab has a view to publish: `tab` is "home" or "messages"
        (docs.slack.dev/reference/events/app_home_opened)."""
        user = str(event.get("user") or "")
        if event.get("tab") != "home" or not user or self._tasks.closing:
            return
        self._tasks.spawn(self._events.home_opened(user), name="home opened")


def _request_key(body: dict[str, Any]) -> str:
    """Slack's trigger_id: unique per command or click, and the same in a re-delivery. A body
    without one (never seen from Slack) gets a fresh key, so it is handled once."""
    return str(body.get("trigger_id") or f"untriggered-{uuid.uuid4().hex}")

"""Socket Mode side of the emulator: the /link/ WebSocket, envelopes, acks and re-delivery.

Follows Slack's Socket Mode docs (docs.slack.dev); it does not build payloads (payloads.py does).
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from labsim.slack.records import Ack
from labsim.slack.workspace import Workspace

# Real retry reasons seen for Events API retries include "timeout" and "http_timeout"; which one
# Slack uses when it re-sends over Socket Mode after a dropped socket is not documented (inferred).
DEFAULT_RETRY_REASON = "timeout"


@dataclass(eq=False)
class Connection:
    """One live (or recently live) Socket Mode WebSocket."""

    number: int
    ws: web.WebSocketResponse
    request: web.Request
    opened_at: float
    retired: bool = False
    """Set once a disconnect was sent or the socket closed: no new envelopes go to it."""

    @property
    def live(self) -> bool:
        """Open and not retired."""
        return not self.retired and not self.ws.closed


@dataclass(eq=False)
class Envelope:
    """One envelope the emulator sent (or will send) to the app."""

    envelope_id: str
    type: str
    payload: dict[str, Any]
    accepts_response_payload: bool
    retry_attempt: int = 0
    retry_reason: str | None = None
    connection: Connection | None = None
    """The connection of the latest delivery; None while never delivered."""
    first_sent_at: float | None = None
    last_sent_at: float | None = None
    deliveries: list[float] = field(default_factory=list)

    def frame(self) -> dict[str, Any]:
        """The JSON frame as sent on the socket."""
        frame: dict[str, Any] = {
            "envelope_id": self.envelope_id,
            "type": self.type,
            "payload": self.payload,
            "accepts_response_payload": self.accepts_response_payload,
        }
        # Slack is not known to retry slash commands or interactions; the emulator re-delivers
        # them anyway (on demand) so tests can exercise at-least-once handling.
        # Events API envelopes always carry the retry fields (0 / "" on first delivery: inferred
        # from Slack samples); other types only carry them on a re-delivery.
        if self.type == "events_api" or self.retry_attempt > 0:
            frame["retry_attempt"] = self.retry_attempt
            frame["retry_reason"] = self.retry_reason or ""
        return frame


AckListener = Callable[[Envelope, Ack], None]


class SocketModeHub:
    """Accepts Socket Mode connections and delivers envelopes to the most recent live one.

    Unacked envelopes whose connection went away are re-delivered (``retry_attempt`` + 1) to the
    next connection. ``lose_acks(n)`` drops the next n ack frames as if lost in transit, so a test
    can make the server treat an envelope as unacked; ``redeliver_unacked()`` re-sends them now.
    """

    def __init__(self, workspace: Workspace, on_ack: AckListener) -> None:
        self._workspace = workspace
        self._on_ack = on_ack
        self._tickets: set[str] = set()
        self._connections: list[Connection] = []
        self._envelopes: dict[str, Envelope] = {}
        self._numbers = itertools.count(1)
        self._acks_to_lose = 0
        self._closing = False
        self.lost_acks = 0
        """How many ack frames were dropped by ``lose_acks``."""
        self.connection_count = 0
        """How many connections were ever accepted."""

    # -- connections ----------------------------------------------------------------------------

    def issue_ticket(self) -> str:
        """A ticket for the ws URL apps.connections.open hands out.

        Tickets stay valid: whether Slack's are single-use is not documented, and slack_sdk re-dials
        the same URL after a failed connect.
        """
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return ticket

    @property
    def connected(self) -> bool:
        """A client is connected and can receive envelopes."""
        return any(conn.live for conn in self._connections)

    @property
    def live_connections(self) -> int:
        """How many connections can receive envelopes now."""
        return sum(1 for conn in self._connections if conn.live)

    def _current(self) -> Connection | None:
        live = [conn for conn in self._connections if conn.live]
        return live[-1] if live else None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The /link/ endpoint: upgrade, say hello, deliver, and read acks until closed."""
        if self._closing or request.query.get("ticket") not in self._tickets:
            raise web.HTTPUnauthorized(text="invalid or missing ticket")
        ws = web.WebSocketResponse(autoping=True, timeout=2.0)
        await ws.prepare(request)
        conn = Connection(next(self._numbers), ws, request, time.monotonic())
        self._connections.append(conn)
        self.connection_count += 1
        try:
            await ws.send_json(self._hello())
            self._workspace.notify()
            await self._deliver_outstanding(conn)
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    self._on_text(str(frame.data))
        except ConnectionError:
            pass
        finally:
            conn.retired = True
            self._connections.remove(conn)
            self._workspace.notify()
            replacement = self._current()
            if replacement is not None and not self._closing:
                await self._deliver_outstanding(replacement)
        return ws

    def _hello(self) -> dict[str, Any]:
        return {
            "type": "hello",
            "num_connections": self.live_connections,
            "debug_info": {
                "host": "applink-emulator",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self._workspace.identity.app_id},
        }

    # -- envelopes ------------------------------------------------------------------------------

    async def send(
        self, type_: str, payload: dict[str, Any], *, accepts_response_payload: bool
    ) -> Envelope:
        """Create an envelope and deliver it now, or on the next connection if none is live."""
        envelope = Envelope(str(uuid.uuid4()), type_, payload, accepts_response_payload)
        self._envelopes[envelope.envelope_id] = envelope
        current = self._current()
        if current is not None:
            await self._deliver(current, envelope)
        return envelope

    def envelope(self, envelope_id: str) -> Envelope:
        """The envelope with this id."""
        return self._envelopes[envelope_id]

    def envelopes(self) -> list[Envelope]:
        """All envelopes, in creation order."""
        return list(self._envelopes.values())

    def unacked(self) -> list[Envelope]:
        """Envelopes with no recorded ack."""
        return [e for e in self._envelopes.values() if self._workspace.ack(e.envelope_id) is None]

    async def _deliver(self, conn: Connection, envelope: Envelope) -> None:
        now = time.monotonic()
        if envelope.first_sent_at is None:
            envelope.first_sent_at = now
        envelope.last_sent_at = now
        envelope.connection = conn
        envelope.deliveries.append(now)
        try:
            await conn.ws.send_str(json.dumps(envelope.frame()))
        except ConnectionError:
            # The socket died under us: this delivery is lost; the envelope stays unacked and is
            # re-delivered when the next connection arrives.
            conn.retired = True
        self._workspace.notify()

    async def _deliver_outstanding(self, conn: Connection, reason: str | None = None) -> None:
        """Send never-delivered envelopes, and re-send unacked ones whose socket went away."""
        for envelope in self.unacked():
            if envelope.connection is not None and envelope.connection.live:
                continue
            if not conn.live:
                return
            if envelope.first_sent_at is not None:
                envelope.retry_attempt += 1
                envelope.retry_reason = reason or DEFAULT_RETRY_REASON
            await self._deliver(conn, envelope)

    async def redeliver_unacked(self, reason: str = DEFAULT_RETRY_REASON) -> int:
        """Re-send every unacked envelope to the current connection now (as Slack's retry would).

        Returns how many were sent; 0 when no client is connected.
        """
        current = self._current()
        if current is None:
            return 0
        count = 0
        for envelope in self.unacked():
            if envelope.first_sent_at is not None:
                envelope.retry_attempt += 1
                envelope.retry_reason = reason
            await self._deliver(current, envelope)
            count += 1
        return count

    async def redeliver(self, envelope_id: str, reason: str = DEFAULT_RETRY_REASON) -> Envelope:
        """Re-send one envelope (acked or not) to the current connection with retry_attempt + 1.

        Raises KeyError for an unknown id and RuntimeError when no client is connected.
        """
        envelope = self._envelopes[envelope_id]
        current = self._current()
        if current is None:
            raise RuntimeError("no Socket Mode client is connected")
        envelope.retry_attempt += 1
        envelope.retry_reason = reason
        await self._deliver(current, envelope)
        return envelope

    def lose_acks(self, count: int) -> None:
        """Drop the next ``count`` ack frames as if lost in transit (envelopes stay unacked)."""
        self._acks_to_lose = max(0, count)

    def _on_text(self, data: str) -> None:
        try:
            frame = json.loads(data)
        except ValueError:
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("envelope_id"), str):
            return
        if self._acks_to_lose > 0:
            self._acks_to_lose -= 1
            self.lost_acks += 1
            self._workspace.notify()
            return
        envelope_id = frame["envelope_id"]
        payload = frame.get("payload")
        now = time.monotonic()
        envelope = self._envelopes.get(envelope_id)
        sent_at = envelope.last_sent_at if envelope and envelope.last_sent_at else now
        ack = Ack(envelope_id, payload if isinstance(payload, dict) else None, now, sent_at)
        first = self._workspace.ack(envelope_id) is None
        self._workspace.record_ack(ack)
        if first and envelope is not None:
            self._on_ack(envelope, ack)

    # -- faults and shutdown --------------------------------------------------------------------

    async def drop(self, reason: str | None = "warning", *, abort: bool = False) -> None:
        """Drop every live connection.

        ``reason`` set: send a ``disconnect`` frame with that reason (the client reconnects).
        ``reason`` None: close the WebSocket (code 1001) without a disconnect frame.
        ``abort`` True: cut the TCP connection with no closing handshake at all; the client only
        notices through its ping monitor (after ``ping_interval`` seconds).
        """
        for conn in [c for c in self._connections if c.live]:
            conn.retired = True
            if abort:
                transport = conn.request.transport
                if transport is not None:
                    transport.abort()
            elif reason is not None:
                frame = {
                    "type": "disconnect",
                    "reason": reason,
                    "debug_info": {"host": "applink-emulator"},
                }
                try:
                    await conn.ws.send_json(frame)
                except ConnectionError:
                    pass
            else:
                await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"dropped by emulator")
        self._workspace.notify()

    async def close(self) -> None:
        """Close every connection (emulator shutdown)."""
        self._closing = True
        for conn in list(self._connections):
            conn.retired = True
            await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"emulator stopping")

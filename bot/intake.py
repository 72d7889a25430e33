"""Durable intake: a command or click is on disk before Slack hears that it arrived.

Slack delivers each slash command and button click at least once, and never again once it is
acked (docs.slack.dev/apis/events-api/using-socket-mode: unacknowledged envelopes are retried).
So the Slack edge writes each request here, keyed by the `trigger_id` that a re-delivery carries
too, *before* it acks, and marks it handled when the dispatcher is done with it:

- a re-delivery (Slack retried, or the first delivery's ack was lost) finds its key taken and is
  only acked;
- after a crash, `unfinished()` is what was acked but not handled; the app hands each one to the
  dispatcher again at start-up;
- a job started while a request is handled remembers the request's key (`request_key`), so a
  request handled twice finds its job instead of starting a second one.

A handled row keeps only its key (the typed text is emptied: it may hold something secret), and
is deleted after `KEEP_HANDLED`, longer than Slack retries anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.job_records import now_utc
from bot.store import AuditKind, Store
from bot.store_schema import AuditRow, IntakeRow

KEEP_HANDLED = timedelta(days=2)


@dataclass(frozen=True)
class CommandRequest:
    """A slash command as Slack delivered it, reduced to what labbot uses."""

    user_id: str
    channel_id: str
    text: str


@dataclass(frozen=True)
class ClickRequest:
    """A button click: who clicked which action, with the opaque value the button carries."""

    user_id: str
    channel_id: str
    action_id: str
    value: str
    message_ts: str
    user_name: str = ""  # the clicker's Slack username, for GitHub reviews and the like


class IntakeKind(StrEnum):
    """What a request is."""

    command = "command"
    click = "click"


@dataclass(frozen=True)
class Intake:
    """A request as received: what it asked, and where its answer goes."""

    key: str
    request: CommandRequest | ClickRequest
    response_url: str
    received_at: datetime

    @property
    def kind(self) -> IntakeKind:
        """Command or click."""
        return IntakeKind.click if isinstance(self.request, ClickRequest) else IntakeKind.command


_request_key: ContextVar[str] = ContextVar("labbot_request_key", default="")


def request_key() -> str:
    """The key of the request being handled in this task ("" outside one)."""
    return _request_key.get()


@contextmanager
def handling(key: str) -> Iterator[None]:
    """Mark the code inside (and the tasks it starts) as handling the request `key`."""
    token = _request_key.set(key)
    try:
        yield
    finally:
        _request_key.reset(token)


class IntakeRecords:
    """The intake table; its writes go through the store's record writer (`Store.write`), so
    the write before the ack is one hop of the event loop however busy the loop is."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._sessions = store.sessions

    def describe_fault(self, error: BaseException) -> str:
        """A failed write's cause in a few words (`Store.describe_fault`)."""
        return self._store.describe_fault(error)

    async def receive(self, intake: Intake) -> bool:
        """Write a request, and its audit row, in one commit before it is acked; False when its
        key is already there (a re-delivery: ack it and do nothing more)."""
        body = {"response_url": intake.response_url, "request": asdict(intake.request)}
        row = insert(IntakeRow).values(
            key=intake.key,
            kind=intake.kind.value,
            body=json.dumps(body, sort_keys=True),
            state="received",
            received_at=intake.received_at,
        )
        audit = insert(AuditRow).values(self._audit_values(intake.request))

        def write(connection: Connection) -> None:
            connection.execute(row)  # a re-delivery fails here: its key is taken
            connection.execute(audit)

        try:
            await self._store.write(write)
        except IntegrityError:
            return False
        return True

    def _audit_values(self, request: CommandRequest | ClickRequest) -> dict[str, Any]:
        if isinstance(request, ClickRequest):
            return self._store.audit_values(
                AuditKind.click,
                user_id=request.user_id,
                channel_id=request.channel_id,
                command=request.action_id,
                text=request.value[:16],  # enough to correlate, not the whole opaque id
            )
        return self._store.audit_values(
            AuditKind.command,
            user_id=request.user_id,
            channel_id=request.channel_id,
            text=request.text,
        )

    async def handled(self, key: str) -> None:
        """The dispatcher is done with `key`: keep the key, drop what was typed."""
        statement = (
            update(IntakeRow)
            .where(IntakeRow.key == key)
            .values(state="handled", body="{}", finished_at=now_utc())
        )
        await self._store.write(lambda connection: connection.execute(statement))

    async def unfinished(self) -> list[Intake]:
        """Requests acked but not handled (a crash came between), oldest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(IntakeRow)
                .where(IntakeRow.state == "received")
                .order_by(IntakeRow.received_at)
            )
            return [_intake(row) for row in rows]

    async def forget_handled(self, now: datetime | None = None) -> int:
        """Delete handled rows older than `KEEP_HANDLED`; returns how many."""
        cutoff = (now or now_utc()) - KEEP_HANDLED
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(IntakeRow).where(
                    IntakeRow.state == "handled", IntakeRow.received_at < cutoff
                )
            )
        return int(getattr(result, "rowcount", 0) or 0)


def _intake(row: IntakeRow) -> Intake:
    body = json.loads(row.body)
    fields = body["request"]
    request: CommandRequest | ClickRequest = (
        ClickRequest(**fields) if row.kind == IntakeKind.click else CommandRequest(**fields)
    )
    return Intake(row.key, request, str(body.get("response_url", "")), row.received_at)

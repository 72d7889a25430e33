"""The Renovate cards table: which Slack message shows which pull request, and what it showed.

Must not call GitHub or Slack: `handlers/renovate/board.py` decides what a card shows; this stores it.

A card is claimed (a row without a message) before its message is posted, so two checks running
at once never post the same pull request twice: the pull request number is unique.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.job_records import now_utc
from bot.store_schema import RenovateCardRow
from handlers.renovate.pull_request import RenovateCard

MERGE_KIND = "renovate_merge"
"""The job kind that approves and merges a Renovate pull request."""


class CardState(StrEnum):
    """Where the pull request behind a card stands."""

    open = "open"
    merged = "merged"
    closed = "closed"  # closed without merging


def state_of(facts: RenovateCard) -> CardState:
    """The card state for what GitHub says about the pull request."""
    if facts.merged:
        return CardState.merged
    return CardState.closed if facts.state == "closed" else CardState.open


def card_token(card_id: str, head_sha: str) -> str:
    """The opaque value of a card's buttons: new for every head sha the card shows."""
    return hashlib.sha256(f"{card_id}:{head_sha}".encode()).hexdigest()[:40]


@dataclass(frozen=True)
class CardRecord:
    """One stored card: its message, the head sha its buttons stand for, and what it showed."""

    id: str
    pr_number: int
    channel_id: str
    message_ts: str
    token: str
    head_sha: str
    ci_verdict: str
    mergeable_state: str
    state: CardState
    digest: str
    skipped_sha: str
    skipped_by: str
    job_id: int | None
    created_at: datetime
    updated_at: datetime

    @property
    def skipped(self) -> bool:
        """Whether someone pressed Skip while the card showed its current head sha."""
        return bool(self.skipped_sha) and self.skipped_sha == self.head_sha


@dataclass(frozen=True)
class CardView:
    """Everything one rendering of a card needs (blocks and text are built from this alone).

    `skipped_by` is set only when the pull request was skipped at the head sha shown; `job_id`
    names a merge job under way (the buttons are hidden meanwhile).
    """

    facts: RenovateCard
    token: str
    state: CardState
    skipped_by: str = ""
    job_id: int | None = None
    deploy_targets: str | None = None
    required_checks: tuple[str, ...] = ()
    deploy: tuple[int, str] | None = None  # the deploy after Merge & deploy: job id and state


@dataclass(frozen=True)
class CardShown:
    """What a card's message shows now, as saved after posting or updating it."""

    message_ts: str
    token: str
    head_sha: str
    ci_verdict: str
    mergeable_state: str
    state: CardState
    digest: str


class MergeOrder(BaseModel):
    """The payload of a merge job: the card's pull request at the head sha that was approved."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    card_id: str
    number: int
    head_sha: str
    approver: str
    approver_name: str = ""  # Slack username, for the GitHub review (older payloads lack it)
    deploy: bool = False
    deploy_targets: str = ""


def _record(row: RenovateCardRow) -> CardRecord:
    return CardRecord(
        id=row.id,
        pr_number=row.pr_number,
        channel_id=row.channel_id,
        message_ts=row.message_ts,
        token=row.token,
        head_sha=row.head_sha,
        ci_verdict=row.ci_verdict,
        mergeable_state=row.mergeable_state,
        state=CardState(row.state),
        digest=row.digest,
        skipped_sha=row.skipped_sha,
        skipped_by=row.skipped_by,
        job_id=row.job_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class RenovateCards:
    """The renovate_cards table.

    Example::

        cards = RenovateCards(store.sessions)
        card = await cards.claim(12, "C0LAB00001")  # None: another check has it already
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def claim(self, pr_number: int, channel_id: str) -> CardRecord | None:
        """A new card for PR `pr_number`, not posted yet; None if the PR has a card already."""
        card_id = secrets.token_urlsafe(16)
        now = now_utc()
        row = RenovateCardRow(
            id=card_id,
            pr_number=pr_number,
            channel_id=channel_id,
            message_ts="",
            token=card_token(card_id, ""),
            head_sha="",
            ci_verdict="",
            mergeable_state="",
            state=CardState.open.value,
            digest="",
            skipped_sha="",
            skipped_by="",
            job_id=None,
            created_at=now,
            updated_at=now,
        )
        try:
            async with self._sessions.begin() as session:
                session.add(row)
                await session.flush()
                return _record(row)
        except IntegrityError:
            return None

    async def get(self, card_id: str) -> CardRecord | None:
        """One card by id."""
        async with self._sessions() as session:
            row = await session.get(RenovateCardRow, card_id)
            return _record(row) if row else None

    async def by_pr(self, pr_number: int) -> CardRecord | None:
        """The card of PR `pr_number`."""
        return await self._one(RenovateCardRow.pr_number == pr_number)

    async def by_message(self, channel_id: str, message_ts: str) -> CardRecord | None:
        """The card shown as message `message_ts` of `channel_id`."""
        return await self._one(
            RenovateCardRow.channel_id == channel_id, RenovateCardRow.message_ts == message_ts
        )

    async def by_token(self, token: str) -> CardRecord | None:
        """The card whose buttons carry `token` (None once the card shows another head sha)."""
        return await self._one(RenovateCardRow.token == token)

    async def in_state(self, state: CardState) -> list[CardRecord]:
        """Every card in `state`, by PR number."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(RenovateCardRow)
                .where(RenovateCardRow.state == state.value)
                .order_by(RenovateCardRow.pr_number)
            )
            return [_record(row) for row in rows]

    async def record_shown(self, card_id: str, shown: CardShown) -> None:
        """Save what the card's message shows after a post or an update."""
        await self._set(
            card_id,
            message_ts=shown.message_ts,
            token=shown.token,
            head_sha=shown.head_sha,
            ci_verdict=shown.ci_verdict,
            mergeable_state=shown.mergeable_state,
            state=shown.state.value,
            digest=shown.digest,
        )

    async def skip(self, card_id: str, head_sha: str, user_id: str) -> bool:
        """Mark the card skipped at `head_sha`; False if the card shows another sha by now."""
        async with self._sessions.begin() as session:
            outcome = await session.execute(
                update(RenovateCardRow)
                .where(RenovateCardRow.id == card_id, RenovateCardRow.head_sha == head_sha)
                .values(skipped_sha=head_sha, skipped_by=user_id, updated_at=now_utc())
            )
            return bool(outcome.rowcount)  # type: ignore[attr-defined]

    async def set_job(self, card_id: str, job_id: int | None) -> None:
        """Note the merge job under way for the card (None when it has ended)."""
        await self._set(card_id, job_id=job_id)

    async def _one(self, *conditions: ColumnElement[bool]) -> CardRecord | None:
        async with self._sessions() as session:
            row = (await session.scalars(select(RenovateCardRow).where(*conditions))).first()
            return _record(row) if row else None

    async def _set(self, card_id: str, **values: object) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(RenovateCardRow)
                .where(RenovateCardRow.id == card_id)
                .values(updated_at=now_utc(), **values)
            )

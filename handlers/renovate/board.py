"""Renovate cards in Slack: the check that posts and updates them, on its schedule or on demand.

Must not merge anything: the buttons (`handlers/renovate/buttons.py`) start `renovate_merge` jobs;
this module only draws cards, from what GitHub says and what the store remembers.

One card per pull request, posted in the first allowed channel and then updated in place when
what it shows changes (head, CI, mergeability, state, age bucket): the text and blocks are
hashed and the hash is stored with the message's ts, so a restart neither reposts nor loses a
card. Buttons carry a token derived from the card and the head sha it shows, so a click is
bound to exactly that commit.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

from apscheduler.triggers.interval import IntervalTrigger

from bot.chat import Chat, ChatError, PosterRateLimited
from bot.config import Config
from bot.errors import UserError
from bot.integrations.github import GitHubClient, GitHubError, GitHubRateLimited
from bot.job_records import now_utc
from bot.job_run import Finished
from bot.job_state import Job
from bot.jobs import JobEngine
from bot.scheduler import ScheduledRun
from bot.services import Services
from bot.store import Store
from bot.targets import resolve_targets
from handlers.renovate import card_blocks, messages
from handlers.renovate.buttons import DEPLOY_KIND, RenovateButtons
from handlers.renovate.cards import (
    MERGE_KIND,
    CardRecord,
    CardShown,
    CardState,
    CardView,
    RenovateCards,
    card_token,
    state_of,
)
from handlers.renovate.pull_request import RenovateCard, gather_card

if TYPE_CHECKING:
    from bot.capability import CapabilityContext

log = logging.getLogger(__name__)

SCHEDULE_NAME = "renovate-check"
# A card claimed but not posted for this long was left by a check that died: post it again.
CLAIM_GRACE = timedelta(minutes=5)
RATE_LIMIT_ATTEMPTS = 3
MAX_RATE_LIMIT_WAIT = 900.0  # seconds; a longer limit ends the check (the next one continues)
DEFAULT_RATE_LIMIT_WAIT = 60.0  # GitHub's advice when a secondary limit names no Retry-After

T = TypeVar("T")


class CardChange(StrEnum):
    """What one refresh did to a card."""

    posted = "posted"
    updated = "updated"
    closed = "closed"  # updated to say merged or closed
    unchanged = "unchanged"


@dataclass(frozen=True)
class CheckSummary:
    """The outcome of one check: open Renovate PRs, cards posted/updated/closed, problems."""

    open_prs: int
    posted: int
    updated: int
    closed: int
    problems: tuple[str, ...]


class RenovateBoard:
    """The Renovate cards of one labbot.

    Example::

        board = RenovateBoard(config, store, chat, services, engine)
        summary = await board.check()   # posts new cards, updates changed ones
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        chat: Chat,
        services: Services,
        jobs: JobEngine,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self._config = config
        self._store = store
        self._chat = chat
        self._services = services
        self._jobs = jobs
        self._clock = clock
        self.cards = RenovateCards(store.sessions)
        """The stored cards (the buttons read them too)."""
        self._drawing: dict[int, asyncio.Lock] = {}

    @property
    def channel(self) -> str:
        """Where new cards are posted: the first allowed channel."""
        return self._config.slack.allowed_channels[0]

    # --- the check ------------------------------------------------------------------------

    async def check(self) -> CheckSummary:
        """Post a card for every new Renovate PR and update every card whose PR changed."""
        client = await self._services.github()
        pulls = await wait_out_rate_limits(client.list_renovate_prs)
        counts: Counter[CardChange] = Counter()
        problems: list[str] = []
        numbers = [pull.number for pull in pulls]
        stale = [c.pr_number for c in await self.cards.in_state(CardState.open)]
        for number in numbers + [n for n in stale if n not in numbers]:
            try:
                counts[await self.refresh(client, number)] += 1
            except GitHubRateLimited:
                raise
            except (GitHubError, ChatError, PosterRateLimited) as exc:
                log.warning("Renovate card of PR #%s: %s", number, exc)
                problems.append(str(exc))
        return CheckSummary(
            len(pulls),
            counts[CardChange.posted],
            counts[CardChange.updated],
            counts[CardChange.closed],
            tuple(problems),
        )

    async def scheduled_check(self, run: ScheduledRun) -> None:
        """The APScheduler task: a check whose failure is logged (the next one tries again)."""
        try:
            summary = await self.check()
        except (GitHubError, ChatError, PosterRateLimited) as exc:
            log.warning("scheduled Renovate check failed: %s", exc)
            return
        log.info("Renovate check%s: %s", " (late)" if run.late else "", summary)

    async def refresh(self, client: GitHubClient, number: int) -> CardChange:
        """Read PR `number` and post or update its card."""
        facts = await wait_out_rate_limits(lambda: gather_card(client, number))
        async with self._lock(number):
            record = await self.cards.by_pr(number)
            if record is None:
                if state_of(facts) is not CardState.open:
                    return CardChange.unchanged  # closed before any card showed it
                record = await self.cards.claim(number, self.channel)
                if record is None:
                    return CardChange.unchanged  # another check is posting it
            elif not record.message_ts and self._clock() - record.created_at < CLAIM_GRACE:
                return CardChange.unchanged  # another check is posting it
            return await self._show(record, facts)

    async def _show(self, record: CardRecord, facts: RenovateCard) -> CardChange:
        """Draw the card for `facts`; post it if it has no message, update it if it differs."""
        state = state_of(facts)
        skipped = bool(record.skipped_sha) and record.skipped_sha == facts.head_sha
        view = CardView(
            facts=facts,
            token=card_token(record.id, facts.head_sha),
            state=state,
            skipped_by=record.skipped_by if skipped else "",
            job_id=await self.running_job(record),
            deploy_targets=self._deploy_targets(),
            required_checks=tuple(self._config.github.required_checks)
            if self._config.github
            else (),
            deploy=await self._deploy_after_merge(record),
        )
        text = messages.renovate_card_text(facts.number, facts.title, facts.ci.verdict, state)
        shown = card_blocks.renovate_card(view)
        digest = hashlib.sha256(json.dumps([text, shown], sort_keys=True).encode()).hexdigest()
        if record.message_ts and digest == record.digest:
            return CardChange.unchanged
        if record.message_ts:
            await self._chat.update(record.channel_id, record.message_ts, text, shown)
            ts = record.message_ts
            change = CardChange.updated if state is CardState.open else CardChange.closed
        else:
            ts = await self._chat.post(record.channel_id, text, shown)
            change = CardChange.posted
        await self.cards.record_shown(
            record.id,
            CardShown(
                message_ts=ts,
                token=view.token,
                head_sha=facts.head_sha,
                ci_verdict=facts.ci.verdict.value,
                mergeable_state=facts.mergeable_state,
                state=state,
                digest=digest,
            ),
        )
        return change

    async def _deploy_after_merge(self, record: CardRecord) -> tuple[int, str] | None:
        """The deploy that Merge & deploy started in the card's thread, if any."""
        if not record.message_ts:
            return None
        job = await self._jobs.jobs.in_thread(record.channel_id, record.message_ts, DEPLOY_KIND)
        return (job.id, job.state.value) if job is not None else None

    async def follow_deploy(self, job: Job, _outcome: Finished) -> None:
        """A deploy ended: redraw the card whose thread it ran in (Merge & deploy)."""
        if not job.thread_ts:
            return
        card = await self.cards.by_message(job.channel_id, job.thread_ts)
        if card is None:
            return
        try:
            await self.redraw(card.id, await self.read(card.pr_number))
        except (GitHubError, ChatError, PosterRateLimited) as exc:
            log.warning("could not redraw the card of PR #%s: %s", card.pr_number, exc)

    def deploy_problem(self) -> str | None:
        """Why Merge & deploy cannot deploy here, or None."""
        if self._config.colmena is None or self._config.ssh is None:
            return messages.deploy_not_configured()
        if not self._jobs.has_kind(DEPLOY_KIND) or self._config.github is None:
            return messages.renovate_no_deploy_kind()
        try:
            resolve_targets(self._config.github.deploy_targets, self._config.inventory.nodes)
        except UserError as exc:
            return str(exc)
        return None

    def _deploy_targets(self) -> str | None:
        if self._config.github is None or self.deploy_problem() is not None:
            return None
        return self._config.github.deploy_targets

    # --- for the buttons ------------------------------------------------------------------

    async def read(self, number: int) -> RenovateCard:
        """What GitHub says about PR `number` now (rate limits waited out)."""
        client = await self._services.github()
        return await wait_out_rate_limits(lambda: gather_card(client, number))

    async def redraw(self, card_id: str, facts: RenovateCard) -> None:
        """Draw the card for `facts` now; a chat failure is logged (the next check redraws)."""
        card = await self.cards.get(card_id)
        if card is None:
            return
        async with self._lock(card.pr_number):
            latest = await self.cards.get(card_id)
            if latest is not None:
                await self._show_quietly(latest, facts)

    async def merge_started(self, card_id: str, job_id: int, facts: RenovateCard) -> None:
        """Note the card's merge job; hide the buttons while it runs (if it has not ended yet)."""
        card = await self.cards.get(card_id)
        if card is None:
            return
        async with self._lock(card.pr_number):
            await self.cards.set_job(card_id, job_id)
            latest = await self.cards.get(card_id)
            if latest is not None and await self.running_job(latest) is not None:
                await self._show_quietly(latest, facts)

    async def merge_ended(self, card_id: str) -> None:
        """Forget the card's merge job (its end redraws the card next)."""
        card = await self.cards.get(card_id)
        if card is not None:
            async with self._lock(card.pr_number):
                await self.cards.set_job(card_id, None)

    async def running_job(self, card: CardRecord) -> int | None:
        """The merge job of the card if it has not ended (a restart may have ended it)."""
        if card.job_id is None:
            return None
        job = await self._jobs.jobs.get(card.job_id)
        return card.job_id if job is not None and not job.state.final else None

    # --- plumbing -------------------------------------------------------------------------

    async def _show_quietly(self, card: CardRecord, facts: RenovateCard) -> None:
        try:
            await self._show(card, facts)
        except (ChatError, PosterRateLimited) as exc:
            log.warning("could not update the card of PR #%s: %s", card.pr_number, exc)

    def _lock(self, number: int) -> asyncio.Lock:
        return self._drawing.setdefault(number, asyncio.Lock())


async def wait_out_rate_limits(call: Callable[[], Awaitable[T]]) -> T:
    """`call()`, waiting out GitHub rate limits of up to `MAX_RATE_LIMIT_WAIT` seconds."""
    for attempt in range(1, RATE_LIMIT_ATTEMPTS + 1):
        try:
            return await call()
        except GitHubRateLimited as exc:
            wait = exc.retry_after if exc.retry_after is not None else DEFAULT_RATE_LIMIT_WAIT
            if attempt == RATE_LIMIT_ATTEMPTS or wait > MAX_RATE_LIMIT_WAIT:
                raise
            log.warning("GitHub rate limit: waiting %.0f s before trying again", wait)
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")


def register(context: CapabilityContext) -> None:
    """The Renovate check on its interval, and the card buttons and merge-job hook on the engine."""
    if context.config.github is None:
        return
    board = RenovateBoard(
        context.config, context.store, context.chat, context.services, context.jobs
    )
    buttons = RenovateButtons(board, context.config, context.store, context.jobs)
    context.jobs.register_action(card_blocks.RENOVATE_MERGE, buttons.on_merge_click)
    context.jobs.register_action(card_blocks.RENOVATE_DEPLOY, buttons.on_deploy_click)
    context.jobs.register_action(card_blocks.RENOVATE_SKIP, buttons.on_skip_click)
    context.jobs.on_finished(MERGE_KIND, buttons.after_merge)
    context.jobs.on_finished(DEPLOY_KIND, board.follow_deploy)
    minutes = context.config.schedules.renovate_check_minutes
    context.scheduler.add(SCHEDULE_NAME, IntervalTrigger(minutes=minutes), board.scheduled_check)

"""What a Renovate card's buttons do: Approve & merge, Merge & deploy, Skip, and a merge's end.

Must not merge itself or trust the button: the value is an opaque token that names a card and
the head sha it showed; everything else is read from the store and from GitHub at click time.

- Approve & merge (operator): the click is the approval of the head sha shown. If GitHub's head
  is another one, the click is refused and the card redrawn; otherwise a `renovate_merge` job
  runs in the card's thread under the infra repo's lock.
- Merge & deploy: the same, then (when the merge job succeeded and brought the infra checkout to
  the merge commit) a `deploy` job of the configured targets in the same thread.
- Skip (operator): note who skipped the head shown; Skip comes back with a new head.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pydantic import ValidationError

from bot import messages as engine_messages
from bot.approvals import ClickOrigin
from bot.chat import ChatError, PosterRateLimited
from bot.config import Config, Role
from bot.errors import UserError
from bot.integrations.github import GitHubError
from bot.job_run import Finished
from bot.job_state import Job, JobState
from bot.jobs import JobEngine
from bot.locks import REPO_TARGET, node_target
from bot.policy import Actor
from bot.store import AuditKind, Store
from bot.targets import resolve_targets
from handlers.renovate import messages
from handlers.renovate.cards import MERGE_KIND, CardRecord, CardState, MergeOrder, state_of

if TYPE_CHECKING:
    from handlers.renovate.board import RenovateBoard

log = logging.getLogger(__name__)

DEPLOY_KIND = "deploy"


class RenovateButtons:
    """The card buttons of one labbot, registered on its job engine.

    Example: ``engine.register_action(card_blocks.RENOVATE_SKIP, buttons.on_skip_click)``.
    """

    def __init__(self, board: RenovateBoard, config: Config, store: Store, jobs: JobEngine) -> None:
        self._board = board
        self._config = config
        self._store = store
        self._jobs = jobs

    async def on_merge_click(self, actor: Actor, token: str, origin: ClickOrigin) -> str:
        """Approve & merge: the click is the approval of the head sha the card shows."""
        return await self._merge_click(actor, token, origin, deploy=False)

    async def on_deploy_click(self, actor: Actor, token: str, origin: ClickOrigin) -> str:
        """Merge & deploy: as Approve & merge, then a deploy job in the card's thread."""
        return await self._merge_click(actor, token, origin, deploy=True)

    async def _card(self, token: str, origin: ClickOrigin, actor: Actor) -> CardRecord | str:
        """The card whose button this is, if the click came from that card's message and the
        clicker may act on it; otherwise the answer for the clicker."""
        card = await self._board.cards.by_token(token)
        if card is None or origin != ClickOrigin(card.channel_id, card.message_ts):
            return engine_messages.button_not_valid()
        return self._refusal(card, actor) or card

    async def _merge_click(
        self, actor: Actor, token: str, origin: ClickOrigin, *, deploy: bool
    ) -> str:
        card = await self._card(token, origin, actor)
        if isinstance(card, str):
            return card
        running = await self._board.running_job(card)
        if running is not None:
            return messages.renovate_merge_busy(card.pr_number, running)
        if deploy:
            problem = self._board.deploy_problem()
            if problem is not None:
                return messages.renovate_deploy_unavailable(problem)
        try:
            facts = await self._board.read(card.pr_number)
        except GitHubError as exc:
            return messages.renovate_github_failed(str(exc))
        state = state_of(facts)
        if state is not CardState.open or facts.head_sha != card.head_sha:
            await self._board.redraw(card.id, facts)
            if state is not CardState.open:
                return messages.renovate_pr_not_open(card.pr_number, state.value)
            return messages.renovate_head_moved(card.pr_number, card.head_sha, facts.head_sha)
        order = MergeOrder(
            card_id=card.id,
            number=card.pr_number,
            head_sha=card.head_sha,
            approver=actor.user_id,
            approver_name=actor.name,
            deploy=deploy,
            deploy_targets=self._config.github.deploy_targets if self._config.github else "",
        )
        job = await self._jobs.submit(
            MERGE_KIND,
            text=messages.renovate_merge_title(
                card.pr_number, order.deploy_targets if deploy else None
            ),
            requester=actor.user_id,
            channel_id=card.channel_id,
            targets=[REPO_TARGET],
            thread_ts=card.message_ts,
            payload=order.model_dump(mode="json"),
        )
        await self._audit(actor, card, MERGE_KIND, f"approved by the click; job {job.id}")
        await self._board.merge_started(card.id, job.id, facts)
        return messages.renovate_merge_started(card.pr_number, card.head_sha, job.id, deploy)

    async def on_skip_click(self, actor: Actor, token: str, origin: ClickOrigin) -> str:
        """Skip: note who skipped the head sha shown; the Skip button returns with a new head."""
        card = await self._card(token, origin, actor)
        if isinstance(card, str):
            return card
        if card.skipped:
            return messages.renovate_already_skipped(card.pr_number, card.skipped_by)
        if not await self._board.cards.skip(card.id, card.head_sha, actor.user_id):
            return engine_messages.button_not_valid()
        await self._audit(actor, card, "renovate_skip", "skipped")
        try:
            await self._board.redraw(card.id, await self._board.read(card.pr_number))
        except GitHubError as exc:  # the skip holds; the next check redraws the card
            log.warning("could not redraw the card of PR #%s: %s", card.pr_number, exc)
        return messages.renovate_skipped(card.pr_number, card.head_sha)

    def _refusal(self, card: CardRecord, actor: Actor) -> str | None:
        if card.state is not CardState.open:
            return messages.renovate_card_final(card.pr_number, card.state.value)
        if not actor.may(Role.operator):
            return messages.renovate_needs_operator(actor.role.name if actor.role else "no role")
        return None

    async def _audit(self, actor: Actor, card: CardRecord, command: str, detail: str) -> None:
        await self._store.audit(
            AuditKind.decision,
            user_id=actor.user_id,
            channel_id=card.channel_id,
            command=command,
            text=f"PR #{card.pr_number} at {card.head_sha}",
            detail=detail,
        )

    # --- after a merge job ----------------------------------------------------------------

    async def after_merge(self, job: Job, outcome: Finished) -> None:
        """Redraw the card of a merge job that ended; start the deploy if one was asked for."""
        try:
            order = MergeOrder.model_validate(job.payload)
        except ValidationError:
            return
        card = await self._board.cards.get(order.card_id)
        if card is None:
            return
        await self._board.merge_ended(card.id)
        if order.deploy and outcome.state is JobState.succeeded:
            await self._start_deploy(card, order)  # first: the card then shows it under way
        try:
            await self._board.redraw(card.id, await self._board.read(card.pr_number))
        except (GitHubError, ChatError, PosterRateLimited) as exc:
            log.warning("could not redraw the card of PR #%s: %s", card.pr_number, exc)

    async def _start_deploy(self, card: CardRecord, order: MergeOrder) -> None:
        problem = self._board.deploy_problem()
        if problem is None:
            try:
                names = resolve_targets(order.deploy_targets, self._config.inventory.nodes)
                await self._jobs.submit(
                    DEPLOY_KIND,
                    text=f"deploy {order.deploy_targets}",
                    requester=order.approver,
                    channel_id=card.channel_id,
                    targets=[node_target(name) for name in names],
                    thread_ts=card.message_ts,
                )
                return
            except UserError as exc:
                problem = str(exc)
        await self._jobs.chat.post(
            card.channel_id,
            messages.renovate_deploy_not_started(problem),
            thread_ts=card.message_ts,
        )

"""The `renovate_merge` job kind: approve a Renovate PR on GitHub and merge it at the approved head.

Must not talk to Slack or the store: it speaks through the job's thread (the card's thread);
`handlers/renovate/board.py` redraws the card and starts a deploy when the job has ended.

The click on the card was the approval, bound to the head sha the card showed (the job's payload
is a `MergeOrder`), so the job asks for no further approval:

1. Read the PR again: merged or closed → nothing to do; a new head → refused.
2. CI must be green, with every configured required check reported successful.
3. An APPROVE review pinned to the head sha, naming the Slack approver.
4. Merge with the sha guard and the configured method; GitHub's refusals are explained.
5. Merge & deploy: fast-forward the infra checkout to the merge commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from bot import messages as engine_messages
from bot.config import Config
from bot.errors import LabError
from bot.integrations.github import CiVerdict, GitHubError, MergeRefused
from bot.integrations.infra_checkout import CheckoutFailed, CheckoutRefused, InfraCheckout
from bot.job_run import Finished, JobRun, PlanResult
from bot.job_state import Job, JobState
from bot.services import Services
from handlers.renovate import messages
from handlers.renovate.cards import MERGE_KIND, CardState, MergeOrder, state_of
from handlers.renovate.pull_request import gather_card


class RenovateMergeKind:
    """Merges one Renovate PR; see the module docstring."""

    name = MERGE_KIND

    def title(self, job: Job) -> str:
        """`Merge Renovate PR #12` or `Merge Renovate PR #12 and deploy all`."""
        try:
            order = MergeOrder.model_validate(job.payload)
        except ValidationError:
            return messages.renovate_merge_title(0, None)
        return messages.renovate_merge_title(
            order.number, order.deploy_targets if order.deploy else None
        )

    async def plan(self, run: JobRun) -> PlanResult:
        """The whole merge: the click that started the job was its approval."""
        return await merge(run, MergeOrder.model_validate(run.job.payload))

    async def apply(self, run: JobRun, payload: Mapping[str, Any]) -> Finished:
        """Not reached (the job never waits for approval); merges like `plan` if it were."""
        return await merge(run, MergeOrder.model_validate(payload))

    async def still_valid(self, run: JobRun, payload: Mapping[str, Any]) -> str | None:
        """Nothing to recheck: `merge` checks the head sha itself, and GitHub guards it again."""
        return None

    async def after_interrupted(self, job: Job, config: Config, services: Services) -> str:
        """Whether the PR got merged before the interruption (GitHub says; read-only)."""
        try:
            order = MergeOrder.model_validate(job.payload)
        except ValidationError:
            return ""
        try:
            pull = await (await services.github()).pull(order.number)
        except LabError as exc:
            return messages.renovate_interrupted_unknown(job.id, order.number, str(exc))
        if pull.merged:
            return messages.renovate_interrupted_merged(
                job.id, order.number, pull.merge_commit_sha, order.deploy_targets or None
            )
        return messages.renovate_interrupted_not_merged(job.id, order.number, pull.state)


async def merge(run: JobRun, order: MergeOrder) -> Finished:
    """Check, approve and merge the PR of `order`; then bring the checkout along if deploying."""
    github = run.config.github
    if github is None:
        return Finished(JobState.failed, messages.renovate_not_configured())
    client = await run.services.github()
    try:
        facts = await gather_card(client, order.number)
    except GitHubError as exc:
        return Finished(JobState.failed, engine_messages.integration_failed(str(exc)))
    state = state_of(facts)
    if state is not CardState.open:
        return Finished(JobState.cancelled, messages.renovate_gone(order.number, state.value))
    if facts.head_sha != order.head_sha:
        return Finished(
            JobState.cancelled,
            messages.renovate_moved_in_job(order.number, order.head_sha, facts.head_sha),
        )
    ci = facts.ci
    if ci.verdict is not CiVerdict.green or not ci.required_ok:
        return Finished(
            JobState.failed,
            messages.renovate_ci_not_green(
                order.number,
                ci.verdict.value,
                ci.failing,
                ci.pending_required,
                ci.missing_required,
            ),
        )
    run.check_cancelled()
    body = messages.renovate_review_body(order.approver, order.approver_name, order.head_sha)
    try:
        await client.approve(order.number, body, sha=order.head_sha)
    except GitHubError as exc:
        return Finished(JobState.failed, messages.renovate_approve_failed(order.number, str(exc)))
    await run.say(messages.renovate_approved(order.number, order.head_sha, order.approver))
    run.check_cancelled()
    try:
        result = await client.merge(order.number, order.head_sha, github.merge_method)
    except MergeRefused as exc:
        return Finished(JobState.failed, messages.renovate_merge_failed(str(exc), exc.head_moved))
    except GitHubError as exc:
        return Finished(JobState.failed, messages.renovate_merge_failed(str(exc), False))
    merged = messages.renovate_merged(
        order.number, result.method, result.sha, order.head_sha, order.approver
    )
    if not order.deploy:
        return Finished(JobState.succeeded, merged)
    if run.config.colmena is None:
        return Finished(
            JobState.failed,
            messages.renovate_not_deploying(merged, messages.deploy_not_configured()),
        )
    checkout = InfraCheckout(run.config.colmena.flake_dir, redactor=run.redactor, cancel=run.cancel)
    try:
        await checkout.fast_forward(facts.base_ref, result.sha)
    except (CheckoutRefused, CheckoutFailed) as exc:
        return Finished(JobState.failed, messages.renovate_checkout_failed(merged, str(exc)))
    return Finished(
        JobState.succeeded, f"{merged} {messages.renovate_checkout_updated(result.sha)}"
    )


RENOVATE_MERGE_KIND = RenovateMergeKind()

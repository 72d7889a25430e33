"""The job engine: every lab-changing command runs here, under locks, in its own Slack thread.

Flow of a job: queued (waiting for its locks) → running (plan) → awaiting_approval → running
(apply) → a final state. Locks are released on every exit path; approvals are durable, so a
button still works after a restart. Job kinds (`bot/job_run.py`) never see Slack or the store.

Long because: a job's whole life (submit, locks, plan, approval clicks, apply, cancel, recovery)
is one state machine, and reading it in one file is what lets a reviewer check every exit path
releases its locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot import actions, blocks, messages
from bot.approvals import ClickOrigin, Verdict, binding_digest, decide_click
from bot.chat import Chat, ChatError, PosterRateLimited
from bot.command_spec import Approval, configured_approval
from bot.config import Config, LockPolicy, Role
from bot.errors import UserError
from bot.intake import request_key
from bot.job_records import ApprovalRecords, ApprovalState, JobRecords, now_utc
from bot.job_run import (
    CheckedState,
    ChecksAfterInterruption,
    Finished,
    JobCancelled,
    JobKind,
    JobRun,
    NeedsApproval,
)
from bot.job_state import Job, JobState
from bot.locks import Held, LockTable, target_nodes
from bot.long_plan import long_plan
from bot.policy import Actor, Policy
from bot.redact import Redactor
from bot.replica import HEARTBEAT, LOCK_RECHECK, STALE_AFTER, new_replica_id
from bot.services import Services
from bot.store import AuditKind, Store
from bot.store_fault import STORE_FAULTS
from bot.tasks import TaskSet

log = logging.getLogger(__name__)

ActionHandler = Callable[[Actor, str, ClickOrigin], Awaitable[str]]
"""A registered button: gets the clicker and the button's value, returns the answer."""
FinishListener = Callable[[Job, Finished], Awaitable[None]]
"""Told about a job's end: the job as stored and the outcome it ended with."""


@dataclass
class EndToRecord:
    """A job's end on its way into the store: what to write, and what is already written."""

    job_id: int
    old: JobState
    outcome: Finished
    log_path: str | None  # the job's log, when it wrote one
    check_lab: bool  # an interruption: say what the job's targets are in once it is recorded
    moved: bool = False  # the job's state is written


class JobEngine:
    """Runs jobs of registered kinds; see the module docstring for the flow."""

    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        chat: Chat,
        policy: Policy,
        tasks: TaskSet,
        redactor: Redactor,
        kinds: Mapping[str, JobKind],
        services: Services,
        clock: Callable[[], datetime] = now_utc,
        replica_id: str | None = None,
    ) -> None:
        self.config = config
        self.replica_id = replica_id or new_replica_id()
        self.jobs = JobRecords(store.sessions)
        self.approvals = ApprovalRecords(store.sessions)
        self.locks = LockTable(store.sessions)
        self._store = store
        self._chat = chat
        self._policy = policy
        self._tasks = tasks
        self._redactor = redactor
        self._kinds = dict(kinds)
        self._clock = clock
        self.services = services
        self._runs: dict[int, JobRun] = {}
        self._released = asyncio.Condition()
        self._wake_expiry = asyncio.Event()
        self.log_dir = config.storage.state_dir / "jobs"
        self._actions: dict[str, ActionHandler] = {}
        self._finish_listeners: dict[str, list[FinishListener]] = {}
        self._any_finish_listeners: list[FinishListener] = []
        # Ends told in their thread while the store failed, to be recorded when it is back.
        self._late_ends: dict[int, EndToRecord] = {}

    @property
    def redactor(self) -> Redactor:
        """The bot-wide redactor (configured secrets and known secret shapes)."""
        return self._redactor

    @property
    def chat(self) -> Chat:
        """The chat the engine's threads live in (for capabilities that post their own cards)."""
        return self._chat

    def has_kind(self, kind_name: str) -> bool:
        """Whether jobs of `kind_name` can be submitted."""
        return kind_name in self._kinds

    def register_action(self, action_id: str, handler: ActionHandler) -> None:
        """Route clicks on `action_id` to `handler(actor, value)`, which answers the clicker.

        For capabilities with buttons of their own (a Renovate card); the button carries only
        an opaque value, and the handler decides everything from stored records.
        """
        if not action_id.startswith(actions.PREFIX):
            raise ValueError(f"action ids start with {actions.PREFIX!r}: {action_id!r}")
        if action_id in (actions.APPROVE, actions.REJECT, actions.CANCEL):
            raise ValueError(f"{action_id} is the engine's own action")
        self._actions[action_id] = handler

    def on_finished(self, kind_name: str, listener: FinishListener) -> None:
        """Call `listener(job, outcome)` after every job of `kind_name` has ended and said so
        (also one that start-up ends as interrupted); register before `recover`."""
        self._finish_listeners.setdefault(kind_name, []).append(listener)

    def on_any_finished(self, listener: FinishListener) -> None:
        """As `on_finished`, for jobs of every kind. The job's end awaits each listener, so one
        with slow work (a Slack call) starts it in a task and returns."""
        self._any_finish_listeners.append(listener)

    # --- starting -------------------------------------------------------------------------

    async def submit(
        self,
        kind_name: str,
        *,
        text: str,
        requester: str,
        channel_id: str,
        targets: list[str],
        thread_ts: str | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> Job:
        """Create the job, open its thread, and start driving it in the background.

        With `thread_ts` the job runs in that message's thread (its status message is a reply
        there); `payload` is what the kind reads back from `job.payload` when it plans.
        """
        kind = self._kinds[kind_name]
        key = request_key()
        if key and (earlier := await self.jobs.by_intake(key, kind_name)) is not None:
            # This request was handled before a crash and started this job: not a second one.
            log.info("request %s already started job %s", key, earlier.id)
            return earlier
        job = await self.jobs.create(
            kind=kind_name,
            text=text,
            requester=requester,
            channel_id=channel_id,
            targets=targets,
            payload=payload,
            intake_key=key,
            owner=self.replica_id,
        )
        title = kind.title(job)
        try:
            ts = await self._chat.post(
                channel_id,
                messages.job_requested(title, requester, job.id),
                blocks.job_root(title, requester, job.id, JobState.queued, job.cancel_token),
                thread_ts=thread_ts,
            )
        except (ChatError, PosterRateLimited) as exc:
            # Without a thread nobody could follow or approve the job: it ends before it starts.
            await self.jobs.move(job.id, JobState.queued, JobState.failed, str(exc))
            if isinstance(exc, ChatError) and exc.code == "not_in_channel":
                raise UserError(messages.invite_the_bot(job.id, channel_id)) from None
            raise UserError(messages.no_thread(job.id, str(exc))) from None
        if thread_ts is None:
            await self.jobs.update_fields(job.id, thread_ts=ts)
        else:
            await self.jobs.update_fields(job.id, thread_ts=thread_ts, root_ts=ts)
        job = await self._job(job.id)
        self._runs[job.id] = self._new_run(job)
        self._tasks.spawn(self._drive(job.id), name=f"job {job.id}")
        return job

    def _new_run(self, job: Job) -> JobRun:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return JobRun(job, self.config, self._chat, self._redactor, self.log_dir, self.services)

    async def _job(self, job_id: int) -> Job:
        job = await self.jobs.get(job_id)
        assert job is not None, job_id
        return job

    async def _drive(self, job_id: int) -> None:
        job = await self._job(job_id)
        run = self._runs[job_id]
        try:
            if not await self._take_locks(job, run):
                return
            if not await self.jobs.move(job_id, JobState.queued, JobState.running):
                return  # cancelled while queued
            await self._update_root(job_id)
            run.job = await self._job(job_id)
            await self._plan(run)
        except Exception:
            await self._crash(job_id, JobState.running)

    async def _take_locks(self, job: Job, run: JobRun) -> bool:
        announced = False
        while True:
            result = await self.locks.try_acquire(job.id, list(job.targets))
            if not isinstance(result, Held):
                return True
            if self.config.jobs.lock_policy is LockPolicy.refuse:
                await self._finish(
                    job.id,
                    JobState.queued,
                    Finished(JobState.cancelled, messages.lock_refused(result)),
                )
                return False
            if not announced:
                await run.say(messages.lock_queued(result))
                announced = True
            async with self._released:
                current = await self._job(job.id)
                if current.state is not JobState.queued:
                    return False
                if not self._store.shared:
                    await self._released.wait()
                    continue
                # Another replica's release wakes nothing here: look again every few seconds.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._released.wait(), LOCK_RECHECK)

    async def _plan(self, run: JobRun) -> None:
        kind = self._kinds[run.job.kind]
        try:
            outcome = await kind.plan(run)
        except JobCancelled:
            outcome = Finished(JobState.cancelled, messages.job_cancelled_by(run.job.id, ""))
        if isinstance(outcome, Finished):
            await self._finish(run.job.id, JobState.running, outcome)
            return
        await self._ask_approval(run, outcome)

    def _approval_rule(self, job: Job, plan: NeedsApproval) -> Approval:
        """The kind's rule, unless the approvals config names who approves this command
        (`sops-rotate` is `sops`), on these nodes (their tags may ask for a second person)."""
        tags = [
            tag
            for name in target_nodes(job.targets)
            if (node := self.config.inventory.node(name)) is not None
            for tag in node.tags
        ]
        return configured_approval(self.config.approvals, job.kind, tags, plan.rule)

    async def _ask_approval(self, run: JobRun, plan: NeedsApproval) -> None:
        job = run.job
        rule = self._approval_rule(job, plan)
        await self.jobs.update_fields(job.id, payload=plan.payload)
        if rule is Approval.none:  # configured so: the plan is shown, then applied
            await run.say(messages.applied_without_approval(job.id, job.kind.split("-", 1)[0]))
            await run.say(self._redactor.redact(plan.summary))
            await self.jobs.move(job.id, JobState.running, JobState.awaiting_approval)
            await self._apply(job.id, job.requester)
            return
        expires = self._clock() + timedelta(minutes=self.config.jobs.approval_timeout_minutes)
        summary = self._redactor.redact(plan.summary)
        too_long = long_plan(summary, job.id, self.log_dir)
        if too_long is not None:  # the whole plan in the thread before anyone can approve it
            await self._chat.upload(
                job.channel_id,
                job.thread_ts,
                too_long.path,
                messages.plan_file_title(job.id, too_long.sha256),
            )
            summary = too_long.shown
        approval = await self.approvals.create(
            job_id=job.id,
            digest=binding_digest(job.id, job.kind, plan.payload),
            rule=rule.value,
            role=plan.role.name,
            summary=summary,
            expires_at=expires,
        )
        if run.has_output:
            run.stream.set_title(messages.job_phase_planned(job.id))
        # Waiting before the buttons exist, so that no click can find the job still running.
        await self.jobs.move(job.id, JobState.running, JobState.awaiting_approval)
        ts = await self._chat.post(
            job.channel_id,
            messages.approval_prompt(job.id),
            blocks.approval_request(approval, plan.button),
            thread_ts=job.thread_ts,
        )
        await self.approvals.set_message(approval.id, ts)
        await self._update_root(job.id)
        self._wake_expiry.set()

    # --- clicks ----------------------------------------------------------------------------

    async def click(
        self,
        user_id: str,
        action_id: str,
        value: str,
        origin: ClickOrigin,
        *,
        user_name: str = "",
    ) -> str:
        """Handle a button pressed on the message `origin` names; returns the sentence for the
        clicker (ephemeral). A button is honoured only from the message it was posted in."""
        extra = self._actions.get(action_id)
        if extra is not None:
            actor = replace(await self._policy.actor(user_id), name=user_name)
            return await extra(actor, value, origin)
        if action_id == actions.CANCEL:
            job = await self.jobs.by_cancel_token(value)
            if job is None or origin.channel_id != job.channel_id:
                return messages.button_not_valid()
            return await self.cancel(job.id, user_id)
        if action_id not in (actions.APPROVE, actions.REJECT):
            return messages.button_not_valid()
        approval = await self.approvals.get(value)
        job = await self.jobs.get(approval.job_id) if approval else None
        actor = await self._policy.actor(user_id)
        decision = decide_click(
            approval, job, actor, action_id == actions.APPROVE, self._clock(), origin
        )
        if job is not None:
            await self._store.audit(
                AuditKind.decision,
                user_id=user_id,
                channel_id=job.channel_id,
                command=job.kind,
                text=f"job {job.id} {action_id}",
                detail=f"{decision.verdict}: {decision.reason}",
            )
        if decision.verdict is Verdict.refuse or approval is None or job is None:
            return decision.reason
        if not approval.message_ts:  # posted, but not recorded before a crash: bind it now
            await self.approvals.set_message(approval.id, origin.message_ts)
        if decision.verdict is Verdict.expire:
            await self._expire(approval.id)
            return decision.reason
        if decision.verdict is Verdict.void:
            await self._void(approval.id, job, decision.reason, user_id)
            return decision.reason
        new = (
            ApprovalState.approved
            if decision.verdict is Verdict.approve
            else ApprovalState.rejected
        )
        if not await self.approvals.decide(approval.id, new, user_id):
            latest = await self.approvals.get(approval.id)
            assert latest is not None
            return messages.already_decided(latest.state, latest.decided_by)
        if new is ApprovalState.rejected:
            await self._finish(
                job.id,
                JobState.awaiting_approval,
                Finished(JobState.cancelled, messages.job_rejected(user_id)),
            )
            await self._show_decision(approval.id, job, messages.rejected_by(user_id))
            return messages.you_rejected(job.id)
        # The job moves on first, and the clicker hears at once: the approval message's edit
        # may wait for Slack's budget or through 429s.
        self._tasks.spawn(self._apply(job.id, user_id), name=f"job {job.id} apply")
        self._tasks.spawn(
            self._show_decision(approval.id, job, messages.approved_by(user_id)),
            name=f"job {job.id} approval shown",
        )
        return messages.you_approved(job.id)

    async def _apply(self, job_id: int, approver: str, resumed: bool = False) -> None:
        # Running, and owned by this replica, in one compare-and-set before anything else: of
        # two replicas resuming one job (or a click and a resume), exactly one goes on, and a
        # replica lost from here on is seen by its stale heartbeat.
        if not await self.jobs.move(
            job_id, JobState.awaiting_approval, JobState.running, owner=self.replica_id
        ):
            return
        job = await self._job(job_id)
        run = self._runs.get(job_id) or self._new_run(job)
        self._runs[job_id] = run
        run.job = job
        kind = self._kinds[job.kind]
        try:
            if resumed:
                await run.say(messages.resuming_after_restart(job_id, approver))
            await self._update_root(job_id)
            reason = await kind.still_valid(run, job.payload)
            if reason is not None:
                await self._finish(
                    job_id,
                    JobState.running,
                    Finished(JobState.cancelled, messages.approval_void(job_id, reason)),
                )
                return
            try:
                outcome = await kind.apply(run, job.payload)
            except JobCancelled:
                outcome = Finished(JobState.cancelled, messages.job_cancelled_by(job_id, ""))
            await self._finish(job_id, JobState.running, outcome)
        except Exception:
            await self._crash(job_id, JobState.running)

    async def _show_decision(self, approval_id: str, job: Job, text: str) -> None:
        """Replace the buttons with the decision (already recorded and acted on: a failure
        here is logged, the buttons then refuse a second decision themselves)."""
        approval = await self.approvals.get(approval_id)
        if approval is None or not approval.message_ts:
            return
        try:
            await self._chat.update(
                job.channel_id, approval.message_ts, text, blocks.approval_decided(approval, text)
            )
        except (ChatError, PosterRateLimited):
            log.warning("could not show the decision on job %s's approval", job.id, exc_info=True)

    # --- cancel, expiry, void -------------------------------------------------------------

    async def cancel(self, job_id: int, user_id: str) -> str:
        """Stop a queued, waiting or running job; says exactly what was stopped."""
        job = await self.jobs.get(job_id)
        if job is None:
            return messages.no_such_job(job_id)
        actor = await self._policy.actor(user_id)
        if actor.user_id != job.requester and not actor.may(Role.operator):
            return messages.cancel_not_allowed(job_id)
        if job.state.final:
            return messages.job_already_final(job_id, job.state)
        if job.state is JobState.queued:
            if await self._finish(
                job_id,
                JobState.queued,
                Finished(JobState.cancelled, messages.job_cancelled_by(job_id, user_id)),
            ):
                await self._wake_queued()  # its own wait ends: it sees it was cancelled
                return messages.cancelled_queued(job_id)
        elif job.state is JobState.awaiting_approval:
            approvals = await self.approvals.for_job(job_id)
            approved = any(a.state is ApprovalState.approved for a in approvals)
            for approval in approvals:
                if await self.approvals.decide(approval.id, ApprovalState.void, user_id):
                    await self._show_decision(
                        approval.id, job, messages.job_cancelled_by(job_id, user_id)
                    )
            if await self._finish(
                job_id,
                JobState.awaiting_approval,
                Finished(JobState.cancelled, messages.job_cancelled_by(job_id, user_id)),
            ):
                if approved:
                    return messages.cancelled_after_approval(job_id)
                return messages.cancelled_waiting(job_id)
        elif job.state is JobState.running:
            run = self._runs.get(job_id)
            if run is not None:
                run.cancel.set()
                return messages.cancelling_running(job_id)
        return messages.job_already_final(job_id, (await self._job(job_id)).state)

    async def expire_due(self) -> int:
        """Expire every pending approval past its time; returns how many."""
        count = 0
        for approval in await self.approvals.pending():
            if approval.expires_at <= self._clock():
                count += await self._expire(approval.id)
        return count

    async def _expire(self, approval_id: str) -> int:
        if not await self.approvals.decide(approval_id, ApprovalState.expired, ""):
            return 0
        approval = await self.approvals.get(approval_id)
        assert approval is not None
        job = await self._job(approval.job_id)
        await self._show_decision(approval_id, job, messages.approval_expired(job.id))
        await self._finish(
            job.id,
            JobState.awaiting_approval,
            Finished(JobState.expired, messages.approval_expired(job.id)),
        )
        return 1

    async def _void(self, approval_id: str, job: Job, reason: str, user_id: str) -> None:
        if await self.approvals.decide(approval_id, ApprovalState.void, user_id):
            await self._show_decision(approval_id, job, reason)
            await self._finish(
                job.id, JobState.awaiting_approval, Finished(JobState.cancelled, reason)
            )

    async def expiry_loop(self) -> None:
        """Wake at the next approval expiry (or when a new approval appears) and expire it."""
        while True:
            await self.expire_due()
            pending = await self.approvals.pending()
            delay = 3600.0
            if pending:
                delay = max(0.05, (pending[0].expires_at - self._clock()).total_seconds())
            self._wake_expiry.clear()
            try:
                await asyncio.wait_for(self._wake_expiry.wait(), timeout=delay)
            except TimeoutError:
                pass

    # --- ending ----------------------------------------------------------------------------

    async def _finish(self, job_id: int, old: JobState, outcome: Finished) -> bool:
        """Record the end, release the locks, close the stream and say the verdict.

        Should the store fail at that moment (a full disk, PostgreSQL restarting), the verdict
        is told all the same, from memory, with a note; the end is recorded and the locks
        freed when the store takes writes again (`_record_late_ends`)."""
        run = self._runs.get(job_id)
        end = EndToRecord(
            job_id,
            old,
            outcome,
            log_path=str(run.log_path) if run is not None and run.has_output else None,
            check_lab=outcome.state is JobState.interrupted,
        )
        try:
            if not await self._record_end(end):
                return False
        except STORE_FAULTS as fault:
            if run is None:
                raise  # nothing in memory to tell from: the caller's own handling applies
            log.warning("job %s ended but its end cannot be recorded yet", job_id, exc_info=True)
            self._runs.pop(job_id, None)
            self._late_ends[job_id] = end
            note = messages.end_not_recorded(
                job_id, self._store.describe_fault(fault), run.job.targets
            )
            final = messages.job_finished(job_id, outcome.state, outcome.summary)
            await self._tell_end(run.job, run, f"{final}\n{note}")
            return True
        self._runs.pop(job_id, None)
        job = await self._job(job_id)
        try:
            await self._tell_end(
                job, run, messages.job_finished(job.id, outcome.state, outcome.summary)
            )
        finally:
            await self._ended(job, end)
        return True

    async def _record_end(self, end: EndToRecord) -> bool:
        """Write a job's end and free its locks; False when the job had already moved on (a
        cancel, another replica's takeover). Each step done is remembered, so a retry after
        a store fault does only what is left."""
        if not end.moved:
            summary = self._redactor.redact(end.outcome.summary)
            if not await self.jobs.move(end.job_id, end.old, end.outcome.state, summary):
                return False
            end.moved = True
        await self._release_locks(end.job_id)
        if end.log_path is not None:
            await self.jobs.update_fields(end.job_id, log_path=end.log_path)
        return True

    async def _tell_end(self, job: Job, run: JobRun | None, final: str) -> None:
        """The verdict and the log in the thread (before the root's status: should Slack refuse
        the root's edit, the thread still says how the job ended)."""
        if run is not None and run.has_output:
            await run.stream.close(final)
        else:
            await self._chat.post(job.channel_id, final, thread_ts=job.thread_ts)

    async def _ended(self, job: Job, end: EndToRecord) -> None:
        """After an end is recorded: the root's status, the audit row, the kind's listeners
        and, for an interruption, what the lab is in now."""
        try:
            await self._update_root(job.id)
        finally:
            await self._store.audit(
                AuditKind.reply,
                user_id=job.requester,
                channel_id=job.channel_id,
                command=job.kind,
                text=job.text,
                detail=f"job {job.id} {end.outcome.state}: {end.outcome.summary}",
            )
        await self._tell_listeners(job.id, end.outcome)
        kind = self._kinds.get(job.kind)
        if end.check_lab and isinstance(kind, ChecksAfterInterruption):
            self._tasks.spawn(
                self._check_after_interruption(job, kind),
                name=f"job {job.id} checked after interruption",
            )

    async def _record_late_ends(self) -> None:
        """Write the ends that a store fault kept in memory, once the store takes writes."""
        for end in list(self._late_ends.values()):
            try:
                recorded = await self._record_end(end)
            except STORE_FAULTS:
                return  # still failing: try again at the next heartbeat
            del self._late_ends[end.job_id]
            if not recorded:
                continue  # settled meanwhile by someone else (a takeover after a restart)
            log.info("job %s's end is recorded now that the store takes writes", end.job_id)
            await self._ended(await self._job(end.job_id), end)

    async def _release_locks(self, job_id: int) -> None:
        """Free the job's locks; the jobs queued behind them look again."""
        if await self.locks.release(job_id):
            await self._wake_queued()

    async def _wake_queued(self) -> None:
        async with self._released:
            self._released.notify_all()

    async def _tell_listeners(self, job_id: int, outcome: Finished) -> None:
        job = await self._job(job_id)
        for listener in (*self._finish_listeners.get(job.kind, ()), *self._any_finish_listeners):
            try:
                await listener(job, outcome)
            except Exception:  # a listener's trouble must not undo the job's end
                log.exception("a listener of job %s's end failed", job_id)

    async def _crash(self, job_id: int, old: JobState) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, STORE_FAULTS):
            # The store failed under the job, not the job itself: what it did on the lab is
            # checked, as after a restart.
            log.warning("job %s stopped by a store fault", job_id, exc_info=True)
            summary = messages.stopped_by_store_fault(job_id, self._store.describe_fault(error))
            outcome = Finished(JobState.interrupted, summary)
        else:
            reference = uuid.uuid4().hex[:8]
            log.exception("job %s failed (reference %s)", job_id, reference)
            outcome = Finished(JobState.failed, messages.internal_error(reference))
        try:
            job = await self._job(job_id)
            live = (JobState.running, JobState.queued, JobState.awaiting_approval)
            state = job.state if job.state in live else old
        except STORE_FAULTS:
            state = old
        await self._finish(job_id, state, outcome)

    async def _update_root(self, job_id: int) -> None:
        """The root message's status line and buttons, from the store (cosmetic: a failure is
        logged, never the end of a job)."""
        try:
            job = await self._job(job_id)
            root = job.root_ts or job.thread_ts  # a job in another message's thread has its own
            if not root:
                return
            title = self._kinds[job.kind].title(job)
            await self._chat.update(
                job.channel_id,
                root,
                messages.job_root_text(title, job.requester, job.id, job.state),
                blocks.job_root(
                    title, job.requester, job.id, job.state, job.cancel_token, job.result
                ),
                background=True,  # the thread says it first; the root's status may follow
            )
        except STORE_FAULTS:
            log.warning("could not read job %s to update its root message", job_id, exc_info=True)
        except (ChatError, PosterRateLimited):
            log.warning("could not update the root message of job %s", job_id, exc_info=True)

    # --- restart ---------------------------------------------------------------------------

    async def recover(self) -> None:
        """At start: jobs whose process is gone become `interrupted` (on a database shared by
        replicas, only those whose owner stopped beating); decided approvals move on; pending
        approvals stay valid."""
        await self._interrupt_orphans()
        await self._resume_decided()
        await self.expire_due()

    async def replica_loop(self) -> None:
        """Forever: stamp this replica's heartbeat on its jobs, and (on a shared database) take
        over the jobs of replicas that stopped beating."""
        while True:
            await asyncio.sleep(HEARTBEAT)  # a heartbeat is a clock, not an event
            try:
                await self._record_late_ends()
                await self.jobs.beat(self.replica_id)
                if self._store.shared:
                    await self._interrupt_orphans()
                    await self._resume_decided()
            except Exception:  # a store fault must not end the heartbeat for good
                log.exception("replica heartbeat failed; trying again")

    async def _interrupt_orphans(self) -> None:
        stale_before = (
            self._clock() - timedelta(seconds=STALE_AFTER) if self._store.shared else None
        )
        for job in await self.jobs.orphans(self.replica_id, stale_before):
            summary = messages.job_interrupted(job.id)
            if await self.jobs.move(job.id, job.state, JobState.interrupted, summary):
                await self._release_locks(job.id)
                try:
                    await self._chat.post(job.channel_id, summary, thread_ts=job.thread_ts)
                    await self._update_root(job.id)
                except Exception:  # Slack trouble must not stop the bot from starting
                    log.warning("could not tell the thread of job %s it was interrupted", job.id)
                await self._tell_listeners(job.id, Finished(JobState.interrupted, summary))
                kind = self._kinds.get(job.kind)
                if isinstance(kind, ChecksAfterInterruption):
                    self._tasks.spawn(
                        self._check_after_interruption(job, kind),
                        name=f"job {job.id} checked after interruption",
                    )

    async def _check_after_interruption(self, job: Job, kind: ChecksAfterInterruption) -> None:
        """Say in the thread what the interrupted job's targets are in now."""
        try:
            found = await kind.after_interrupted(job, self.config, self.services)
        except Exception:  # the check is a courtesy: its failure must not hide the interruption
            log.exception("checking the lab after job %s's interruption failed", job.id)
            found = messages.interrupted_check_failed(job.id)
        checked = found if isinstance(found, CheckedState) else CheckedState(found)
        if not checked.text:
            return
        offered = checked.offer
        shown = (
            blocks.offer(
                checked.text, f"after-{job.id}", offered.label, offered.action_id, offered.value
            )
            if offered is not None
            else None
        )
        try:
            await self._chat.post(job.channel_id, checked.text, shown, thread_ts=job.thread_ts)
        except (ChatError, PosterRateLimited):
            log.warning("could not post what job %s's targets are in now", job.id)

    async def _resume_decided(self) -> None:
        """Jobs whose approval was decided but which a crash stopped before they moved on: an
        approved one applies now (re-checking that its plan still holds), a rejected one ends.

        On a database shared by replicas, only decisions older than `STALE_AFTER`: the replica
        that received the click moves the job on within milliseconds of recording it, so an
        older one means that replica was lost in between (and should two replicas still both
        try, `_apply`'s compare-and-set lets one go on)."""
        settled = self._clock() - timedelta(seconds=STALE_AFTER)
        for job in await self.jobs.in_states(JobState.awaiting_approval):
            decided = [
                a
                for a in await self.approvals.for_job(job.id)
                if a.state is not ApprovalState.pending
            ]
            if not decided or decided[-1].state not in (
                ApprovalState.approved,
                ApprovalState.rejected,
            ):
                continue
            approval = decided[-1]
            if self._store.shared and (approval.decided_at or settled) > settled:
                continue
            if approval.state is ApprovalState.rejected:
                await self._finish(
                    job.id,
                    JobState.awaiting_approval,
                    Finished(JobState.cancelled, messages.job_rejected(approval.decided_by)),
                )
                continue
            self._tasks.spawn(
                self._apply(job.id, approval.decided_by, resumed=True), name=f"job {job.id} apply"
            )

    def log_file(self, job: Job) -> Path | None:
        """The job's log on disk, if it wrote one."""
        return Path(job.log_path) if job.log_path else None

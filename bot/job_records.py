"""Jobs and approvals in the store: create, read, and move them with compare-and-set updates.

Every state change checks the state machine and the current state in the same UPDATE, so two
clicks or a click and an expiry can never both win.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.job_state import Job, JobState, check_transition
from bot.store_schema import ApprovalRow, JobRow


def now_utc() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


def _job(row: JobRow) -> Job:
    return Job(
        id=row.id,
        kind=row.kind,
        text=row.text,
        requester=row.requester,
        channel_id=row.channel_id,
        thread_ts=row.thread_ts,
        targets=tuple(json.loads(row.targets)),
        state=JobState(row.state),
        payload=json.loads(row.payload),
        result=row.result,
        log_path=row.log_path,
        cancel_token=row.cancel_token,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        root_ts=row.root_ts or "",
    )


class JobRecords:
    """The jobs table."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(
        self,
        *,
        kind: str,
        text: str,
        requester: str,
        channel_id: str,
        targets: list[str],
        payload: Mapping[str, Any] | None = None,
        intake_key: str = "",
        owner: str = "",
    ) -> Job:
        """A new job in state `queued` (`intake_key`: the request that asked for it; `owner`:
        the replica that drives it)."""
        row = JobRow(
            kind=kind,
            text=text,
            requester=requester,
            channel_id=channel_id,
            thread_ts="",
            root_ts="",
            targets=json.dumps(targets),
            state=JobState.queued.value,
            payload=json.dumps(dict(payload or {}), sort_keys=True),
            result="",
            log_path="",
            cancel_token=secrets.token_urlsafe(16),
            created_at=now_utc(),
            intake_key=intake_key,
            owner=owner,
            heartbeat_at=now_utc(),
        )
        async with self._sessions.begin() as session:
            session.add(row)
            await session.flush()
            return _job(row)

    async def get(self, job_id: int) -> Job | None:
        """One job by id."""
        async with self._sessions() as session:
            row = await session.get(JobRow, job_id)
            return _job(row) if row else None

    async def by_intake(self, intake_key: str, kind: str) -> Job | None:
        """The job of `kind` that the request `intake_key` started, if it started one."""
        async with self._sessions() as session:
            row = (
                await session.scalars(
                    select(JobRow)
                    .where(JobRow.intake_key == intake_key, JobRow.kind == kind)
                    .order_by(JobRow.id)
                )
            ).first()
            return _job(row) if row else None

    async def by_cancel_token(self, token: str) -> Job | None:
        """The job whose Cancel button carries `token`."""
        async with self._sessions() as session:
            row = (
                await session.scalars(select(JobRow).where(JobRow.cancel_token == token))
            ).first()
            return _job(row) if row else None

    async def recent(self, limit: int = 20) -> list[Job]:
        """The newest jobs, newest first."""
        async with self._sessions() as session:
            rows = await session.scalars(select(JobRow).order_by(JobRow.id.desc()).limit(limit))
            return [_job(r) for r in rows]

    async def in_thread(self, channel_id: str, thread_ts: str, kind: str) -> Job | None:
        """The newest job of `kind` that runs in the thread of message `thread_ts` (a deploy
        after a Renovate merge, in the card's thread)."""
        async with self._sessions() as session:
            row = (
                await session.scalars(
                    select(JobRow)
                    .where(
                        JobRow.channel_id == channel_id,
                        JobRow.thread_ts == thread_ts,
                        JobRow.kind == kind,
                    )
                    .order_by(JobRow.id.desc())
                    .limit(1)
                )
            ).first()
            return _job(row) if row else None

    async def in_states(self, *states: JobState) -> list[Job]:
        """Jobs currently in any of `states`, oldest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(JobRow)
                .where(JobRow.state.in_([s.value for s in states]))
                .order_by(JobRow.id)
            )
            return [_job(r) for r in rows]

    async def beat(self, owner: str) -> int:
        """Stamp the heartbeat of every queued or running job `owner` drives; how many."""
        active = [JobState.queued.value, JobState.running.value]
        async with self._sessions.begin() as session:
            outcome = await session.execute(
                update(JobRow)
                .where(JobRow.owner == owner, JobRow.state.in_(active))
                .values(heartbeat_at=now_utc())
            )
            return int(outcome.rowcount)  # type: ignore[attr-defined]

    async def orphans(self, me: str, stale_before: datetime | None) -> list[Job]:
        """Queued or running jobs driven by another replica that has stopped beating since
        `stale_before` (None: every job not driven by `me`, when no other replica can exist)."""
        active = [JobState.queued.value, JobState.running.value]
        query = select(JobRow).where(JobRow.state.in_(active), JobRow.owner != me)
        if stale_before is not None:
            query = query.where(
                (JobRow.heartbeat_at.is_(None)) | (JobRow.heartbeat_at < stale_before)
            )
        async with self._sessions() as session:
            return [_job(r) for r in await session.scalars(query.order_by(JobRow.id))]

    async def counts(self) -> dict[tuple[str, str], int]:
        """How many jobs there are per (command, state)."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(JobRow.kind, JobRow.state, func.count()).group_by(JobRow.kind, JobRow.state)
            )
            return {(kind, state): int(count) for kind, state, count in rows}

    async def update_fields(self, job_id: int, **fields: Any) -> None:
        """Set non-state fields (thread_ts, root_ts, payload, log_path, result)."""
        if "payload" in fields:
            fields["payload"] = json.dumps(fields["payload"], sort_keys=True)
        async with self._sessions.begin() as session:
            await session.execute(update(JobRow).where(JobRow.id == job_id).values(**fields))

    async def move(
        self,
        job_id: int,
        old: JobState,
        new: JobState,
        result: str | None = None,
        owner: str | None = None,
    ) -> bool:
        """Move the job from `old` to `new` if it is still in `old`; False if someone else moved
        it. With `owner`, that replica drives the job from now on (in the same update)."""
        check_transition(old, new)
        values: dict[str, Any] = {"state": new.value}
        if owner is not None:
            values["owner"] = owner
            values["heartbeat_at"] = now_utc()
        if new is JobState.running and old is JobState.queued:
            values["started_at"] = now_utc()
        if new.final:
            values["finished_at"] = now_utc()
        if result is not None:
            values["result"] = result[:2000]
        async with self._sessions.begin() as session:
            outcome = await session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.state == old.value)
                .values(**values)
            )
            return bool(outcome.rowcount)  # type: ignore[attr-defined]


class ApprovalState(StrEnum):
    """Where an approval request is."""

    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    expired = "expired"
    void = "void"


@dataclass(frozen=True)
class ApprovalRecord:
    """An approval request as stored."""

    id: str
    job_id: int
    digest: str
    rule: str
    role: str
    summary: str
    message_ts: str
    state: ApprovalState
    created_at: datetime
    expires_at: datetime
    decided_by: str
    decided_at: datetime | None


def _approval(row: ApprovalRow) -> ApprovalRecord:
    return ApprovalRecord(
        id=row.id,
        job_id=row.job_id,
        digest=row.digest,
        rule=row.rule,
        role=row.role,
        summary=row.summary,
        message_ts=row.message_ts,
        state=ApprovalState(row.state),
        created_at=row.created_at,
        expires_at=row.expires_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
    )


class ApprovalRecords:
    """The approvals table."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(
        self, *, job_id: int, digest: str, rule: str, role: str, summary: str, expires_at: datetime
    ) -> ApprovalRecord:
        """A new pending approval with a fresh opaque id."""
        row = ApprovalRow(
            id=secrets.token_urlsafe(18),
            job_id=job_id,
            digest=digest,
            rule=rule,
            role=role,
            summary=summary,
            message_ts="",
            state=ApprovalState.pending.value,
            created_at=now_utc(),
            expires_at=expires_at,
            decided_by="",
        )
        async with self._sessions.begin() as session:
            session.add(row)
        return _approval(row)

    async def get(self, approval_id: str) -> ApprovalRecord | None:
        """One approval by its opaque id."""
        async with self._sessions() as session:
            row = await session.get(ApprovalRow, approval_id)
            return _approval(row) if row else None

    async def set_message(self, approval_id: str, message_ts: str) -> None:
        """Remember which message carries the buttons."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(ApprovalRow)
                .where(ApprovalRow.id == approval_id)
                .values(message_ts=message_ts)
            )

    async def decide(self, approval_id: str, new: ApprovalState, user_id: str) -> bool:
        """Move a pending approval to `new`; False if it was no longer pending."""
        async with self._sessions.begin() as session:
            outcome = await session.execute(
                update(ApprovalRow)
                .where(
                    ApprovalRow.id == approval_id, ApprovalRow.state == ApprovalState.pending.value
                )
                .values(state=new.value, decided_by=user_id, decided_at=now_utc())
            )
            return bool(outcome.rowcount)  # type: ignore[attr-defined]

    async def pending(self) -> list[ApprovalRecord]:
        """Every pending approval, soonest expiry first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(ApprovalRow)
                .where(ApprovalRow.state == ApprovalState.pending.value)
                .order_by(ApprovalRow.expires_at)
            )
            return [_approval(r) for r in rows]

    async def for_job(self, job_id: int) -> list[ApprovalRecord]:
        """A job's approvals, oldest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(ApprovalRow)
                .where(ApprovalRow.job_id == job_id)
                .order_by(ApprovalRow.created_at)
            )
            return [_approval(r) for r in rows]

"""What the digest keeps and reads in the store: its snapshots, and the jobs it reports on.

Must not judge or render: it saves and loads `LabSnapshot`s and reads the jobs table.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.job_state import JobState
from bot.store_schema import DigestSnapshotRow, JobRow
from handlers.status.lab_facts import STORED, JobFacts, LabSnapshot

log = logging.getLogger(__name__)

# Job kinds whose success gave the sops files new data keys (`sops updatekeys` alone does not).
SOPS_ROTATING_KINDS = ("sops-rotate", "sops-remove-node")


def _job(row: JobRow) -> JobFacts:
    return JobFacts(
        id=row.id,
        kind=row.kind,
        text=row.text,
        state=row.state,
        requester=row.requester,
        finished_at=row.finished_at,
        result=row.result,
    )


class DigestStore:
    """The digest_snapshots table, and the jobs the digest lists.

    Example::

        snapshots = DigestStore(store.sessions)
        previous = await snapshots.latest()
        await snapshots.save(snapshot)
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def save(self, snapshot: LabSnapshot) -> int:
        """Store one digest's snapshot; returns its row id."""
        row = DigestSnapshotRow(taken_at=snapshot.taken_at, facts=snapshot.model_dump_json())
        async with self._sessions.begin() as session:
            session.add(row)
            await session.flush()
            return row.id

    async def latest(self) -> LabSnapshot | None:
        """The newest stored snapshot that this labbot can read (older unreadable ones are skipped)."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(DigestSnapshotRow).order_by(DigestSnapshotRow.id.desc()).limit(5)
            )
            for row in rows:
                try:
                    return LabSnapshot.model_validate_json(row.facts, context=STORED)
                except ValidationError:
                    log.warning("digest snapshot %s is unreadable; skipped", row.id)
        return None

    async def count(self) -> int:
        """How many snapshots are stored."""
        async with self._sessions() as session:
            counted = await session.scalar(select(func.count()).select_from(DigestSnapshotRow))
            return int(counted or 0)

    async def prune(self, keep: int) -> int:
        """Delete all but the newest `keep` snapshots; returns how many went."""
        async with self._sessions.begin() as session:
            kept = await session.scalars(
                select(DigestSnapshotRow.id).order_by(DigestSnapshotRow.id.desc()).limit(keep)
            )
            ids = list(kept)
            if len(ids) < keep:
                return 0
            result = await session.execute(
                delete(DigestSnapshotRow).where(DigestSnapshotRow.id < min(ids))
            )
            return int(getattr(result, "rowcount", 0) or 0)

    async def jobs_finished_since(self, since: datetime) -> list[JobFacts]:
        """Jobs that ended at or after `since`, oldest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(JobRow)
                .where(JobRow.finished_at >= since)  # UtcDateTime binds it as UTC
                .order_by(JobRow.finished_at)
            )
            return [_job(r) for r in rows]

    async def last_succeeded(self, kinds: Sequence[str]) -> JobFacts | None:
        """The newest succeeded job of any of `kinds`."""
        async with self._sessions() as session:
            row = (
                await session.scalars(
                    select(JobRow)
                    .where(JobRow.kind.in_(list(kinds)), JobRow.state == JobState.succeeded.value)
                    .order_by(JobRow.finished_at.desc(), JobRow.id.desc())
                    .limit(1)
                )
            ).first()
            return _job(row) if row else None

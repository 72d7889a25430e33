"""Per-target locks (a node, a BMC, the infra repo), held by jobs and kept in the store.

A refused lock is a result (`Held`, naming the holder), not an error. Taking several targets is
all-or-nothing, so two jobs can never each hold half of what the other needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.job_records import now_utc
from bot.store_schema import JobRow, LockRow


def node_target(name: str) -> str:
    """The lock key of a node."""
    return f"node:{name}"


def target_nodes(targets: Iterable[str]) -> list[str]:
    """The node names among lock keys."""
    return [t.removeprefix("node:") for t in targets if t.startswith("node:")]


def bmc_target(name: str) -> str:
    """The lock key of a BMC (one flash at a time)."""
    return f"bmc:{name}"


REPO_TARGET = "repo:infra"


@dataclass(frozen=True)
class Acquired:
    """Every requested target is now held by the job."""

    targets: tuple[str, ...]


@dataclass(frozen=True)
class Held:
    """A target is held by another job."""

    target: str
    job_id: int
    kind: str
    requester: str
    since: datetime


LockResult = Acquired | Held


class _Taken(Exception):
    """Internal: a target is already held; rolls the transaction back."""


class LockTable:
    """The locks table: try, release, and who holds what."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def try_acquire(self, job_id: int, targets: list[str]) -> LockResult:
        """Take all `targets` for the job, or none of them and say who holds the first taken one."""
        try:
            async with self._sessions.begin() as session:
                for target in targets:
                    existing = await session.get(LockRow, target)
                    if existing is not None:
                        if existing.job_id == job_id:
                            continue
                        raise _Taken
                    session.add(LockRow(target=target, job_id=job_id, acquired_at=now_utc()))
                    await session.flush()
        except (IntegrityError, _Taken):  # the transaction rolled back: nothing was taken
            holder = await self._holder(targets)
            if holder is not None:
                return holder
            return await self.try_acquire(job_id, targets)  # the holder let go meanwhile
        return Acquired(tuple(targets))

    async def _holder(self, targets: list[str]) -> Held | None:
        async with self._sessions() as session:
            rows = await session.execute(
                select(LockRow, JobRow)
                .join(JobRow, JobRow.id == LockRow.job_id)
                .where(LockRow.target.in_(targets))
                .order_by(LockRow.acquired_at)
            )
            first = rows.first()
            if first is None:
                return None
            lock, job = first
            return Held(lock.target, job.id, job.kind, job.requester, lock.acquired_at)

    async def release(self, job_id: int) -> int:
        """Release every lock the job holds; returns how many there were."""
        async with self._sessions.begin() as session:
            outcome = await session.execute(delete(LockRow).where(LockRow.job_id == job_id))
            return int(outcome.rowcount)  # type: ignore[attr-defined]

    async def held_by(self, job_id: int) -> list[str]:
        """The targets a job holds."""
        async with self._sessions() as session:
            rows = await session.scalars(select(LockRow.target).where(LockRow.job_id == job_id))
            return list(rows)

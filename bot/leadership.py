"""Which replica runs the schedules: the one holding a PostgreSQL advisory lock.

APScheduler 3 cannot share its job store between running schedulers (each would fire every
due run), so among replicas on one PostgreSQL database exactly one runs the schedules (the
nightly digest, Renovate checks). The leader is the replica holding a session-level advisory
lock (`pg_try_advisory_lock`) on a connection of its own: PostgreSQL releases it the moment that
session ends, whether the replica stopped, was killed or lost its node, and another replica's
next try (every `RETRY` seconds) takes it over. That is why this and not a Kubernetes Lease:
it needs nothing beyond the database the replicas already share, and it works outside k8s.

A leader checks its connection every `RETRY` seconds; when it fails (PostgreSQL restarted), the
replica stops running schedules at once and competes again. A missed run is caught up by the
next leader, as after any restart (`bot/scheduler.py`). On SQLite there is one process
(`bot/single_process.py`): it leads alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

RETRY = 5.0
"""Seconds between a follower's tries, and between a leader's checks of its connection."""
_SCHEDULES_LOCK = 0x6C6162626F7402  # "labbot" 02 (bot/store.py holds 01)


class ScheduleLeadership:
    """Runs `lead()` while this replica holds the lock and `follow()` when it loses it."""

    def __init__(
        self,
        engine: AsyncEngine,
        lead: Callable[[], None],
        follow: Callable[[], None],
        retry: float = RETRY,
    ) -> None:
        self._engine = engine
        self._lead = lead
        self._follow = follow
        self._retry = retry
        self.leader = False

    @property
    def role(self) -> str:
        """`leader` or `standby`, for health output."""
        return "leader" if self.leader else "standby"

    def lead_alone(self) -> None:
        """The only process on its database (SQLite): lead now, for good."""
        self._become_leader()

    async def run(self) -> None:
        """Forever: try to become the leader; lead while the lock's session lives."""
        while True:
            try:
                await self._hold_while_possible()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is unreachable or restarting: try again
                log.warning("schedule leadership: the database failed; trying again", exc_info=True)
            await asyncio.sleep(self._retry)  # a retry clock, not an event

    async def _hold_while_possible(self) -> None:
        async with self._engine.connect() as connection:
            try:
                locked = await connection.exec_driver_sql(
                    f"SELECT pg_try_advisory_lock({_SCHEDULES_LOCK})"
                )
                if not locked.scalar():
                    return  # another replica leads
                self._become_leader()
                while True:
                    await asyncio.sleep(self._retry)
                    await connection.exec_driver_sql("SELECT 1")  # raises once the session ends
            finally:
                if self.leader:
                    self.leader = False
                    log.warning("this replica no longer runs the schedules")
                    self._follow()
                # Never hand a connection holding the lock back to the pool.
                await connection.invalidate()

    def _become_leader(self) -> None:
        self.leader = True
        log.info("this replica runs the schedules")
        self._lead()

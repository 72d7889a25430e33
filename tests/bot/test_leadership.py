"""Schedule leadership among replicas on PostgreSQL: one leader, and a new one when it goes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from store_databases import Databases, PostgresServer

from bot.leadership import ScheduleLeadership
from bot.store import Store


class Replica:
    """One replica's leadership, recording what it was told to do."""

    def __init__(self, url: str) -> None:
        self.engine = create_async_engine(url)
        self.events: list[str] = []
        self.changed = asyncio.Event()
        self.leadership = ScheduleLeadership(self.engine, self._lead, self._follow, retry=0.1)
        self.task = asyncio.create_task(self.leadership.run())

    def _lead(self) -> None:
        self.events.append("lead")
        self.changed.set()

    def _follow(self) -> None:
        self.events.append("follow")
        self.changed.set()

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.engine.dispose()


@pytest.fixture
async def url(postgres_server: PostgresServer, tmp_path: Path) -> AsyncIterator[str]:
    databases = Databases("postgresql", tmp_path, postgres_server)
    url = databases.new()
    await (await Store.open(url)).close()
    yield url
    databases.drop_all()


async def test_one_replica_leads_and_another_takes_over_when_it_stops(url: str) -> None:
    first = Replica(url)
    await asyncio.wait_for(first.changed.wait(), 10)  # alone, so it leads
    second = Replica(url)
    try:
        assert first.leadership.leader and first.events == ["lead"]
        # The follower tries again and again, and never leads while the leader lives.
        await asyncio.sleep(0.5)  # five of its retries
        assert not second.leadership.leader and second.events == []
        await first.stop()  # the leader's process ends: PostgreSQL drops its lock with it
        await asyncio.wait_for(second.changed.wait(), 10)
        assert second.leadership.leader and second.events == ["lead"]
    finally:
        await first.stop()
        await second.stop()


async def test_a_leader_whose_session_ends_stops_leading_at_once(
    url: str, postgres_server: PostgresServer
) -> None:
    replica = Replica(url)
    try:
        await asyncio.wait_for(replica.changed.wait(), 10)
        replica.changed.clear()
        with postgres_server.admin() as admin:  # as a PostgreSQL restart does to every session
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks "
                "WHERE locktype = 'advisory' AND granted"
            )
        await asyncio.wait_for(replica.changed.wait(), 10)
        assert replica.events[:2] == ["lead", "follow"]
        replica.changed.clear()
        await asyncio.wait_for(replica.changed.wait(), 10)  # it competes again, and wins
        assert replica.events == ["lead", "follow", "lead"]
    finally:
        await replica.stop()

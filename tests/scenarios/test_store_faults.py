"""The database refusing writes: a request is answered and nothing is done; then all is well."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from exercise import EXERCISE_CAPABILITIES
from jobflow import ask, start, wait_final
from store_databases import Databases, PostgresServer

from bot import messages
from bot.app import LabBot
from labsim.lab import Lab


@pytest.fixture
async def pg(postgres_server: PostgresServer, tmp_path: Path) -> AsyncIterator[Databases]:
    databases = Databases("postgresql", tmp_path, postgres_server)
    yield databases
    databases.drop_all()


def refuse_writes(server: PostgresServer, database: str, refuse: bool) -> None:
    """As a full disk looks from the bot: reads answered, every write refused (new sessions;
    the bot's current ones are ended, as a database restart would)."""
    with server.admin() as admin:
        setting = "on" if refuse else "off"
        admin.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = {setting}')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        )


async def test_a_command_while_the_database_refuses_writes_is_answered_and_runs_nothing(
    pg: Databases, postgres_server: PostgresServer
) -> None:
    url = pg.new()
    database = pg.created[-1]
    async with Lab(config_overrides={"storage": {"database_url": url}}) as lab:
        async with LabBot(lab.config(), EXERCISE_CAPABILITIES) as bot:
            await lab.slack.wait_connected()
            refuse_writes(postgres_server, database, True)
            answer = await ask(lab, lab.users.operator, "exercise now 1")
            assert answer.text == messages.store_unavailable()
            assert not await bot.store.writable()
            refuse_writes(postgres_server, database, False)
            assert await bot.store.writable()
            job_id = await start(lab, lab.users.operator, "exercise now 1")
            assert job_id == 1  # the refused command started nothing
            await wait_final(lab, job_id, f"Job {job_id} succeeded")

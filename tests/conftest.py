"""Fixtures for every test: `databases` runs a test on SQLite and on a real PostgreSQL
(see tests/store_databases.py), with one PostgreSQL server per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from store_databases import Databases, PostgresServer


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster for this test session, stopped at the end."""
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    """Each test that takes it runs on SQLite and on PostgreSQL."""
    server = request.getfixturevalue("postgres_server") if request.param == "postgresql" else None
    made = Databases(request.param, tmp_path, server)
    yield made
    made.drop_all()

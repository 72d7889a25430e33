"""The store: migrations bring a new database to head, the models match them, audit rows round-trip."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

from sqlalchemy import create_engine, inspect

from bot.store import SCHEMA_HEAD, AuditKind, Store
from bot.store_migrations import head_revision
from bot.store_schema import Base


async def test_new_database_is_migrated_to_head(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'state' / 'labbot.sqlite'}")
    try:
        assert await store.schema_revision() == head_revision()
        assert await store.ping()
    finally:
        await store.close()
    # Opening again is a no-op upgrade, not an error.
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'state' / 'labbot.sqlite'}")
    await store.close()


def test_schema_head_names_the_newest_migration() -> None:
    # Store.open skips Alembic when the database is at SCHEMA_HEAD: a new migration must move it.
    assert SCHEMA_HEAD == head_revision()


async def test_an_up_to_date_database_opens_without_alembic(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'labbot.sqlite'}"
    await (await Store.open(url)).close()
    script = (
        "import asyncio, sys\n"
        "from bot.store import Store\n"
        "async def main():\n"
        f"    store = await Store.open({url!r})\n"
        "    print(await store.schema_revision(), 'alembic' in sys.modules)\n"
        "    await store.close()\n"
        "asyncio.run(main())\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    assert out.decode().split() == [SCHEMA_HEAD, "False"]


async def test_a_database_behind_is_upgraded_on_open(tmp_path: Path) -> None:
    path = tmp_path / "labbot.sqlite"
    await (await Store.open(f"sqlite+aiosqlite:///{path}")).close()
    with sqlite3.connect(path) as db:  # as if written by a release that knew only 0003
        db.execute("DROP TABLE digest_snapshots")
        db.execute("UPDATE alembic_version SET version_num = '0003'")
    store = await Store.open(f"sqlite+aiosqlite:///{path}")
    try:
        assert await store.schema_revision() == SCHEMA_HEAD
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert "digest_snapshots" in tables


async def test_models_match_migrations(tmp_path: Path) -> None:
    path = tmp_path / "labbot.sqlite"
    store = await Store.open(f"sqlite+aiosqlite:///{path}")
    await store.close()
    engine = create_engine(f"sqlite:///{path}")
    try:
        inspector = inspect(engine)
        for table in Base.metadata.sorted_tables:
            columns = {c["name"] for c in inspector.get_columns(table.name)}
            assert columns == {c.name for c in table.columns}, table.name
            indexes = {i["name"] for i in inspector.get_indexes(table.name)}
            assert indexes == {i.name for i in table.indexes}, table.name
    finally:
        engine.dispose()


async def test_audit_rows_round_trip(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'labbot.sqlite'}")
    try:
        await store.audit(AuditKind.command, user_id="U1", channel_id="C1", text="deploy all")
        await store.audit(AuditKind.refusal, user_id="U1", channel_id="C1", detail="x" * 5000)
        entries = await store.audit_entries()
        assert [e.kind for e in entries] == [AuditKind.command, AuditKind.refusal]
        assert entries[0].text == "deploy all"
        assert len(entries[1].detail) == 2000
    finally:
        await store.close()

"""The store: migrations bring a new database to head, the models match them, audit rows round-trip."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

from sqlalchemy import create_engine, inspect

from bot.store import SCHEMA_HEAD, AuditKind, Store
from bot.store_migrations import head_revision, upgrade
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


async def test_new_and_up_to_date_databases_open_without_alembic(tmp_path: Path) -> None:
    # Alembic costs ~12 MB of the bot's memory: only a database that is behind needs it.
    url = f"sqlite+aiosqlite:///{tmp_path / 'labbot.sqlite'}"
    script = (
        "import asyncio, sys\n"
        "from bot.store import Store\n"
        "async def main():\n"
        "    for _ in ('new', 'again'):\n"
        f"        store = await Store.open({url!r})\n"
        "        print(await store.schema_revision(), 'alembic' in sys.modules)\n"
        "        await store.close()\n"
        "asyncio.run(main())\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    assert out.decode().split() == [SCHEMA_HEAD, "False", SCHEMA_HEAD, "False"]


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


def schema_of(path: Path) -> dict[str, object]:
    """Every table's columns, keys and indexes as SQLAlchemy reflects them (comparable text)."""
    engine = create_engine(f"sqlite:///{path}")
    try:
        inspector = inspect(engine)
        return {
            table: (
                sorted(  # a migration appends columns: order is not part of the schema
                    (c["name"], str(c["type"]), c["nullable"], c["default"])
                    for c in inspector.get_columns(table)
                ),
                inspector.get_pk_constraint(table)["constrained_columns"],
                sorted(
                    (f["constrained_columns"], f["referred_table"], f["referred_columns"])
                    for f in inspector.get_foreign_keys(table)
                ),
                sorted(
                    (i["name"], i["column_names"], i["unique"])
                    for i in inspector.get_indexes(table)
                ),
                sorted((u["column_names"]) for u in inspector.get_unique_constraints(table)),
            )
            for table in sorted(inspector.get_table_names())
        }
    finally:
        engine.dispose()


async def test_migrations_and_models_build_the_same_schema(tmp_path: Path) -> None:
    # A new database is built from the models and stamped; an old one is upgraded by the
    # migrations: both must end with the same tables, columns, keys and indexes.
    from_models = tmp_path / "models.sqlite"
    await (await Store.open(f"sqlite+aiosqlite:///{from_models}")).close()
    from_migrations = tmp_path / "migrations.sqlite"
    engine = create_engine(f"sqlite:///{from_migrations}")
    try:
        with engine.begin() as connection:
            upgrade(connection)
    finally:
        engine.dispose()
    built = schema_of(from_migrations)
    assert set(built) == {*Base.metadata.tables, "alembic_version"}
    assert schema_of(from_models) == built


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

"""The store, on SQLite and on PostgreSQL: a new database is built at head, one behind is upgraded
by the migrations, both ways give the same schema, audit rows round-trip, SQLite commits reach
the disk, a file that cannot be read stops the start."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from store_databases import Databases, PostgresServer

from bot.errors import StoreUnusable
from bot.scheduler import sync_database_url
from bot.store import SCHEMA_HEAD, AuditKind, Store
from bot.store_migrations import head_revision, upgrade
from bot.store_schema import Base


async def test_new_database_is_built_at_head(databases: Databases) -> None:
    url = databases.new()
    store = await Store.open(url)
    try:
        assert await store.schema_revision() == head_revision()
        assert await store.ping()
    finally:
        await store.close()
    # Opening again finds it up to date: nothing to do, not an error.
    store = await Store.open(url)
    await store.close()


def test_schema_head_names_the_newest_migration() -> None:
    # Store.open skips Alembic when the database is at SCHEMA_HEAD: a new migration must move it.
    assert SCHEMA_HEAD == head_revision()


async def test_new_and_up_to_date_databases_open_without_alembic(databases: Databases) -> None:
    # Alembic costs ~12 MB of the bot's memory: only a database that is behind needs it.
    url = databases.new()
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


async def test_a_database_behind_is_upgraded_on_open(databases: Databases) -> None:
    url = databases.new()
    await (await Store.open(url)).close()
    engine = create_engine(sync_database_url(url))
    try:
        with engine.begin() as db:  # as if written by a release that knew only 0003
            db.execute(text("DROP INDEX ix_jobs_intake_key"))
            db.execute(text("ALTER TABLE jobs DROP COLUMN intake_key"))
            db.execute(text("ALTER TABLE jobs DROP COLUMN owner"))
            db.execute(text("ALTER TABLE jobs DROP COLUMN heartbeat_at"))
            db.execute(text("DROP TABLE intake"))
            db.execute(text("DROP TABLE digest_snapshots"))
            db.execute(text("UPDATE alembic_version SET version_num = '0003'"))
        store = await Store.open(url)
        try:
            assert await store.schema_revision() == SCHEMA_HEAD
        finally:
            await store.close()
        assert inspect(engine).has_table("digest_snapshots") and inspect(engine).has_table("intake")
        assert "intake_key" in [c["name"] for c in inspect(engine).get_columns("jobs")]
    finally:
        engine.dispose()


def schema_of(url: str) -> dict[str, object]:
    """Every table's columns, keys and indexes as SQLAlchemy reflects them (comparable text)."""
    engine = create_engine(sync_database_url(url))
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


async def test_migrations_and_models_build_the_same_schema(databases: Databases) -> None:
    # A new database is built from the models and stamped; an old one is upgraded by the
    # migrations: both must end with the same tables, columns, keys and indexes.
    from_models = databases.new()
    await (await Store.open(from_models)).close()
    from_migrations = databases.new()
    engine = create_engine(sync_database_url(from_migrations))
    try:
        with engine.begin() as connection:
            upgrade(connection)
    finally:
        engine.dispose()
    built = schema_of(from_migrations)
    assert set(built) == {*Base.metadata.tables, "alembic_version"}
    assert schema_of(from_models) == built


async def test_audit_rows_round_trip(databases: Databases) -> None:
    store = await Store.open(databases.new())
    try:
        await store.audit(AuditKind.command, user_id="U1", channel_id="C1", text="deploy all")
        await store.audit(AuditKind.refusal, user_id="U1", channel_id="C1", detail="x" * 5000)
        entries = await store.audit_entries()
        assert [e.kind for e in entries] == [AuditKind.command, AuditKind.refusal]
        assert entries[0].text == "deploy all"
        assert len(entries[1].detail) == 2000
        assert entries[0].at.tzinfo is not None  # aware on both databases
    finally:
        await store.close()


async def test_a_database_that_answers_reads_but_refuses_writes_is_not_writable(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    databases = Databases("postgresql", tmp_path, postgres_server)
    url = databases.new()
    store = await Store.open(url)
    try:
        assert await store.ping() and await store.writable()
        # As a full disk or a read-only remount looks from the bot: reads work, writes fail.
        name = databases.created[-1]
        with postgres_server.admin() as admin:
            admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        await store.close()
        store = await Store.open(url)
        assert await store.ping()
        assert not await store.writable()
    finally:
        await store.close()
        databases.drop_all()


async def test_a_database_file_that_cannot_be_read_stops_the_start_and_is_kept(
    tmp_path: Path,
) -> None:
    path = tmp_path / "labbot.db"
    path.write_bytes(b"not SQLite at all, but somebody's records once" * 100)
    with pytest.raises(StoreUnusable, match="exists but cannot be read") as refused:
        await Store.open(f"sqlite+aiosqlite:///{path}")
    assert "file is not a database" in str(refused.value)
    assert path.read_bytes().startswith(b"not SQLite at all")  # never replaced by a new store
    assert not path.with_name("labbot.db-wal").exists()


async def test_every_sqlite_connection_commits_to_disk_before_it_returns(tmp_path: Path) -> None:
    """synchronous=FULL on the store's connections and its record writer's: WAL's NORMAL may
    roll back the last commits on a power cut or an OS crash (sqlite.org/pragma.html
    #pragma_synchronous), and a request is acked once committed."""
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'labbot.db'}")
    try:
        async with store.engine.connect() as connection:
            reader = (await connection.exec_driver_sql("PRAGMA synchronous")).scalar()
            journal = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar()
        writer = await store.write(lambda c: c.exec_driver_sql("PRAGMA synchronous").scalar())
        assert (reader, writer, journal) == (2, 2, "wal")  # 2 is FULL; NORMAL would be 1
    finally:
        await store.close()

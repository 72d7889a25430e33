"""The store: migrations bring a new database to head, the models match them, audit rows round-trip."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, inspect

from bot.store import AuditKind, Store, head_revision
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

"""labbot's state in one SQL database (SQLite by default, PostgreSQL by URL), schema kept by Alembic.

The only module that opens database sessions; callers get and pass plain dataclasses. A new
database is created from the models and stamped at SCHEMA_HEAD; one at an older revision is
upgraded by the migrations (`bot/store_migrations.py`, the only importer of Alembic).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    create_engine,
    event,
    insert,
    inspect,
    select,
)
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot import store_fault
from bot.errors import StoreUnusable
from bot.store_schema import AuditRow, Base

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# The newest revision in bot/migrations/versions/ (tests/bot/test_store.py holds the two equal).
SCHEMA_HEAD = "0005"
# PostgreSQL advisory lock keys (any fixed 64-bit numbers no other program on the database uses).
_SCHEMA_LOCK = 0x6C6162626F7401  # "labbot" 01: creating or upgrading the schema
# Alembic's version table, as Alembic creates it, for stamping a database built from the models.
_VERSION_TABLE = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


class AuditKind(StrEnum):
    """What an audit row records."""

    command = "command"
    refusal = "refusal"
    reply = "reply"
    click = "click"
    decision = "decision"
    error = "error"


@dataclass(frozen=True)
class AuditEntry:
    """One audit row, as read back."""

    id: int
    at: datetime
    kind: AuditKind
    user_id: str
    channel_id: str
    command: str
    text: str
    detail: str


def _current_revision(connection: Connection) -> str | None:
    """The revision Alembic recorded, read without importing Alembic (None: a new database)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars()
    return ",".join(sorted(versions)) or None


def _bring_up_to_date(connection: Connection) -> None:
    revision = _current_revision(connection)
    if revision == SCHEMA_HEAD:
        return
    existing = set(inspect(connection).get_table_names())
    if revision is None and not existing & set(Base.metadata.tables):
        # A new database: Alembic's own recipe, create from the models and stamp the head
        # (tests/bot/test_store.py checks both ways build the same schema).
        Base.metadata.create_all(connection)
        _VERSION_TABLE.create(connection)
        connection.execute(_VERSION_TABLE.insert().values(version_num=SCHEMA_HEAD))
        return
    from bot import store_migrations  # Alembic only when there is work to do

    store_migrations.upgrade(connection)


def sync_database_url(url: str) -> str:
    """The same database through a synchronous driver (APScheduler 3's job store, and the
    intake's writes, which run in a thread of their own)."""
    return url.replace("sqlite+aiosqlite://", "sqlite://").replace(
        "postgresql+asyncpg://", "postgresql+psycopg://"
    )


def _writer_engine(url: str) -> Engine:
    """The record writer's synchronous engine: one connection, with SQLite the same settings."""
    url = sync_database_url(url)
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, pool_size=1)
    engine = create_engine(url, pool_size=1, max_overflow=0)
    event.listen(engine, "connect", _sqlite_settings)
    return engine


def _engine(url: str) -> AsyncEngine:
    if not url.startswith("sqlite"):
        # pre-ping: a connection PostgreSQL dropped (a server restart) is replaced before use
        # rather than failing the first statement of whoever draws it from the pool.
        return create_async_engine(url, pool_pre_ping=True)
    # SQLite has one writer at a time, and pooled connections waiting on its lock poll it (its
    # busy handler sleeps), so a burst of commands made writes take seconds and time out.
    # One connection lets sessions queue in order instead; WAL keeps readers of the file (the
    # scheduler's own engine) from blocking it.
    engine = create_async_engine(url, pool_size=1, max_overflow=0)
    event.listen(engine.sync_engine, "connect", _sqlite_settings)
    return engine


def _sqlite_settings(connection: Any, _record: object) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before it returns, also across a power cut or an OS crash
    # (NORMAL, WAL's default advice, may lose the last commits then: sqlite.org/pragma.html
    # #pragma_synchronous). A request is written before it is acked, so acked means on disk.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")  # the scheduler's engine may hold the lock briefly
    cursor.close()


def _refuse_unreadable(path: Path) -> None:
    """Raise `StoreUnusable` when a SQLite file exists but cannot be read: opening it as usual
    could start over on an empty store (a file replaced by garbage, a permission lost)."""
    if not path.exists() or path.stat().st_size == 0:
        return  # a new store
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as reader:
            reader.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as error:
        raise StoreUnusable(
            f"the database {path} exists but cannot be read ({error}); labbot will not start "
            "on a new, empty one. Restore it from a backup, or move it away to start afresh."
        ) from None


class Store:
    """Async access to the database; open with `await Store.open(url)`, close with `close()`."""

    def __init__(self, engine: AsyncEngine, url: str = "") -> None:
        self._engine = engine
        self._url = url or engine.url.render_as_string(hide_password=False)
        self._writer: Engine | None = None  # opened at the first `write`
        self._writer_thread: ThreadPoolExecutor | None = None
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        #: Told the kind of every database error (`bot/store_fault.py`), for the metrics.
        self.on_fault: Callable[[str], None] = lambda _kind: None
        event.listen(engine.sync_engine, "handle_error", self._fault)
        #: Applied to every audit row's text and detail before it is stored (and before it is
        #: cut to its column): the app sets the bot-wide redactor, so no row keeps a secret.
        self.redact_audit: Callable[[str], str] = lambda text: text

    @classmethod
    async def open(cls, url: str) -> Store:
        """Connect and bring the schema up to date (creating a SQLite file's directory if needed)."""
        if url.startswith("sqlite") and ":///" in url and ":memory:" not in url:
            path = Path(url.split(":///", 1)[1])
            _refuse_unreadable(path)
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = _engine(url)
        async with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                # Replicas starting together on an empty database: one creates the schema while
                # the others wait here, then find it at the head (the lock ends with the
                # transaction).
                await connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")
            await connection.run_sync(_bring_up_to_date)
        return cls(engine, url)

    def _fault(self, context: ExceptionContext) -> None:
        self.on_fault(store_fault.fault_kind(context.original_exception))

    @property
    def location(self) -> str:
        """Where the records live, for messages: a SQLite file's directory or a PostgreSQL
        server and database (never a password)."""
        return store_fault.location_of(self._url)

    def describe_fault(self, error: BaseException) -> str:
        """What went wrong in a few words, e.g. `disk full on /var/lib/labbot`."""
        return store_fault.describe(error, self.location, store_fault.sqlite_directory(self._url))

    @property
    def shared(self) -> bool:
        """Whether several labbot processes may use this database at once (PostgreSQL; a
        SQLite file has one writer, and labbot runs one process on it)."""
        return self._engine.dialect.name != "sqlite"

    async def write(self, work: Callable[[Connection], _T]) -> _T:
        """Run `work` in one transaction on the record writer: a connection and a thread of
        their own, for the rows every request adds (its intake row, audit rows).

        Why a thread: through the async driver each statement is a hop of the event loop,
        queued behind everything else the loop does; when jobs stream output fast, a request's
        write before its ack took hundreds of milliseconds. Here it is one hop. Why one writer
        for those rows: SQLite has one write lock, and two connections contending for it sleep
        in SQLite's busy handler; appends from one thread queue without contending."""
        if self._writer is None:
            self._writer = _writer_engine(self._url)
            event.listen(self._writer, "handle_error", self._fault)
            self._writer_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="writer")

        def run() -> _T:  # Core statements, not the ORM: the least Python in the writer thread
            assert self._writer is not None
            with self._writer.begin() as connection:
                return work(connection)

        assert self._writer_thread is not None
        return await asyncio.get_running_loop().run_in_executor(self._writer_thread, run)

    @property
    def engine(self) -> AsyncEngine:
        """The engine, for the replica leadership's own connection (`bot/leadership.py`)."""
        return self._engine

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        """The session factory, for the table modules (`bot/job_records.py`, `bot/locks.py`)."""
        return self._sessions

    async def close(self) -> None:
        """Release all connections (the record writer's after its last write)."""
        if (thread := self._writer_thread) is not None:
            # Waits for writes still queued, off the event loop.
            await asyncio.to_thread(thread.shutdown, wait=True)
        if self._writer is not None:
            self._writer.dispose()
        await self._engine.dispose()

    async def schema_revision(self) -> str | None:
        """The schema revision the database is at (None before the first migration)."""
        async with self._engine.connect() as connection:
            return await connection.run_sync(_current_revision)

    async def ping(self) -> bool:
        """Whether the database answers."""
        try:
            async with self._engine.connect() as connection:
                await connection.exec_driver_sql("SELECT 1")
        except Exception:  # any driver error means "not reachable" for health checks
            return False
        return True

    async def writable(self) -> bool:
        """Whether a write commits now: a database that answers reads can still refuse every
        write (a full disk, a file system remounted read-only after an I/O error). Rewrites
        the one row of Alembic's version table with itself, a real write and commit."""
        try:
            async with self._engine.begin() as connection:
                await connection.exec_driver_sql(
                    "UPDATE alembic_version SET version_num = version_num"
                )
        except Exception:  # any driver error means "not writable" for health checks
            log.warning("the database refused a write", exc_info=True)
            return False
        return True

    async def audit(
        self,
        kind: AuditKind,
        *,
        user_id: str,
        channel_id: str,
        command: str = "",
        text: str = "",
        detail: str = "",
    ) -> None:
        """Record one audited event, redacted, then cut to the column sizes."""
        values = self.audit_values(
            kind, user_id=user_id, channel_id=channel_id, command=command, text=text, detail=detail
        )
        await self.write(lambda connection: connection.execute(insert(AuditRow).values(values)))

    def audit_values(
        self,
        kind: AuditKind,
        *,
        user_id: str,
        channel_id: str,
        command: str = "",
        text: str = "",
        detail: str = "",
    ) -> dict[str, Any]:
        """An audit row's values, redacted and cut, for a caller that inserts it in a
        transaction of its own (the intake writes a request and its audit row in one commit)."""
        redact = self.redact_audit
        return {
            "at": datetime.now(UTC),
            "kind": kind.value,
            "user_id": user_id[:32],
            "channel_id": channel_id[:32],
            "command": redact(command)[:64],
            "text": redact(text)[:1000],
            "detail": redact(detail)[:2000],
        }

    async def audit_entries(self, limit: int = 100) -> list[AuditEntry]:
        """The newest audit rows, oldest first."""
        async with self._sessions() as session:
            rows = (
                await session.scalars(select(AuditRow).order_by(AuditRow.id.desc()).limit(limit))
            ).all()
        return [
            AuditEntry(
                id=r.id,
                at=r.at,
                kind=AuditKind(r.kind),
                user_id=r.user_id,
                channel_id=r.channel_id,
                command=r.command,
                text=r.text,
                detail=r.detail,
            )
            for r in reversed(rows)
        ]

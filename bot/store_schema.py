"""The database tables as SQLAlchemy models; each change here comes with an Alembic migration.

Must match `bot/migrations/versions/`; `tests/bot/test_store.py` checks that they agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is stored as UTC and read back timezone-aware on every database
    (SQLite keeps no zone; PostgreSQL answers in the session's zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """To UTC; a naive value is taken as UTC already."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Aware, in UTC."""
        if not isinstance(value, datetime):
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of labbot's tables."""


class AuditRow(Base):
    """One audited event: a command, a refusal, a click, a decision or a result."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    command: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(String(1000))
    detail: Mapped[str] = mapped_column(String(2000))


class JobRow(Base):
    """One job: a lab-changing command from request to verdict."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(String(1000))
    requester: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str] = mapped_column(String(32), default="")
    # The job's own status message when it runs in another message's thread (a Renovate card).
    root_ts: Mapped[str] = mapped_column(String(32), default="", server_default="")
    # The command or click that asked for the job (`IntakeRow.key`): asked again, it finds it.
    intake_key: Mapped[str] = mapped_column(String(128), default="", server_default="", index=True)
    # The replica running the job (`bot/replica.py`) and when it last said it still does: a job
    # whose owner stopped saying so is taken over by another replica.
    owner: Mapped[str] = mapped_column(String(128), default="", server_default="")
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    targets: Mapped[str] = mapped_column(String(2000))  # JSON list of lock keys
    state: Mapped[str] = mapped_column(String(32), index=True)
    payload: Mapped[str] = mapped_column(Text, default="{}")  # JSON: what the approval is bound to
    result: Mapped[str] = mapped_column(String(2000), default="")
    log_path: Mapped[str] = mapped_column(String(1000), default="")
    cancel_token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class IntakeRow(Base):
    """A command or click, written before Slack is acked, until it has been handled."""

    __tablename__ = "intake"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)  # Slack's trigger_id
    kind: Mapped[str] = mapped_column(String(16))  # command, click
    body: Mapped[str] = mapped_column(Text)  # JSON of the request; emptied once handled
    state: Mapped[str] = mapped_column(String(16), index=True)  # received, handled
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class ApprovalRow(Base):
    """An approval request: its buttons carry only `id`; it is bound to `digest`."""

    __tablename__ = "approvals"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    digest: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text)
    message_ts: Mapped[str] = mapped_column(String(32), default="")
    state: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    decided_by: Mapped[str] = mapped_column(String(32), default="")
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class LockRow(Base):
    """A held lock on one target (a node, a BMC, the infra repo)."""

    __tablename__ = "locks"

    target: Mapped[str] = mapped_column(String(128), primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    acquired_at: Mapped[datetime] = mapped_column(UtcDateTime())


class RenovateCardRow(Base):
    """The Slack card of one Renovate pull request: where it is and what it last showed."""

    __tablename__ = "renovate_cards"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    pr_number: Mapped[int] = mapped_column(Integer, unique=True)
    channel_id: Mapped[str] = mapped_column(String(32))
    message_ts: Mapped[str] = mapped_column(String(32), default="")
    # The buttons carry only this token; it changes whenever the card shows a new head sha.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    head_sha: Mapped[str] = mapped_column(String(64), default="")
    ci_verdict: Mapped[str] = mapped_column(String(32), default="")
    mergeable_state: Mapped[str] = mapped_column(String(32), default="")
    state: Mapped[str] = mapped_column(String(16), index=True)  # open, merged, closed
    digest: Mapped[str] = mapped_column(String(64), default="")  # of the text and blocks shown
    skipped_sha: Mapped[str] = mapped_column(String(64), default="")
    skipped_by: Mapped[str] = mapped_column(String(32), default="")
    job_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # a merge under way
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class DigestSnapshotRow(Base):
    """One digest's `LabSnapshot` (`handlers/status/lab_facts.py`) as JSON, for day-over-day changes."""

    __tablename__ = "digest_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    taken_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    facts: Mapped[str] = mapped_column(Text)

"""The database tables as SQLAlchemy models; each change here comes with an Alembic migration.

Must match `bot/migrations/versions/`; `tests/bot/test_store.py` checks that they agree.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of labbot's tables."""


class AuditRow(Base):
    """One audited event: a command, a refusal, a click, a decision or a result."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    command: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(String(1000))
    detail: Mapped[str] = mapped_column(String(2000))

"""Schema upgrades with Alembic (bot/migrations/): imported only when a database is behind.

Alembic costs about 12 MB of memory once imported; a new database (built from the models) and a
restart onto an up-to-date one never need it, so `Store.open` checks the revision with plain SQL.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(connection: Connection) -> None:
    """Bring the schema on this connection to the newest revision."""
    config = _alembic_config()
    config.attributes["connection"] = connection
    alembic_command.upgrade(config, "head")


def head_revision() -> str:
    """The newest schema revision in bot/migrations/versions/."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head

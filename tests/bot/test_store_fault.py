"""A store fault in an operator's words: the cause, where, and never a password."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from bot.store_fault import describe, fault_kind, location_of


class PgError(Exception):
    """What psycopg (and SQLAlchemy's asyncpg adaptation) raise: a message and a SQLSTATE."""

    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def wrapped(original: BaseException) -> OperationalError:
    return OperationalError("UPDATE jobs SET state=?", {}, original)


def test_a_write_to_a_read_only_sqlite_file_is_named_read_only(tmp_path: Path) -> None:
    path = tmp_path / "labbot.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()
    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.Error) as caught:
        reader.execute("INSERT INTO t VALUES (1)")
    assert fault_kind(wrapped(caught.value)) == "read_only"
    assert describe(caught.value, "/var/lib/labbot") == "/var/lib/labbot is read-only"


@pytest.mark.parametrize(
    ("original", "words"),
    [
        (PgError("could not extend file", "53100"), "disk full on db:5432/labbot"),
        (PgError("cannot execute UPDATE in a read-only transaction", "25006"), "is read-only"),
        (PgError("terminating connection due to administrator command", "57P01"), "not reachable"),
        (PgError("the database system is starting up", "57P03"), "not reachable"),
        (ConnectionRefusedError(111, "Connection refused"), "not reachable"),
        (FileNotFoundError(2, "No such file or directory"), "not reachable"),
        (PgError("deadlock detected", "40P01"), "the database at db:5432/labbot refuses writes"),
    ],
)
def test_postgresql_faults_are_named_by_their_sqlstate(original: Exception, words: str) -> None:
    assert words in describe(wrapped(original), "db:5432/labbot")


def test_the_file_system_is_asked_when_sqlite_says_only_io_error(tmp_path: Path) -> None:
    error = wrapped(sqlite3.OperationalError("disk I/O error"))
    assert describe(error, str(tmp_path), tmp_path) == f"disk I/O error on {tmp_path}"
    missing = tmp_path / "gone"  # cannot even create a file there: no better answer
    assert describe(error, str(missing), missing) == f"disk I/O error on {missing}"
    assert not (tmp_path / ".labbot-write-check").exists()  # the probe cleans up


def test_locations_never_carry_a_password() -> None:
    assert location_of("sqlite+aiosqlite:////var/lib/labbot/labbot.db") == "/var/lib/labbot"
    url = "postgresql+asyncpg://labbot:s3cr3t-pw@db.lab:5433/labbot"
    assert location_of(url) == "db.lab:5433/labbot"
    socket = "postgresql+asyncpg://labbot@/labbot?host=/run/postgresql"
    assert location_of(socket) == "/run/postgresql/labbot"

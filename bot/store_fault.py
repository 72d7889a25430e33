"""What a failing database looks like to an operator: one sentence naming the cause.

A store fault is a state labbot reports, not a crash: a full disk, a file system the kernel
remounted read-only after an I/O error (ext4's `errors=remount-ro`), a PostgreSQL server that
restarts or refuses writes. Whoever meets one says which in the words of `describe` ("disk full
on /var/lib/labbot") and never the driver's message, which may carry a query's values.

The causes are read from what the drivers give: SQLite's result code name (`sqlite3.Error
.sqlite_errorname`, Python 3.11+; sqlite.org/rescode.html), PostgreSQL's SQLSTATE
(`.sqlstate` on psycopg's and, through SQLAlchemy's adaptation, asyncpg's errors; the codes
are PostgreSQL's errcodes appendix).
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

STORE_FAULTS: tuple[type[BaseException], ...] = (SQLAlchemyError, sqlite3.Error, OSError)
"""What a store call raises when the database fails (OSError: a connection refused at connect
time, before any driver wraps it). Catch these around store calls only."""

_DISK_FULL = ("53100",)  # disk_full
_READ_ONLY = ("25006",)  # read_only_sql_transaction (default_transaction_read_only, a standby)
# connection_exception (08…), admin_shutdown, crash_shutdown, cannot_connect_now (a restart)
_UNREACHABLE = ("57P01", "57P02", "57P03")


def fault_kind(error: BaseException) -> str:
    """`disk_full`, `read_only`, `io_error`, `unreachable` or `other` (a metrics label)."""
    original = getattr(error, "orig", None) or error
    name = str(getattr(original, "sqlite_errorname", "") or "")
    state = str(getattr(original, "sqlstate", "") or "")
    text = str(original).lower()
    if name == "SQLITE_FULL" or state in _DISK_FULL or "disk is full" in text:
        return "disk_full"
    if name.startswith("SQLITE_READONLY") or state in _READ_ONLY or "read-only" in text:
        return "read_only"
    if name.startswith("SQLITE_IOERR") or "disk i/o error" in text:
        return "io_error"
    if (
        state.startswith("08")
        or state in _UNREACHABLE
        or isinstance(original, OSError)  # refused, or no socket: before any driver wraps it
        or "connect" in text
    ):
        return "unreachable"
    return "other"


def describe(error: BaseException, location: str, directory: Path | None = None) -> str:
    """The cause in a few words, e.g. `disk full on /var/lib/labbot`. With the `directory` of
    a SQLite file, its file system is asked too: SQLite reports a write to a file system the
    kernel turned read-only as a plain I/O error."""
    kind = fault_kind(error)
    if directory is not None and kind in ("io_error", "other"):
        kind = _file_system_state(directory) or kind
    return {
        "disk_full": f"disk full on {location}",
        "read_only": f"{location} is read-only",
        "io_error": f"disk I/O error on {location}",
        "unreachable": f"the database at {location} is not reachable",
    }.get(kind, f"the database at {location} refuses writes")


def _file_system_state(directory: Path) -> str | None:
    """Create and remove a file beside the database: the kernel's answer names the cause
    (ext4 turned read-only after an error still reports itself writable to statvfs)."""
    probe = directory / ".labbot-write-check"
    try:
        with probe.open("wb") as file:
            file.write(b"x")
            file.flush()
            os.fsync(file.fileno())
        probe.unlink()
    except OSError as error:
        return {errno.EROFS: "read_only", errno.ENOSPC: "disk_full", errno.EIO: "io_error"}.get(
            error.errno or 0
        )
    return None


def sqlite_directory(url: str) -> Path | None:
    """The directory of a SQLite database file (None for PostgreSQL or an in-memory one)."""
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database).parent


def location_of(url: str) -> str:
    """Where the records live, without credentials: a SQLite file's directory, or a
    PostgreSQL server's host, port and database."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return str(sqlite_directory(url) or "memory")
    port = f":{parsed.port}" if parsed.port else ""
    host = parsed.host or str(parsed.query.get("host") or "localhost")  # or a socket directory
    return f"{host}{port}/{parsed.database or ''}"

"""One labbot process per SQLite database: a second one is refused at start, saying why.

SQLite has one writer and no way for two processes to see each other's jobs as live, so labbot
runs more than one replica only on PostgreSQL (`bot/replica.py`). Two processes on one SQLite
file would each take the other's running jobs for orphans at start. The guard is an exclusive
`flock` on a file beside the database, which the kernel releases however the process ends
(SIGKILL and power cuts included), so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from bot.errors import ConfigError


class SingleProcessLock:
    """Held for the process's life once `acquire` succeeded; `release` lets go."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    @classmethod
    def for_database(cls, url: str) -> SingleProcessLock | None:
        """The lock for a SQLite file URL (`DATABASE.lock` beside it); None for any other."""
        if not url.startswith("sqlite") or ":///" not in url or ":memory:" in url:
            return None
        return cls(Path(url.split(":///", 1)[1] + ".lock"))

    def acquire(self) -> None:
        """Take the lock, or raise `ConfigError` naming the problem when another process has it."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(
                f"another labbot process is using the SQLite database beside {self._path}. "
                "SQLite allows one labbot process; to run more than one replica, use "
                "PostgreSQL (storage.database_url)."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Let go (closing the file drops the lock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

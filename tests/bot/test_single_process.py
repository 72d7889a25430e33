"""One labbot process per SQLite file: a second is refused with a clear error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.single_process import SingleProcessLock

HOLD = """
import sys, time
from bot.single_process import SingleProcessLock
lock = SingleProcessLock.for_database(sys.argv[1])
lock.acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_a_second_process_on_the_same_sqlite_file_is_refused(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'labbot.sqlite'}"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, url], stdout=subprocess.PIPE, cwd=Path(__file__).parents[2]
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        lock = SingleProcessLock.for_database(url)
        assert lock is not None
        with pytest.raises(ConfigError, match="SQLite allows one labbot process"):
            lock.acquire()
    finally:
        holder.kill()  # SIGKILL: the kernel drops the lock, no stale file blocks a restart
        holder.wait()
    lock.acquire()
    lock.release()


def test_only_sqlite_files_are_guarded() -> None:
    assert SingleProcessLock.for_database("postgresql+asyncpg://db/labbot") is None
    assert SingleProcessLock.for_database("sqlite+aiosqlite:///:memory:") is None

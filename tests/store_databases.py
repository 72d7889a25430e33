"""Databases for the store's tests: labbot's store on SQLite and on a real PostgreSQL.

`PostgresServer.start` runs Debian's PostgreSQL (package `postgresql`, installed by `./dev`) in a
temporary directory, reachable only through its Unix socket; as root it runs as the `postgres`
user, as PostgreSQL refuses root. `Databases` makes empty databases of one kind for a test.
Fixtures in tests/conftest.py; imported as `store_databases` (tests/ is on sys.path).
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

import psycopg

PG_ROOT = Path("/usr/lib/postgresql")
_names = count(1)


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster: its directory (which holds the socket) and superuser."""

    socket_dir: Path
    user: str
    run_as: tuple[str, ...] = ()  # the command prefix that runs PostgreSQL's tools as `user`

    @classmethod
    def start(cls) -> PostgresServer:
        """initdb and start a cluster in a new temporary directory (raises if it cannot)."""
        bin_dir = _pg_bin()
        base = Path(tempfile.mkdtemp(prefix="labbot-pg-"))  # short: it holds the socket
        server = cls(base, getpass.getuser())
        if os.geteuid() == 0:
            server = cls(base, "postgres", ("runuser", "-u", "postgres", "--"))
            shutil.chown(base, "postgres")
        data = base / "data"
        initdb = [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", server.user]
        try:
            server._run([*initdb, "-E", "UTF8", "--locale=C", "--no-sync"])
            server.start_server()
        except BaseException:
            server.stop()
            raise
        return server

    def start_server(self) -> None:
        """Start the cluster's server (again, after `stop_server`); returns once it accepts."""
        base = self.socket_dir
        options = f"-k {base} -c listen_addresses='' -c fsync=off -c full_page_writes=off"
        data, log = str(base / "data"), str(base / "server.log")
        self._run([str(_pg_bin() / "pg_ctl"), "-D", data, "-l", log, "-w", "-o", options, "start"])

    def stop_server(self) -> None:
        """Stop the server at once, as a crash or an OOM kill would (its data stays)."""
        pg_ctl = str(_pg_bin() / "pg_ctl")
        self._run([pg_ctl, "-D", str(self.socket_dir / "data"), "-m", "immediate", "-w", "stop"])

    def stop(self) -> None:
        """Stop the cluster at once and delete its directory."""
        data = self.socket_dir / "data"
        if (data / "postmaster.pid").exists():
            stop = [str(_pg_bin() / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
            subprocess.run([*self.run_as, *stop], check=False, capture_output=True)
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    def _run(self, argv: list[str]) -> None:
        done = subprocess.run([*self.run_as, *argv], check=False, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} failed: {done.stderr.strip()}")

    def url(self, database: str) -> str:
        """labbot's (async) SQLAlchemy URL for `database` over the Unix socket."""
        return f"postgresql+asyncpg://{self.user}@/{database}?host={self.socket_dir}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        """A connection to the maintenance database, in autocommit (for CREATE/DROP DATABASE)."""
        return psycopg.connect(
            host=str(self.socket_dir), user=self.user, dbname="postgres", autocommit=True
        )


def _pg_bin() -> Path:
    found = sorted(PG_ROOT.glob("*/bin/initdb"))
    if not found:
        raise RuntimeError(
            "the PostgreSQL tests need Debian's postgresql package (./dev installs it as root)"
        )
    return found[-1].parent


@dataclass
class Databases:
    """Makes empty databases of one kind for a test: `databases.new()` is an async SQLAlchemy URL."""

    kind: str
    directory: Path
    server: PostgresServer | None = None
    created: list[str] = field(default_factory=list)

    def new(self) -> str:
        """A new, empty database."""
        name = f"labbot_test_{os.getpid()}_{next(_names)}"
        if self.server is None:
            return f"sqlite+aiosqlite:///{self.directory / (name + '.sqlite')}"
        with self.server.admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.server.url(name)

    def drop_all(self) -> None:
        """Drop the databases this test made (PostgreSQL only)."""
        if self.server is None:
            return
        with self.server.admin() as admin:
            for name in self.created:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

"""This labbot process among its replicas: who owns a job, and when an owner counts as gone.

Several labbot processes may share one PostgreSQL database (the README's "More than one
replica"), for example two pods on k3s, so that the bot stays up while it deploys the node it
runs on. Each process has its own `replica_id`. A queued or running job records the replica
driving it (`owner`), and that replica stamps `heartbeat_at` on its jobs every `HEARTBEAT`
seconds. A job whose owner has not done so for `STALE_AFTER` seconds has lost its process
(killed, its node gone): another replica ends it as interrupted, frees its locks and says so in
its thread. A replica never touches a job whose owner is alive.

A job waiting for approval has no owner process: whichever replica receives the click applies
it, and owns it from then on.

On SQLite there is one process by construction (see `bot/single_process.py`), so at start every
queued or running job is an orphan at once.
"""

from __future__ import annotations

import os
import secrets
import socket

HEARTBEAT = 5.0
"""Seconds between a replica's heartbeats on the jobs it owns."""
STALE_AFTER = 20.0
"""Seconds without a heartbeat after which a job's owner counts as gone (four missed beats)."""
LOCK_RECHECK = 2.0
"""On a shared database, how often a queued job looks again at its locks: a lock released by
another replica wakes nothing in this process."""


def new_replica_id() -> str:
    """A name for this process, unique among replicas and restarts: host, pid, random suffix."""
    return f"{socket.gethostname()[:64]}-{os.getpid()}-{secrets.token_hex(3)}"

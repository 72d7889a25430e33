"""A job's states and every allowed transition, in one place.

Pure values; persistence is `bot/job_records.py`, running is `bot/jobs.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class JobState(StrEnum):
    """Where a job is in its life."""

    queued = "queued"
    awaiting_approval = "awaiting_approval"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    rolled_back = "rolled_back"
    cancelled = "cancelled"
    interrupted = "interrupted"
    expired = "expired"

    @property
    def final(self) -> bool:
        """Whether nothing more happens to a job in this state."""
        return self in FINAL_STATES


FINAL_STATES = frozenset(
    {
        JobState.succeeded,
        JobState.failed,
        JobState.rolled_back,
        JobState.cancelled,
        JobState.interrupted,
        JobState.expired,
    }
)

_ALLOWED: dict[JobState, frozenset[JobState]] = {
    JobState.queued: frozenset(
        {JobState.running, JobState.cancelled, JobState.interrupted, JobState.failed}
    ),
    JobState.running: frozenset({JobState.awaiting_approval, *FINAL_STATES} - {JobState.expired}),
    JobState.awaiting_approval: frozenset(
        {
            JobState.running,
            JobState.cancelled,
            JobState.expired,
            JobState.failed,
            JobState.interrupted,
        }
    ),
}


class InvalidTransition(RuntimeError):
    """Raised when code tries to move a job along an edge the state machine does not have."""


def check_transition(old: JobState, new: JobState) -> None:
    """Raise `InvalidTransition` unless `old → new` is allowed."""
    if new not in _ALLOWED.get(old, frozenset()):
        raise InvalidTransition(f"a job cannot go from {old} to {new}")


@dataclass(frozen=True)
class Job:
    """A job as stored: who asked for what, where its thread is, and how it ended."""

    id: int
    kind: str
    text: str
    requester: str
    channel_id: str
    thread_ts: str
    targets: tuple[str, ...]
    state: JobState
    payload: dict[str, Any]
    result: str
    log_path: str
    cancel_token: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    root_ts: str = ""  # its status message, when it runs in another message's thread

    @property
    def duration_seconds(self) -> float | None:
        """Run time, once started."""
        if self.started_at is None:
            return None
        end = self.finished_at or datetime.now(self.started_at.tzinfo)
        return (end - self.started_at).total_seconds()

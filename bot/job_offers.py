"""A button in a finished job's thread that starts the next job: checking its click, starting
that job once.

The follow-ups (a deploy or a power on after a flash, a BMC reset after a reboot that did not
come back, a reboot after a deploy that needs one) all work the same way: the capability posts
the button with `blocks.offer`, carrying the finished job's opaque cancel token, and its click
handler calls `offered_from` to find that job again, then `start_once` to start the follow-up as
a normal job (its own plan and approval) unless one like it was started since.
"""

from __future__ import annotations

from collections.abc import Callable

from bot import messages
from bot.approvals import ClickOrigin
from bot.config import Role
from bot.job_state import Job, JobState
from bot.jobs import JobEngine
from bot.locks import node_target
from bot.policy import Actor

# How far back `start_once` looks for a follow-up started since (by anyone, by any means).
RECENT_JOBS = 50


async def offered_from(
    engine: JobEngine, token: str, origin: ClickOrigin, kind: str, state: JobState
) -> Job | None:
    """The `kind` job in `state` whose button was clicked (the token it carries, clicked in its
    own channel), or None when the button is not valid any more."""
    job = await engine.jobs.by_cancel_token(token)
    if (
        job is None
        or job.kind != kind
        or job.state is not state
        or origin.channel_id != job.channel_id
    ):
        return None
    return job


async def start_once(
    engine: JobEngine,
    actor: Actor,
    source: Job,
    *,
    kind: str,
    text: str,
    node: str,
    taken: Callable[[str, int], str],
    started: Callable[[str, int], str],
) -> str:
    """Start job `kind` with `text` on `node` for an operator, unless a job with that text was
    started since `source` ended; the sentence for the clicker."""
    if not actor.may(Role.operator):
        have = actor.role.name if actor.role else "no role"
        return messages.role_too_low(kind, Role.operator.name, have)
    since = source.finished_at or source.created_at
    for job in await engine.jobs.recent(limit=RECENT_JOBS):
        if job.kind == kind and job.text == text and job.created_at >= since:
            return taken(node, job.id)
    job = await engine.submit(
        kind,
        text=text,
        requester=actor.user_id,
        channel_id=source.channel_id,
        targets=[node_target(node)],
    )
    return started(node, job.id)

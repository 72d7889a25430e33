"""`/lab jobs`, `/lab job ID` and `/lab cancel ID`: what runs, what ran, and stopping it.

1. Read the jobs table.  2. Reply ephemerally (cancel goes through the job engine's rules).
"""

from __future__ import annotations

from bot import messages
from bot.command_spec import Command
from bot.context import HandlerContext
from bot.job_state import Job
from bot.outcome import Outcome, Reply


def _line(job: Job) -> str:
    took = f", {job.duration_seconds:.0f} s" if job.duration_seconds is not None else ""
    return (
        f"{messages.state_emoji(job.state)} *{job.id}* `{job.text}` by <@{job.requester}>: "
        f"{messages.state_word(job.state)}{took}"
    )


async def jobs_command(ctx: HandlerContext, command: Command) -> Outcome:
    """List running and recent jobs."""
    recent = await ctx.jobs.jobs.recent(limit=15)
    if not recent:
        return Reply("No jobs yet.")
    return Reply("Recent jobs:\n" + "\n".join(_line(job) for job in recent))


async def job_command(ctx: HandlerContext, command: Command) -> Outcome:
    """One job's state, timings, verdict and where its log is."""
    job_id = command.arg("id")
    assert isinstance(job_id, int)
    job = await ctx.jobs.jobs.get(job_id)
    if job is None:
        return Reply(messages.no_such_job(job_id))
    lines = [
        _line(job),
        f"Requested {job.created_at:%Y-%m-%d %H:%M:%S} UTC in <#{job.channel_id}>.",
    ]
    if job.started_at:
        lines.append(f"Started {job.started_at:%H:%M:%S} UTC.")
    if job.finished_at:
        lines.append(f"Ended {job.finished_at:%H:%M:%S} UTC.")
    if job.result:
        lines.append(f"Result: {job.result}")
    link = await ctx.jobs.chat.permalink(job.channel_id, job.thread_ts) if job.thread_ts else None
    if link:
        lines.append(messages.job_thread_link(link, attached_log=bool(job.log_path)))
    elif job.log_path:
        lines.append("The full log is attached in the job's thread.")
    return Reply("\n".join(lines))


async def cancel_command(ctx: HandlerContext, command: Command) -> Outcome:
    """Cancel a queued, waiting or running job."""
    job_id = command.arg("id")
    assert isinstance(job_id, int)
    return Reply(await ctx.jobs.cancel(job_id, ctx.actor.user_id))

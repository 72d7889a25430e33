"""The one table of `/lab` commands: parsing, help, whoami and authorization all derive from it.

Only commands that are built are listed; a command without a handler cannot be added.
"""

from __future__ import annotations

from bot.command_spec import Arg, ArgKind, CommandSpec, CommandTable
from bot.config import Role
from handlers import info, jobs

COMMANDS = CommandTable(
    [
        CommandSpec(
            name="help",
            summary="List the commands you can run, or explain one.",
            role=Role.viewer,
            handler=info.help_command,
            args=(Arg("command", ArgKind.command, "a command name", optional=True),),
            example="help deploy",
        ),
        CommandSpec(
            name="whoami",
            summary="Show your labbot role and what you may run.",
            role=Role.viewer,
            handler=info.whoami_command,
            example="whoami",
        ),
        CommandSpec(
            name="jobs",
            summary="Running and recent jobs.",
            role=Role.viewer,
            handler=jobs.jobs_command,
            example="jobs",
        ),
        CommandSpec(
            name="job",
            summary="One job's state, timings and result.",
            role=Role.viewer,
            handler=jobs.job_command,
            args=(Arg("id", ArgKind.integer, "the job number"),),
            example="job 17",
        ),
        CommandSpec(
            name="cancel",
            summary="Stop a queued, waiting or running job (kills its processes).",
            role=Role.operator,
            handler=jobs.cancel_command,
            args=(Arg("id", ArgKind.integer, "the job number"),),
            example="cancel 17",
        ),
    ]
)

"""The engine's own `/lab` commands: help, whoami and the job commands.

Each capability declares its commands in its own package (`handlers/<capability>/__init__.py`);
`bot.capability.command_table` puts these first and the capabilities' after them, and parsing,
`/lab help`, `/lab whoami` and authorization all read that one table.
"""

from __future__ import annotations

from bot import help_commands, job_commands
from bot.command_spec import Arg, ArgKind, CommandSpec
from bot.config import Role

ENGINE_COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        name="help",
        summary="List the commands you can run, or explain one.",
        role=Role.viewer,
        handler=help_commands.help_command,
        args=(Arg("command", ArgKind.command, "a command name", optional=True),),
        example="help deploy",
    ),
    CommandSpec(
        name="whoami",
        summary="Show your labbot role and what you may run.",
        role=Role.viewer,
        handler=help_commands.whoami_command,
        example="whoami",
    ),
    CommandSpec(
        name="jobs",
        summary="Running and recent job_commands.",
        role=Role.viewer,
        handler=job_commands.jobs_command,
        example="jobs",
    ),
    CommandSpec(
        name="job",
        summary="One job's state, timings and result.",
        role=Role.viewer,
        handler=job_commands.job_command,
        args=(Arg("id", ArgKind.integer, "the job number"),),
        example="job 17",
    ),
    CommandSpec(
        name="cancel",
        summary="Stop a queued, waiting or running job (kills its processes).",
        role=Role.operator,
        handler=job_commands.cancel_command,
        args=(Arg("id", ArgKind.integer, "the job number"),),
        example="cancel 17",
    ),
)

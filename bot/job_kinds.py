"""The registry of job kinds: command handlers start jobs by these names.

A kind is registered here when its handler lands; buttons of stored jobs find their kind here.
"""

from __future__ import annotations

from bot.job_run import JobKind

JOB_KINDS: dict[str, JobKind] = {}

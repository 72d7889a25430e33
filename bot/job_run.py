"""What a job kind implements (`JobKind`) and what it gets while it runs (`JobRun`).

A kind plans (and may ask for approval), then applies; the engine does locks, threads and states.
Kinds never touch Slack or the store directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from bot.chat import Chat, ThreadPosterOf
from bot.command_spec import Approval
from bot.config import Config, Role
from bot.integrations.process import ProcessResult, Stream, run_process
from bot.job_state import Job, JobState
from bot.redact import Redactor
from bot.services import Services
from bot.stream import ThreadStream


@dataclass(frozen=True)
class NeedsApproval:
    """The plan is shown; nothing changes until someone with `role` approves it."""

    summary: str
    payload: dict[str, Any]
    role: Role = Role.operator
    rule: Approval = Approval.approval
    button: str = "Apply"


@dataclass(frozen=True)
class Finished:
    """The job's end: a final state and the verdict, in one or a few sentences."""

    state: JobState
    summary: str


PlanResult = NeedsApproval | Finished


class JobKind(Protocol):
    """One kind of lab-changing job (deploy, flash, …)."""

    name: str

    def title(self, job: Job) -> str:
        """Short title, e.g. `Deploy tp-node3`."""
        ...

    async def plan(self, run: JobRun) -> PlanResult:
        """Work out what would change; return the plan to approve, or the end."""
        ...

    async def apply(self, run: JobRun, payload: Mapping[str, Any]) -> Finished:
        """Carry out the approved plan."""
        ...

    async def still_valid(self, run: JobRun, payload: Mapping[str, Any]) -> str | None:
        """None if the approved plan still holds; otherwise why it does not (the approval is void)."""
        ...


@dataclass(frozen=True)
class Offer:
    """A button offered under a message in a job's thread: its label, the action registered
    for it (`JobEngine.register_action`) and the opaque value it carries."""

    label: str
    action_id: str
    value: str


@dataclass(frozen=True)
class CheckedState:
    """What an interrupted job's targets are in now, and the one next step offered, if any."""

    text: str
    offer: Offer | None = None


@runtime_checkable
class ChecksAfterInterruption(Protocol):
    """A job kind that, when a job of it was interrupted (its labbot process gone mid-way),
    can check what its targets are in now: a deploy reads what each node runs and gates it; a
    flash asks the BMC whether the slot has power. The engine calls it in the background after
    telling the thread that the job was interrupted, and posts what it returns there."""

    async def after_interrupted(
        self, job: Job, config: Config, services: Services
    ) -> str | CheckedState:
        """What the lab is in now, checked rather than assumed, as text for the job's thread
        ("" when the job never got to change anything), with a button to offer the next step
        where there is one. Read-only: never changes the lab."""
        ...


class JobCancelled(Exception):
    """Raised inside a job when its Cancel was pressed; the engine records `cancelled`."""


@dataclass
class JobRun:
    """A running job's tools: its thread, its log stream, processes that honour Cancel."""

    job: Job
    config: Config
    chat: Chat
    redactor: Redactor
    log_dir: Path
    services: Services
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    _stream: ThreadStream | None = None

    @property
    def stream(self) -> ThreadStream:
        """The job's live output message and log (opened on first use)."""
        if self._stream is None:
            self._stream = ThreadStream(
                ThreadPosterOf(self.chat, self.job.channel_id, self.job.thread_ts),
                spool_path=self.log_path,
                redactor=self.redactor,
                title=f"Job {self.job.id} output",
                interval=self.config.jobs.stream_interval_seconds,
            )
        return self._stream

    @property
    def log_path(self) -> Path:
        """Where the job's full log is spooled."""
        return self.log_dir / f"job-{self.job.id}.log"

    @property
    def has_output(self) -> bool:
        """Whether anything was streamed."""
        return self._stream is not None

    async def say(self, text: str) -> str:
        """Post one message in the job's thread (the chat redacts whatever it sends)."""
        return await self.chat.post(self.job.channel_id, text, thread_ts=self.job.thread_ts)

    def check_cancelled(self) -> None:
        """Raise `JobCancelled` if Cancel was pressed."""
        if self.cancel.is_set():
            raise JobCancelled

    async def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        timeout: float,
        cwd: str | None = None,
        on_line: Any = None,
    ) -> ProcessResult:
        """Run a process, streaming its lines into the job's output; Cancel kills its group."""
        self.check_cancelled()

        async def line(stream: Stream, text: str) -> None:
            await self.stream.write(text)
            if on_line is not None:
                on_line(stream, text)

        result = await run_process(
            argv, env=env, cwd=cwd, timeout=timeout, on_line=line, cancel=self.cancel
        )
        if result.cancelled:
            raise JobCancelled
        return result

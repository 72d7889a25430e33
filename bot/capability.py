"""What a capability adds to the engine: its commands, its job kinds, and what it starts.

A capability is a folder under `handlers/` whose `__init__.py` exports one `Capability`; the
engine reads these declarations and never imports a capability itself. `bot/capabilities.py`
is the one list of them.

`start` runs once while labbot starts, before start-up recovery (so hooks also see the jobs that
recovery ends): register scheduled tasks, buttons (`jobs.register_action`), end-of-job hooks
(`jobs.on_finished`, `jobs.on_any_finished`) and chat events (`chat_events.on_home_opened`)
there; background work it starts belongs to `tasks`, so it is awaited or cancelled at stop.
One capability starts another's work only through the engine, by submitting a job of a named
kind (`jobs.submit("deploy", …)`), never by importing it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.chat import Chat
from bot.chat_events import ChatEvents
from bot.command_spec import CommandSpec, CommandTable
from bot.config import Config
from bot.job_run import JobKind
from bot.jobs import JobEngine
from bot.policy import Policy
from bot.scheduler import Scheduler
from bot.services import Services
from bot.store import Store
from bot.tasks import TaskSet


@dataclass(frozen=True)
class CapabilityContext:
    """What a capability's `start` may use."""

    config: Config
    store: Store
    chat: Chat
    services: Services
    jobs: JobEngine
    scheduler: Scheduler
    policy: Policy
    chat_events: ChatEvents
    tasks: TaskSet


@dataclass(frozen=True)
class Capability:
    """One capability's declaration: what it adds to `/lab`, to the job engine and at start."""

    name: str
    commands: Sequence[CommandSpec] = ()
    job_kinds: Sequence[JobKind] = ()
    start: Callable[[CapabilityContext], None] | None = None


def command_table(
    engine: Sequence[CommandSpec], capabilities: Iterable[Capability]
) -> CommandTable:
    """The engine's own commands, then each capability's, in the order they are listed."""
    return CommandTable([*engine, *(spec for cap in capabilities for spec in cap.commands)])


def job_kinds(capabilities: Iterable[Capability]) -> Mapping[str, JobKind]:
    """Every capability's job kinds by name; a name declared twice is a bug, said at start."""
    kinds: dict[str, JobKind] = {}
    for capability in capabilities:
        for kind in capability.job_kinds:
            if kind.name in kinds:
                raise ValueError(f"job kind {kind.name!r} is declared twice ({capability.name})")
            kinds[kind.name] = kind
    return kinds


def start_all(capabilities: Iterable[Capability], context: CapabilityContext) -> None:
    """Run each capability's `start`, in order."""
    for capability in capabilities:
        if capability.start is not None:
            capability.start(context)

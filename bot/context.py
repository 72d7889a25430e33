"""What a handler gets to work with: a small, typed, frozen context instead of globals.

Handlers import this module, `bot.errors`, `bot.outcome` and `bot.integrations`; never Slack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.command_spec import CommandTable
from bot.config import Config
from bot.policy import Actor, Policy
from bot.services import Services
from bot.store import Store

if TYPE_CHECKING:
    from bot.jobs import JobEngine


@dataclass(frozen=True)
class HandlerContext:
    """Config, store, the requester and where they asked, for one command."""

    config: Config
    store: Store
    policy: Policy
    commands: CommandTable
    actor: Actor
    channel_id: str
    jobs: JobEngine
    services: Services
    text: str = ""

    @property
    def prefix(self) -> str:
        """The slash command, e.g. `/lab`."""
        return self.config.slack.command

"""The simulated lab as one object: emulators started together, a labbot config pointing at them.

Tests, benchmarks and `labbot demo` use this; the bot itself never imports labsim.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from bot.app import LabBot
from bot.command_spec import CommandTable
from bot.commands import COMMANDS
from bot.config import Config
from labsim.slack import SlackEmulator

LAB_CHANNEL = "C0LAB00001"
OTHER_CHANNEL = "C0RANDOM01"
BOT_TOKEN_ENV = "LABSIM_SLACK_BOT_TOKEN"
APP_TOKEN_ENV = "LABSIM_SLACK_APP_TOKEN"


@dataclass(frozen=True)
class LabUsers:
    """The simulated workspace's people, one per role plus a stranger."""

    admin: str = "U0ADMIN001"
    admin2: str = "U0ADMIN002"
    operator: str = "U0OPER0001"
    operator2: str = "U0OPER0002"
    viewer: str = "U0VIEW0001"  # a viewer through the user group below, not by ID
    stranger: str = "U0STRANGER"
    viewer_group: str = "S0VIEWERS1"


@dataclass
class Lab:
    """Starts the simulated services and writes a labbot config for them.

    Usage: `async with Lab() as lab: async with lab.bot() as bot: ...`.
    """

    directory: Path | None = None
    users: LabUsers = field(default_factory=LabUsers)
    config_overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._stack = AsyncExitStack()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.slack = SlackEmulator()

    async def __aenter__(self) -> Lab:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start every emulator and write `config.yaml` into the lab's directory."""
        if self.directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="labsim-")
            self.directory = Path(self._tmp.name)
        try:
            await self.slack.start()
            self._stack.push_async_callback(self.slack.stop)
            self._seed_slack()
            os.environ[BOT_TOKEN_ENV] = self.slack.bot_token
            os.environ[APP_TOKEN_ENV] = self.slack.app_token
            self.config_path.write_text(yaml.safe_dump(self.config_data(), sort_keys=False))
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop everything started, in reverse, and remove the lab's files."""
        await self._stack.aclose()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @property
    def config_path(self) -> Path:
        """Where the generated labbot config lives."""
        assert self.directory is not None
        return self.directory / "config.yaml"

    def _seed_slack(self) -> None:
        u = self.users
        self.slack.add_channel(LAB_CHANNEL, "lab")
        self.slack.add_channel(OTHER_CHANNEL, "random")
        for user_id in (u.admin, u.admin2, u.operator, u.operator2, u.viewer, u.stranger):
            self.slack.add_user(user_id, user_id.lower())
        self.slack.set_usergroup(u.viewer_group, [u.viewer])

    def config_data(self) -> dict[str, Any]:
        """The labbot config (as YAML data) for this lab."""
        assert self.directory is not None
        u = self.users
        data: dict[str, Any] = {
            "slack": {
                "mode": "socket",
                "bot_token": {"env": BOT_TOKEN_ENV},
                "app_token": {"env": APP_TOKEN_ENV},
                "api_url": self.slack.api_url,
                "allowed_channels": [LAB_CHANNEL],
                "rate_limit_retries": 10,
            },
            "roles": {
                "viewer": {"usergroups": [u.viewer_group]},
                "operator": {"users": [u.operator, u.operator2]},
                "admin": {"users": [u.admin, u.admin2]},
            },
            "inventory": {
                "boards": [{"name": "turingpi", "bmc": "turingpi"}],
                "nodes": [
                    {
                        "name": "tp-node3",
                        "board": "turingpi",
                        "slot": 3,
                        "module": "cm4",
                        "host": "127.0.0.1",
                        "tags": ["k3s-server", "cm4"],
                        "k3s_role": "server",
                    }
                ],
            },
            "bmc": {
                "turingpi": {
                    "url": "https://127.0.0.1",
                    "password": {"env": "LABSIM_BMC_PASSWORD"},
                    "tls": {"verify": False},
                }
            },
            "storage": {"state_dir": str(self.directory / "state")},
            "health": {"enabled": False},
        }
        for section, values in self.config_overrides.items():
            data[section] = {**data.get(section, {}), **values}
        return data

    def config(self) -> Config:
        """The validated labbot config for this lab."""
        return Config.model_validate(self.config_data())

    def bot(self, commands: CommandTable = COMMANDS) -> LabBot:
        """A labbot wired to this lab (use as `async with lab.bot() as bot`)."""
        return LabBot(self.config(), commands)

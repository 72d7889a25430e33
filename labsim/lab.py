"""The simulated lab as one object: emulators started together, a labbot config pointing at them.

Tests, benchmarks and `labbot demo` use this; the bot itself never imports labsim.
"""

from __future__ import annotations

import asyncio
import copy
import os
import tempfile
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from bot.app import LabBot
from bot.capability import Capability
from bot.config import Config
from labsim.bmc import BmcEmulator, FlashedImage, PowerCallback, PowerReason
from labsim.bmc.emulator import REALISTIC_FLASH_BYTES_PER_SEC
from labsim.github import GitHubEmulator
from labsim.nixtool.image import system_in_image
from labsim.nodes import NodeSpec, SimCluster
from labsim.slack import SlackEmulator
from labsim.sops_seed import bot_key_path, seed_sops

LAB_CHANNEL = "C0LAB00001"
OTHER_CHANNEL = "C0RANDOM01"
BOT_TOKEN_ENV = "LABSIM_SLACK_BOT_TOKEN"
APP_TOKEN_ENV = "LABSIM_SLACK_APP_TOKEN"
BMC_PASSWORD_ENV = "LABSIM_BMC_PASSWORD"
GITHUB_TOKEN_ENV = "LABSIM_GITHUB_TOKEN"
BMC_PASSWORD = "labsim-bmc-password"
GITHUB_TOKEN = "ghp_emulatortoken"
INFRA_REPO = "homelab/thelab-infra"
DEFAULT_NODES = (NodeSpec("tp-node3", 3, "cm4", ("k3s-server", "cm4"), "server"),)


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

    Usage: `async with Lab() as lab: async with lab.bot() as bot: ...`. `Lab()` is Slack only
    (fast, for the bot's own commands); `Lab(full=True)` adds the BMC, the nodes over real
    sshd, the colmena and nix doubles, and GitHub with the infra repo checked out.
    """

    directory: Path | None = None
    users: LabUsers = field(default_factory=LabUsers)
    config_overrides: dict[str, Any] = field(default_factory=dict)
    full: bool = False
    node_specs: tuple[NodeSpec, ...] = DEFAULT_NODES
    flash_bytes_per_sec: int = REALISTIC_FLASH_BYTES_PER_SEC
    #: How long a simulated node takes from power-on to SSH (0: at once, for fast tests).
    boot_seconds: float = 0.0

    def __post_init__(self) -> None:
        # A test that changes its lab's overrides must not change the dict other tests share.
        self.config_overrides = copy.deepcopy(self.config_overrides)
        self._stack = AsyncExitStack()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.slack = SlackEmulator()
        self.bmc: BmcEmulator | None = None
        self.cluster: SimCluster | None = None
        self.github: GitHubEmulator | None = None
        self.colmena_binary: Path | None = None
        self.nix_binary: Path | None = None

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
            if self.full:
                await self._start_lab()
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

    async def _start_lab(self) -> None:
        assert self.directory is not None
        # Not the factory "turing": a configured secret is redacted wherever it appears, and
        # "turing" would blank out every "turingpi" in the lab's messages.
        self.bmc = BmcEmulator(password=BMC_PASSWORD, flash_bytes_per_sec=self.flash_bytes_per_sec)
        await self.bmc.start()
        self._stack.push_async_callback(self.bmc.stop)
        os.environ[BMC_PASSWORD_ENV] = BMC_PASSWORD
        self.cluster = SimCluster(
            list(self.node_specs),
            directory=self.directory / "cluster",
            boot_delay=self.boot_seconds,
        )
        await self.cluster.start()
        self._stack.push_async_callback(self.cluster.stop)
        for spec in self.node_specs:  # the BMC's record: populated slots are powered
            self.bmc.set_power(spec.slot - 1, True)
        self.bmc.on_power_change(follow_bmc_power(self.bmc, self.cluster))
        wire_consoles(self.bmc, self.cluster)
        self.github = GitHubEmulator(tokens=frozenset({GITHUB_TOKEN}))
        await self.github.start()
        self._stack.push_async_callback(self.github.stop)
        os.environ[GITHUB_TOKEN_ENV] = GITHUB_TOKEN
        sops_files = await seed_sops(self.directory, self.cluster.nodes)
        await self.github.seed_infra_repo(
            {**infra_files(self.node_specs), **sops_files}, repo=INFRA_REPO
        )
        owner, name = INFRA_REPO.split("/")
        await _git("clone", "-q", self.github.git_url(owner, name), str(self.flake_dir))
        await _git("-C", str(self.flake_dir), "config", "user.email", "labbot@lab.invalid")
        await _git("-C", str(self.flake_dir), "config", "user.name", "labbot")
        self.cluster.write_inventory(self.flake_dir)
        with (self.flake_dir / ".git" / "info" / "exclude").open("a") as exclude:
            exclude.write("inventory.json\n")  # written per lab run: ports differ each time
        tools = self.cluster.write_tools(self.directory / "bin")
        self.colmena_binary, self.nix_binary = tools.colmena, tools.nix

    @property
    def flake_dir(self) -> Path:
        """The bot's checkout of the infra repo."""
        assert self.directory is not None
        return self.directory / "infra"

    @property
    def images_dir(self) -> Path:
        """Where local images for `/lab flash NODE IMAGE` may lie (`flash.image_dirs`)."""
        assert self.directory is not None
        path = self.directory / "images"
        path.mkdir(exist_ok=True)
        return path

    @property
    def config_path(self) -> Path:
        """Where the generated labbot config lives."""
        assert self.directory is not None
        return self.directory / "config.yaml"

    def _seed_slack(self) -> None:
        u = self.users
        self.slack.add_channel(LAB_CHANNEL, "lab")
        self.slack.add_channel(OTHER_CHANNEL, "random", bot_member=False)  # not invited
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
                "rate_limit_patience_seconds": 900,
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
        if self.full:
            data.update(self._lab_config())
        for section, values in self.config_overrides.items():
            data[section] = {**data.get(section, {}), **values}
        return data

    def _lab_config(self) -> dict[str, Any]:
        assert self.bmc is not None and self.cluster is not None and self.github is not None
        assert self.directory is not None
        return {
            "inventory": {
                "boards": [{"name": "turingpi", "bmc": "turingpi"}],
                "file": str(self.flake_dir / "inventory.json"),
            },
            "bmc": {
                "turingpi": {
                    "url": self.bmc.url,
                    "password": {"env": BMC_PASSWORD_ENV},
                    "tls": {"verify": True, "fingerprint_sha256": self.bmc.cert_sha256_fingerprint},
                }
            },
            "colmena": {
                "flake_dir": str(self.flake_dir),
                "binary": str(self.colmena_binary),
                "nix_binary": str(self.nix_binary),
                "build_timeout_seconds": 120,
                "apply_timeout_seconds": 120,
            },
            "ssh": {
                "key_file": str(self.cluster.client_key_path),
                "known_hosts_file": str(self.cluster.known_hosts_path),
                "connect_timeout_seconds": 5,
                "command_timeout_seconds": 20,
            },
            "github": {
                "repo": INFRA_REPO,
                "base_url": self.github.api_url,
                "token": {"env": GITHUB_TOKEN_ENV},
            },
            "flash": {
                "nix_binary": str(self.nix_binary),
                "image_dirs": [str(self.images_dir)],
            },
            "sops": {
                "age_key": {"file": str(bot_key_path(self.directory))},
                "sops_yaml": ".sops.yaml",
                "timeout_seconds": 30,
            },
        }

    def config(self) -> Config:
        """The validated labbot config for this lab."""
        return Config.model_validate(self.config_data())

    def bot(self, capabilities: Sequence[Capability] | None = None) -> LabBot:
        """A labbot wired to this lab (use as `async with lab.bot() as bot`), with every
        capability unless given its own list."""
        return LabBot(self.config(), capabilities)


def infra_files(specs: tuple[NodeSpec, ...]) -> dict[str, str]:
    """The infra repo the lab starts with: the GitHub emulator's default files, one host per node."""
    from labsim.github import default_infra_files

    files = {k: v for k, v in default_infra_files().items() if not k.startswith("hosts/")}
    for spec in specs:
        files[f"hosts/{spec.name}.nix"] = (
            f'{{ ... }}:\n{{\n  networking.hostName = "{spec.name}";\n}}\n'
        )
    return files


async def _git(*args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        "git", *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"git {args[0]} failed: {err.decode(errors='replace').strip()}")


def wire_consoles(bmc: BmcEmulator, cluster: SimCluster) -> None:
    """Each node's serial console is its slot's UART on the BMC: what it prints fills the BMC's
    buffer, what `uart send` types reaches it."""
    by_slot = {sim.spec.slot - 1: sim for sim in cluster.nodes}
    for index, sim in by_slot.items():
        bmc.attach_console(index, sim.console.take_new)

    def typed(node: int, line: str) -> None:
        sim = by_slot.get(node)
        if sim is not None:
            sim.typed_on_console(line)

    bmc.on_uart_line(typed)


def follow_bmc_power(bmc: BmcEmulator, cluster: SimCluster) -> PowerCallback:
    """The nodes follow their slots' power, with two details of flashing added.

    In USB flash mode a module runs the BMC's loader, not its OS, so a flash's power-on boots
    nothing (SSH stays refused). A successful flash leaves a fresh image, written while the node
    is off (bmcd powers it off afterwards): the next boot is the image's first, with a new SSH
    host key (known_hosts lines from before no longer match) and, for an image the nix double
    built, exactly the system the image holds as generation 1 (`SimNode.reimage`).
    """
    seen: dict[int, FlashedImage] = {}

    def follow(node: int, on: bool, reason: str) -> None:
        if reason == PowerReason.flash:
            if on:
                return
            image = bmc.flashed_image(node)
            if image is not None and image is not seen.get(node):
                seen[node] = image
                for sim in cluster.nodes:
                    if sim.spec.slot == node + 1:
                        sim.reimage(system_in_image(image.head))
        cluster.on_bmc_power_change(node, on, reason)

    return follow

"""labbot's configuration: the YAML file's schema, validated by pydantic.

Holds no secret values: secrets are referenced (`SecretSource`) and read only when used.

Long because: it is the config file's whole schema, one small pydantic model per YAML section,
so the reference in the README and this file can be read side by side.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
import zoneinfo
from collections.abc import Iterable
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Annotated, Literal, Self, cast
from urllib.parse import unquote

from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
TAG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
SLACK_USER_ID = r"^[UW][A-Z0-9]{2,}$"
SLACK_USERGROUP_ID = r"^S[A-Z0-9]{2,}$"
SLACK_CHANNEL_ID = r"^[CGD][A-Z0-9]{2,}$"
HOST_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$"

Name = Annotated[str, Field(pattern=NAME_PATTERN)]
Tag = Annotated[str, Field(pattern=TAG_PATTERN)]


class Model(BaseModel):
    """Base of every config section: unknown fields are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretSource(Model):
    """Where a secret comes from: an environment variable or a file (never the YAML itself)."""

    env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_plaintext(cls, value: object) -> object:
        if isinstance(value, str):
            raise ValueError(
                "plaintext secrets are not allowed here; use {env: VAR} or {file: /path}"
            )
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of 'env' or 'file'")
        return self

    def read(self) -> str:
        """Read the secret now; raises `LookupError` naming the source when it is missing."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise LookupError(f"environment variable {self.env} is not set")
            return value.strip()
        assert self.file is not None
        try:
            return self.file.read_text().strip()
        except OSError as exc:
            raise LookupError(f"cannot read secret file {self.file}: {exc.strerror}") from None

    def describe(self) -> str:
        """Where the secret comes from, for messages (never the value)."""
        return f"${self.env}" if self.env else f"file {self.file}"


class Role(IntEnum):
    """Roles in increasing power; a higher role can do everything a lower one can."""

    viewer = 1
    operator = 2
    admin = 3


class SlackMode(StrEnum):
    """How labbot receives events from Slack."""

    socket = "socket"
    http = "http"


class SlackConfig(Model):
    """Slack connection and where commands are accepted."""

    mode: SlackMode = SlackMode.socket
    bot_token: SecretSource
    app_token: SecretSource | None = None
    signing_secret: SecretSource | None = None
    http_port: int = Field(default=3000, ge=1, le=65535)
    api_url: str = "https://slack.com/api/"
    command: str = Field(default="/lab", pattern=r"^/[a-z0-9_-]{1,31}$")
    allowed_channels: list[Annotated[str, Field(pattern=SLACK_CHANNEL_ID)]] = Field(min_length=1)
    rate_limit_patience_seconds: float = Field(default=900, ge=10, le=86_400)
    """How long a message keeps being retried through Slack's 429s before labbot gives it up."""

    @model_validator(mode="after")
    def _mode_needs(self) -> Self:
        if self.mode is SlackMode.socket and self.app_token is None:
            raise ValueError(
                "socket mode needs 'app_token' (an xapp- token with connections:write)"
            )
        if self.mode is SlackMode.http and self.signing_secret is None:
            raise ValueError("http mode needs 'signing_secret' to verify Slack's signatures")
        return self


class RoleGrant(Model):
    """Who holds a role: Slack user IDs and user-group IDs, never display names."""

    users: list[Annotated[str, Field(pattern=SLACK_USER_ID)]] = []
    usergroups: list[Annotated[str, Field(pattern=SLACK_USERGROUP_ID)]] = []


class RolesConfig(Model):
    """Role grants; anyone not named has no role and is refused."""

    viewer: RoleGrant = RoleGrant()
    operator: RoleGrant = RoleGrant()
    admin: RoleGrant = RoleGrant()
    usergroup_cache_seconds: int = Field(default=300, ge=0, le=86400)

    def grant(self, role: Role) -> RoleGrant:
        """The grant for one role."""
        grant: RoleGrant = getattr(self, role.name)
        return grant


class TlsConfig(Model):
    """How the BMC's self-signed certificate is trusted."""

    verify: bool = True
    fingerprint_sha256: str | None = Field(
        default=None, pattern=r"^([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$"
    )


class BmcConfig(Model):
    """One Turing Pi BMC."""

    url: str = Field(pattern=r"^https?://[^\s/]+/?$")
    username: str = "root"
    password: SecretSource
    tls: TlsConfig = TlsConfig()
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)


class Module(StrEnum):
    """Compute module kinds a Turing Pi 2 slot can hold."""

    cm4 = "cm4"
    rk1 = "rk1"


class K3sRole(StrEnum):
    """A node's place in the k3s cluster."""

    server = "server"
    agent = "agent"
    none = "none"


class Board(Model):
    """A Turing Pi 2 board and the BMC that drives it."""

    name: Name
    bmc: Name


class Node(Model):
    """One compute module in a slot."""

    name: Name
    board: Name
    slot: int = Field(ge=1, le=4)
    module: Module
    host: str = Field(pattern=HOST_PATTERN)
    ssh_user: str = Field(default="deploy", pattern=r"^[a-z_][a-z0-9_-]{0,31}$")
    ssh_port: int = Field(default=22, ge=1, le=65535)
    tags: list[Tag] = []
    k3s_role: K3sRole = K3sRole.none
    deferred: bool = False
    auto_rollback: bool = True


class InventoryConfig(Model):
    """Boards and nodes, inline or read from the JSON/TOML file the infra flake also reads."""

    boards: list[Board] = Field(min_length=1)
    nodes: list[Node] = []
    file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _load_file(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        if data.get("file") and not data.get("nodes"):
            data = {**data, "nodes": read_inventory_file(Path(str(data["file"])))}
        boards = data.get("boards")
        nodes = data.get("nodes")
        # With one board, a node need not name it (the shared inventory file usually does not).
        if isinstance(boards, list) and len(boards) == 1 and isinstance(nodes, list):
            only = boards[0].get("name") if isinstance(boards[0], dict) else None
            data = {
                **data,
                "nodes": [
                    {"board": only, **n} if isinstance(n, dict) and "board" not in n else n
                    for n in nodes
                ],
            }
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        boards = {b.name for b in self.boards}
        seen_names: set[str] = set()
        seen_slots: set[tuple[str, int]] = set()
        for node in self.nodes:
            if node.board not in boards:
                raise ValueError(f"node {node.name}: unknown board {node.board!r}")
            if node.name in seen_names:
                raise ValueError(f"node name {node.name} is used twice")
            if (node.board, node.slot) in seen_slots:
                raise ValueError(f"slot {node.slot} of board {node.board} is used twice")
            seen_names.add(node.name)
            seen_slots.add((node.board, node.slot))
        return self

    def node(self, name: str) -> Node | None:
        """The node called `name`, if any."""
        return next((n for n in self.nodes if n.name == name), None)

    def board(self, name: str) -> Board | None:
        """The board called `name`, if any."""
        return next((b for b in self.boards if b.name == name), None)

    def board_of(self, node: Node) -> Board:
        """The board `node` sits on (`_consistent` made sure it exists)."""
        board = self.board(node.board)
        assert board is not None, node.board
        return board


def read_inventory_file(path: Path) -> list[dict[str, object]]:
    """Nodes from the shared inventory file: `{"nodes": {name: {...}}}` as JSON or TOML."""
    text = path.read_text()
    raw = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    nodes = raw.get("nodes", {})
    if not isinstance(nodes, dict):
        raise ValueError(f"{path}: 'nodes' must be a mapping of name to node")
    renames = {"user": "ssh_user", "port": "ssh_port"}
    result: list[dict[str, object]] = []
    for name, fields in nodes.items():
        result.append({"name": name, **{renames.get(k, k): v for k, v in fields.items()}})
    return result


class ColmenaConfig(Model):
    """How colmena is run against the infra flake."""

    flake_dir: Path
    binary: str = "colmena"
    extra_args: list[str] = []
    # colmena's `-p`: how many nodes build+push, and then activate, at once (0: no limit).
    # colmena's own default is 10 (zhaofengli/colmena src/nix/deployment/limits.rs). A deploy of
    # `all` activates that many k3s nodes together: lower it for a rolling deploy of servers.
    parallel: int = Field(default=10, ge=0, le=64)
    eval_timeout_seconds: float = Field(default=300, gt=0)
    build_timeout_seconds: float = Field(default=3600, gt=0)
    apply_timeout_seconds: float = Field(default=1800, gt=0)
    nix_binary: str = "nix"

    @field_validator("extra_args")
    @classmethod
    def _no_experimental_eval(cls, args: list[str]) -> list[str]:
        if "--experimental-flake-eval" in args:
            raise ValueError(
                "--experimental-flake-eval is not supported: colmena's main branch cannot "
                "evaluate the hive that way, and 0.4.0 does not know the flag"
            )
        return args


UNIT_PATTERN = r"^[A-Za-z0-9@_.:\\-]{1,255}$"


def is_unit_name(text: str) -> bool:
    """systemd's unit-name characters, and never something a command would read as an option."""
    return re.fullmatch(UNIT_PATTERN, text) is not None and not text.startswith("-")


class HealthGateConfig(Model):
    """The health gate after a deploy or rollback: what must hold, and how long to wait for it."""

    timeout_seconds: float = Field(default=120, gt=0, le=3600)
    poll_interval_seconds: float = Field(default=2, gt=0, le=60)
    allowed_failed_units: list[Annotated[str, Field(pattern=UNIT_PATTERN)]] = []
    probes: list[Annotated[list[str], Field(min_length=1)]] = []
    k3s_ready: bool = True


class DeployConfig(Model):
    """Deploys: the health gate and how long colmena's node list is cached."""

    health_gate: HealthGateConfig = HealthGateConfig()
    node_list_cache_seconds: float = Field(default=3600, ge=0, le=7 * 86400)
    # `/lab reboot`: how long the drain may take, and how long to wait for the node to answer
    # with a new boot id (a Pi with a slow SD card takes minutes).
    drain_timeout_seconds: float = Field(default=300, gt=0, le=3600)
    reboot_timeout_seconds: float = Field(default=600, gt=0, le=3600)


class FlashConfig(Model):
    """Flashing nodes through their BMC (`/lab flash`): image sources and time limits.

    With no IMAGE, the image is `nix build <flake_dir>#packages.aarch64-linux.<attribute>` with
    the attribute for the node's module; a local IMAGE must lie under one of `image_dirs`.
    `boot_timeout_seconds` is also how long `/lab power NODE on|reset` waits for SSH.
    """

    image_attributes: dict[Module, Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]] = {
        Module.cm4: "cm4-image"
    }
    flake_dir: Path | None = None  # default: colmena.flake_dir
    nix_binary: str = "nix"
    image_dirs: list[Path] = []
    build_timeout_seconds: float = Field(default=3600, gt=0)
    timeout_minutes: float = Field(default=90, gt=0, le=24 * 60)
    boot_timeout_seconds: float = Field(default=300, gt=0, le=3600)
    poll_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    unreachable_grace_seconds: float = Field(default=120, ge=0, le=3600)


class SshConfig(Model):
    """SSH to the nodes: key, known hosts (always checked) and timeouts."""

    key_file: Path
    known_hosts_file: Path
    connect_timeout_seconds: float = Field(default=10, gt=0, le=300)
    command_timeout_seconds: float = Field(default=60, gt=0, le=3600)


class MergeMethod(StrEnum):
    """GitHub merge methods."""

    merge = "merge"
    squash = "squash"
    rebase = "rebase"


class GitHubConfig(Model):
    """The infra repository on GitHub (or GitHub Enterprise), with a token or as a GitHub App."""

    repo: str = Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    base_url: str = "https://api.github.com"
    token: SecretSource | None = None
    app_id: int | None = None
    app_private_key: SecretSource | None = None
    installation_id: int | None = None
    renovate_author: str = "renovate[bot]"
    renovate_branch_prefix: str = "renovate/"
    merge_method: MergeMethod = MergeMethod.squash
    required_checks: list[str] = []
    deploy_targets: str = "all"

    @model_validator(mode="after")
    def _one_auth(self) -> Self:
        app = self.app_id is not None or self.app_private_key is not None
        if (self.token is not None) == app:
            raise ValueError("give either 'token' or 'app_id' with 'app_private_key'")
        if app and (self.app_id is None or self.app_private_key is None):
            raise ValueError("a GitHub App needs both 'app_id' and 'app_private_key'")
        return self


class SopsConfig(Model):
    """sops-nix secrets in the infra repo (paths are relative to the repo's root)."""

    binary: str = "sops"
    age_key: SecretSource
    # sops matches path_regex relative to this file's folder: at the repository's root.
    sops_yaml: Path = Path(".sops.yaml")
    # Must each be matched by a creation rule; `sops rotate` takes every file a rule matches.
    secrets_files: list[Path] = [Path("secrets/secrets.yaml")]
    k3s_token_file: Path = Path("secrets/secrets.yaml")
    k3s_token_key: str = Field(default="k3s_token", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # The creation rules (their path_regex) a new node's key joins, or "all".
    node_rules: list[str] | Literal["all"] = "all"
    repo_url: str | None = None  # default: the `origin` of colmena.flake_dir
    direct_push: bool = False
    timeout_seconds: float = Field(default=120, gt=0, le=3600)  # per git or sops call


class SchedulesConfig(Model):
    """When the scheduled work runs."""

    renovate_check_minutes: int = Field(default=15, ge=1, le=1440)
    timezone: str = "UTC"
    digest_cron: str = "0 7 * * *"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r}") from None
        return zone

    @field_validator("digest_cron")
    @classmethod
    def _valid_cron(cls, cron: str, info: ValidationInfo) -> str:
        try:
            CronTrigger.from_crontab(cron, timezone=info.data.get("timezone", "UTC"))
        except ValueError as exc:
            raise ValueError(f"{cron!r} is not a valid cron expression: {exc}") from None
        return cron


_DATABASE_URL = re.compile(r"^(sqlite(\+aiosqlite)?|postgresql(\+\w+)?)://")
# scheme://user:password@ (check-config searches every string for it; a URL starts with it).
URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/@:\s]*:(?P<password>[^/@\s]+)@")


def _check_database_url(url: str) -> str:
    if not _DATABASE_URL.match(url):
        raise ValueError("database_url must be a sqlite:// or postgresql:// URL")
    return url


class StorageConfig(Model):
    """Where labbot keeps its state."""

    state_dir: Path = Path("/var/lib/labbot")
    # A URL with a password comes from the environment or a file, like every secret (or leave the
    # password out: PostgreSQL's drivers read PGPASSWORD and ~/.pgpass).
    database_url: str | SecretSource | None = None

    @field_validator("database_url")
    @classmethod
    def _supported_url(cls, url: str | SecretSource | None) -> str | SecretSource | None:
        # A password inside a plain URL is refused by check-config's plaintext scan.
        return _check_database_url(url) if isinstance(url, str) else url

    def database_passwords(self) -> list[str]:
        """The password inside the database URL, as written and decoded (for redaction)."""
        if not isinstance(self.database_url, SecretSource):
            return []  # a plain URL has no password (check-config refuses one)
        found = URL_PASSWORD.match(self.database_url.read().strip())
        if found is None:
            return []
        return sorted({found.group("password"), unquote(found.group("password"))})

    def resolved_database_url(self) -> str:
        """The async SQLAlchemy URL: the configured one, or a SQLite file in state_dir."""
        if isinstance(self.database_url, SecretSource):
            url = _check_database_url(self.database_url.read().strip())
        else:
            url = self.database_url or f"sqlite:///{self.state_dir / 'labbot.sqlite'}"
        if url.startswith("sqlite://"):
            return "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
        if url.startswith("postgresql://"):
            return "postgresql+asyncpg://" + url.removeprefix("postgresql://")
        return url


class LockPolicy(StrEnum):
    """What a job does when its target is locked by another job."""

    queue = "queue"
    refuse = "refuse"


class JobsConfig(Model):
    """Job engine settings."""

    approval_timeout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    stream_interval_seconds: float = Field(default=1.0, ge=0.05, le=60)
    lock_policy: LockPolicy = LockPolicy.queue


class HealthConfig(Model):
    """The health and metrics HTTP endpoint."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9187, ge=0, le=65535)


class DigestConfig(Model):
    """The nightly digest and `/lab status`: where it goes, what counts as full, time limits.

    When it runs is `schedules.digest_cron` in `schedules.timezone`.
    """

    enabled: bool = True
    channel: Annotated[str, Field(pattern=SLACK_CHANNEL_ID)] | None = None  # default: first allowed
    longhorn_path: str = Field(default="/var/lib/longhorn", pattern=r"^/[A-Za-z0-9._/-]{0,200}$")
    disk_warn_percent: int = Field(default=85, ge=1, le=100)
    disk_critical_percent: int = Field(default=95, ge=1, le=100)
    ssh_timeout_seconds: float = Field(default=20, gt=0, le=600)  # per node, login included
    source_timeout_seconds: float = Field(default=20, gt=0, le=600)  # per BMC, GitHub, store
    # Drift: the digest builds every node from the infra checkout; a build Nix has not cached
    # (after a nixpkgs bump) may take long, and the digest waits for it at most this long.
    build_timeout_seconds: float = Field(default=600, gt=0, le=7200)
    concurrency: int = Field(default=32, ge=1, le=256)  # nodes gathered at once
    keep_snapshots: int = Field(default=90, ge=2, le=10_000)

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> Self:
        if self.disk_critical_percent < self.disk_warn_percent:
            raise ValueError("disk_critical_percent must not be below disk_warn_percent")
        return self


Approver = Literal["self", "other", "none"]
"""Who approves: `self` (anyone with the role, the requester included), `other` (a second
person with the role) or `none` (no approval: the plan is shown and applied)."""


class ApprovalsConfig(Model):
    """Who approves each command that changes the lab (its role comes with the command)."""

    deploy: Approver = "self"
    rollback: Approver = "self"
    power: Approver = "self"  # off and reset; `on` never waits for approval
    uart: Approver = "self"  # typing on a node's console
    restart: Approver = "self"  # one systemd unit
    reboot: Approver = "self"  # a clean reboot (drained on k3s nodes)
    flash: Literal["self", "other"] = "other"  # erases a node: never without approval
    sops: Literal["self", "other"] = "other"  # changes who can read the secrets
    # Nodes carrying one of these tags need a second person for every command above.
    second_person_tags: list[Tag] = ["four-eyes"]

    def approver(self, command: str, node_tags: Iterable[str]) -> Approver | None:
        """The configured approver of `command` on nodes with `node_tags` (None: a command
        this section does not cover, which keeps its own rule)."""
        if command not in type(self).model_fields or command == "second_person_tags":
            return None
        configured = getattr(self, command)
        if set(node_tags) & set(self.second_person_tags):
            return "other"
        return cast(Approver, configured)


class Config(Model):
    """The whole labbot configuration file."""

    slack: SlackConfig
    roles: RolesConfig
    inventory: InventoryConfig
    bmc: dict[Name, BmcConfig] = {}
    colmena: ColmenaConfig | None = None
    ssh: SshConfig | None = None
    github: GitHubConfig | None = None
    sops: SopsConfig | None = None
    schedules: SchedulesConfig = SchedulesConfig()
    storage: StorageConfig = StorageConfig()
    jobs: JobsConfig = JobsConfig()
    health: HealthConfig = HealthConfig()
    deploy: DeployConfig = DeployConfig()
    flash: FlashConfig = FlashConfig()
    digest: DigestConfig = DigestConfig()
    approvals: ApprovalsConfig = ApprovalsConfig()
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @model_validator(mode="after")
    def _boards_have_bmcs(self) -> Self:
        for board in self.inventory.boards:
            if board.bmc not in self.bmc:
                raise ValueError(
                    f"board {board.name}: bmc {board.bmc!r} is not in the 'bmc' section"
                )
        return self

    def secret_sources(self) -> list[tuple[str, SecretSource]]:
        """Every secret the config names, with its setting's path (`slack.bot_token`)."""
        named: list[tuple[str, SecretSource | None]] = [
            ("slack.bot_token", self.slack.bot_token),
            ("slack.app_token", self.slack.app_token),
            ("slack.signing_secret", self.slack.signing_secret),
            *((f"bmc.{name}.password", bmc.password) for name, bmc in self.bmc.items()),
        ]
        if self.github is not None:
            named += [
                ("github.token", self.github.token),
                ("github.app_private_key", self.github.app_private_key),
            ]
        if self.sops is not None:
            named.append(("sops.age_key", self.sops.age_key))
        if isinstance(self.storage.database_url, SecretSource):
            named.append(("storage.database_url", self.storage.database_url))
        return [(path, source) for path, source in named if source is not None]

"""A simulated node's identity (static) and volatile state (`node.json`), shared by processes.

Both the lab process (knobs, power) and the per-command dispatcher read and write these files under
one advisory lock; nothing here starts processes or knows about SSH.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

IDENTITY_FILE = "etc/labsim/identity.json"
STATE_FILE = "node.json"
LOCK_FILE = ".labsim.lock"


@dataclass(frozen=True)
class Mount:
    """A filesystem of the node as `df` reports it."""

    source: str
    fstype: str
    target: str
    size: int


@dataclass(frozen=True)
class NodeIdentity:
    """What does not change while a node runs: name, slot, hardware module, role, mounts."""

    name: str
    slot: int
    module: str
    tags: tuple[str, ...]
    k3s_role: str | None
    user: str
    trusted_users: tuple[str, ...]
    mounts: tuple[Mount, ...]
    k3s_members_file: str | None = None
    # Where `systemctl reboot` asks the lab process to reboot this node (labsim/nodes/power_requests.py).
    power_requests: str | None = None

    def to_json(self) -> str:
        """Serialise for `etc/labsim/identity.json`."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> NodeIdentity:
        """Parse what `to_json` wrote."""
        raw: dict[str, Any] = json.loads(text)
        return cls(
            name=raw["name"],
            slot=int(raw["slot"]),
            module=raw["module"],
            tags=tuple(raw["tags"]),
            k3s_role=raw["k3s_role"],
            user=raw["user"],
            trusted_users=tuple(raw["trusted_users"]),
            mounts=tuple(Mount(**m) for m in raw["mounts"]),
            k3s_members_file=raw.get("k3s_members_file"),
            power_requests=raw.get("power_requests"),
        )


def default_mounts(module: str) -> tuple[Mount, ...]:
    """Filesystems per module: CM4 on eMMC with a SATA SSD for Longhorn, RK1 with NVMe."""
    if module == "rk1":
        return (
            Mount("/dev/mmcblk0p2", "ext4", "/", 29_600_000_000),
            Mount("/dev/mmcblk0p1", "vfat", "/boot", 268_435_456),
            Mount("/dev/nvme0n1p1", "ext4", "/var/lib/longhorn", 983_000_000_000),
        )
    return (
        Mount("/dev/mmcblk0p2", "ext4", "/", 31_000_000_000),
        Mount("/dev/mmcblk0p1", "vfat", "/boot/firmware", 31_457_280),
        Mount("/dev/sda1", "ext4", "/var/lib/longhorn", 480_000_000_000),
    )


@dataclass(frozen=True)
class BrokenSystem:
    """A system whose activation leaves units failed (exit_code 4: switch fails; 0: degrades)."""

    units: tuple[str, ...]
    exit_code: int


@dataclass
class NodeState:
    """Volatile state in `node.json`: power, boot, failed units, disk use and armed faults."""

    power: bool = True
    boot_time: float = field(default_factory=time.time)
    boot_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    failed_units: list[str] = field(default_factory=list)
    pending_fault: BrokenSystem | None = None
    broken_systems: dict[str, BrokenSystem] = field(default_factory=dict)
    hang_seconds: float = 0.0
    disk_used: dict[str, float] = field(default_factory=dict)
    k3s_ready: bool = True
    sudo_needs_password: bool = False

    @property
    def kubelet_up(self) -> bool:
        """Whether the node's k3s runs: powered on and k3s.service not failed."""
        return self.power and "k3s.service" not in self.failed_units

    def to_json(self) -> str:
        """Serialise for `node.json`."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> NodeState:
        """Parse what `to_json` wrote."""
        raw: dict[str, Any] = json.loads(text)
        pending = raw.get("pending_fault")
        return cls(
            power=bool(raw["power"]),
            boot_time=float(raw["boot_time"]),
            boot_id=raw["boot_id"],
            failed_units=list(raw["failed_units"]),
            pending_fault=_broken(pending) if pending else None,
            broken_systems={k: _broken(v) for k, v in raw["broken_systems"].items()},
            hang_seconds=float(raw["hang_seconds"]),
            disk_used={k: float(v) for k, v in raw["disk_used"].items()},
            k3s_ready=bool(raw.get("k3s_ready", True)),
            sudo_needs_password=bool(raw.get("sudo_needs_password", False)),
        )

    def reboot(self) -> None:
        """A fresh boot: new boot id and time, no failed units yet."""
        self.boot_time = time.time()
        self.boot_id = str(uuid.uuid4())
        self.failed_units = []


def _broken(raw: dict[str, Any]) -> BrokenSystem:
    return BrokenSystem(units=tuple(raw["units"]), exit_code=int(raw["exit_code"]))


class NodeFiles:
    """Reads and writes a node's identity and state files inside its state directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def identity(self) -> NodeIdentity:
        """The node's static identity."""
        return NodeIdentity.from_json((self.root / IDENTITY_FILE).read_text())

    def write_identity(self, identity: NodeIdentity) -> None:
        """Store the identity (done once when the node's state directory is created)."""
        path = self.root / IDENTITY_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(identity.to_json())

    def load_state(self) -> NodeState:
        """Current volatile state (a default one if none was written yet)."""
        path = self.root / STATE_FILE
        if not path.exists():
            return NodeState()
        return NodeState.from_json(path.read_text())

    def save_state(self, state: NodeState) -> None:
        """Write the state atomically."""
        path = self.root / STATE_FILE
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(state.to_json())
        tmp.replace(path)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the node's advisory lock (across processes) while mutating its state."""
        with open(self.root / LOCK_FILE, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def editing(self) -> Iterator[NodeState]:
        """Lock, load the state, let the caller change it, save it."""
        with self.locked():
            state = self.load_state()
            yield state
            self.save_state(state)

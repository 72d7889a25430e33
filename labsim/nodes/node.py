"""A simulated NixOS node: its state directory, its sshd, its power and its fault knobs.

Usage: `node = SimNode(NodeSpec("tp-node3", 3), dir, shells=server, client_public_key=...);
await node.start()`; then SSH to `node.host:node.port` as `node.user`. The lab process owns the
node; commands that arrive over SSH are emulated by `labsim.nodes.shell`, each in a process
forked by the cluster's `ShellServer`.

Long because: a node is one object to a test (power, boot, SSH, faults, its journal and what it
was sent), and its knobs read best beside the state they change.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labsim.nodes import journal
from labsim.nodes.console import NodeConsole
from labsim.nodes.hostkeys import write_ed25519_keypair
from labsim.nodes.nodestate import BrokenSystem, NodeFiles, NodeIdentity, default_mounts
from labsim.nodes.rootfs import Generation, NodeRoot
from labsim.nodes.shell import COMMAND_LOG
from labsim.nodes.shell_server import ShellServer
from labsim.nodes.sshd import SshdConfig, SshdProcess
from labsim.nodes.storepaths import SystemClosure, build_system

HOST_KEY = "etc/ssh/ssh_host_ed25519_key"
AUTHORIZED_KEYS = "etc/ssh/authorized_keys"
_SEED_NIXPKGS = (
    ("20241201", "8cfb0d5c2cbf5a8ee1ab7b9ef0e5e9d2d3a1c4b7"),
    ("20241215", "4f5d2a0b9c8e7d6f1a2b3c4d5e6f708192a3b4c5"),
    ("20250101", "abcdef0123456789abcdef0123456789abcdef01"),
)
_SEED_AGES_DAYS = (21.0, 9.0, 2.0)


# What a fresh node's journal holds: a boot, sshd and (on k3s nodes) k3s starting.
_FIRST_BOOT_LOG = (
    ("systemd-journald.service", "System Journal is 8.0M, max 4.0G, 3.9G free."),
    ("sshd.service", "Server listening on 0.0.0.0 port 22."),
    ("k3s.service", "Starting k3s v1.30.6+k3s1 (1829eaae)"),
    ("k3s.service", "Running kubelet --cgroup-driver=systemd"),
)


@dataclass(frozen=True)
class NodeSpec:
    """What the lab says about a node: name, BMC slot, hardware module, colmena tags, k3s role."""

    name: str
    slot: int
    module: str = "cm4"
    tags: tuple[str, ...] = ()
    k3s_role: str | None = None


def seed_closures(spec: NodeSpec, count: int = 3) -> list[SystemClosure]:
    """The systems a fresh node already has as generations 1..count (deterministic per name)."""
    count = max(1, min(count, len(_SEED_NIXPKGS)))
    closures = []
    for index, (date, rev) in enumerate(_SEED_NIXPKGS[-count:], start=1):
        config_rev = hashlib.sha1(f"labsim-seed-{index}".encode()).hexdigest()
        closures.append(
            build_system(
                spec.name,
                content_hash=f"labsim-seed-{index}",
                release="24.11",
                last_modified_date=date,
                nixpkgs_revision=rev,
                configuration_revision=config_rev,
                k3s=spec.k3s_role is not None,
            )
        )
    return closures


class SimNode:
    """One simulated node: a real sshd on loopback in front of a simulated NixOS filesystem."""

    def __init__(
        self,
        spec: NodeSpec,
        state_dir: Path,
        *,
        shells: ShellServer,
        client_public_key: str,
        user: str = "root",
        host: str = "127.0.0.1",
        k3s_members_file: Path | None = None,
        power_requests: str | None = None,
        seed_generations: int = 3,
        boot_delay: float = 0.0,
    ) -> None:
        self.spec = spec
        self.state_dir = state_dir
        self.host = host
        self.user = user
        self.boot_delay = boot_delay
        self.host_key_public = ""
        self._client_public_key = client_public_key
        self._k3s_members_file = k3s_members_file
        self._power_requests = power_requests
        self._reboot_hangs = False
        # Set when the node's OS asked for a reboot (`systemctl reboot`): a test clears it,
        # runs the command, awaits it, then `settle()`s the reboot it started.
        self.os_reboot_asked = asyncio.Event()
        self._seed_count = seed_generations
        self.root = NodeRoot(state_dir)
        self.files = NodeFiles(state_dir)
        self.console = NodeConsole(state_dir)
        self._shells = shells
        self._sshd = SshdProcess(
            SshdConfig(
                state_dir,
                state_dir / HOST_KEY,
                state_dir / AUTHORIZED_KEYS,
                shells.force_command(state_dir),
            )
        )
        self._power_lock = asyncio.Lock()
        self._power_tasks: set[asyncio.Task[None]] = set()
        self.seeded: list[SystemClosure] = []

    # -- identity ----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The node's name (also its hostname and colmena node name)."""
        return self.spec.name

    @property
    def port(self) -> int:
        """The loopback port its sshd listens on (stable across power cycles)."""
        return self._sshd.port

    @property
    def sshd_pid(self) -> int | None:
        """The sshd listener's pid while SSH is up."""
        return self._sshd.pid

    def known_hosts_line(self) -> str:
        """This node's line for an OpenSSH known_hosts file."""
        key = " ".join(self.host_key_public.split()[:2])
        return f"[{self.host}]:{self.port} {key}"

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the node's filesystem on first use, power it on and wait until SSH listens."""
        if not (self.state_dir / HOST_KEY).exists():
            self._create()
        self.host_key_public = (self.state_dir / (HOST_KEY + ".pub")).read_text().strip()
        keys = self.state_dir / AUTHORIZED_KEYS
        keys.write_text(self._client_public_key.strip() + "\n")
        keys.chmod(0o600)
        await self.power_on()

    def new_host_key(self) -> None:
        """Make a new SSH host key (as NixOS does on the first boot of a fresh image); sshd
        presents it from its next start."""
        pair = write_ed25519_keypair(self.state_dir / HOST_KEY, f"root@{self.name}")
        self.host_key_public = pair.public_line

    def reimage(self, system: SystemClosure | None) -> None:
        """The BMC wrote a fresh image while the node was off: its next boot is that image's
        first. A new SSH host key (NixOS makes one on first boot) and, when labsim can read what
        the image holds, only that system: generation 1, booted, failed units and armed faults
        gone. Any other image changes only the host key."""
        self.new_host_key()
        if system is None:
            return
        self.root.reimage(system)
        with self.files.editing() as state:
            state.failed_units = []
            state.pending_fault = None
            state.broken_systems = {}

    def _create(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.new_host_key()
        identity = NodeIdentity(
            name=self.name,
            slot=self.spec.slot,
            module=self.spec.module,
            tags=self.spec.tags,
            k3s_role=self.spec.k3s_role,
            user=self.user,
            trusted_users=tuple(sorted({"root", self.user})),
            mounts=default_mounts(self.spec.module),
            k3s_members_file=str(self._k3s_members_file) if self._k3s_members_file else None,
            power_requests=self._power_requests,
        )
        self.files.write_identity(identity)
        (self.state_dir / "etc/hostname").write_text(self.name + "\n")
        for unit, message in _FIRST_BOOT_LOG:
            journal.append(self.state_dir, unit, message)
        self.seeded = seed_closures(self.spec, self._seed_count)
        now = time.time()
        ages = _SEED_AGES_DAYS[-len(self.seeded) :]
        self.root.seed(self.seeded, [now - days * 86400 for days in ages])
        with self.files.editing() as state:
            state.power = False

    async def stop(self) -> None:
        """Stop sshd and every pending power transition; leaves no process behind."""
        for task in list(self._power_tasks):
            task.cancel()
        await asyncio.gather(*self._power_tasks, return_exceptions=True)
        async with self._power_lock:
            await self._halt()

    # -- power -------------------------------------------------------------------------------

    @property
    def powered(self) -> bool:
        """Whether the node is powered on (SSH may still be down or booting)."""
        return self.files.load_state().power

    async def power_on(self) -> None:
        """Boot: the boot default becomes current, uptime restarts, then sshd starts."""
        async with self._power_lock:
            await self._boot()

    async def power_off(self) -> None:
        """Cut power: sshd and every session end, connections are refused afterwards."""
        async with self._power_lock:
            await self._halt()

    async def reset(self) -> None:
        """Reboot: like power off then on."""
        async with self._power_lock:
            await self._halt()
            await self._boot()

    async def _boot(self) -> None:
        if self.files.load_state().power:
            return
        with self.files.editing() as state:
            state.power = True
            state.reboot()
            default = self.root.boot_default() or self.root.profile_path()
            if default:
                self.root.set_current_system(default)
                self.root.set_booted_system(default)
                broken = state.broken_systems.get(default)
                state.failed_units = sorted(broken.units) if broken else []
            failed = list(state.failed_units)
        if self.boot_delay > 0:
            # A simulated boot takes time; nothing to wait for but the clock.
            await asyncio.sleep(self.boot_delay)
        system = self._running_system()
        hostname, version = self._console_identity(system)
        kernel = system.kernel_version if system else "unknown"
        self.console.boot(hostname, self.spec.module, version, kernel, failed)
        await self._sshd.start(self._sshd.port)

    def _running_system(self) -> SystemClosure | None:
        current = self.root.current_system()
        return self.root.system_info(current) if current else None

    def _console_identity(self, system: SystemClosure | None) -> tuple[str, str]:
        """The hostname and NixOS version `system` (the running one) shows on the console (a
        flashed image calls itself by its own hostname)."""
        if system is None:
            return self.name, "unknown"
        return system.node, system.nixos_version

    def typed_on_console(self, line: str) -> None:
        """A line typed on the serial console (the BMC's `uart send`): echoed and answered as
        the login prompt would; nothing when the node is off."""
        if not self.powered:
            return
        self.console.typed(line, *self._console_identity(self._running_system()))

    async def _halt(self) -> None:
        await self._end_ssh()
        with self.files.editing() as state:
            state.power = False

    async def _end_ssh(self) -> None:
        # Sessions first go with sshd; their commands run in the shell server, so end those too.
        await self._sshd.stop()
        await self._shells.end_commands(self.state_dir)

    def on_power_change(self, on: bool, reason: str = "") -> asyncio.Task[None]:
        """BMC callback: start the matching transition in the background (await it if you like).

        `on=False` powers off; `on=True` powers on, or reboots when `reason` is reset/reboot and
        the node is already on. Transitions run one at a time in call order.
        """
        coro: Coroutine[Any, Any, None]
        if not on:
            coro = self.power_off()
        elif reason in ("reset", "reboot") and self.powered:
            coro = self.reset()
        else:
            coro = self.power_on()
        task = asyncio.get_running_loop().create_task(coro, name=f"power-{self.name}")
        self._power_tasks.add(task)
        task.add_done_callback(self._power_tasks.discard)
        return task

    def reboot_from_os(self) -> asyncio.Task[None]:
        """`systemctl reboot` on the node: halt and boot again (a new boot id, the boot default
        booted); with `hang_on_reboot` armed it halts and stays down until the BMC resets it."""
        self.os_reboot_asked.set()
        if self._reboot_hangs:
            self._reboot_hangs = False
            return self.on_power_change(False)
        return self.on_power_change(True, "reboot")

    async def settle(self) -> None:
        """Wait for every pending power transition started by `on_power_change`."""
        while self._power_tasks:
            await asyncio.gather(*list(self._power_tasks))

    # -- knobs -------------------------------------------------------------------------------

    def fail_activation(self, units: Sequence[str] = ("k3s.service",)) -> None:
        """The next switch/test activation switches but exits 4 with these units failed.

        The system activated then stays broken: re-activating or booting it fails them again.
        """
        with self.files.editing() as state:
            state.pending_fault = BrokenSystem(units=tuple(units), exit_code=4)

    def degrade_after_switch(self, units: Sequence[str] = ("k3s.service",)) -> None:
        """The next activation exits 0, but these units fail right after (system degraded)."""
        with self.files.editing() as state:
            state.pending_fault = BrokenSystem(units=tuple(units), exit_code=0)

    def clear_faults(self) -> None:
        """Forget armed faults, broken systems, hangs and failed units."""
        with self.files.editing() as state:
            state.pending_fault = None
            state.broken_systems = {}
            state.failed_units = []
            state.hang_seconds = 0.0
            state.sudo_needs_password = False

    async def ssh_down(self) -> None:
        """Stop sshd while the node stays powered (connections refused)."""
        async with self._power_lock:
            await self._end_ssh()

    async def ssh_up(self) -> None:
        """Start sshd again (only if the node is powered)."""
        async with self._power_lock:
            if self.files.load_state().power and not self._sshd.running:
                await self._sshd.start(self._sshd.port)

    def booted_generation(self, number: int) -> None:
        """The node booted generation `number` and was switched to its current one since, so
        it runs the current system on the booted kernel and initrd (a reboot is pending when
        they differ, as between two nixpkgs revisions)."""
        target = next(g.path for g in self.root.generations() if g.number == number)
        self.root.set_booted_system(target)

    def hang_on_reboot(self) -> None:
        """The next `systemctl reboot` never comes back (a hung shutdown or boot): the node stays
        down, while the BMC still records it as on, until a BMC reset or power cycle."""
        self._reboot_hangs = True

    def slow_boot(self, seconds: float) -> None:
        """Future boots take this long before sshd listens."""
        self.boot_delay = seconds

    def hang_commands(self, seconds: float) -> None:
        """Every SSH command waits this long before running (0 to stop)."""
        with self.files.editing() as state:
            state.hang_seconds = seconds

    def disk_usage(self, path: str, used_fraction: float) -> None:
        """Set how full the filesystem mounted at (or holding) `path` is, 0.0–1.0."""
        mounts = self.files.identity().mounts
        target = max(
            (
                m.target
                for m in mounts
                if path == m.target or path.startswith(m.target.rstrip("/") + "/")
            ),
            key=len,
            default="/",
        )
        with self.files.editing() as state:
            state.disk_used[target] = used_fraction

    def set_k3s_ready(self, ready: bool) -> None:
        """Whether this node's kubelet reports Ready (when powered and k3s.service is fine)."""
        with self.files.editing() as state:
            state.k3s_ready = ready

    def sudo_needs_password(self, needed: bool = True) -> None:
        """Whether sudo asks the login user for a password (no NOPASSWD rule, or NixOS's
        `security.sudo.wheelNeedsPassword` left at its default `true`)."""
        with self.files.editing() as state:
            state.sudo_needs_password = needed

    # -- observations ------------------------------------------------------------------------

    def generations(self) -> list[Generation]:
        """The system profile's generations, oldest first."""
        return self.root.generations()

    def current_system(self) -> str:
        """The store path `/run/current-system` points to."""
        return self.root.current_system() or ""

    def current_generation(self) -> int:
        """The generation number the system profile points to."""
        return self.root.current_generation() or 0

    def boot_default(self) -> str:
        """The system the bootloader boots next."""
        return self.root.boot_default() or ""

    def failed_units(self) -> list[str]:
        """Units currently failed on the node."""
        return sorted(self.files.load_state().failed_units)

    def uptime(self) -> float:
        """Seconds since the last boot."""
        return time.time() - self.files.load_state().boot_time

    def log(self, unit: str, message: str) -> None:
        """Add a line to the node's journal, as `unit` would log it."""
        journal.append(self.state_dir, unit, message)

    def commands_received(self) -> list[str]:
        """Every command line received over SSH, oldest first."""
        log = self.state_dir / COMMAND_LOG
        if not log.exists():
            return []
        return [json.loads(line)["command"] for line in log.read_text().splitlines() if line]

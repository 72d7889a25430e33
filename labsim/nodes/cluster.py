"""A set of simulated nodes with one client key, one known_hosts file and the tool doubles.

Usage:
    spec = NodeSpec("tp-node3", 3, tags=("k3s-server",), k3s_role="server")
    async with SimCluster([spec], user="deploy") as lab:
        lab.write_inventory(flake_dir)
        tools = lab.write_tools(bin_dir)
        # ssh -F lab.ssh_config_path -p lab["tp-node3"].port deploy@127.0.0.1 nixos-version
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import asyncssh

from labsim.colmena.install import install_colmena_double, install_nix_double
from labsim.nodes import k3s_workloads, power_requests
from labsim.nodes.hostkeys import write_ed25519_keypair
from labsim.nodes.k3s_workloads import WorkloadsFile
from labsim.nodes.login_user import ensure_login_user
from labsim.nodes.node import NodeSpec, SimNode
from labsim.nodes.shell_server import ShellServer

DEFAULT_SPECS = (NodeSpec("tp-node3", 3, "cm4", ("k3s-server", "cm4"), "server"),)


@dataclass(frozen=True)
class ToolPaths:
    """Wrapper scripts written by `SimCluster.write_tools`."""

    colmena: Path
    nix: Path


class SimCluster:
    """Starts N simulated nodes (in parallel) and writes what SSH clients need to reach them.

    `user` is the SSH login of every node: "deploy" by default (see `login_user` for how a name
    other than the current user is accepted); it needs `sudo` for privileged commands, like a
    real non-root deploy user. `user="root"` (when running as root) logs in as root itself.
    """

    def __init__(
        self,
        specs: Sequence[NodeSpec] = DEFAULT_SPECS,
        *,
        directory: Path | None = None,
        user: str = "deploy",
        boot_delay: float = 0.0,
        seed_generations: int = 3,
    ) -> None:
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate node names in {names}")
        self.specs = list(specs)
        self.user = user
        self.hive_schema: str | None = "v0"
        """The infra flake's `colmenaHive.__schema` in inventory.json: "v0", a hive made with
        colmena 0.4.0's `lib.makeHive`, which the colmena double (0.4.0 by default) reads;
        "v0.5" for colmena main's; None for a flake with only the raw `colmena` output."""
        self._boot_delay = boot_delay
        self._seed_generations = seed_generations
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._directory = directory
        self.nodes: list[SimNode] = []
        self._shells: ShellServer | None = None
        self._power_address: str | None = None
        self._power_transport: asyncio.DatagramTransport | None = None

    # -- paths -------------------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        """The lab's directory (node state dirs, keys, known_hosts, local store)."""
        if self._directory is None:
            raise RuntimeError("SimCluster is not started")
        return self._directory

    @property
    def client_key_path(self) -> Path:
        """Private key (OpenSSH ed25519, 0600) that every node authorizes."""
        return self.directory / "client/id_ed25519"

    @property
    def known_hosts_path(self) -> Path:
        """known_hosts listing every node as `[127.0.0.1]:PORT`."""
        return self.directory / "client/known_hosts"

    @property
    def ssh_config_path(self) -> Path:
        """ssh_config for `ssh -F` / colmena's SSH_CONFIG_FILE: the client key and known_hosts."""
        return self.directory / "client/ssh_config"

    @property
    def local_store_dir(self) -> Path:
        """Host directory standing for the deployer's /nix/store (builds of the doubles)."""
        return self.directory / "local/nix/store"

    @property
    def k3s_members_path(self) -> Path:
        """The file listing the simulated k3s cluster's members."""
        return self.directory / "k3s-members.json"

    @property
    def shell_server_pid(self) -> int | None:
        """The process that forks every node's commands (see `ShellServer`), while running."""
        return self._shells.pid if self._shells is not None else None

    async def connect(self, node: SimNode) -> asyncssh.SSHClientConnection:
        """An SSH connection to `node` as its login user, with the lab's client key and
        known_hosts (what labbot's SshPool does, for tests that talk to nodes directly)."""
        return await asyncssh.connect(
            node.host,
            node.port,
            username=node.user,
            client_keys=[str(self.client_key_path)],
            known_hosts=str(self.known_hosts_path),
            config=None,
        )

    def node(self, name: str) -> SimNode:
        """The node called `name`."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no simulated node {name!r}; known: {[n.name for n in self.nodes]}")

    def __getitem__(self, name: str) -> SimNode:
        return self.node(name)

    def on_bmc_power_change(self, node_index: int, on: bool, reason: str) -> None:
        """BMC power observer: `node_index` is the 0-based slot index (slot = index + 1).

        Wire it with `bmc.on_power_change(cluster.on_bmc_power_change)`; slots without a
        simulated node are ignored. Transitions run in the background (see `SimNode.settle`).
        """
        for node in self.nodes:
            if node.spec.slot == node_index + 1:
                node.on_power_change(on, reason)

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> SimCluster:
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
        """Create keys and node directories, start every node's sshd, write known_hosts."""
        ensure_login_user(self.user)
        if self._directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="labsim-nodes-")
            self._directory = Path(self._tmp.name)
        client = write_ed25519_keypair(self.client_key_path, "labbot@labsim")
        members = [
            {
                "name": s.name,
                "state_dir": str(self._state_dir(s)),
                "role": s.k3s_role,
                "slot": s.slot,
            }
            for s in self.specs
            if s.k3s_role
        ]
        self.k3s_members_path.write_text(json.dumps(members, indent=2))
        self.workloads.save(
            k3s_workloads.seed([(s.name, s.k3s_role or "") for s in self.specs if s.k3s_role])
        )
        self._power_address = power_requests.new_address()
        self._power_transport = await power_requests.listen(
            self._power_address, self._power_request
        )
        self._shells = ShellServer(self.directory / "shell-server.log")
        await self._shells.start()
        self.nodes = [
            SimNode(
                spec,
                self._state_dir(spec),
                shells=self._shells,
                client_public_key=client.public_line,
                user=self.user,
                k3s_members_file=self.k3s_members_path,
                power_requests=self._power_address,
                seed_generations=self._seed_generations,
                boot_delay=self._boot_delay,
            )
            for spec in self.specs
        ]
        try:
            await asyncio.gather(*(node.start() for node in self.nodes))
        except BaseException:
            await self.stop()
            raise
        for node in self.nodes:
            for closure in node.seeded:
                closure.materialize(self.local_store_dir)
        self._write_client_files()

    def _state_dir(self, spec: NodeSpec) -> Path:
        return self.directory / "nodes" / spec.name

    def _write_client_files(self) -> None:
        lines = [node.known_hosts_line() for node in self.nodes]
        self.known_hosts_path.write_text("\n".join(lines) + "\n")
        self.ssh_config_path.write_text(
            "\n".join(
                [
                    "# labsim: SSH client settings for the simulated nodes",
                    "Host *",
                    f"    IdentityFile {self.client_key_path}",
                    "    IdentitiesOnly yes",
                    f"    UserKnownHostsFile {self.known_hosts_path}",
                    "    GlobalKnownHostsFile /dev/null",
                    "    StrictHostKeyChecking yes",
                    "    PasswordAuthentication no",
                    "    ConnectTimeout 5",
                    "    LogLevel ERROR",
                    "",
                ]
            )
        )

    @property
    def workloads(self) -> WorkloadsFile:
        """What runs on the k3s cluster (pods, Longhorn volumes, cordons, certificates): knobs."""
        return WorkloadsFile.beside(self.k3s_members_path)

    def _power_request(self, action: str, state_dir: str) -> None:
        node = next((n for n in self.nodes if str(n.state_dir) == state_dir), None)
        if node is not None and action == "reboot":
            node.reboot_from_os()

    async def stop(self) -> None:
        """Stop every node and remove the lab directory if the cluster created it."""
        if self._power_transport is not None:
            self._power_transport.close()
            self._power_transport = None
        nodes, self.nodes = self.nodes, []
        results = await asyncio.gather(*(node.stop() for node in nodes), return_exceptions=True)
        shells, self._shells = self._shells, None
        if shells is not None:
            await shells.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
            self._directory = None
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    # -- files for clients -------------------------------------------------------------------

    def inventory(self) -> dict[str, object]:
        """The inventory document (`inventory.json`) the colmena double and the infra flake read."""
        hive: dict[str, object] = {"hive_schema": self.hive_schema} if self.hive_schema else {}
        return {
            **hive,
            "nodes": {
                node.name: {
                    "host": node.host,
                    "port": node.port,
                    "user": node.user,
                    "tags": list(node.spec.tags),
                    "slot": node.spec.slot,
                    "module": node.spec.module,
                    "k3s_role": node.spec.k3s_role,
                }
                for node in self.nodes
            },
        }

    def write_inventory(self, flake_dir: Path) -> Path:
        """Write `<flake_dir>/inventory.json` for the current ports."""
        flake_dir.mkdir(parents=True, exist_ok=True)
        path = flake_dir / "inventory.json"
        path.write_text(json.dumps(self.inventory(), indent=2, sort_keys=True) + "\n")
        return path

    def write_tools(self, bin_dir: Path) -> ToolPaths:
        """Write `colmena` and `nix` wrapper scripts wired to this lab's SSH config and store."""
        return ToolPaths(
            colmena=install_colmena_double(
                bin_dir, ssh_config=self.ssh_config_path, nix_store=self.local_store_dir
            ),
            nix=install_nix_double(bin_dir, nix_store=self.local_store_dir),
        )

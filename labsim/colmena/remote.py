"""Run commands on a node with the real OpenSSH client, as colmena's `src/nix/host/ssh.rs` does.

Every call gets `-o StrictHostKeyChecking=accept-new -o BatchMode=yes -T -p PORT` and
`-F $SSH_CONFIG_FILE` when set; non-root users get `sudo -H --` on activation commands.
"""

from __future__ import annotations

import asyncio
import os
import shlex
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from labsim.colmena.hive import InventoryNode

LineSink = Callable[[str, bool], Awaitable[None]]
PRIVILEGE_ESCALATION = ("sudo", "-H", "--")


@dataclass(frozen=True)
class SshTarget:
    """Where and as whom to connect."""

    host: str
    port: int | None
    user: str | None

    @classmethod
    def of(cls, node: InventoryNode) -> SshTarget:
        """The target of an inventory node (which must have a host)."""
        return cls(host=node.host or node.name, port=node.port, user=node.user)

    @property
    def destination(self) -> str:
        """`user@host` (or just host when no user is configured)."""
        return f"{self.user}@{self.host}" if self.user else self.host

    def ssh_argv(self, command: Sequence[str]) -> list[str]:
        """The full `ssh ...` argv for a remote command."""
        argv = ["ssh", "-o", "StrictHostKeyChecking=accept-new", "-o", "BatchMode=yes", "-T"]
        if self.port is not None:
            argv += ["-p", str(self.port)]
        config = os.environ.get("SSH_CONFIG_FILE")
        if config:
            argv += ["-F", config]
        argv += [self.destination, shlex.join(command)]
        return argv

    def escalated(self, command: Sequence[str]) -> list[str]:
        """`command` with the privilege escalation prefix for non-root users."""
        if self.user in (None, "root"):
            return list(command)
        return [*PRIVILEGE_ESCALATION, *command]


async def run_remote(
    target: SshTarget,
    command: Sequence[str],
    sink: LineSink,
    *,
    stdin_data: bytes | None = None,
) -> int:
    """Run `command` on the target, feeding every output line to `sink(line, is_stdout)`."""
    proc = await asyncio.create_subprocess_exec(
        *target.ssh_argv(command),
        stdin=asyncio.subprocess.PIPE if stdin_data is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None

    async def pump(stream: asyncio.StreamReader, is_stdout: bool) -> None:
        while True:
            raw = await stream.readline()
            if not raw:
                return
            await sink(raw.decode(errors="replace").rstrip("\n"), is_stdout)

    async def feed() -> None:
        if proc.stdin is None or stdin_data is None:
            return
        try:
            proc.stdin.write(stdin_data)
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            proc.stdin.close()

    await asyncio.gather(pump(proc.stdout, True), pump(proc.stderr, False), feed())
    return await proc.wait()

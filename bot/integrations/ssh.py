"""SSH to the nodes (asyncssh): one connection per node, reused, with known_hosts always checked.

Must not disable host key checking, read ~/.ssh/config or an agent, or take shell strings.

Usage::

    async with SshPool(config.ssh, [SshTarget.of(node) for node in nodes]) as pool:
        result = await pool.run("tp-node3", ["readlink", "-e", "/run/current-system"])
        await pool.run("tp-node3", ["systemctl", "is-system-running"], fresh=True)
        await pool.run("tp-node3", ["nix-env", "--list-generations", ...], sudo=True)

Remote commands are argv lists joined with `shlex.quote` (sshd hands the line to a shell).
asyncssh's exceptions are translated here: `HostKeyChanged`, `UnknownHostKey`, `LoginRefused`,
`NodeUnreachable`, `CommandTimedOut` (all `SshError`, an `IntegrationError`).
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import asyncssh

from bot import messages
from bot.config import Node, SshConfig
from bot.errors import IntegrationError

SUDO = ("sudo", "-n", "--")
MAX_OUTPUT_CHARS = 1_000_000


class SshError(IntegrationError):
    """Raised when SSH to a node fails; `node` names it."""

    def __init__(self, node: str, text: str) -> None:
        super().__init__(text)
        self.node = node


class NodeUnreachable(SshError):
    """Raised when the node cannot be reached or the connection drops (refused, timeout, reset)."""

    def __init__(self, node: str, address: str, reason: str) -> None:
        super().__init__(node, messages.ssh_unreachable(node, address, reason))
        self.reason = reason


class HostKeyChanged(SshError):
    """Raised when the node's host key differs from the one known_hosts lists for it."""

    def __init__(self, node: str, address: str, known_hosts: Path) -> None:
        super().__init__(node, messages.ssh_host_key_changed(node, address, str(known_hosts)))


class UnknownHostKey(SshError):
    """Raised when known_hosts has no key for the node (labbot never trusts on first use)."""

    def __init__(self, node: str, address: str, known_hosts: Path) -> None:
        super().__init__(node, messages.ssh_host_key_unknown(node, address, str(known_hosts)))


class LoginRefused(SshError):
    """Raised when the node refuses the client key for the login user."""

    def __init__(self, node: str, user: str) -> None:
        super().__init__(node, messages.ssh_login_refused(node, user))


class CommandTimedOut(SshError):
    """Raised when a remote command runs longer than its timeout (the channel is closed)."""

    def __init__(self, node: str, command: str, seconds: float) -> None:
        super().__init__(node, messages.ssh_command_timed_out(node, command, seconds))


@dataclass(frozen=True)
class SshTarget:
    """Where a node's sshd is and whom to log in as."""

    name: str
    host: str
    port: int
    user: str

    @classmethod
    def of(cls, node: Node) -> SshTarget:
        """The target of an inventory node."""
        return cls(node.name, node.host, node.ssh_port, node.ssh_user)

    @property
    def address(self) -> str:
        """`host:port`, for messages."""
        return f"{self.host}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        """The name known_hosts uses: `host`, or `[host]:port` off port 22."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


@dataclass(frozen=True)
class CommandResult:
    """A finished remote command: exit status and its (decoded, bounded) output."""

    exit_status: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """Whether it exited 0."""
        return self.exit_status == 0

    @property
    def failure_line(self) -> str:
        """Why it failed, in one line: the first line of stderr, or `exit N` when it said nothing."""
        return (self.stderr.strip().splitlines() or [f"exit {self.exit_status}"])[0]


def remote_command(argv: Sequence[str], *, sudo: bool = False) -> str:
    """The command line sent to sshd: each argument quoted, nothing interpreted by a shell."""
    if isinstance(argv, str):
        raise TypeError("argv must be a list of arguments, not a string")
    if not argv:
        raise ValueError("argv is empty")
    words = [*SUDO, *argv] if sudo else list(argv)
    return " ".join(shlex.quote(word) for word in words)


class SshPool:
    """Connections to the nodes, opened on first use and closed together; see the module doc."""

    def __init__(self, config: SshConfig, targets: Iterable[SshTarget]) -> None:
        self._config = config
        self._targets = {target.name: target for target in targets}
        self._connections: dict[str, asyncssh.SSHClientConnection] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.connections_opened = 0

    async def __aenter__(self) -> SshPool:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self, node: str, *, fresh: bool = False) -> None:
        """Make sure a logged-in connection exists; `fresh` drops the old one first."""
        await self._connection(node, fresh=fresh)

    async def run(
        self,
        node: str,
        argv: Sequence[str],
        *,
        sudo: bool = False,
        fresh: bool = False,
        timeout: float | None = None,
    ) -> CommandResult:
        """Run `argv` on the node; a non-zero exit is a result, not an error."""
        command = remote_command(argv, sudo=sudo)
        seconds = timeout if timeout is not None else self._config.command_timeout_seconds
        process, connection = await self._start(node, command, fresh=fresh)
        try:
            completed = await process.wait(check=False, timeout=seconds)
        except asyncssh.TimeoutError:
            raise CommandTimedOut(node, command, seconds) from None
        except (OSError, asyncssh.Error) as exc:
            await self._forget(node, connection)
            raise NodeUnreachable(node, self._targets[node].address, failure_reason(exc)) from None
        except asyncio.CancelledError:
            process.close()  # the connection may be kept: leave no session open on it
            raise
        status = completed.exit_status
        if status is None:  # the session ended by a signal or the connection closed
            status = 255
        return CommandResult(status, _text(completed.stdout), _text(completed.stderr))

    async def close(self) -> None:
        """Close every connection."""
        for name in list(self._connections):
            await self._forget(name)

    async def _start(
        self, node: str, command: str, *, fresh: bool
    ) -> tuple[asyncssh.SSHClientProcess[str], asyncssh.SSHClientConnection]:
        """The command started on the node's connection. A kept connection found closed when
        the command's session is opened (the node rebooted, sshd restarted, a NAT forgot it)
        is replaced once: the command had not started, so logging in again cannot run it twice.
        A live connection that refuses a session (sshd's MaxSessions) is left to the commands
        still running on it."""
        connection, kept = await self._connection(node, fresh=fresh)
        try:
            return await connection.create_process(command), connection
        except (OSError, asyncssh.Error) as exc:
            if not connection.is_closed():
                raise NodeUnreachable(
                    node, self._targets[node].address, failure_reason(exc)
                ) from None
            await self._forget(node, connection)
            if not kept:
                raise NodeUnreachable(
                    node, self._targets[node].address, failure_reason(exc)
                ) from None
        connection, _ = await self._connection(node, fresh=False)
        try:
            return await connection.create_process(command), connection
        except (OSError, asyncssh.Error) as exc:
            await self._forget(node, connection)
            raise NodeUnreachable(node, self._targets[node].address, failure_reason(exc)) from None

    async def _connection(
        self, node: str, *, fresh: bool
    ) -> tuple[asyncssh.SSHClientConnection, bool]:
        """The node's connection and whether it was kept from before (not opened just now)."""
        lock = self._locks.setdefault(node, asyncio.Lock())
        async with lock:
            existing = self._connections.get(node)
            if existing is not None and (fresh or existing.is_closed()):
                await self._forget(node, existing)
                existing = None
            if existing is not None:
                return existing, True
            connection = await self._open(self._targets[node])
            self._connections[node] = connection
            self.connections_opened += 1
            return connection, False

    async def _open(self, target: SshTarget) -> asyncssh.SSHClientConnection:
        config = self._config
        try:
            return await login(
                target, config, keepalive_interval=max(config.connect_timeout_seconds, 5)
            )
        except asyncssh.HostKeyNotVerifiable:
            if _listed(config.known_hosts_file, target):
                raise HostKeyChanged(target.name, target.address, config.known_hosts_file) from None
            raise UnknownHostKey(target.name, target.address, config.known_hosts_file) from None
        except asyncssh.PermissionDenied:
            raise LoginRefused(target.name, target.user) from None
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            raise NodeUnreachable(target.name, target.address, failure_reason(exc)) from None

    async def _forget(
        self, node: str, connection: asyncssh.SSHClientConnection | None = None
    ) -> None:
        """Close the node's connection (only if it is still `connection`, when one is given:
        another command may have replaced it already)."""
        current = self._connections.get(node)
        if current is None or (connection is not None and current is not connection):
            return
        del self._connections[node]
        current.close()
        try:
            await asyncio.wait_for(current.wait_closed(), self._config.connect_timeout_seconds)
        except (TimeoutError, OSError, asyncssh.Error):
            pass  # already gone; nothing more to release


def _listed(known_hosts: Path, target: SshTarget) -> bool:
    """Whether known_hosts has any key for the target (so a mismatch means the key changed)."""
    try:
        known = asyncssh.read_known_hosts(str(known_hosts))
    except (OSError, ValueError):
        return False
    trusted, authorities, revoked, *_ = known.match(target.host, "", target.port)
    return bool(trusted or authorities or revoked)


async def login(
    target: SshTarget, config: SshConfig, **options: Any
) -> asyncssh.SSHClientConnection:
    """Log in the way labbot always does: the configured key only (no agent, password or
    keyboard-interactive), known_hosts always checked, no ~/.ssh/config; `options` add to it."""
    return await asyncssh.connect(
        target.host,
        target.port,
        username=target.user,
        client_keys=[str(config.key_file)],
        known_hosts=str(config.known_hosts_file),
        config=None,
        agent_path=None,
        password=None,
        kbdint_auth=False,
        connect_timeout=config.connect_timeout_seconds,
        login_timeout=config.connect_timeout_seconds,
        **options,
    )


def failure_reason(exc: BaseException) -> str:
    """A connection failure in a few words (for "NODE is unreachable: …")."""
    if isinstance(exc, TimeoutError | asyncssh.TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    text = str(exc).strip() or type(exc).__name__
    return text.rstrip(".")


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    text = str(value)
    return text[:MAX_OUTPUT_CHARS]

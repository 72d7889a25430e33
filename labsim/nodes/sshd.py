"""One real OpenSSH sshd (`/usr/sbin/sshd -D -e -f CONFIG`) serving a simulated node on loopback.

Writes the node's sshd_config (key-only login, a given ForceCommand), starts sshd on a
given or free port, waits for its "Server listening" line, drains its log, and stops it leaving no
process behind. It knows nothing about NixOS state.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from labsim.nodes.proctree import die_with_parent, end_tree, kill_tree

SSHD_BINARY = "/usr/sbin/sshd"
PRIVSEP_DIR = Path("/run/sshd")
_READY_TIMEOUT = 10.0


class SshdError(RuntimeError):
    """Raised when sshd cannot be started (bad config, port in use, missing binary)."""


class PortInUse(SshdError):
    """Raised when sshd could not bind its port."""


@dataclass(frozen=True)
class SshdConfig:
    """Where a node's sshd finds its keys and what it runs for every command."""

    state_dir: Path
    host_key: Path
    authorized_keys: Path
    force_command: str  # what every session runs, whatever the client asked (the node shell)

    @property
    def config_path(self) -> Path:
        """The sshd_config file inside the node's state directory."""
        return self.state_dir / "etc/ssh/sshd_config"

    @property
    def log_path(self) -> Path:
        """Where sshd's own log (stderr with -e) is appended."""
        return self.state_dir / "var/log/sshd.log"

    def render(self, port: int) -> str:
        """sshd_config text for listening on 127.0.0.1:port."""
        return "\n".join(
            [
                "# labsim: one simulated node",
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {self.host_key}",
                "PidFile none",
                f"AuthorizedKeysFile {self.authorized_keys}",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "UsePAM no",
                "StrictModes no",
                "UseDNS no",
                "PrintMotd no",
                "PrintLastLog no",
                "AllowTcpForwarding no",
                "X11Forwarding no",
                "PermitTTY no",
                "MaxStartups 100:30:200",
                "MaxSessions 50",
                "LogLevel INFO",
                # bash sources ~/.bashrc for commands run by sshd only at SHLVL < 2; starting at 1
                # keeps the host user's dotfiles (pyenv, conda, ...) out of every simulated command.
                "SetEnv SHLVL=1",
                f"ForceCommand {self.force_command}",
                "",
            ]
        )


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_sshd_available() -> None:
    """Fail early without sshd; create its privilege separation directory when root."""
    if not Path(SSHD_BINARY).exists():
        raise SshdError(f"{SSHD_BINARY} is not installed (Debian package openssh-server)")
    ensure_privsep_dir()


def ensure_privsep_dir() -> None:
    """sshd started as root insists on /run/sshd (Debian's unit creates it via RuntimeDirectory)."""
    if os.geteuid() == 0 and not PRIVSEP_DIR.is_dir():
        PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)


class SshdProcess:
    """A running sshd for one node.

    Usage: `sshd = SshdProcess(config); await sshd.start(port=0); ...; await sshd.stop()`.
    """

    def __init__(self, config: SshdConfig) -> None:
        self.config = config
        self.port = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        """The listener's pid while running."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """Whether the listener process is up."""
        return self._proc is not None and self._proc.returncode is None

    async def start(self, port: int = 0, *, attempts: int = 5) -> int:
        """Start listening on `port` (0 = pick a free one, retrying on collisions); return it."""
        check_sshd_available()
        last_error: SshdError | None = None
        for _ in range(attempts):
            chosen = port or free_port()
            try:
                await self._start_on(chosen)
                return chosen
            except PortInUse as exc:
                last_error = exc
                if port:
                    # Our fixed port is briefly taken by someone else: nothing to wait on but time.
                    await asyncio.sleep(0.1)
        raise last_error or SshdError("sshd did not start")

    async def _start_on(self, port: int) -> None:
        self.config.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.config.config_path.write_text(self.config.render(port))
        self.config.log_path.parent.mkdir(parents=True, exist_ok=True)
        proc = await asyncio.create_subprocess_exec(
            SSHD_BINARY,
            "-D",
            "-r",  # no re-exec per connection: a fork is enough here and saves CPU per login
            "-e",
            "-f",
            str(self.config.config_path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        try:
            early = await self._await_listening(proc)
        except BaseException:
            # Timed out or cancelled (e.g. the node stopped mid-boot): never leak the process.
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
            raise
        self._append_log(early)
        if not early or not early[-1].startswith("Server listening on"):
            await proc.wait()
            text = "; ".join(early) or f"exit status {proc.returncode}"
            if "Address already in use" in text:
                raise PortInUse(text)
            raise SshdError(f"sshd failed to start: {text}")
        self.port = port
        self._proc = proc
        log = self._open_log()
        self._drain = asyncio.create_task(self._drain_log(proc, log), name=f"sshd-log-{port}")

    async def _await_listening(self, proc: asyncio.subprocess.Process) -> list[str]:
        """sshd's first log lines, up to "Server listening on ..." (or its exit)."""
        assert proc.stderr is not None
        early: list[str] = []
        try:
            async with asyncio.timeout(_READY_TIMEOUT):
                while True:
                    raw = await proc.stderr.readline()
                    if not raw:
                        return early
                    line = raw.decode(errors="replace").rstrip()
                    early.append(line)
                    if line.startswith("Server listening on"):
                        return early
        except TimeoutError:
            raise SshdError(f"sshd did not report listening within {_READY_TIMEOUT}s") from None

    def _append_log(self, lines: list[str]) -> None:
        with open(self.config.log_path, "a") as handle:
            for line in lines:
                handle.write(line + "\n")

    def _open_log(self) -> BinaryIO:
        return open(self.config.log_path, "ab")  # closed by _drain_log

    async def _drain_log(self, proc: asyncio.subprocess.Process, log: BinaryIO) -> None:
        assert proc.stderr is not None
        with log as handle:
            while True:
                raw = await proc.stderr.readline()
                if not raw:
                    return
                handle.write(raw)
                handle.flush()

    async def stop(self) -> None:
        """End every session (commands first), then the listener; idempotent."""
        proc, self._proc = self._proc, None
        drain, self._drain = self._drain, None
        if proc is not None and proc.returncode is None:
            try:
                async with asyncio.timeout(5):
                    await end_tree(proc.pid)
            except TimeoutError:
                kill_tree(proc.pid)
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                async with asyncio.timeout(5):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if drain is not None:
            try:
                async with asyncio.timeout(2):
                    await drain
            except TimeoutError:
                drain.cancel()
                await asyncio.gather(drain, return_exceptions=True)

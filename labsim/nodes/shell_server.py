"""The shell server: one warm process per `SimCluster` that forks a node shell per SSH command.

Every simulated SSH command used to start Python and import the node shell afresh (~50 ms of
CPU, most of it imports); on two cores shared with labbot that, not labbot, set the pace of
anything touching many nodes. Now sshd's ForceCommand is a small C program (`shell_client.c`,
compiled once per source version into labsim's cache), which passes its stdin/stdout/stderr
(SCM_RIGHTS), working directory and environment over a Unix SEQPACKET socket; the server forks,
the child takes those descriptors and runs `labsim.nodes.shell`, and the exit status goes back
to the client, which exits with it. To sshd and the SSH client nothing changed.

The commands are children of the server, not of sshd, so ending a node's sshd no longer ends
them: `ShellServer.end_commands(state_dir)` kills a node's running commands (power off, SSH
down), as a power cut would.

Requests (one SEQPACKET message each):
- `run\\0STATE_DIR\\0CWD\\0K=V\\0K=V...` with three descriptors: run a session; reply `STATUS`.
- `end\\0STATE_DIR`: SIGKILL that node's running sessions and reap them; reply `ok`.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import io
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import BinaryIO, NoReturn

import labsim
from labsim.nodes import shell
from labsim.nodes.proctree import die_with_parent

log = logging.getLogger(__name__)

_MAX_REQUEST = 256 * 1024
_FDS_SPACE = socket.CMSG_SPACE(3 * 4)
_STOP_TIMEOUT = 5.0
CLIENT_SOURCE = Path(__file__).with_name("shell_client.c")
PACKAGE_PARENT = Path(labsim.__file__).resolve().parent.parent  # on the server's PYTHONPATH
COMPILERS = ("cc", "gcc", "clang")


class ShellServerError(RuntimeError):
    """Raised when the shell client cannot be built (no C compiler) or the server cannot start."""


def client_binary() -> Path:
    """The compiled shell client, built on first use of this source version and cached."""
    source = CLIENT_SOURCE.read_bytes()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "labsim"
    binary = cache / f"shell-client-{hashlib.sha256(source).hexdigest()[:16]}"
    if binary.exists():
        return binary
    compiler = next((found for c in COMPILERS if (found := shutil.which(c))), None)
    if compiler is None:
        raise ShellServerError(
            "labsim needs a C compiler for the simulated nodes' shell client "
            "(Debian packages: gcc libc6-dev)"
        )
    cache.mkdir(parents=True, exist_ok=True)
    partial = binary.with_name(f"{binary.name}.{os.getpid()}.tmp")
    built = subprocess.run(
        [compiler, "-O2", "-o", str(partial), str(CLIENT_SOURCE)],
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        partial.unlink(missing_ok=True)
        raise ShellServerError(f"building {CLIENT_SOURCE.name} failed: {built.stderr.strip()}")
    os.replace(partial, binary)  # atomic: concurrent labs see a whole binary or none
    return binary


class ShellServer:
    """Starts and stops the server process; renders the ForceCommand that reaches it.

    Usage: `server = ShellServer(log_path); await server.start();
    sshd_config ForceCommand = server.force_command(state_dir); ...; await server.stop()`.
    """

    def __init__(self, log_path: Path) -> None:
        self.client = client_binary()
        # A socket path must fit in 108 bytes; a lab's own directory may be deep (pytest's tmp).
        self._socket_dir = Path(tempfile.mkdtemp(prefix="labsim-shell-"))
        self.socket_path = self._socket_dir / "shell.sock"
        self.log_path = log_path
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        """The server's pid while running."""
        return self._proc.pid if self._proc is not None else None

    def force_command(self, state_dir: Path) -> str:
        """sshd's ForceCommand for the node whose state lives in `state_dir`."""
        return " ".join(
            shlex.quote(str(part)) for part in ("exec", self.client, self.socket_path, state_dir)
        )

    async def start(self) -> None:
        """Bind the socket here (so clients can connect at once) and start the server on it."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as listener:
            listener.bind(str(self.socket_path))
            listener.listen(socket.SOMAXCONN)
            with self._open_log() as log:
                self._proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-S",
                    "-m",
                    "labsim.nodes.shell_server",
                    str(listener.fileno()),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    pass_fds=(listener.fileno(),),
                    env={"PYTHONPATH": str(PACKAGE_PARENT), "PATH": os.environ.get("PATH", "")},
                    start_new_session=True,
                    preexec_fn=die_with_parent,
                )

    def _open_log(self) -> BinaryIO:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        return open(self.log_path, "ab")

    async def end_commands(self, state_dir: Path) -> None:
        """Kill the commands running for one node and wait until they are gone."""
        if self._proc is None or self._proc.returncode is not None:
            return
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
            conn.setblocking(False)
            try:
                await loop.sock_connect(conn, str(self.socket_path))
                await loop.sock_sendall(conn, b"end\0" + os.fsencode(str(state_dir)))
                async with asyncio.timeout(_STOP_TIMEOUT):
                    await loop.sock_recv(conn, 16)
            except (OSError, TimeoutError):
                # The server is gone (its commands died with it: PR_SET_PDEATHSIG) or stuck;
                # either way a stopping node must not fail on it.
                log.warning("labsim shell server did not confirm ending %s's commands", state_dir)

    async def stop(self) -> None:
        """Kill the server and every command it runs; idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await proc.wait()
        shutil.rmtree(self._socket_dir, ignore_errors=True)


# -- the server process ------------------------------------------------------------------------


def serve(listener: socket.socket) -> NoReturn:
    """Accept requests forever: fork a session per `run`, kill a node's sessions on `end`."""
    sessions: dict[int, bytes] = {}  # pid -> the node's state dir

    def reap(_signum: int = 0, _frame: object = None) -> None:
        while True:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            sessions.pop(pid, None)

    # Reaped by waitpid (not SIG_IGN) so the sessions' CPU counts in this process's children times.
    signal.signal(signal.SIGCHLD, reap)
    # Keep the collector away from everything imported so far: a forked session that ran it would
    # touch (and so copy) every page of the server's heap.
    gc.freeze()
    while True:
        conn, _ = listener.accept()
        with conn:
            try:
                _serve_one(listener, conn, sessions)
            except OSError as exc:  # one client's trouble (e.g. gone before the reply) only
                print(f"labsim shell server: {exc!r}", file=sys.stderr, flush=True)
        reap()


def _serve_one(listener: socket.socket, conn: socket.socket, sessions: dict[int, bytes]) -> None:
    request, ancillary, _flags, _addr = conn.recvmsg(_MAX_REQUEST, _FDS_SPACE)
    fds = _received_fds(ancillary)
    try:
        kind, _, rest = request.partition(b"\0")
        if kind == b"run" and len(fds) == 3:
            _fork_session(listener, conn, fds, rest, sessions)
        elif kind == b"end":
            _end_sessions(sessions, rest)
            conn.send(b"ok")
    finally:
        for fd in fds:
            os.close(fd)


def _fork_session(
    listener: socket.socket,
    conn: socket.socket,
    fds: list[int],
    rest: bytes,
    sessions: dict[int, bytes],
) -> None:
    state_dir, _, rest = rest.partition(b"\0")
    # Until the child is in `sessions`, reaping it would leave a stale pid there (which `end`
    # would later signal): hold SIGCHLD back over the fork.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    try:
        pid = os.fork()
        if pid == 0:
            listener.close()
            _run_session(conn, fds, state_dir, rest)
        sessions[pid] = state_dir
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})


def _received_fds(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    fds: list[int] = []
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(data) - len(data) % 4
            fds += [int.from_bytes(data[i : i + 4], sys.byteorder) for i in range(0, usable, 4)]
    return fds


def _end_sessions(sessions: dict[int, bytes], state_dir: bytes) -> None:
    for pid in [p for p, d in list(sessions.items()) if d == state_dir]:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass  # already gone (and reaped by the SIGCHLD handler)
        sessions.pop(pid, None)


def _run_session(conn: socket.socket, fds: list[int], state_dir: bytes, rest: bytes) -> NoReturn:
    """In the forked child: become the session (descriptors, cwd, environment), run the shell,
    report the status to the client and exit."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        die_with_parent(signal.SIGKILL)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        cwd, _, environment = rest.partition(b"\0")
        os.environb.clear()
        for entry in environment.split(b"\0"):
            key, sep, value = entry.partition(b"=")
            if sep and key:
                os.environb[key] = value
        try:
            os.chdir(cwd)
        except OSError:
            pass
        # Like Python's own streams for a pipe under sshd's C locale (coerced to UTF-8).
        sys.stdin = io.TextIOWrapper(
            io.BufferedReader(io.FileIO(0, "rb", closefd=False)), "utf-8", "surrogateescape"
        )
        sys.stdout = io.TextIOWrapper(
            io.BufferedWriter(io.FileIO(1, "wb", closefd=False)), "utf-8", "surrogateescape"
        )
        sys.stderr = io.TextIOWrapper(
            io.FileIO(2, "wb", closefd=False), "utf-8", "backslashreplace", write_through=True
        )
        code = shell.run_session([os.fsdecode(state_dir)])
    except SystemExit as exc:  # as the interpreter maps it: None is 0, a message is 1
        code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 1
    # What the command printed before it failed still reaches the client, as at a process exit.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # the reader is gone
    try:
        conn.send(str(code).encode())
    except OSError:
        pass  # the client is gone; nobody is waiting for the status
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    """Entry point: `python -S -m labsim.nodes.shell_server LISTENING_FD`."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        sys.stderr.write("usage: python -m labsim.nodes.shell_server LISTENING_FD\n")
        return 2
    serve(socket.socket(fileno=int(args[0])))


if __name__ == "__main__":
    sys.exit(main())

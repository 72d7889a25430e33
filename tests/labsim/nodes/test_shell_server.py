"""The shell server and its C client: a command's streams, environment and status cross intact,
the client is built once per source, and missing pieces give clear errors."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from labsim.nodes import NodeSpec, SimCluster
from labsim.nodes.shell_server import ShellServer, ShellServerError, client_binary


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[ShellServer, Path]]:
    """A shell server of its own beside a one-node cluster, and that node's state dir."""
    async with SimCluster([NodeSpec("tp-node3", 3)], user="root") as lab:
        shells = ShellServer(tmp_path / "shell.log")
        await shells.start()
        try:
            yield shells, lab["tp-node3"].state_dir
        finally:
            await shells.stop()


async def run_client(
    shells: ShellServer, state_dir: Path, env: dict[str, str], stdin: bytes = b""
) -> tuple[int, str, str]:
    """Run the ForceCommand as sshd would (through /bin/sh -c), with this environment."""
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        shells.force_command(state_dir),
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd="/",
    )
    out, err = await proc.communicate(stdin)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_status_output_and_errors_cross_the_server(
    server: tuple[ShellServer, Path],
) -> None:
    shells, state_dir = server
    env = {"USER": "root", "PATH": "/usr/bin:/bin"}
    assert await run_client(shells, state_dir, env | {"SSH_ORIGINAL_COMMAND": "hostname"}) == (
        0,
        "tp-node3\n",
        "",
    )
    assert (await run_client(shells, state_dir, env | {"SSH_ORIGINAL_COMMAND": "false"}))[0] == 1
    status, out, err = await run_client(
        shells, state_dir, env | {"SSH_ORIGINAL_COMMAND": "no-such-tool --now"}
    )
    assert (status, out, err) == (127, "", "bash: no-such-tool: command not found\n")


async def test_environment_and_stdin_reach_the_node_shell(
    server: tuple[ShellServer, Path],
) -> None:
    shells, state_dir = server
    # No SSH_ORIGINAL_COMMAND: the shell reads command lines from stdin, as sshd's shell would.
    status, out, _ = await run_client(
        shells, state_dir, {"USER": "deploy"}, stdin=b"whoami\necho one two\n"
    )
    assert (status, out) == (0, "deploy\none two\n")
    command = "sh -c " + shlex.quote("whoami; systemctl restart k3s.service")
    status, out, err = await run_client(
        shells, state_dir, {"USER": "deploy", "SSH_ORIGINAL_COMMAND": command}
    )
    assert out == "deploy\n" and status != 0 and err  # unprivileged without sudo, like on NixOS


async def test_client_reports_a_server_that_is_gone(server: tuple[ShellServer, Path]) -> None:
    shells, state_dir = server
    command = shells.force_command(state_dir)
    await shells.stop()
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        command,
        env={"SSH_ORIGINAL_COMMAND": "true"},
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode == 255
    assert err.decode().startswith("labsim: node shell unavailable")


async def test_a_caller_gone_before_the_reply_does_not_stop_the_server(
    server: tuple[ShellServer, Path],
) -> None:
    shells, state_dir = server
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
        conn.connect(str(shells.socket_path))
        conn.send(b"end\0" + os.fsencode(str(state_dir)))
    # The server's "ok" goes to a closed socket; the next command is still served.
    env = {"USER": "root", "SSH_ORIGINAL_COMMAND": "hostname"}
    assert await run_client(shells, state_dir, env) == (0, "tp-node3\n", "")


async def test_ending_commands_on_a_crashed_server_is_not_an_error(
    server: tuple[ShellServer, Path], caplog: pytest.LogCaptureFixture
) -> None:
    shells, state_dir = server
    assert shells.pid is not None
    os.kill(shells.pid, signal.SIGKILL)  # before asyncio has seen the exit
    await shells.end_commands(state_dir)  # a node powering off must not fail on it
    assert "did not confirm ending" in caplog.text


def test_client_is_built_once_per_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = client_binary()
    assert first.parent == tmp_path / "cache/labsim" and os.access(first, os.X_OK)
    built_at = first.stat().st_mtime_ns
    assert client_binary() == first and first.stat().st_mtime_ns == built_at
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no partial files left


def test_without_a_compiler_the_error_names_the_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ShellServerError, match="gcc libc6-dev"):
        client_binary()
    assert not (tmp_path / "cache/labsim").exists()

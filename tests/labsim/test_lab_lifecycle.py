"""The whole simulated lab: one call starts it, its config is valid, and teardown leaves nothing behind."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from bot.config_file import load_config
from labsim.lab import Lab


def own_descendants() -> set[int]:
    return {p.pid for p in psutil.Process(os.getpid()).children(recursive=True)}


def sshd_pids() -> set[int]:
    found = set()
    for process in psutil.process_iter(["name", "status"]):
        if process.info["name"] == "sshd" and process.info["status"] != psutil.STATUS_ZOMBIE:
            found.add(process.pid)
    return found


async def test_full_lab_starts_writes_a_valid_config_and_leaves_nothing(tmp_path: Path) -> None:
    sshd_before = sshd_pids()
    async with Lab(directory=tmp_path, full=True) as lab:
        config = load_config(lab.config_path)
        assert [n.name for n in config.inventory.nodes] == ["tp-node3"]
        assert lab.bmc is not None and lab.github is not None and lab.cluster is not None
        # Only this lab's sshd: other test runs on the machine may start their own.
        started = {node.sshd_pid for node in lab.cluster.nodes} & (sshd_pids() - sshd_before)
        assert started, "the node's sshd should be running"
        ports = {lab.cluster["tp-node3"].port}
        for port in ports:  # the node accepts connections
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
    assert not (sshd_pids() & started)
    alive = [p for p in own_descendants() if psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert alive == []
    for port in ports:  # and stopped listening
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            continue
        writer.close()
        raise AssertionError(f"port {port} still accepts connections")


def test_python_m_labsim_runs_and_stops_cleanly(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "labsim", "--dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("labsim is running; config: ")
        config_path = Path(first.split("config: ", 1)[1].strip())
        assert load_config(config_path).colmena is not None
        children = psutil.Process(process.pid).children(recursive=True)
        assert any(c.name() == "sshd" for c in children)
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "nothing is left running" in out
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


def test_labbot_demo_answers_and_exits(tmp_path: Path) -> None:
    script = "/lab help\n:as stranger\n/lab whoami\n:quit\n"
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo"],
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert "`/lab whoami`" in result.stdout
    assert "you have no labbot role" in result.stdout
    assert "Demo stopped; nothing is left running." in result.stdout
    assert list(tmp_path.iterdir()) == []  # the demo's files were removed


async def test_generation_switch_by_colmena_is_seen_over_asyncssh_and_openssh(
    tmp_path: Path,
) -> None:
    import asyncssh

    async with Lab(directory=tmp_path, full=True) as lab:
        assert lab.cluster is not None and lab.colmena_binary is not None
        node = lab.cluster["tp-node3"]
        before = node.current_generation()
        (lab.flake_dir / "hosts" / "tp-node3.nix").write_text("{ ... }: { }\n")
        apply = await asyncio.create_subprocess_exec(
            str(lab.colmena_binary),
            "apply",
            "--on",
            "tp-node3",
            cwd=lab.flake_dir,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await apply.communicate()
        assert apply.returncode == 0, err.decode()
        built = next(line.split('"')[1] for line in err.decode().splitlines() if 'Built "' in line)
        async with asyncssh.connect(
            node.host,
            port=node.port,
            username=node.user,
            client_keys=[str(lab.cluster.client_key_path)],
            known_hosts=str(lab.cluster.known_hosts_path),
        ) as connection:
            result = await connection.run("readlink /run/current-system", check=True)
        assert str(result.stdout).strip() == built
        openssh = await asyncio.create_subprocess_exec(
            "ssh",
            "-F",
            "none",
            "-i",
            str(lab.cluster.client_key_path),
            "-o",
            f"UserKnownHostsFile={lab.cluster.known_hosts_path}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-p",
            str(node.port),
            f"{node.user}@{node.host}",
            "sudo nix-env --list-generations -p /nix/var/nix/profiles/system",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await openssh.communicate()
        assert openssh.returncode == 0, err.decode()
        current = [line for line in out.decode().splitlines() if "(current)" in line]
        assert len(current) == 1 and current[0].split()[0] == str(before + 1)


async def test_the_demo_shows_renovate_cards_and_the_digest_as_slack_shows_them(
    tmp_path: Path,
) -> None:
    demo = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "demo",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert demo.stdin is not None and demo.stdout is not None
    seen: list[str] = []

    async def type_and_wait(line: str, until: str) -> None:
        demo.stdin.write(line.encode() + b"\n")  # type: ignore[union-attr]
        while not any(until in s for s in seen):
            got = await asyncio.wait_for(demo.stdout.readline(), 120)  # type: ignore[union-attr]
            assert got, "".join(seen)
            seen.append(got.decode())

    await type_and_wait("/lab renovate check", "Checked 3 open Renovate PRs: 3 new cards")
    await type_and_wait(":digest", "Details per node, PR and job are in the thread.")
    demo.stdin.write(b":quit\n")
    await demo.stdin.drain()
    rest, _ = await asyncio.wait_for(demo.communicate(), 120)
    out = "".join(seen) + rest.decode()
    assert demo.returncode == 0
    for number in (1, 2, 3):
        assert f"Renovate PR #{number}" in out
    assert "No merge button yet: CI is failing" in out  # the failing one
    assert "GitHub says it cannot be merged as it is (dirty)" in out  # the conflicting one
    assert "Lab digest" in out and ":warning: Renovate PR #2" in out  # :digest ran the digest
    assert "<!date^" not in out and "<@U" not in out and "<http" not in out  # markup rendered

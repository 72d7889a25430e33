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
        started = sshd_pids() - sshd_before
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

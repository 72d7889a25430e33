"""Simulated node lifecycle: stopping a cluster leaves no sshd (or session) process behind."""

from __future__ import annotations

import asyncio

import psutil
import pytest

from labsim.nodes import NodeSpec, SimCluster
from labsim.nodes.proctree import descendants


def gone(pid: int) -> bool:
    if not psutil.pid_exists(pid):
        return True
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


async def test_stop_leaves_no_sshd_or_session_process() -> None:
    lab = SimCluster([NodeSpec("tp-node3", 3), NodeSpec("tp-node2", 2)], user="root")
    await lab.start()
    try:
        await check_stop_cleans_up(lab)
    finally:
        await lab.stop()


async def check_stop_cleans_up(lab: SimCluster) -> None:
    node = lab["tp-node3"]
    listeners = [n.sshd_pid for n in lab.nodes]
    shell_server = lab.shell_server_pid
    assert shell_server is not None
    assert all(pid is not None and psutil.Process(pid).name() == "sshd" for pid in listeners)
    conn = await lab.connect(node)
    hung = await conn.create_process("echo started; sleep 30")
    try:
        async with asyncio.timeout(10):
            assert await hung.stdout.readline() == "started\n"
        below = [p.pid for pid in listeners if pid for p in descendants(pid)]
        assert below, "expected session processes under sshd"
        commands = [p.pid for p in descendants(shell_server)]
        assert commands, "expected the command forked by the shell server"
        await lab.stop()
    finally:
        hung.close()
        conn.close()
        await conn.wait_closed()
    leftovers = [pid for pid in [*listeners, *below, shell_server, *commands] if not gone(pid)]
    assert leftovers == []
    with pytest.raises(OSError):
        await asyncio.open_connection(node.host, node.port)


async def test_power_off_ends_that_nodes_running_commands_only() -> None:
    async with SimCluster([NodeSpec("tp-node3", 3), NodeSpec("tp-node2", 2)], user="root") as lab:
        conns = [await lab.connect(lab["tp-node3"]), await lab.connect(lab["tp-node2"])]
        try:
            hung = [await conn.create_process("echo started; sleep 30") for conn in conns]
            async with asyncio.timeout(10):
                for process in hung:
                    assert await process.stdout.readline() == "started\n"
            assert lab.shell_server_pid is not None
            running = [p.pid for p in descendants(lab.shell_server_pid)]
            assert len(running) == 2
            await lab["tp-node3"].power_off()
            # Its command is gone when power_off returns (like a power cut); tp-node2's runs on.
            survivors = [pid for pid in running if not gone(pid)]
            assert len(survivors) == 1
            async with asyncio.timeout(10):
                await hung[0].wait_closed()
            assert hung[1].exit_status is None
            await lab["tp-node2"].power_off()
            assert gone(survivors[0])
        finally:
            for conn in conns:
                conn.close()
                await conn.wait_closed()


async def test_power_callback_turns_ssh_off_and_on() -> None:
    async with SimCluster([NodeSpec("tp-node2", 2)]) as lab:
        node = lab["tp-node2"]
        await node.on_power_change(False, "bmc power off")
        assert node.sshd_pid is None and not node.powered
        with pytest.raises(OSError):
            await asyncio.open_connection(node.host, node.port)
        node.on_power_change(True, "bmc power on")
        await node.settle()
        reader, writer = await asyncio.open_connection(node.host, node.port)
        banner = await reader.readline()
        writer.close()
        await writer.wait_closed()
        assert banner.startswith(b"SSH-2.0-OpenSSH")


async def test_slow_boot_refuses_ssh_until_booted_and_bmc_slots_map_to_nodes() -> None:
    async with SimCluster([NodeSpec("tp-node2", 2), NodeSpec("tp-node3", 3)]) as lab:
        node, other = lab["tp-node2"], lab["tp-node3"]
        node.slow_boot(0.3)
        lab.on_bmc_power_change(1, False, "api")
        await node.settle()
        assert not node.powered and other.powered
        lab.on_bmc_power_change(1, True, "api")
        with pytest.raises(OSError):  # still booting: sshd comes up after the boot delay
            await asyncio.open_connection(node.host, node.port)
        await node.settle()
        assert node.powered
        _, writer = await asyncio.open_connection(node.host, node.port)
        writer.close()
        await writer.wait_closed()


async def test_degrade_after_switch_exits_zero_but_degrades() -> None:
    async with SimCluster([NodeSpec("tp-node3", 3, k3s_role="server")]) as lab:
        node = lab["tp-node3"]
        node.degrade_after_switch(["longhorn-iscsi.service"])
        target = node.generations()[0].path
        conn = await lab.connect(node)
        try:
            switch = await conn.run(f"sudo {target}/bin/switch-to-configuration switch")
            state = await conn.run("systemctl is-system-running", check=False)
        finally:
            conn.close()
            await conn.wait_closed()
        assert switch.exit_status == 0 and "units failed" not in str(switch.stderr)
        assert (state.exit_status, state.stdout) == (1, "degraded\n")
        assert node.failed_units() == ["longhorn-iscsi.service"]

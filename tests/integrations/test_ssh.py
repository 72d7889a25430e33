"""SshPool against simulated nodes over real sshd: reuse, fresh logins, quoting, and each failure."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import SshConfig
from bot.integrations.ssh import (
    CommandTimedOut,
    HostKeyChanged,
    LoginRefused,
    NodeUnreachable,
    SshPool,
    SshTarget,
    UnknownHostKey,
    remote_command,
)
from labsim.nodes import NodeSpec, SimCluster, SimNode
from labsim.nodes.hostkeys import write_ed25519_keypair

PROFILE = "/nix/var/nix/profiles/system"


@pytest.fixture
async def cluster() -> AsyncIterator[SimCluster]:
    async with SimCluster([NodeSpec("tp-node3", 3, "cm4", ("cm4",), "server")]) as lab:
        yield lab


def ssh_config(cluster: SimCluster, **changes: object) -> SshConfig:
    values: dict[str, object] = {
        "key_file": cluster.client_key_path,
        "known_hosts_file": cluster.known_hosts_path,
        "connect_timeout_seconds": 5,
        "command_timeout_seconds": 10,
    }
    values.update(changes)
    return SshConfig.model_validate(values)


def target(node: SimNode) -> SshTarget:
    return SshTarget(node.name, node.host, node.port, node.user)


async def test_commands_share_one_connection_until_a_fresh_one_is_asked_for(
    cluster: SimCluster,
) -> None:
    node = cluster["tp-node3"]
    async with SshPool(ssh_config(cluster), [target(node)]) as pool:
        current = await pool.run("tp-node3", ["readlink", "-e", "/run/current-system"])
        assert current.ok and current.stdout.strip() == node.current_system()
        assert (await pool.run("tp-node3", ["hostname"])).stdout.strip() == "tp-node3"
        assert pool.connections_opened == 1
        await pool.run("tp-node3", ["true"], fresh=True)
        assert pool.connections_opened == 2


async def test_arguments_are_quoted_so_no_shell_acts_on_them(cluster: SimCluster) -> None:
    node = cluster["tp-node3"]
    async with SshPool(ssh_config(cluster), [target(node)]) as pool:
        result = await pool.run("tp-node3", ["echo", "a b; false", "$HOME"])
    assert result.ok
    assert result.stdout == "a b; false $HOME\n"
    assert node.commands_received()[-1] == "echo 'a b; false' '$HOME'"


def test_remote_command_takes_argv_lists_only() -> None:
    with pytest.raises(TypeError):
        remote_command("reboot")
    assert remote_command(["nix-env", "--list-generations"], sudo=True) == (
        "sudo -n -- nix-env --list-generations"
    )


async def test_sudo_runs_privileged_commands_and_exit_codes_are_results(
    cluster: SimCluster,
) -> None:
    node = cluster["tp-node3"]
    argv = ["nix-env", "-p", PROFILE, "--list-generations"]
    async with SshPool(ssh_config(cluster), [target(node)]) as pool:
        denied = await pool.run("tp-node3", argv)
        allowed = await pool.run("tp-node3", argv, sudo=True)
    assert denied.exit_status == 1 and "Permission denied" in denied.stderr
    assert allowed.ok and allowed.stdout.count("\n") == 3


async def test_changed_host_key_is_refused_with_a_specific_error(
    cluster: SimCluster, tmp_path: Path
) -> None:
    node = cluster["tp-node3"]
    other = write_ed25519_keypair(tmp_path / "other_host_key", "root@impostor")
    known = tmp_path / "known_hosts"
    known.write_text(f"[{node.host}]:{node.port} {' '.join(other.public_line.split()[:2])}\n")
    async with SshPool(ssh_config(cluster, known_hosts_file=known), [target(node)]) as pool:
        with pytest.raises(HostKeyChanged) as caught:
            await pool.run("tp-node3", ["true"])
    assert "has changed" in str(caught.value) and caught.value.node == "tp-node3"


async def test_unlisted_host_is_never_trusted_on_first_use(
    cluster: SimCluster, tmp_path: Path
) -> None:
    node = cluster["tp-node3"]
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    async with SshPool(ssh_config(cluster, known_hosts_file=empty), [target(node)]) as pool:
        with pytest.raises(UnknownHostKey):
            await pool.run("tp-node3", ["true"])


async def test_wrong_client_key_is_a_refused_login(cluster: SimCluster, tmp_path: Path) -> None:
    node = cluster["tp-node3"]
    stranger = write_ed25519_keypair(tmp_path / "id_stranger", "stranger").private_path
    async with SshPool(ssh_config(cluster, key_file=stranger), [target(node)]) as pool:
        with pytest.raises(LoginRefused):
            await pool.run("tp-node3", ["true"])


async def test_node_with_ssh_down_is_unreachable_then_back(cluster: SimCluster) -> None:
    node = cluster["tp-node3"]
    async with SshPool(ssh_config(cluster), [target(node)]) as pool:
        await pool.run("tp-node3", ["true"])
        await node.ssh_down()
        with pytest.raises(NodeUnreachable) as caught:
            await pool.run("tp-node3", ["true"], fresh=True)
        assert "connection refused" in str(caught.value)
        await node.ssh_up()
        assert (await pool.run("tp-node3", ["true"], fresh=True)).ok


async def test_hanging_command_times_out(cluster: SimCluster) -> None:
    node = cluster["tp-node3"]
    node.hang_commands(5)
    try:
        async with SshPool(ssh_config(cluster), [target(node)]) as pool:
            with pytest.raises(CommandTimedOut) as caught:
                await pool.run("tp-node3", ["true"], timeout=0.3)
    finally:
        node.hang_commands(0)
    assert "did not finish within 0.3 s" in str(caught.value)


async def test_a_kept_connection_lost_to_a_reboot_is_replaced_and_the_command_runs_once(
    cluster: SimCluster,
) -> None:
    node = cluster["tp-node3"]
    async with SshPool(ssh_config(cluster), [target(node)]) as pool:
        assert (await pool.run("tp-node3", ["hostname"])).ok
        await node.reset()  # sshd and its sessions end; the pool's connection is now dead
        result = await pool.run("tp-node3", ["echo", "after-reboot"])
    assert result.ok and result.stdout == "after-reboot\n"
    assert pool.connections_opened == 2
    assert node.commands_received().count("echo after-reboot") == 1


async def test_a_kept_connection_to_a_node_gone_down_is_unreachable_not_retried_forever(
    cluster: SimCluster,
) -> None:
    node = cluster["tp-node3"]
    async with SshPool(ssh_config(cluster), [target(node)]) as pool:
        assert (await pool.run("tp-node3", ["true"])).ok
        await node.power_off()
        with pytest.raises(NodeUnreachable) as caught:
            await pool.run("tp-node3", ["echo", "while-down"])
        assert "connection refused" in str(caught.value)
        await node.power_on()
        assert (await pool.run("tp-node3", ["echo", "while-down"])).ok
    assert node.commands_received().count("echo while-down") == 1

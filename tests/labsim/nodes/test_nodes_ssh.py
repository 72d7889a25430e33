"""Simulated nodes over real sshd: logins with asyncssh and OpenSSH, NixOS commands, knobs, power."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections.abc import AsyncIterator

import asyncssh
import pytest
import pytest_asyncio

from labsim.nodes import NodeSpec, SimCluster, SimNode

pytestmark = pytest.mark.asyncio(loop_scope="module")

SPECS = [
    NodeSpec("tp-node3", 3, "cm4", ("k3s-server", "cm4"), "server"),
    NodeSpec("tp-node1", 1, "rk1", ("k3s-agent", "rk1"), "agent"),
]
STORE_PATH = re.compile(r"^/nix/store/[0-9a-df-np-sv-z]{32}-nixos-system-tp-node\d-\S+$")
GENERATION_LINE = re.compile(r"^ {0,3}\d{1,4}   \d{4}-\d\d-\d\d \d\d:\d\d:\d\d   (\(current\))?$")
PROFILE = "/nix/var/nix/profiles/system"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def lab() -> AsyncIterator[SimCluster]:
    async with SimCluster(SPECS, user="deploy") as cluster:
        yield cluster


async def run(lab: SimCluster, node: SimNode, command: str) -> asyncssh.SSHCompletedProcess:
    conn = await lab.connect(node)
    try:
        return await conn.run(command, check=False)
    finally:
        conn.close()
        await conn.wait_closed()


async def openssh(lab: SimCluster, node: SimNode, *argv: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        "ssh",
        "-F",
        "/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"UserKnownHostsFile={lab.known_hosts_path}",
        "-o",
        "IdentitiesOnly=yes",
        "-i",
        str(lab.client_key_path),
        "-p",
        str(node.port),
        f"{node.user}@{node.host}",
        *argv,
    ]
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    return subprocess.CompletedProcess(cmd, proc.returncode or 0, out.decode(), err.decode())


async def test_asyncssh_login_reports_nixos_version_json(lab: SimCluster) -> None:
    node = lab["tp-node3"]
    result = await run(lab, node, "nixos-version --json")
    assert result.exit_status == 0
    assert isinstance(result.stdout, str)
    assert result.stdout.count("\n") == 1 and ": " not in result.stdout  # compact, like toJSON
    info = json.loads(result.stdout)
    assert set(info) == {"nixosVersion", "nixpkgsRevision", "configurationRevision"}
    assert re.fullmatch(r"24\.11\.\d{8}\.[0-9a-f]{7}", info["nixosVersion"])
    assert info["nixosVersion"].endswith(info["nixpkgsRevision"][:7])
    assert list(info) == sorted(info)


async def test_openssh_lists_generations_in_nix_env_format(lab: SimCluster) -> None:
    node = lab["tp-node3"]
    result = await openssh(lab, node, "sudo", "nix-env", "--list-generations", "-p", PROFILE)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert all(GENERATION_LINE.match(line) for line in lines), lines
    current = [line for line in lines if line.endswith("(current)")]
    assert len(current) == 1
    assert int(current[0].split()[0]) == node.current_generation() == 3
    assert lines[0].endswith("   ")  # nix-env pads the empty "current" column


async def test_readlink_shows_current_system_and_profile_link(lab: SimCluster) -> None:
    node = lab["tp-node3"]
    result = await openssh(lab, node, "readlink /run/current-system; readlink " + PROFILE)
    current, profile = result.stdout.splitlines()
    assert STORE_PATH.match(current)
    assert current == node.current_system()
    assert profile == f"system-{node.current_generation()}-link"
    resolved = await openssh(lab, node, "readlink", "-f", PROFILE)
    assert resolved.stdout.strip() == current


async def test_host_key_mismatch_is_refused(
    lab: SimCluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    node = lab["tp-node3"]
    other = lab["tp-node1"]
    wrong = tmp_path_factory.mktemp("kh") / "known_hosts"
    wrong.write_text(f"[{node.host}]:{node.port} {' '.join(other.host_key_public.split()[:2])}\n")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await asyncssh.connect(
            node.host,
            node.port,
            username=node.user,
            client_keys=[str(lab.client_key_path)],
            known_hosts=str(wrong),
            config=None,
        )


async def test_privileged_commands_need_sudo_for_the_deploy_user(lab: SimCluster) -> None:
    node = lab["tp-node1"]
    plain = await run(lab, node, f"nix-env --list-generations -p {PROFILE}")
    assert plain.exit_status == 1
    assert "Permission denied" in str(plain.stderr)
    whoami = await run(lab, node, "whoami && sudo -H -- whoami")
    assert whoami.stdout == "deploy\nroot\n"


async def test_sudo_needing_a_password_refuses_without_a_terminal(lab: SimCluster) -> None:
    node = lab["tp-node1"]
    node.sudo_needs_password()
    try:
        refused = await run(lab, node, "sudo -n -- true")
        prompted = await run(lab, node, "sudo true")
    finally:
        node.sudo_needs_password(False)
    assert (refused.exit_status, refused.stderr) == (1, "sudo: a password is required\n")
    assert prompted.exit_status == 1
    assert "a terminal is required to read the password" in str(prompted.stderr)
    assert (await run(lab, node, "sudo -n -- true")).exit_status == 0


async def test_unknown_command_is_not_found(lab: SimCluster) -> None:
    result = await run(lab, lab["tp-node1"], "frobnicate --now")
    assert result.exit_status == 127
    assert result.stderr == "bash: frobnicate: command not found\n"


async def test_fail_activation_switches_but_exits_4_degraded(lab: SimCluster) -> None:
    node = lab["tp-node3"]
    previous = node.generations()[-2].path
    node.fail_activation(["k3s.service"])
    try:
        result = await run(lab, node, f"sudo {previous}/bin/switch-to-configuration switch")
        assert result.exit_status == 4
        stderr = str(result.stderr)
        assert "activating the configuration...\n" in stderr
        assert "warning: the following units failed: k3s.service\n" in stderr
        assert node.current_system() == previous
        assert node.boot_default() == previous
        state = await run(lab, node, "systemctl is-system-running")
        assert (state.exit_status, state.stdout) == (1, "degraded\n")
        failed = await run(lab, node, "systemctl --failed --no-legend --plain")
        assert str(failed.stdout).split()[:4] == ["k3s.service", "loaded", "failed", "failed"]
        kube = await run(lab, node, "sudo kubectl get nodes -o json")
        assert kube.exit_status == 1 and "6443 was refused" in str(kube.stderr)
    finally:
        node.clear_faults()
        newest = node.generations()[-1].path
        await run(lab, node, f"sudo {newest}/bin/switch-to-configuration switch")
    assert node.current_system() == newest
    healthy = await run(lab, node, "systemctl is-system-running")
    assert healthy.stdout == "running\n"


async def test_new_generation_and_rollback_via_nix_env(lab: SimCluster) -> None:
    node = lab["tp-node1"]
    before = node.generations()
    first = before[0]
    result = await run(lab, node, f"sudo nix-env -p {PROFILE} --set {first.path}")
    assert result.exit_status == 0
    assert node.current_generation() == before[-1].number + 1
    back = await run(
        lab, node, f"sudo nix-env -p {PROFILE} --switch-generation {before[-1].number}"
    )
    expected = f"switching profile from version {before[-1].number + 1} to {before[-1].number}\n"
    assert back.stderr == expected
    missing = await run(lab, node, f"sudo nix-env -p {PROFILE} --switch-generation 99")
    assert missing.exit_status == 1
    assert missing.stderr == "error: profile version 99 does not exist\n"


async def test_kubectl_reports_nodes_ready_and_unknown_when_powered_off(lab: SimCluster) -> None:
    server, agent = lab["tp-node3"], lab["tp-node1"]
    result = await run(lab, server, "sudo kubectl get nodes -o json")
    doc = json.loads(str(result.stdout))
    assert doc["kind"] == "List"
    ready = {
        item["metadata"]["name"]: next(
            c["status"] for c in item["status"]["conditions"] if c["type"] == "Ready"
        )
        for item in doc["items"]
    }
    assert ready == {"tp-node3": "True", "tp-node1": "True"}
    await agent.power_off()
    try:
        with pytest.raises(OSError):
            await lab.connect(agent)
        doc = json.loads(str((await run(lab, server, "sudo kubectl get nodes -o json")).stdout))
        agent_item = next(i for i in doc["items"] if i["metadata"]["name"] == "tp-node1")
        conditions = {c["type"]: c for c in agent_item["status"]["conditions"]}
        assert conditions["Ready"]["status"] == "Unknown"
        assert conditions["Ready"]["reason"] == "NodeStatusUnknown"
    finally:
        await agent.power_on()
    after = await run(lab, agent, "hostname")
    assert after.stdout == "tp-node1\n"


async def test_reset_restarts_uptime_and_boots_the_boot_default(lab: SimCluster) -> None:
    node = lab["tp-node1"]
    older = node.generations()[0].path
    await run(lab, node, f"sudo {older}/bin/switch-to-configuration test")
    assert node.current_system() == older != node.boot_default()
    with node.files.editing() as state:
        state.boot_time -= 7200
    boot_id = (await run(lab, node, "cat /proc/sys/kernel/random/boot_id")).stdout
    uptime = float(str((await run(lab, node, "cat /proc/uptime")).stdout).split()[0])
    assert uptime >= 7200
    task = node.on_power_change(True, "reset")
    await task
    uptime = float(str((await run(lab, node, "cat /proc/uptime")).stdout).split()[0])
    assert uptime < 60
    assert (await run(lab, node, "cat /proc/sys/kernel/random/boot_id")).stdout != boot_id
    assert node.current_system() == node.boot_default()
    pretty = await run(lab, node, "uptime")
    assert re.fullmatch(
        r" \d\d:\d\d:\d\d up \d+ min,  0 user,  load average: .+\n", str(pretty.stdout)
    )


async def test_disk_usage_knob_shows_in_df(lab: SimCluster) -> None:
    node = lab["tp-node3"]
    node.disk_usage("/var/lib/longhorn/replicas", 0.9)
    result = await run(lab, node, "df -P -B1 /var/lib/longhorn")
    header, row = str(result.stdout).splitlines()
    assert header.split() == [
        "Filesystem",
        "1-blocks",
        "Used",
        "Available",
        "Capacity",
        "Mounted",
        "on",
    ]
    fields = row.split()
    assert fields[0] == "/dev/sda1" and fields[4] == "90%" and fields[5] == "/var/lib/longhorn"
    assert int(fields[2]) + int(fields[3]) == int(fields[1])


async def test_hanging_commands_time_out_then_recover(lab: SimCluster) -> None:
    node = lab["tp-node3"]
    node.hang_commands(5)
    try:
        async with await lab.connect(node) as conn:
            with pytest.raises(asyncssh.TimeoutError):
                await conn.run("true", timeout=0.5)
    finally:
        node.hang_commands(0)
    assert (await run(lab, node, "true")).exit_status == 0


async def test_commands_are_logged_with_sudo_prefix(lab: SimCluster) -> None:
    node = lab["tp-node3"]
    await run(lab, node, "sudo -H -- systemctl is-system-running")
    assert node.commands_received()[-1] == "sudo -H -- systemctl is-system-running"

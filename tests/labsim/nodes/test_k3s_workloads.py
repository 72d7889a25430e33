"""The simulated cluster's workloads over real sshd: pods, Longhorn, cordon and drain, k3s
certificates, unknown systemd units, and `systemctl reboot` asking the lab for a reboot."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import asyncssh
import pytest

from labsim.nodes import NodeSpec, SimCluster, SimNode

SPECS = [
    NodeSpec("tp-node3", 3, "cm4", ("k3s-server", "cm4"), "server"),
    NodeSpec("tp-node1", 1, "rk1", ("k3s-agent", "rk1"), "agent"),
]


@pytest.fixture
async def lab() -> AsyncIterator[SimCluster]:
    async with SimCluster(SPECS, user="deploy") as cluster:
        for node in cluster.nodes:
            await node.power_on()
        yield cluster


async def run(lab: SimCluster, node: SimNode, command: str) -> asyncssh.SSHCompletedProcess:
    conn = await lab.connect(node)
    try:
        return await conn.run(command, check=False)
    finally:
        conn.close()
        await conn.wait_closed()


async def test_pods_and_longhorn_objects_have_the_real_shapes(lab: SimCluster) -> None:
    server = lab["tp-node3"]
    lab.workloads.crash_loop("media", "jellyfin-7d9f", "tp-node1", restarts=4)
    pods = json.loads(str((await run(lab, server, "sudo kubectl get pods -A -o json")).stdout))
    [jellyfin] = [p for p in pods["items"] if p["metadata"]["name"] == "jellyfin-7d9f"]
    assert jellyfin["status"]["phase"] == "Running"  # the kubelet keeps it Running
    [container] = jellyfin["status"]["containerStatuses"]
    assert container["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert container["restartCount"] == 4 and container["ready"] is False
    only_media = json.loads(
        str((await run(lab, server, "sudo kubectl get pods -n media -o json")).stdout)
    )
    assert [p["metadata"]["name"] for p in only_media["items"]] == ["jellyfin-7d9f"]

    lab.workloads.fail_replica("pvc-home-assistant", "tp-node1")
    get = "sudo kubectl get {} -n longhorn-system -o json"
    volumes = json.loads(str((await run(lab, server, get.format("volumes.longhorn.io"))).stdout))
    [volume] = volumes["items"]
    assert volume["apiVersion"] == "longhorn.io/v1beta2"
    assert volume["status"]["robustness"] == "degraded" and volume["spec"]["numberOfReplicas"] == 2
    replicas = json.loads(str((await run(lab, server, get.format("replicas.longhorn.io"))).stdout))
    failed = {r["spec"]["nodeID"]: r["spec"]["failedAt"] for r in replicas["items"]}
    assert failed["tp-node1"] and not failed["tp-node3"]
    unknown = await run(lab, server, "sudo kubectl get widgets -o json")
    assert unknown.exit_status == 1
    assert 'the server doesn\'t have a resource type "widgets"' in str(unknown.stderr)


async def test_drain_cordons_refuses_daemonsets_unless_ignored_and_evicts(lab: SimCluster) -> None:
    server = lab["tp-node3"]
    refused = await run(lab, server, "sudo kubectl drain tp-node3")
    assert refused.exit_status == 1
    assert "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore)" in str(
        refused.stderr
    )
    assert lab.workloads.cordoned() == ["tp-node3"]  # kubectl cordons before it evicts
    drained = await run(lab, server, "sudo kubectl drain tp-node3 --ignore-daemonsets")
    assert drained.exit_status == 0
    out = str(drained.stdout)
    assert "node/tp-node3 already cordoned" in out and "evicting pod home/home-assistant-0" in out
    assert out.rstrip().endswith("node/tp-node3 drained")
    nodes = json.loads(str((await run(lab, server, "sudo kubectl get nodes -o json")).stdout))
    spec = {n["metadata"]["name"]: n["spec"] for n in nodes["items"]}
    assert spec["tp-node3"]["unschedulable"] is True and "unschedulable" not in spec["tp-node1"]
    back = await run(lab, server, "sudo kubectl uncordon tp-node3")
    assert str(back.stdout).strip() == "node/tp-node3 uncordoned"
    missing = await run(lab, server, "sudo kubectl cordon tp-node9")
    assert 'nodes "tp-node9" not found' in str(missing.stderr)


async def test_drain_blocks_on_the_last_healthy_longhorn_replica(lab: SimCluster) -> None:
    server = lab["tp-node3"]
    lab.workloads.fail_replica("pvc-home-assistant", "tp-node1")
    blocked = await run(
        lab, server, "sudo kubectl drain tp-node3 --ignore-daemonsets --timeout=30s"
    )
    assert blocked.exit_status == 1
    assert "Cannot evict pod as it would violate the pod's disruption budget." in str(
        blocked.stderr
    )
    assert "global timeout reached: 30s" in str(blocked.stderr)


async def test_certificate_check_lists_expiry_as_k3s_does(lab: SimCluster) -> None:
    server, agent = lab["tp-node3"], lab["tp-node1"]
    lab.workloads.expire_certificate("client-admin.crt", days=10)
    denied = await run(lab, server, "k3s certificate check --output json")
    assert denied.exit_status == 1 and "permission denied" in str(denied.stderr)
    result = await run(lab, server, "sudo k3s certificate check --output json")
    assert "Server detected, checking agent and server certificates" in str(result.stderr)
    certificates = {c["Filename"]: c for c in json.loads(str(result.stdout))["Certificates"]}
    assert certificates["client-admin.crt"]["Status"] == "WARNING"
    assert certificates["serving-kube-apiserver.crt"]["Status"] == "OK"
    assert certificates["client-admin.crt"]["ExpiryTime"].endswith("Z")
    on_agent = json.loads(
        str((await run(lab, agent, "sudo k3s certificate check --output json")).stdout)
    )
    assert {c["Filename"] for c in on_agent["Certificates"]} == {
        "client-kubelet.crt",
        "serving-kubelet.crt",
    }


async def test_unknown_units_are_not_found_as_systemd_says(lab: SimCluster) -> None:
    node = lab["tp-node1"]
    show = await run(lab, node, "systemctl show --property=LoadState --value nosuch.service")
    assert str(show.stdout).strip() == "not-found"
    known = await run(lab, node, "systemctl show -p LoadState,ActiveState k3s.service")
    assert str(known.stdout).split() == ["LoadState=loaded", "ActiveState=active"]
    restart = await run(lab, node, "sudo systemctl restart nosuch.service")
    assert restart.exit_status == 5
    assert "Failed to restart nosuch.service: Unit nosuch.service not found." in str(restart.stderr)
    active = await run(lab, node, "systemctl is-active nosuch.service")
    assert (active.exit_status, str(active.stdout).strip()) == (3, "inactive")


async def test_systemctl_reboot_boots_the_node_again_with_a_new_boot_id(lab: SimCluster) -> None:
    node = lab["tp-node1"]
    before = node.files.load_state().boot_id
    denied = await run(lab, node, "systemctl reboot")
    assert denied.exit_status == 1 and "Access denied" in str(denied.stderr)
    node.os_reboot_asked.clear()
    await run(lab, node, "sudo systemctl reboot")
    await asyncio.wait_for(node.os_reboot_asked.wait(), 10)
    await asyncio.wait_for(node.settle(), 10)
    assert node.powered and node.files.load_state().boot_id != before
    node.hang_on_reboot()
    node.os_reboot_asked.clear()
    await run(lab, node, "sudo systemctl reboot")
    await asyncio.wait_for(node.os_reboot_asked.wait(), 10)
    await asyncio.wait_for(node.settle(), 10)
    assert not node.powered  # hung: down until the BMC resets it


async def test_custom_columns_print_one_row_per_pod_as_kubectl_does(lab: SimCluster) -> None:
    server = lab["tp-node3"]
    lab.workloads.crash_loop("media", "jellyfin-7d9f", "tp-node1", restarts=4)
    columns = "NS:.metadata.namespace,NAME:.metadata.name,WAIT:.status.containerStatuses[*].state.waiting.reason,GONE:.spec.nothing"
    table = await run(lab, server, f"sudo kubectl get pods -n media -o custom-columns={columns}")
    lines = str(table.stdout).splitlines()
    assert lines[0].split() == ["NS", "NAME", "WAIT", "GONE"]
    assert lines[1].split() == ["media", "jellyfin-7d9f", "CrashLoopBackOff", "<none>"]
    bare = await run(
        lab, server, f"sudo kubectl get pods -n media --no-headers -o custom-columns={columns}"
    )
    assert len(str(bare.stdout).splitlines()) == 1
    wrong = await run(lab, server, "sudo kubectl get pods -A -o custom-columns=NAME")
    assert wrong.exit_status == 1 and "expected <header>:<json-path-expr>" in str(wrong.stderr)

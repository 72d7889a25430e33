"""The health gate against a simulated node over sshd: each check, allowed units, probes, retries."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.config import HealthGateConfig, Node, SshConfig
from bot.integrations.ssh import SshPool, SshTarget
from handlers.deploy.generations import generation_of_link, parse_generations
from handlers.deploy.health_gate import Expectation, HealthGate, k3s_node_ready
from handlers.deploy.plan import requested_goal
from labsim.nodes import NodeSpec, SimCluster


@pytest.fixture
async def cluster() -> AsyncIterator[SimCluster]:
    async with SimCluster([NodeSpec("tp-node3", 3, "cm4", ("cm4",), "server")]) as lab:
        yield lab


def inventory_node(cluster: SimCluster) -> Node:
    sim = cluster["tp-node3"]
    return Node.model_validate(
        {
            "name": "tp-node3",
            "board": "turingpi",
            "slot": 3,
            "module": "cm4",
            "host": sim.host,
            "ssh_port": sim.port,
            "ssh_user": sim.user,
            "k3s_role": "server",
        }
    )


async def gate_of(
    cluster: SimCluster, said: list[str], **settings: object
) -> tuple[HealthGate, SshPool]:
    ssh = SshConfig(
        key_file=cluster.client_key_path,
        known_hosts_file=cluster.known_hosts_path,
        connect_timeout_seconds=5,
        command_timeout_seconds=10,
    )
    sim = cluster["tp-node3"]
    pool = SshPool(ssh, [SshTarget("tp-node3", sim.host, sim.port, sim.user)])

    async def say(text: str) -> None:
        said.append(text)

    config = HealthGateConfig.model_validate({"timeout_seconds": 30, **settings})
    return HealthGate(pool, config, say), pool


async def test_healthy_node_passes_on_a_fresh_login(cluster: SimCluster) -> None:
    said: list[str] = []
    gate, pool = await gate_of(cluster, said)
    sim = cluster["tp-node3"]
    async with pool:
        result = await gate.check(inventory_node(cluster), Expectation(sim.current_system()))
        assert result.healthy and result.generation == 3
        assert result.nixos_version == "24.11.20250101.abcdef0"
        await gate.check(inventory_node(cluster), Expectation(sim.current_system()))
    assert pool.connections_opened == 2  # every check logs in anew
    assert said == ["tp-node3: health gate passed (fresh SSH login, expected system, running)."] * 2


async def test_wrong_system_and_unallowed_failed_units_fail_at_once(cluster: SimCluster) -> None:
    said: list[str] = []
    gate, pool = await gate_of(cluster, said)
    sim = cluster["tp-node3"]
    sim.degrade_after_switch(["nginx.service"])
    async with pool:
        await pool.run(
            "tp-node3", [f"{sim.current_system()}/bin/switch-to-configuration", "test"], sudo=True
        )
        result = await gate.check(inventory_node(cluster), Expectation("/nix/store/other"))
    assert not result.healthy and not result.transient
    text = " ".join(result.reasons())
    assert (
        "/run/current-system on tp-node3 is /nix/store/" in text and "not /nix/store/other" in text
    )
    assert "failed units `nginx.service`" in text
    assert len(said) == 1 and said[0].startswith("tp-node3: health gate failed")


async def test_allowed_failed_units_do_not_fail_the_gate(cluster: SimCluster) -> None:
    gate, pool = await gate_of(cluster, [], allowed_failed_units=["nginx.service"])
    sim = cluster["tp-node3"]
    sim.degrade_after_switch(["nginx.service"])
    async with pool:
        await pool.run(
            "tp-node3", [f"{sim.current_system()}/bin/switch-to-configuration", "test"], sudo=True
        )
        assert sim.failed_units() == ["nginx.service"]
        result = await gate.check(inventory_node(cluster), Expectation(sim.current_system()))
    assert result.healthy


async def test_failing_probe_and_not_ready_k3s_are_retried_until_the_timeout(
    cluster: SimCluster,
) -> None:
    said: list[str] = []
    gate, pool = await gate_of(
        cluster, said, timeout_seconds=0.6, poll_interval_seconds=0.2, probes=[["false"]]
    )
    sim = cluster["tp-node3"]
    sim.set_k3s_ready(False)
    async with pool:
        result = await gate.check(inventory_node(cluster), Expectation(sim.current_system()))
    assert result.transient and not result.healthy
    assert result.reasons() == [
        "k3s node tp-node3 is not Ready",
        "probe `false` on tp-node3 exited 1",
    ]
    assert said[0].startswith("tp-node3: waiting: ") and said[-1].startswith(
        "tp-node3: health gate failed"
    )
    assert pool.connections_opened >= 2


def test_k3s_readiness_parsing() -> None:
    # `kubectl get nodes --no-headers -o custom-columns=NAME,CONDITIONS,STATUSES,UNSCHEDULABLE`
    ready = "a   MemoryPressure,DiskPressure,PIDPressure,Ready   False,False,False,True   <none>"
    assert k3s_node_ready(ready, "a") is True
    assert k3s_node_ready(ready.replace(",True", ",False"), "a") is False
    assert k3s_node_ready(ready.replace(",True", ",Unknown"), "a") is False
    assert k3s_node_ready(ready, "b") is None
    assert k3s_node_ready('{"items": []}', "a") is None
    assert k3s_node_ready("The connection to the server was refused", "a") is None


def test_generation_parsing_and_goals() -> None:
    assert generation_of_link("system-42-link\n") == 42
    assert generation_of_link("/nix/var/nix/profiles/system-7-link") == 7
    assert generation_of_link("nonsense") is None
    listing = "   1   2024-12-01 10:00:00   \n   2   2025-01-01 10:00:00   (current)\ngarbage\n"
    assert [(g.number, g.current) for g in parse_generations(listing)] == [(1, False), (2, True)]
    assert requested_goal("deploy tp-node3") == "switch"
    assert requested_goal("deploy tp-node3 --goal boot") == "boot"
    assert requested_goal("deploy --goal=dry-activate all") == "dry-activate"

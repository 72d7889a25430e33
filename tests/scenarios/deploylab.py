"""A full simulated lab (nodes over sshd, colmena and nix doubles) with labbot connected, per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from bot.app import LabBot
from bot.config import Config
from labsim.bmc import BmcEmulator
from labsim.lab import BMC_PASSWORD, BMC_PASSWORD_ENV, DEFAULT_NODES, Lab
from labsim.nodes import NodeSpec, SimNode

SLOTS = 4  # a Turing Pi 2 board's

TWO_NODES = (
    NodeSpec("tp-node3", 3, "cm4", ("k3s-server", "cm4"), "server"),
    NodeSpec("tp-node1", 1, "rk1", ("k3s-agent", "rk1"), "agent"),
)


@asynccontextmanager
async def deploy_lab(
    node_specs: tuple[NodeSpec, ...] = DEFAULT_NODES, **overrides: dict[str, Any]
) -> AsyncIterator[tuple[Lab, LabBot]]:
    """`Lab(full=True)` with the given nodes and config overrides, and a connected labbot.

    Streams refresh every 0.2 s instead of 1 s to keep tests quick; the bot's Slack budget still
    keeps every call within the emulator's (Slack's) limits.
    """
    overrides = {"jobs": {"stream_interval_seconds": 0.2}, **overrides}
    async with Lab(full=True, node_specs=node_specs, config_overrides=overrides) as lab:
        async with lab.bot() as bot:
            await lab.slack.wait_connected()
            yield lab, bot


def sim_node(lab: Lab, name: str) -> SimNode:
    """The simulated node called `name`."""
    assert lab.cluster is not None
    return lab.cluster[name]


def board_specs(count: int) -> tuple[NodeSpec, ...]:
    """`count` nodes, four to a board (slots 1–4); the first is the k3s server."""
    return tuple(
        NodeSpec(
            f"tp-node{i + 1}",
            i % SLOTS + 1,
            "cm4",
            ("k3s-server",) if i == 0 else ("k3s-agent",),
            "server" if i == 0 else "agent",
        )
        for i in range(count)
    )


@asynccontextmanager
async def boards_lab(count: int) -> AsyncIterator[tuple[Lab, LabBot]]:
    """A full lab of `count` nodes on ceil(count / 4) boards, each board with its own BMC
    emulator (the lab's drives the first), and a connected labbot (inventory inline)."""
    async with AsyncExitStack() as stack:
        lab = await stack.enter_async_context(Lab(full=True, node_specs=board_specs(count)))
        assert lab.bmc is not None and lab.cluster is not None
        bmcs = [lab.bmc]
        for board in range(1, -(-count // SLOTS)):
            bmc = BmcEmulator(password=BMC_PASSWORD)
            await bmc.start()
            stack.push_async_callback(bmc.stop)
            for node in lab.cluster.nodes[board * SLOTS : (board + 1) * SLOTS]:
                bmc.set_power(node.spec.slot - 1, True)
            bmcs.append(bmc)
        data: dict[str, Any] = lab.config_data()
        data["jobs"] = {**data.get("jobs", {}), "stream_interval_seconds": 0.2}
        data["bmc"] = {
            f"bmc{b}": {
                "url": bmc.url,
                "password": {"env": BMC_PASSWORD_ENV},
                "tls": {"verify": True, "fingerprint_sha256": bmc.cert_sha256_fingerprint},
            }
            for b, bmc in enumerate(bmcs)
        }
        data["inventory"] = {
            "boards": [{"name": f"board{b}", "bmc": f"bmc{b}"} for b in range(len(bmcs))],
            "nodes": [
                {
                    "name": node.name,
                    "board": f"board{i // SLOTS}",
                    "slot": node.spec.slot,
                    "module": node.spec.module,
                    "host": node.host,
                    "ssh_port": node.port,
                    "ssh_user": node.user,
                    "tags": list(node.spec.tags),
                    "k3s_role": node.spec.k3s_role,
                }
                for i, node in enumerate(lab.cluster.nodes)
            ],
        }
        bot = await stack.enter_async_context(LabBot(Config.model_validate(data)))
        await lab.slack.wait_connected()
        yield lab, bot

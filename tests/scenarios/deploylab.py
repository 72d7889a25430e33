"""A full simulated lab (nodes over sshd, colmena and nix doubles) with labbot connected, per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from bot.app import LabBot
from bot.config import Config
from labsim.boards import board_specs, boards_config, start_board_bmcs
from labsim.lab import DEFAULT_NODES, Lab
from labsim.nodes import NodeSpec, SimNode

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


@asynccontextmanager
async def boards_lab(count: int) -> AsyncIterator[tuple[Lab, LabBot]]:
    """A full lab of `count` nodes on ceil(count / 4) boards, each board with its own BMC
    emulator (the lab's drives the first), and a connected labbot (inventory inline)."""
    async with AsyncExitStack() as stack:
        lab = await stack.enter_async_context(Lab(full=True, node_specs=board_specs(count)))
        data = boards_config(lab, await start_board_bmcs(lab, stack))
        data["jobs"] = {**data.get("jobs", {}), "stream_interval_seconds": 0.2}
        bot = await stack.enter_async_context(LabBot(Config.model_validate(data)))
        await lab.slack.wait_connected()
        yield lab, bot

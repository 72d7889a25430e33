"""A lab of several Turing Pi boards: four nodes to a board, one BMC emulator per board.

`Lab` drives one BMC; a lab of N nodes sits on ceil(N / 4) boards, and labbot's config wants a
BMC per board. `start_board_bmcs` starts the further boards' emulators (their populated slots
powered, as the lab's own BMC records them) and `boards_config` writes the config for all of
them, with the inventory inline (board, slot, host, port per node). Used by the benchmarks and
the many-node scenario tests.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from labsim.bmc import BmcEmulator
from labsim.lab import BMC_PASSWORD, BMC_PASSWORD_ENV, Lab
from labsim.nodes import NodeSpec

SLOTS = 4  # a Turing Pi 2 board's


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


async def start_board_bmcs(lab: Lab, stack: AsyncExitStack) -> list[BmcEmulator]:
    """The lab's BMC and one more emulator per further board (stopped with `stack`)."""
    assert lab.bmc is not None and lab.cluster is not None
    nodes = lab.cluster.nodes
    bmcs = [lab.bmc]
    for board in range(1, -(-len(nodes) // SLOTS)):
        bmc = BmcEmulator(password=BMC_PASSWORD)
        await bmc.start()
        stack.push_async_callback(bmc.stop)
        for node in nodes[board * SLOTS : (board + 1) * SLOTS]:
            bmc.set_power(node.spec.slot - 1, True)
        bmcs.append(bmc)
    return bmcs


def boards_config(lab: Lab, bmcs: list[BmcEmulator]) -> dict[str, Any]:
    """The lab's config data with one board (and BMC) per four nodes."""
    assert lab.cluster is not None
    data: dict[str, Any] = lab.config_data()
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
    return data

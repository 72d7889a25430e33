"""`for_each_node`: every node's work at once, never more than the bound, results in order."""

from __future__ import annotations

import asyncio

import pytest

from handlers.deploy.fanout import for_each_node


async def test_work_overlaps_up_to_the_bound_and_never_beyond() -> None:
    # Each item waits until `bound` items are in flight together: run one at a time, the first
    # would wait for ever (the test's timeout fails it); past the bound, `most` would show it.
    bound, in_flight, most = 3, 0, 0
    full = asyncio.Event()

    async def work(item: int) -> int:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        if in_flight == bound:
            full.set()
        await full.wait()
        await asyncio.sleep(0)
        in_flight -= 1
        return item * 10

    results = await asyncio.wait_for(for_each_node(range(8), work, bound), timeout=10)
    assert results == [0, 10, 20, 30, 40, 50, 60, 70]
    assert most == bound


async def test_every_node_at_once_below_the_default_bound() -> None:
    arrived: set[str] = set()
    everyone = asyncio.Event()
    names = [f"tp-node{i}" for i in range(1, 25)]

    async def work(name: str) -> str:
        arrived.add(name)
        if len(arrived) == len(names):
            everyone.set()
        await everyone.wait()  # 24 nodes (six boards) all in flight together
        return name

    assert await asyncio.wait_for(for_each_node(names, work), timeout=10) == names


async def test_the_first_failure_is_raised() -> None:
    async def work(item: int) -> int:
        if item == 2:
            raise ValueError("node 2 failed")
        return item

    with pytest.raises(ValueError, match="node 2 failed"):
        await for_each_node(range(4), work)


async def test_a_bound_below_one_is_refused() -> None:
    async def work(item: int) -> int:
        return item

    with pytest.raises(ValueError, match="at least 1"):
        await for_each_node([1], work, 0)

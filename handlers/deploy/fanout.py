"""Per-node work of a deploy, all nodes at once but never more than a bound in flight.

Must not decide anything about the nodes: it only schedules the callers' coroutines.

Usage::

    systems = await for_each_node(names, lambda name: read_system(pool, name))

Results come back in the order of `items`; the first exception is raised (as `asyncio.gather`).
Each item's own time limits start when its turn comes, not when it was queued.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

NODE_CONCURRENCY = 32
"""Nodes worked on at once over SSH (recording, health gate, rollback). Each is one asyncssh
connection and its key exchange on labbot's host; 32 lets six full Turing Pi boards (24 nodes)
go in one wave, as `digest.concurrency` (also 32) does for the digest, and keeps a large
inventory from opening hundreds of connections at the same moment."""

LOCAL_CONCURRENCY = 4
"""Local `nix store diff-closures` processes at once: each reads two closures from the local
Nix store, so more than a few only contend for the deployer's disk and cores."""


async def for_each_node(
    items: Iterable[T], work: Callable[[T], Awaitable[R]], limit: int = NODE_CONCURRENCY
) -> list[R]:
    """`work(item)` for every item, at most `limit` at a time; results in `items`' order."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    turns = asyncio.Semaphore(limit)

    async def one(item: T) -> R:
        async with turns:
            return await work(item)

    return list(await asyncio.gather(*(one(item) for item in items)))

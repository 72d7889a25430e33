"""Bounded chunk channel between an upload request and the flash worker of the emulated BMC.

One sender, one receiver; either side can hang up. It holds bytes only, no flash logic.
"""

from __future__ import annotations

import asyncio
from collections import deque

#: bmcd hands upload chunks to the worker through a 16-chunk channel (reference §3.6).
UPLOAD_CHANNEL_CHUNKS = 16


class ByteChannel:
    """A bounded FIFO of byte chunks with hang-up on both ends (like a tokio mpsc channel)."""

    def __init__(self, capacity: int = UPLOAD_CHANNEL_CHUNKS) -> None:
        self._items: deque[bytes] = deque()
        self._capacity = capacity
        self._sender_closed = False
        self._receiver_closed = False
        self._changed = asyncio.Event()

    async def send(self, chunk: bytes) -> bool:
        """Queue a chunk, waiting while full; False if the receiver has hung up."""
        while len(self._items) >= self._capacity and not self._receiver_closed:
            self._changed.clear()
            await self._changed.wait()
        if self._receiver_closed:
            return False
        self._items.append(chunk)
        self._changed.set()
        return True

    async def receive(self) -> bytes | None:
        """Take the next chunk, waiting while empty; None once the sender has hung up."""
        while not self._items and not self._sender_closed and not self._receiver_closed:
            self._changed.clear()
            await self._changed.wait()
        if self._items and not self._receiver_closed:
            chunk = self._items.popleft()
            self._changed.set()
            return chunk
        return None

    def close_sender(self) -> None:
        """Signal end of data; the receiver drains what is queued, then gets None."""
        self._sender_closed = True
        self._changed.set()

    def close_receiver(self) -> None:
        """Hang up the receiving end; pending and future sends fail."""
        self._receiver_closed = True
        self._items.clear()
        self._changed.set()

"""The streamed image upload to a BMC: size/sha256 checks while sending and a stall watchdog.

Must not buffer the image: chunks flow from the source to the socket one at a time, and only
the last one is held back until the checks pass.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import TypeVar

from aiohttp.payload import AsyncIterablePayload

from bot.integrations.bmc_errors import UploadAborted
from bot.integrations.bmc_flash import FlashHandle

T = TypeVar("T")

#: After the last byte is sent, how long the BMC may take to write what is still buffered (socket
#: buffers of a few MB, bmcd's queue and its 512 KiB write buffer) before it answers the upload.
FINAL_WRITE_SECONDS = 60.0


class SizedStream(AsyncIterablePayload):
    """A streamed multipart part of known length, so the request carries a Content-Length
    (as the official `tpi` client sends it) instead of chunked encoding."""

    def __init__(self, chunks: AsyncIterator[bytes], size: int) -> None:
        super().__init__(chunks, content_type="application/octet-stream")
        self._size = size


class UploadCheck:
    """Counts and hashes the bytes sent for a flash, and notes when the BMC last took data.

    `chunks()` holds back the final chunk until size and sha256 match the handle, then
    releases it; on a mismatch it raises `UploadAborted`, so the BMC receives too few bytes
    and cancels the job rather than writing a wrong image. That error, or one raised by the
    source (e.g. `FlashImageError`), is kept in `error`: aiohttp hides it behind a
    connection error.
    """

    def __init__(
        self,
        source: AsyncIterable[bytes],
        handle: FlashHandle,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self.handle = handle
        self._clock = clock
        self.sent = 0
        self.last_activity = clock()
        self.error: Exception | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        """The source's chunks, checked; the last one only once everything matched."""
        try:
            async for chunk in self._checked():
                yield chunk
        except Exception as error:
            self.error = error
            raise

    async def _checked(self) -> AsyncIterator[bytes]:
        expected = self.handle.size or 0
        digest = hashlib.sha256()
        held: bytes | None = None
        async for chunk in self._source:
            self.last_activity = self._clock()
            if not chunk:
                continue
            self.sent += len(chunk)
            digest.update(chunk)
            if self.sent > expected:
                raise self._mismatch(f"more than the announced {expected} bytes")
            if held is not None:
                yield held
                self.last_activity = self._clock()
            held = bytes(chunk)
        if self.sent != expected:
            raise self._mismatch(f"{self.sent} bytes instead of {expected}")
        if self.handle.sha256 is not None and digest.hexdigest() != self.handle.sha256:
            raise self._mismatch(f"sha256 {digest.hexdigest()}, not {self.handle.sha256}")
        if held is not None:
            yield held
        self.last_activity = self._clock()

    def idle_seconds(self) -> float:
        """Seconds since the BMC last took a chunk (or the source produced one)."""
        return self._clock() - self.last_activity

    def _mismatch(self, detail: str) -> UploadAborted:
        handle = self.handle
        return UploadAborted(
            handle.bmc,
            handle.slot,
            f"Flashing slot {handle.slot} on BMC {handle.bmc} was stopped before the last "
            f"chunk because the image read back as {detail}; the file changed after it was "
            "prepared, so prepare it again and retry.",
            detail,
        )


async def watch_upload(request: Awaitable[T], check: UploadCheck, *, stall_seconds: float) -> T:
    """Await the upload request, giving up once no data moved for `stall_seconds`.

    A failed check or source error wins over the transport error it causes.
    """
    task: asyncio.Future[T] = asyncio.ensure_future(request)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=stall_seconds)
            if done:
                break
            allowed = stall_seconds
            if check.sent == (check.handle.size or 0):
                # Everything is handed to the socket; what sits in the kernel's buffers and
                # bmcd's 16-chunk queue is written to the module before bmcd answers.
                allowed += FINAL_WRITE_SECONDS
            if check.idle_seconds() >= allowed:
                handle = check.handle
                raise UploadAborted(
                    handle.bmc,
                    handle.slot,
                    f"Flashing slot {handle.slot} on BMC {handle.bmc} stalled: the BMC took no "
                    f"image data for {stall_seconds:g} s after {check.sent} bytes; check the "
                    "BMC and the network, then retry.",
                    "upload stalled",
                )
        task.exception()  # retrieved, so a failed check can take its place
        if check.error is not None:
            raise check.error from None
        return task.result()
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

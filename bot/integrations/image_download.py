"""Measuring an OS image at a URL (size and sha256) before a BMC is told to download it.

Must not keep the image: it is streamed through a hash and dropped, in bounded memory.

The BMC downloads the image itself (turing-machines/bmcd) and checks the
sha256 it is given, so measuring it here first binds the approval to the bytes that get
flashed, at the price of downloading the image twice.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass

import aiohttp

from bot.errors import IntegrationError

CHUNK_BYTES = 1024 * 1024


class ImageDownloadFailed(IntegrationError):
    """Raised when the image URL cannot be read to the end, or has no Content-Length."""


@dataclass(frozen=True)
class RemoteImage:
    """What a URL serves: its exact length and sha256."""

    url: str
    size: int
    sha256: str


async def measure_url(
    url: str,
    *,
    timeout: float,
    cancel: asyncio.Event | None = None,
) -> RemoteImage:
    """Download `url` once through sha256; the server must send Content-Length (the BMC needs it)."""
    client_timeout = aiohttp.ClientTimeout(
        total=None, connect=timeout, sock_connect=timeout, sock_read=timeout
    )
    digest = hashlib.sha256()
    received = 0
    try:
        async with (
            aiohttp.ClientSession(timeout=client_timeout) as session,
            session.get(url, allow_redirects=True) as response,
        ):
            if response.status != 200:
                raise ImageDownloadFailed(
                    f"The image URL {url} answered HTTP {response.status}; check the address."
                )
            if response.content_length is None:
                raise ImageDownloadFailed(
                    f"The image URL {url} sends no Content-Length, which the BMC needs to "
                    "download it; serve the file from a server that sends one."
                )
            async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                digest.update(chunk)
                received += len(chunk)
                if cancel is not None and cancel.is_set():
                    raise ImageDownloadFailed(f"Reading the image URL {url} was cancelled.")
            expected = response.content_length
    except aiohttp.ClientError as error:
        raise ImageDownloadFailed(
            f"The image URL {url} could not be read ({type(error).__name__}: {error}); check "
            "that labbot can reach it."
        ) from None
    except TimeoutError:
        raise ImageDownloadFailed(
            f"The image URL {url} stopped sending data for {timeout:g} s; try again."
        ) from None
    if received != expected:
        raise ImageDownloadFailed(
            f"The image URL {url} announced {expected} bytes but sent {received}; try again."
        )
    return RemoteImage(url, received, digest.hexdigest())

"""One whole flash through a BMC: request, upload alongside status polling, progress events.

Must not retry a failed flash or power the node back on afterwards (the caller decides); it
owns its upload task and, if cancelled itself, cancels the job on the BMC.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable

from bot.integrations.bmc import BmcClient
from bot.integrations.bmc_errors import (
    BmcError,
    BmcUnreachable,
    FlashFailed,
    FlashImageError,
    UploadAborted,
)
from bot.integrations.bmc_flash import Done, Failed, FlashEvent, FlashHandle
from bot.integrations.bmc_image import FlashImage, ImageSource, read_image

#: How long the BMC may stay unreachable mid-flash (a bmcd restart or BMC reboot) before the
#: flash counts as lost.
UNREACHABLE_GRACE_SECONDS = 120.0

EventCallback = Callable[[FlashEvent], Awaitable[None] | None]

_log = logging.getLogger(__name__)


async def flash_node(
    client: BmcClient,
    slot: int,
    image: FlashImage,
    *,
    on_event: EventCallback | None = None,
    poll_interval: float = 1.0,
    unreachable_grace: float = UNREACHABLE_GRACE_SECONDS,
) -> Done:
    """Flash `image` onto `slot` and follow it to the end; returns `Done` or raises `FlashFailed`.

    Example::

        done = await flash_node(bmc, 3, await prepare_image(path), on_event=stream_progress)

    Progress goes to `on_event` (Transferring/Done/Failed). Polling survives a BMC restart
    (the client logs in again); the BMC may be unreachable for `unreachable_grace` seconds.
    The BMC leaves the node powered off afterwards.
    """
    handle = await client.start_flash(slot, image)
    upload: asyncio.Task[None] | None = None
    if handle.source is ImageSource.upload:
        upload = asyncio.ensure_future(client.upload(handle, read_image(image)))
    try:
        return await _follow(client, handle, upload, on_event, poll_interval, unreachable_grace)
    except asyncio.CancelledError:
        if not client.flash_monitor(handle).finished:
            await _cancel_quietly(client, handle)
        raise
    finally:
        if upload is not None and not upload.done():
            upload.cancel()
        if upload is not None:
            await asyncio.gather(upload, return_exceptions=True)


async def _follow(
    client: BmcClient,
    handle: FlashHandle,
    upload: asyncio.Task[None] | None,
    on_event: EventCallback | None,
    poll_interval: float,
    unreachable_grace: float,
) -> Done:
    loop = asyncio.get_running_loop()
    monitor = client.flash_monitor(handle)
    reachable_at = loop.time()
    upload_failed_at: float | None = None
    while True:
        event: FlashEvent | None
        try:
            event = await client.poll_flash(handle)
            reachable_at = loop.time()
        except BmcUnreachable:
            if loop.time() - reachable_at < unreachable_grace:
                event = None
            else:
                event = monitor.lost(unreachable=True)
        if event is not None and on_event is not None:
            result = on_event(event)
            if inspect.isawaitable(result):
                await result
        if isinstance(event, Done):
            return event
        upload_error = _upload_error(upload)
        if isinstance(event, Failed):
            if isinstance(upload_error, UploadAborted | FlashImageError):
                raise upload_error  # the client-side cause is the more precise one
            raise FlashFailed(client.name, handle.slot, event.explanation, event.message)
        if upload_error is not None:
            upload_failed_at = upload_failed_at or loop.time()
            if loop.time() - upload_failed_at >= client.timeout:
                raise upload_error
        if upload is not None and not upload.done():
            await asyncio.wait({upload}, timeout=poll_interval)
        else:
            await asyncio.sleep(poll_interval)


def _upload_error(upload: asyncio.Task[None] | None) -> BaseException | None:
    if upload is None or not upload.done() or upload.cancelled():
        return None
    return upload.exception()


async def _cancel_quietly(client: BmcClient, handle: FlashHandle) -> None:
    """Best effort: stop the BMC's job when the flash is abandoned."""
    try:
        await asyncio.wait_for(client.cancel_flash(handle), client.timeout)
    except (BmcError, TimeoutError) as error:
        _log.warning(
            "could not cancel flash %s on BMC %s: %s", handle.describe(), client.name, error
        )

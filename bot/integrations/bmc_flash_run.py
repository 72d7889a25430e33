"""One whole flash through a BMC: request, then the upload, then status polling, as `tpi` does.

bmcd serves one request at a time and takes the upload body only as fast as it writes it, so a
status poll sent during the upload would wait behind it (turing-machines/bmcd v2.3.4,
src/authentication/authentication_service.rs, src/api/legacy.rs). The official client starts
the flash, uploads, and polls only after the upload POST returned (turing-machines/tpi v1.0.7,
src/legacy_handler.rs); so does this. Progress during the upload is the bytes the BMC took.

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
)
from bot.integrations.bmc_failures import explain_flash_error
from bot.integrations.bmc_flash import Done, Failed, FlashEvent, FlashHandle
from bot.integrations.bmc_image import FlashImage, ImageSource, read_image
from bot.integrations.bmc_protocol import FlashError

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

    Progress goes to `on_event` (Transferring/Done/Failed): first the bytes the BMC took while
    the upload runs, then the BMC's own status. Polling survives a BMC restart (the client logs
    in again); the BMC may be unreachable for `unreachable_grace` seconds. The flash request is
    sent once, never repeated. The BMC leaves the node powered off afterwards.
    """
    handle = await client.start_flash(slot, image)
    try:
        if handle.source is ImageSource.upload:
            await _upload(client, handle, image, on_event, poll_interval)
        return await _follow(client, handle, on_event, poll_interval, unreachable_grace)
    except asyncio.CancelledError:
        if not client.flash_monitor(handle).finished:
            await _cancel_quietly(client, handle)
        raise


async def _upload(
    client: BmcClient,
    handle: FlashHandle,
    image: FlashImage,
    on_event: EventCallback | None,
    poll_interval: float,
) -> None:
    """Send the image, reporting how much the BMC took every `poll_interval`; a lost connection
    is left to the status polls that follow (the BMC may still say what became of the job)."""
    upload = asyncio.ensure_future(client.upload(handle, read_image(image)))
    monitor = client.flash_monitor(handle)
    try:
        while True:
            done, _ = await asyncio.wait({upload}, timeout=poll_interval)
            if done:
                break
            progress = client.uploading
            event = monitor.sending(progress.bytes_written) if progress is not None else None
            if event is not None:
                await _emit(on_event, event)
        try:
            upload.result()
        except BmcUnreachable as error:
            _log.warning("upload of %s lost its connection: %s", handle.describe(), error)
        except FlashFailed as refused:
            raise await _job_error(client, handle) or refused from None
    finally:
        if not upload.done():
            upload.cancel()
            await asyncio.gather(upload, return_exceptions=True)


async def _job_error(client: BmcClient, handle: FlashHandle) -> FlashFailed | None:
    """Why the BMC refused the upload, when its job had already failed (the module was not
    detected, the upload came too late): the job's own error says more than the refusal
    (`cannot execute command in current state…`)."""
    try:
        status = await client.flash_status()
    except BmcError:
        return None
    if not isinstance(status, FlashError):
        return None
    explanation = explain_flash_error(client.name, handle.slot, status.message)
    return FlashFailed(client.name, handle.slot, explanation, status.message)


async def _emit(on_event: EventCallback | None, event: FlashEvent) -> None:
    if on_event is None:
        return
    result = on_event(event)
    if inspect.isawaitable(result):
        await result


async def _follow(
    client: BmcClient,
    handle: FlashHandle,
    on_event: EventCallback | None,
    poll_interval: float,
    unreachable_grace: float,
) -> Done:
    loop = asyncio.get_running_loop()
    monitor = client.flash_monitor(handle)
    reachable_at = loop.time()
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
        if event is not None:
            await _emit(on_event, event)
        if isinstance(event, Done):
            return event
        if isinstance(event, Failed):
            raise FlashFailed(client.name, handle.slot, event.explanation, event.message)
        await asyncio.sleep(poll_interval)


async def _cancel_quietly(client: BmcClient, handle: FlashHandle) -> None:
    """Best effort: stop the BMC's job when the flash is abandoned."""
    try:
        await asyncio.wait_for(client.cancel_flash(handle), client.timeout)
    except (BmcError, TimeoutError) as error:
        _log.warning(
            "could not cancel flash %s on BMC %s: %s", handle.describe(), client.name, error
        )

"""Client of one Turing Pi 2 BMC (firmware 2.x, bmcd 2.3.4): info, power, UART and flashing.

Must not serialise flashes across clients (the job engine's lock does) or follow a whole flash
(see `bmc_flash_run.flash_node`). Slots are 1–4 as printed on the board; `bmc_protocol` turns
them into the API's numbers.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Callable
from types import TracebackType
from typing import TypeVar

import aiohttp

from bot.config import BmcConfig
from bot.integrations.bmc_errors import (
    BmcBusy,
    BmcBusyUploading,
    BmcCommandFailed,
    BmcError,
    BmcUnsupported,
    FlashFailed,
)
from bot.integrations.bmc_failures import explain_flash_error
from bot.integrations.bmc_flash import FlashEvent, FlashHandle, FlashMonitor, Transferring
from bot.integrations.bmc_image import FlashImage, ImageSource
from bot.integrations.bmc_protocol import (
    BmcGeneration,
    BmcInfo,
    FlashStatus,
    FlashTransferring,
    ReplyShapeError,
    check_slot,
    envelope_message,
    node_value,
    parse_flash_status,
    parse_handle,
    parse_info,
    parse_ok,
    parse_power_status,
    parse_uart,
    power_parameter,
)
from bot.integrations.bmc_transport import API_PATH, BmcTransport, Query, first_line
from bot.integrations.bmc_upload import SizedStream, UploadCheck, watch_upload

_log = logging.getLogger(__name__)

T = TypeVar("T")


class BmcClient:
    """Async client of one BMC; reuses its login token and logs in again when it is lost.

    Example::

        async with BmcClient(config.bmc["tp1"], name="tp1") as bmc:
            await bmc.power(3, on=True)
            print(await bmc.power_status())      # {1: False, 2: False, 3: True, 4: False}

    Every call has the configured timeout; failures raise `BmcError` subclasses.
    """

    def __init__(
        self, config: BmcConfig, *, name: str, session: aiohttp.ClientSession | None = None
    ) -> None:
        self._transport = BmcTransport(config, name=name, session=session)
        self._info: tuple[int, BmcInfo] | None = None
        self._monitor: FlashMonitor | None = None
        self._upload: UploadCheck | None = None

    @property
    def name(self) -> str:
        """The BMC's configured name."""
        return self._transport.name

    @property
    def timeout(self) -> float:
        """The configured per-call timeout in seconds."""
        return self._transport.timeout

    async def __aenter__(self) -> BmcClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if the client created it."""
        await self._transport.close()

    # -- info ---------------------------------------------------------------------------------

    async def info(self, *, refresh: bool = False) -> BmcInfo:
        """Firmware, bmcd and API versions; cached until the BMC loses labbot's session."""
        if await self._transport.generation_hint() is BmcGeneration.v1:
            return BmcInfo(BmcGeneration.v1, None, None, "1.x")
        if self._info is not None and not refresh and self._info[0] == self._transport.epoch:
            return self._info[1]
        body = await self._get([("opt", "get"), ("type", "other")], "read its versions")
        info = self._parse(parse_info, body, "read its versions")
        self._info = (self._transport.epoch, info)
        return info

    # -- power --------------------------------------------------------------------------------

    async def power_status(self) -> dict[int, bool | None]:
        """Power of slots 1–4 as the BMC records it (None: "Unknown"); bookkeeping, not measured."""
        body = await self._get([("opt", "get"), ("type", "power")], "read the power status")
        return self._parse(parse_power_status, body, "read the power status")

    async def power(self, slot: int, on: bool) -> None:
        """Switch one slot on or off."""
        state = "on" if on else "off"
        what = f"switch slot {slot} {state}"
        query = [("opt", "set"), ("type", "power"), (power_parameter(slot), "1" if on else "0")]
        self._parse(parse_ok, await self._get(query, what), what)

    async def reset(self, slot: int) -> None:
        """Power-cycle one slot (off, 1 s, on); the BMC's power record is not updated."""
        what = f"reset slot {slot}"
        query = [("opt", "set"), ("type", "reset"), ("node", node_value(slot))]
        self._parse(parse_ok, await self._get(query, what), what)

    # -- UART ---------------------------------------------------------------------------------

    async def uart_read(self, slot: int) -> str:
        """The slot's console buffer: all 16 KiB on 2.1+, only unread text on 2.0.x (drains)."""
        what = f"read slot {slot}'s console"
        body = await self._get([("opt", "get"), ("type", "uart"), ("node", node_value(slot))], what)
        return self._parse(parse_uart, body, what)

    async def uart_send(self, slot: int, line: str) -> None:
        """Type one line on the slot's console (the line end is added)."""
        if "\r" in line or "\n" in line:
            raise ValueError("send one line at a time, without CR or LF")
        what = f"type on slot {slot}'s console"
        command = line
        if not (await self.info()).generation.uart_appends_newline:
            command += "\r\n"  # firmware 1.x sends `cmd` as is (reference §1)
        query = [("opt", "set"), ("type", "uart"), ("node", node_value(slot)), ("cmd", command)]
        self._parse(parse_ok, await self._get(query, what), what)

    # -- flashing -----------------------------------------------------------------------------

    @property
    def running_flash(self) -> FlashHandle | None:
        """The flash this client started and has not yet seen end, if any."""
        monitor = self._monitor
        return monitor.handle if monitor is not None and not monitor.finished else None

    @property
    def uploading(self) -> Transferring | None:
        """The image upload under way, as bytes the BMC has taken so far; None when none runs.

        While it runs the BMC serves nothing else (see `BmcTransport`): callers can say the BMC
        is busy flashing instead of waiting silently.
        """
        check = self._upload
        if check is None:
            return None
        return Transferring(check.sent, check.handle.size or 0)

    def refuse_while_uploading(self) -> None:
        """Raise `BmcBusyUploading` while an upload holds the BMC, for questions that should
        be answered now or not at all (`/lab power status`, `/lab uart`); jobs wait instead."""
        check = self._upload
        if check is not None:
            total = check.handle.size or 0
            percent = min(100, check.sent * 100 // total) if total else 0
            raise BmcBusyUploading(self.name, check.handle.slot, percent)

    def flash_monitor(self, handle: FlashHandle) -> FlashMonitor:
        """The monitor following `handle` (the latest flash this client started)."""
        monitor = self._monitor
        if monitor is None or monitor.handle != handle:
            raise ValueError(f"{handle.describe()} is not this client's latest flash")
        return monitor

    async def flash_status(self) -> FlashStatus:
        """The BMC's flash status: Ready, Transferring, Done or Error (the latter two carry no id)."""
        what = "read the flash status"
        return self._parse(parse_flash_status, await self._get(_FLASH_STATUS, what), what)

    async def start_flash(self, slot: int, image: FlashImage) -> FlashHandle:
        """Ask the BMC to flash `image` onto `slot`; an `upload` image must follow within 10 s.

        Refuses (`BmcBusy`) while a flash runs on this BMC, since a new request would
        silently abort it. On firmware 2.0.x the sha256 is checked by labbot only.
        """
        check_slot(slot)
        info = await self.info()
        generation = info.generation
        if generation is BmcGeneration.v1:
            raise BmcUnsupported(self.name, "1.x", "flash a node through labbot")
        if image.source is ImageSource.url and not generation.flash_from_url:
            raise BmcUnsupported(self.name, info.describe(), "download an image from a URL")
        if (mine := self.running_flash) is not None:
            raise BmcBusy(self.name, f"{mine.describe()}, started by labbot")
        status = await self.flash_status()
        if isinstance(status, FlashTransferring) and not status.cancelled:
            raise BmcBusy(self.name, f"{status.process_name}, job {status.job_id}")
        query: list[tuple[str, str]] = [
            ("opt", "set"),
            ("type", "flash"),
            ("node", node_value(slot)),
            ("file", image.name),
        ]
        if image.source is ImageSource.upload:
            if image.size is None:
                raise ValueError(f"image {image.name} has no size; use prepare_image()")
            query.append(("length", str(image.size)))
        if image.source is ImageSource.on_bmc:
            query.append(("local", "true"))
        elif image.sha256 is not None and generation.flash_checks_sha256:
            query.append(("sha256", image.sha256))
        what = f"start flashing slot {slot}"
        reply = await self._transport.request("GET", API_PATH, query=query, what=what)
        if reply.status != 200:
            message = envelope_message(reply.text) or first_line(reply)
            raise FlashFailed(
                self.name, slot, explain_flash_error(self.name, slot, message), message
            )
        job_id = self._parse(parse_handle, self._transport.decode(reply, what), what)
        handle = FlashHandle(
            self.name, job_id, slot, image.name, image.source, image.size, image.sha256
        )
        self._monitor = FlashMonitor(handle)
        _log.info("BMC %s accepted flash %s", self.name, handle.describe())
        return handle

    async def upload(self, handle: FlashHandle, source: AsyncIterable[bytes]) -> None:
        """Stream the image into the job as the BMC's multipart upload; returns once all bytes
        are handed over (verification continues on the BMC: keep polling).

        Size and sha256 are checked while sending; on a mismatch the last chunk is withheld,
        so the BMC cancels the job instead of writing a wrong image. Fails if the BMC accepts
        no data for the configured timeout.
        """
        if handle.source is not ImageSource.upload or handle.size is None:
            raise ValueError(f"{handle.describe()} takes no upload")
        self.flash_monitor(handle)
        check = UploadCheck(source, handle)
        self._upload = check
        try:
            await self._send_upload(handle, check, handle.size)
        finally:
            self._upload = None
        self.flash_monitor(handle).uploaded(check.sent)

    async def _send_upload(self, handle: FlashHandle, check: UploadCheck, size: int) -> None:
        form = aiohttp.MultipartWriter("form-data")
        part = form.append_payload(SizedStream(check.chunks(), size))
        part.set_content_disposition("form-data", name="file")
        seconds = self.timeout
        reply = await watch_upload(
            self._transport.request(
                "POST",
                f"{API_PATH}/upload/{handle.job_id}",
                what="the image upload",
                data=form,
                client_timeout=aiohttp.ClientTimeout(
                    total=None, connect=seconds, sock_connect=seconds
                ),
                retry_after_login=False,
            ),
            check,
            stall_seconds=seconds,
        )
        if reply.status != 200:
            message = first_line(reply)
            explanation = explain_flash_error(self.name, handle.slot, message)
            raise FlashFailed(self.name, handle.slot, explanation, message)

    async def poll_flash(self, handle: FlashHandle) -> FlashEvent | None:
        """Read the status once and return what changed for `handle` (None: nothing new).

        Once the job has ended, returns its final `Done`/`Failed` without asking the BMC.
        """
        monitor = self.flash_monitor(handle)
        if monitor.outcome is not None:
            return monitor.outcome
        return monitor.observe(await self.flash_status())

    async def cancel_flash(self, handle: FlashHandle) -> bool:
        """Cancel `handle` if it is still running on the BMC; False if there was nothing to cancel.

        Refuses to touch a job labbot did not start (the BMC's cancel is not per job).
        """
        status = await self.flash_status()
        if not isinstance(status, FlashTransferring):
            return False
        if status.job_id != handle.job_id:
            raise BmcError(
                self.name,
                f"BMC {self.name} is running another flash ({status.process_name}, job "
                f"{status.job_id}), not labbot's job {handle.job_id}; labbot will not cancel "
                "it, so stop it where it was started.",
            )
        what = f"cancel flashing slot {handle.slot}"
        reply = await self._transport.request(
            "GET", f"{API_PATH}/upload/{handle.job_id}/cancel", what=what
        )
        if reply.status != 200:
            raise BmcCommandFailed(self.name, what, reply.status, first_line(reply))
        monitor = self._monitor
        if monitor is not None and monitor.handle == handle:
            monitor.cancelled()
        _log.info("cancelled flash %s on BMC %s", handle.describe(), self.name)
        return True

    # -- plumbing -----------------------------------------------------------------------------

    async def _get(self, query: Query, operation: str) -> object:
        """GET an `opt`/`type` call; error envelopes become `BmcCommandFailed`."""
        what = f"the request to {operation}"
        reply = await self._transport.request("GET", API_PATH, query=query, what=what)
        if reply.status == 200:
            return self._transport.decode(reply, what)
        message = envelope_message(reply.text)
        if message is None:
            self._transport.decode(reply, what)  # raises for HTML or an empty body
            message = first_line(reply)
        raise BmcCommandFailed(self.name, operation, reply.status, message)

    def _parse(self, parser: Callable[[object], T], body: object, operation: str) -> T:
        try:
            return parser(body)
        except ReplyShapeError as error:
            raise self._transport.protocol_error(f"the request to {operation}", error) from None


_FLASH_STATUS = [("opt", "get"), ("type", "flash")]

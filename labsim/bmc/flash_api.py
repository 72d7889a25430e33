"""HTTP side of flashing on the emulated bmcd 2.3.4: transfer request, status, upload and cancel.

Parses and answers requests (turing-machines/bmcd); the job itself runs in `flash`.
Errors are plain text with HTTP 500, as actix renders bmcd's error type there (inferred).
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Callable, Mapping

import aiohttp
import yarl
from aiohttp import web

from labsim.bmc.channel import ByteChannel
from labsim.bmc.flash import FlashService
from labsim.bmc.flash_job import FlashApiError, TransferRequest
from labsim.bmc.responses import LegacyError, empty_ok, json_as_text, node_param, plain_text
from labsim.bmc.rust_formats import decode_hex, format_size, parse_u64

READ_CHUNK_BYTES = 64 * 1024
LOCAL_CHUNK_BYTES = 512 * 1024
WORKER_ERROR_WAIT_SECONDS = 5.0
URL_HEADERS_TIMEOUT_SECONDS = 30.0


class FlashApi:
    """Answers the flash routes; `local_files` models files on the BMC (e.g. its SD card)."""

    def __init__(
        self,
        flash: FlashService,
        *,
        local_files: Mapping[str, bytes],
        http_session: Callable[[], aiohttp.ClientSession],
    ) -> None:
        self._flash = flash
        self._local_files = local_files
        self._http_session = http_session

    def status(self) -> web.Response:
        """`GET ?opt=get&type=flash`: bare serde JSON ("Ready" / Transferring / Done / Error)."""
        return json_as_text(self._flash.status())

    def cancel(self) -> web.Response:
        """`GET /api/bmc/upload/<anything>/cancel`: cancel whatever runs; empty 200."""
        self._flash.cancel_all()
        return empty_ok()

    async def request_transfer(self, query: dict[str, str]) -> web.Response:
        """`GET ?opt=set&type=flash|firmware&...` → bare `{"handle": <u32>}`."""
        try:
            request = await self._build_request(query)
        except FlashApiError as error:
            return plain_text(500, str(error))
        return json_as_text({"handle": self._flash.request_transfer(request)})

    async def upload(self, request: web.BaseRequest, handle_text: str) -> web.Response:
        """`POST /api/bmc/upload/<handle>`: stream the first multipart part into the job."""
        handle = parse_u64(handle_text)
        if handle is None or handle >= 2**32:
            # actix's path extractor rejects it with 404 (wording inferred).
            return plain_text(404, f'can not parse "{handle_text}" to a u32')
        try:
            job = self._flash.take_upload(handle)
        except FlashApiError as error:
            return plain_text(500, str(error))
        channel = job.request.upload
        assert channel is not None  # take_upload only hands out upload jobs
        size = job.request.size
        sent = 0
        try:
            part = await _first_part(request)
            if part is None:
                return plain_text(500, "Multipart form invalid")
            while True:
                try:
                    chunk = await part.read_chunk(READ_CHUNK_BYTES)
                except (aiohttp.ClientError, ConnectionError, ValueError):
                    break  # bmcd stops reading on a stream error; the size check decides
                if not chunk:
                    break
                if not await channel.send(chunk):
                    message = await self._flash.wait_for_error(WORKER_ERROR_WAIT_SECONDS)
                    return plain_text(500, message or "transfer canceled")
                sent += len(chunk)
            if sent != size:
                self._flash.cancel_all()
                # Rust computes size - sent in u64 (wrapping if more bytes came than announced).
                return plain_text(500, f"missing {format_size((size - sent) % 2**64)} bytes")
            return empty_ok()
        finally:
            channel.close_sender()

    async def _build_request(self, query: dict[str, str]) -> TransferRequest:
        kind = query.get("type")
        node: int | None = None
        if kind == "firmware":
            process_name = "firmware upgrade service"
        elif kind == "flash":
            try:
                node = node_param(query)
            except LegacyError as error:
                raise FlashApiError(error.message) from None
            process_name = f"Node {node + 1} os install service"
        else:
            raise FlashApiError("`type` should equal 'firmware' or 'flash'")
        file = query.get("file")
        if file is None:
            raise FlashApiError("Invalid `file` query parameter")
        verify_crc = "skip_crc" not in query  # presence flag: any value disables the CRC pass
        if "local" in query:
            data = self._local_files.get(file)
            if data is None:
                raise FlashApiError(f"Failed to {file}: No such file or directory (os error 2)")
            return TransferRequest(
                process_name, node, file, len(data), None, verify_crc, _slices(data)
            )
        expected = _parse_sha256(query.get("sha256"))
        if file.startswith("http"):
            size, chunks, release = await self._download(file)
            return TransferRequest(
                process_name, node, file, size, expected, verify_crc, chunks, on_finish=release
            )
        length = query.get("length")
        if length is None:
            raise FlashApiError("Invalid `length` query parameter")
        announced = parse_u64(length)
        if announced is None:
            raise FlashApiError("`length` parameter is not a number")
        channel = ByteChannel()
        chunks = _drain(channel)
        return TransferRequest(
            process_name, node, file, announced, expected, verify_crc, chunks, upload=channel
        )

    async def _download(
        self, url: str
    ) -> tuple[int, AsyncGenerator[bytes, None], Callable[[], None]]:
        """Open the URL and wait for its headers, as bmcd does.

        turing-machines/bmcd v2.3.4 src/streaming_data_service/data_transfer.rs:
        `reqwest::get(url).await.context("http file request error")?` and, for the size,
        `.get(CONTENT_LENGTH).context("no content-length field in http response")`; an anyhow
        error becomes `Failed to {e}: {e.root_cause()}` (src/api/into_legacy_response.rs).
        reqwest::get does not fail on an HTTP error status, so neither does this: a 404 page
        with a Content-Length is what gets written.
        """
        parsed = yarl.URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise FlashApiError(
                f"{url} could not be parsed to a url object: relative URL without a base"
            )
        try:
            response = await self._http_session().get(
                parsed, timeout=aiohttp.ClientTimeout(sock_connect=URL_HEADERS_TIMEOUT_SECONDS)
            )
        except (TimeoutError, aiohttp.ClientError) as error:
            raise FlashApiError(
                f"Failed to http file request error: {_root_cause(error)}"
            ) from None
        if response.content_length is None:
            response.release()
            missing = "no content-length field in http response"
            raise FlashApiError(f"Failed to {missing}: {missing}")
        return response.content_length, _stream(response), response.close


def _root_cause(error: BaseException) -> str:
    """The innermost error as Rust prints it: an OS error is `Connection refused (os error 111)`."""
    os_error = getattr(error, "os_error", None)
    if isinstance(os_error, OSError) and os_error.errno is not None:
        return f"{os.strerror(os_error.errno)} (os error {os_error.errno})"
    if isinstance(error, TimeoutError):
        return "operation timed out"
    return str(error) or type(error).__name__


def _parse_sha256(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        return decode_hex(text)
    except ValueError as error:
        raise FlashApiError(f"`sha256` parameter contains invalid hex values: {error}") from None


async def _first_part(request: web.BaseRequest) -> aiohttp.BodyPartReader | None:
    try:
        reader = await request.multipart()
        part = await reader.next()
    except (ValueError, KeyError, AssertionError, aiohttp.ClientError):
        return None
    return part if isinstance(part, aiohttp.BodyPartReader) else None


async def _slices(data: bytes) -> AsyncGenerator[bytes, None]:
    for offset in range(0, len(data), LOCAL_CHUNK_BYTES):
        yield data[offset : offset + LOCAL_CHUNK_BYTES]


async def _drain(channel: ByteChannel) -> AsyncGenerator[bytes, None]:
    while (chunk := await channel.receive()) is not None:
        yield chunk


async def _stream(response: aiohttp.ClientResponse) -> AsyncGenerator[bytes, None]:
    async for chunk in response.content.iter_chunked(READ_CHUNK_BYTES):
        yield chunk

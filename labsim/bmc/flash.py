"""Flash job slot of the emulated bmcd 2.3.4: the worker, timeouts and integrity checks.

Follows turing-machines/bmcd (single global job slot); HTTP parsing lives in `flash_api`.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import lzma
import secrets
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from typing import Any

from labsim.bmc.board import Board, PowerReason, UsbConfig, UsbMode, UsbRoute
from labsim.bmc.flash_job import (
    HEAD_BYTES,
    MODULE_NOT_FOUND,
    SENDER_TAKEN,
    Done,
    Failed,
    FlashApiError,
    FlashedImage,
    FlashFaults,
    FlashJob,
    FlashProgress,
    FlashState,
    ProgressCallback,
    Ready,
    TransferRequest,
)
from labsim.bmc.rust_formats import format_size

_log = logging.getLogger(__name__)


class _FlashFailed(Exception):
    def __init__(self, message: str, *, restore_node: bool = True) -> None:
        super().__init__(message)
        self.restore_node = restore_node


class _DaemonCrashed(Exception):
    pass


class FlashService:
    """The single global job slot: at most one job runs; a new request silently replaces it."""

    def __init__(
        self,
        board: Board,
        *,
        bytes_per_sec: int,
        upload_start_timeout: float,
        prepare_seconds: float,
        populated_slots: int,
        on_crash: Callable[[], None],
    ) -> None:
        if bytes_per_sec <= 0:
            raise ValueError("flash_bytes_per_sec must be positive")
        self._board = board
        self._rate = bytes_per_sec
        self._step = max(4096, bytes_per_sec // 20)
        self._upload_start_timeout = upload_start_timeout
        self._prepare_seconds = prepare_seconds
        self._populated = populated_slots
        self._on_crash = on_crash
        self._state: FlashState = Ready()
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._images: dict[int, FlashedImage | None] = {}
        self._observers: list[ProgressCallback] = []
        self._jobs_since_start = 0
        self._killing = False
        self.faults = FlashFaults()
        self.requests: list[TransferRequest] = []  # every flash asked for, oldest first

    def subscribe(self, callback: ProgressCallback) -> None:
        """Report every progress step of every job to `callback`."""
        self._observers.append(callback)

    def flashed_image(self, node: int) -> FlashedImage | None:
        """The image last flashed successfully on `node`; None if never or since disturbed."""
        return self._images.get(node)

    def status(self) -> Any:
        """The `opt=get&type=flash` body as a JSON value (serde's enum encoding)."""
        state = self._state
        if isinstance(state, FlashJob):
            return state.status()
        if isinstance(state, Done):
            secs = int(state.seconds)
            nanos = int((state.seconds - secs) * 1_000_000_000)
            return {"Done": [{"secs": secs, "nanos": nanos}, state.size]}
        if isinstance(state, Failed):
            return {"Error": state.message}
        return "Ready"

    def request_transfer(self, request: TransferRequest) -> int:
        """Start a job (cancelling any running one) and return its random u32 handle."""
        job = FlashJob(secrets.randbits(32), request)
        self.requests.append(request)
        job.injected_failure, self.faults.next_failure = self.faults.next_failure, None
        self._jobs_since_start += 1
        job.crash_daemon = self.faults.oom_on_back_to_back and self._jobs_since_start >= 2
        job.task = self._spawn(self._run(job))
        # bmcd arms this timer for every request and, when it fires, checks whichever job is
        # current at that moment (not necessarily this one).
        self._spawn(self._expire_unstarted_upload())
        self._set_state(job)
        return job.id

    def cancel_all(self) -> None:
        """`GET /api/bmc/upload/<any>/cancel`: state becomes Error even when nothing runs."""
        self._set_state(Failed("cancelled by user"))

    def take_upload(self, handle: int) -> FlashJob:
        """Claim the upload side of the current job for `POST /api/bmc/upload/<handle>`."""
        state = self._state
        if not isinstance(state, FlashJob):
            name = {Ready: "Ready", Done: "Done", Failed: "Error"}[type(state)]
            raise FlashApiError(
                f"cannot execute command in current state. current={name}, expected=Transferring"
            )
        if handle != state.id:
            raise FlashApiError("unauthorized request for handle")
        if state.request.upload is None or state.upload_started:
            raise FlashApiError(SENDER_TAKEN)
        state.upload_started = True
        return state

    async def wait_for_error(self, wait_seconds: float) -> str | None:
        """Wait up to `wait_seconds` for the state to become Error; its message or None."""
        state = await self._wait_for((Failed,), wait_seconds)
        return state.message if isinstance(state, Failed) else None

    async def wait_for_result(self, wait_seconds: float) -> Any:
        """Wait until the state is Done or Error and return the status JSON value.

        Raises TimeoutError if that does not happen within `wait_seconds`.
        """
        if await self._wait_for((Done, Failed), wait_seconds) is None:
            raise TimeoutError(f"flash job not finished within {wait_seconds} s")
        return self.status()

    async def _wait_for(
        self, kinds: tuple[type[Done] | type[Failed], ...], wait_seconds: float
    ) -> FlashState | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while not isinstance(self._state, kinds):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return None
        return self._state

    async def kill(self) -> None:
        """The daemon dies: workers and timers stop without cleanup; state is back to Ready."""
        self._killing = True
        try:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            self._killing = False
        self._set_state(Ready())
        self._jobs_since_start = 0

    def _spawn(self, coroutine: Awaitable[None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _set_state(self, state: FlashState) -> None:
        previous, self._state = self._state, state
        if isinstance(previous, FlashJob) and previous is not state:
            previous.cancel()
        self._changed.set()
        self._changed = asyncio.Event()

    async def _expire_unstarted_upload(self) -> None:
        await asyncio.sleep(self._upload_start_timeout)
        state = self._state
        if (
            isinstance(state, FlashJob)
            and state.request.upload is not None
            and not state.upload_started
        ):
            self._set_state(Failed("Send timeout"))

    async def _run(self, job: FlashJob) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        outcome: FlashState | None = None
        restore = True
        try:
            await self._work(job)
            outcome = Done(loop.time() - started, job.request.size)
        except asyncio.CancelledError:
            if self._killing:
                raise
        except _FlashFailed as failure:
            outcome = Failed(str(failure))
            restore = failure.restore_node
        except _DaemonCrashed:
            self._on_crash()
            return
        except Exception as error:  # an observer callback failed: surface it as a job error
            _log.exception("flash worker of job %s failed", job.id)
            outcome = Failed(f"labsim internal error: {error!r}")
        finally:
            job.finished = True
            if job.request.upload is not None:
                job.request.upload.close_receiver()
            if job.request.on_finish is not None:
                job.request.on_finish()
        if restore and job.node_touched and job.request.node is not None:
            # Success, failure or cancel after enumeration: node off, USB mode restored.
            self._board.set_power(job.request.node, False, PowerReason.flash)
            self._board.usb = job.saved_usb
        if outcome is not None and self._state is job:
            self._set_state(outcome)

    async def _work(self, job: FlashJob) -> None:
        request = job.request
        if request.node is not None:
            await self._enter_flash_mode(job, request.node)
        source_hash = hashlib.sha256()
        disk_hash = hashlib.sha256()
        head = bytearray()
        received = 0
        decompressor = lzma.LZMADecompressor() if request.file_name.endswith(".xz") else None
        self._start_phase(job)
        async with aclosing(request.chunks) as chunks:
            async for chunk in chunks:
                piece = chunk[: request.size - received]
                received += len(piece)
                source_hash.update(piece)
                data = piece
                if decompressor is not None:
                    try:
                        data = decompressor.decompress(piece)
                    except lzma.LZMAError as error:
                        raise _FlashFailed(f"xz decoding failed: {error}") from None  # inferred
                disk_hash.update(data)
                if len(head) < HEAD_BYTES:
                    head += data[: HEAD_BYTES - len(head)]
                await self._advance(job, len(data), "write")
                if job.crash_daemon:
                    raise _DaemonCrashed
        if request.expected_sha256 is not None and source_hash.digest() != request.expected_sha256:
            raise _FlashFailed(
                f"sha256 checksum failed. Expected: {request.expected_sha256.hex()}, "
                f"got: {source_hash.hexdigest()}"
            )
        if received < request.size:
            raise _FlashFailed(f"missing {format_size(request.size - received)} bytes")
        if decompressor is not None and not decompressor.eof:
            raise _FlashFailed("xz decoding failed: unexpected end of input")  # inferred wording
        written = job.bytes_written
        if request.verify_crc and request.node is not None:
            self._start_phase(job)
            await self._report(job, "verify")
            await self._advance(job, written, "verify")
        if job.injected_failure is not None:
            raise _FlashFailed(job.injected_failure)
        if request.node is not None:
            self._images[request.node] = FlashedImage(
                node=request.node,
                file_name=request.file_name,
                size=written,
                sha256=disk_hash.hexdigest(),
                source_size=received,
                source_sha256=source_hash.hexdigest(),
                verified=request.verify_crc,
                head=bytes(head),
            )

    async def _enter_flash_mode(self, job: FlashJob, node: int) -> None:
        job.node_touched = True
        job.saved_usb = self._board.usb
        self._board.set_power(node, False, PowerReason.flash)
        self._board.usb = UsbConfig(node=node, mode=UsbMode.flash, route=UsbRoute.bmc)
        self._board.set_power(node, True, PowerReason.flash)
        await asyncio.sleep(self._prepare_seconds)
        failure = self.faults.module_failures.get(node)
        if failure is None and node >= self._populated:
            failure = MODULE_NOT_FOUND
        if failure is not None:
            # Enumeration failed: bmcd skips its cleanup, the node stays powered in flash mode.
            raise _FlashFailed(failure, restore_node=False)
        self._images[node] = None  # from here on the module's disk is being overwritten

    def _start_phase(self, job: FlashJob) -> None:
        job.bytes_written = 0
        job.phase_bytes = 0
        job.phase_started = asyncio.get_running_loop().time()

    async def _advance(self, job: FlashJob, count: int, phase: str) -> None:
        """Move `count` bytes through the current phase at the configured speed."""
        loop = asyncio.get_running_loop()
        while count > 0:
            step = min(count, self._step)
            count -= step
            job.bytes_written += step
            job.phase_bytes += step
            delay = job.phase_started + job.phase_bytes / self._rate - loop.time()
            await asyncio.sleep(max(0.0, delay))
            await self._report(job, phase)

    async def _report(self, job: FlashJob, phase: str) -> None:
        progress = FlashProgress(
            job_id=job.id,
            node=job.request.node,
            phase=phase,
            bytes_written=job.bytes_written,
            size=job.request.size,
        )
        for callback in list(self._observers):
            result = callback(progress)
            if inspect.isawaitable(result):
                await result

"""A flash job of the emulated bmcd and the values around it: request, progress, states, result.

Data and status shapes only (turing-machines/bmcd); the worker lives in `flash`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field

from labsim.bmc.board import UsbConfig
from labsim.bmc.channel import ByteChannel

MODULE_NOT_FOUND = "Compute module's USB interface not found or supported"
#: Default message of `fail_next_flash`; the CRC values are illustrative.
CRC_MISMATCH = "crc error. expected 1432765287635519061, calculated 8245139472851302345"
SENDER_TAKEN = (
    "cannot transfer bytes to worker. This is either because the transfer happens locally, "
    "or is already ongoing."
)


HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class FlashedImage:
    """What a successful flash left on a node: bytes on the module and bytes received."""

    node: int
    file_name: str
    size: int
    sha256: str
    source_size: int
    source_sha256: str
    verified: bool
    #: The first bytes written (up to `HEAD_BYTES`): what a booting module reads first, so the
    #: lab can tell which system the image holds.
    head: bytes = b""


@dataclass(frozen=True)
class FlashProgress:
    """One progress step of the running job; `phase` is "write" or "verify"."""

    job_id: int
    node: int | None
    phase: str
    bytes_written: int
    size: int


#: Progress observer; when it returns an awaitable the worker waits for it (lets tests pause).
ProgressCallback = Callable[[FlashProgress], Awaitable[None] | None]


@dataclass
class TransferRequest:
    """A validated `opt=set&type=flash|firmware` request, ready to become a job."""

    process_name: str
    node: int | None
    file_name: str
    size: int
    expected_sha256: bytes | None
    verify_crc: bool
    chunks: AsyncGenerator[bytes, None]
    upload: ByteChannel | None = None
    on_finish: Callable[[], None] | None = None


@dataclass
class FlashFaults:
    """Fault knobs consulted by the worker."""

    next_failure: str | None = None
    module_failures: dict[int, str] = field(default_factory=dict)
    oom_on_back_to_back: bool = False


class FlashApiError(Exception):
    """Raised when a flash/upload HTTP call is refused; the message is the plain-text body."""


@dataclass(frozen=True)
class Ready:
    """Nothing has run since bmcd started."""


@dataclass(frozen=True)
class Done:
    """The last job succeeded (duration in seconds, size as announced)."""

    seconds: float
    size: int


@dataclass(frozen=True)
class Failed:
    """The last job failed or was cancelled."""

    message: str


class FlashJob:
    """The job in state Transferring: its id, request, progress and worker task."""

    def __init__(self, job_id: int, request: TransferRequest) -> None:
        self.id = job_id
        self.request = request
        self.bytes_written = 0
        self.upload_started = False
        self.cancelled = False
        self.finished = False
        self.node_touched = False
        self.saved_usb = UsbConfig()
        self.injected_failure: str | None = None
        self.crash_daemon = False
        self.task: asyncio.Task[None] | None = None
        self.phase_started = 0.0
        self.phase_bytes = 0

    def cancel(self) -> None:
        """Stop the worker (it still powers the node off), as dropping bmcd's context does."""
        self.cancelled = True
        if self.task is not None and not self.finished:
            self.task.cancel()

    def status(self) -> dict[str, object]:
        """The `Transferring` status object."""
        return {
            "Transferring": {
                "id": self.id,
                "process_name": self.request.process_name,
                "size": self.request.size,
                "cancelled": self.cancelled,
                "bytes_written": self.bytes_written,
            }
        }


FlashState = Ready | Done | Failed | FlashJob

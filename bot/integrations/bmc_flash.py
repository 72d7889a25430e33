"""Flash jobs on a BMC: the handle of a started job and `FlashMonitor`, which turns status polls
into typed progress events.

Pure: no I/O and no clock. It must not trust a `Done`/`Error` status before this job's own id
has been seen running, because those statuses carry no id and persist from earlier jobs
(turing-machines/bmcd).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.integrations.bmc_failures import (
    explain_flash_error,
    explain_lost_flash,
    explain_replaced_flash,
)
from bot.integrations.bmc_image import ImageSource
from bot.integrations.bmc_protocol import (
    FlashDone,
    FlashError,
    FlashReady,
    FlashStatus,
    FlashTransferring,
)

#: Polls showing no sign of this job before the monitor gives up on it.
UNCONFIRMED_LIMIT = 10
#: How far bmcd's write may trail the bytes it took from the upload: the upload handler queues
#: up to 16 multipart chunks for the worker (`mpsc::channel(16)`) and the worker writes through a
#: 512 KiB buffer (turing-machines/bmcd v2.3.4 src/api/legacy.rs, src/app/upgrade_worker.rs).
#: 4 MiB bounds that; a status further behind than this after the upload is the CRC read-back.
UPLOAD_SLACK_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class FlashHandle:
    """A flash job the BMC accepted: its id (`handle`) and what was asked for."""

    bmc: str
    job_id: int
    slot: int
    file_name: str
    source: ImageSource
    size: int | None = None
    sha256: str | None = None

    def describe(self) -> str:
        """Short text such as ``slot 3, nixos.img, job 123``."""
        return f"slot {self.slot}, {self.file_name}, job {self.job_id}"


@dataclass(frozen=True)
class Transferring:
    """The job is writing the image, or reading it back to verify (`bytes_written` from 0)."""

    bytes_written: int
    total: int
    phase: Literal["writing", "verifying"] = "writing"

    @property
    def fraction(self) -> float:
        """Progress of the current phase, 0.0–1.0 (an `.xz` image may write more than total)."""
        return min(1.0, self.bytes_written / self.total) if self.total else 0.0


@dataclass(frozen=True)
class Done:
    """The job finished successfully; the BMC has powered the node off."""

    seconds: float
    size: int


@dataclass(frozen=True)
class Failed:
    """The job failed; `message` is the BMC's text, `explanation` the sentence for people."""

    message: str
    explanation: str


FlashEvent = Transferring | Done | Failed


class FlashMonitor:
    """Turns successive flash status replies for one job into events.

    Example::

        monitor = FlashMonitor(handle)
        event = monitor.observe(FlashTransferring(handle.job_id, "Node 3 …", 100, False, 40))
        # Transferring(bytes_written=40, total=100, phase="writing")

    `observe` returns None when nothing changed or when a status cannot yet be trusted;
    after a `Done` or `Failed` it keeps returning None and `outcome` holds the final event.
    Verification is recognised by `bytes_written` going down; if polls are further apart than
    a whole phase, the switch can go unnoticed (progress still ends in Done).
    """

    def __init__(self, handle: FlashHandle, *, unconfirmed_limit: int = UNCONFIRMED_LIMIT) -> None:
        self.handle = handle
        self._unconfirmed_limit = unconfirmed_limit
        self._unconfirmed = 0
        self._seen = False
        self._phase: Literal["writing", "verifying"] = "writing"
        self._last: Transferring | None = None
        self._polled: int | None = None  # bytes_written of the last status of this job
        self._uploaded: int | None = None  # bytes the BMC took from the upload
        self.outcome: Done | Failed | None = None

    @property
    def finished(self) -> bool:
        """Whether the job has ended (Done or Failed)."""
        return self.outcome is not None

    @property
    def seen_running(self) -> bool:
        """Whether this job's own id has been seen in a Transferring status."""
        return self._seen

    @property
    def last_progress(self) -> Transferring | None:
        """The latest progress event, if any."""
        return self._last

    def observe(self, status: FlashStatus) -> FlashEvent | None:
        """Feed one status reply; return the new event, if any."""
        if self.outcome is not None:
            return None
        if isinstance(status, FlashTransferring) and status.job_id == self.handle.job_id:
            self._seen = True
            return self._progress(status)
        if not self._seen:
            return self._unconfirmed_status(status)
        match status:
            case FlashDone(seconds=seconds, size=size):
                done = Done(seconds, size)
                self.outcome = done
                return done
            case FlashError(message=message):
                return self._fail(message, explain_flash_error(self._bmc, self._slot, message))
            case FlashReady():
                return self._fail("bmcd restarted", self._lost(unreachable=False))
            case FlashTransferring():
                return self._fail(
                    f"replaced by job {status.job_id}",
                    explain_replaced_flash(self._bmc, self._slot, _describe_other(status)),
                )
        return None

    def sending(self, sent: int) -> Transferring | None:
        """Progress while the upload runs (the BMC answers no status meanwhile): the bytes it
        took, which run ahead of the write by what network buffers hold (a few MB)."""
        event = Transferring(sent, self.handle.size or 0, "writing")
        if self._last is not None and sent <= self._last.bytes_written:
            return None
        self._last = event
        return event

    def uploaded(self, sent: int) -> None:
        """The BMC took the whole upload for this job's handle: the job is running (its id
        need not be seen in a status first), and the write trails `sent` by little."""
        self._seen = True
        self._uploaded = sent

    def cancelled(self) -> Failed:
        """Record that labbot cancelled the job; returns the final event."""
        if isinstance(self.outcome, Failed):
            return self.outcome
        message = "cancelled by user"
        event = Failed(message, explain_flash_error(self._bmc, self._slot, message))
        self.outcome = event
        return event

    def lost(self, *, unreachable: bool) -> Failed:
        """Record that the job vanished with bmcd (crash, restart, BMC gone); final event."""
        message = "BMC unreachable" if unreachable else "bmcd restarted"
        return self._fail(message, self._lost(unreachable=unreachable))

    @property
    def _bmc(self) -> str:
        return self.handle.bmc

    @property
    def _slot(self) -> int:
        return self.handle.slot

    def _lost(self, *, unreachable: bool) -> str:
        return explain_lost_flash(self._bmc, self._slot, unreachable=unreachable)

    def _progress(self, status: FlashTransferring) -> Transferring | None:
        previous = self._last
        # bmcd restarts `bytes_written` at 0 for the CRC read-back; there is no separate
        # "Verifying" state (bmcd v2.3.4 src/app/upgrade_worker.rs, a new WriteMonitor).
        if self._phase == "writing" and (
            (self._polled is not None and status.bytes_written < self._polled)
            or (
                self._polled is None
                and self._uploaded is not None
                and status.bytes_written + UPLOAD_SLACK_BYTES < self._uploaded
            )
        ):
            self._phase = "verifying"
        self._polled = status.bytes_written
        if (
            self._phase == "writing"
            and previous is not None
            and status.bytes_written < previous.bytes_written
        ):
            return None  # the write has not yet caught up with what the upload showed
        event = Transferring(status.bytes_written, status.size, self._phase)
        if event == previous:
            return None
        self._last = event
        return event

    def _unconfirmed_status(self, status: FlashStatus) -> Failed | None:
        """A status that may predate this job: ignore it a few times, then give up."""
        self._unconfirmed += 1
        if self._unconfirmed < self._unconfirmed_limit:
            return None
        match status:
            case FlashError(message=message):
                return self._fail(message, explain_flash_error(self._bmc, self._slot, message))
            case FlashTransferring():
                return self._fail(
                    f"replaced by job {status.job_id}",
                    explain_replaced_flash(self._bmc, self._slot, _describe_other(status)),
                )
            case FlashReady():
                return self._fail("bmcd restarted", self._lost(unreachable=False))
        return self._fail(
            "job never seen",
            f"Flashing slot {self._slot} on BMC {self._bmc} never showed up as running (the "
            "BMC only reports an earlier job's result); check the BMC and start the flash again.",
        )

    def _fail(self, message: str, explanation: str) -> Failed:
        failed = Failed(message, explanation)
        self.outcome = failed
        return failed


def _describe_other(status: FlashTransferring) -> str:
    return f"{status.process_name or 'a job'}, id {status.job_id}"

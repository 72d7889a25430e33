"""Errors of the Turing Pi BMC client: each str() is one sentence naming the BMC and what to do.

Must not contain secrets: no password, token or Authorization header ever goes into a message.

    IntegrationError
    ├── BmcError                  a BMC failed; `bmc` is its configured name
    │   ├── BmcUnreachable        no answer: refused, timed out or dropped
    │   ├── BmcTlsError           the certificate does not match the pin or cannot be verified
    │   ├── BmcAuthFailed         login refused (wrong password, unreadable secret)
    │   ├── BmcLockedOut          the BMC bans labbot's address after failed logins
    │   ├── BmcProtocolError      HTML, garbage or an unexpected shape where JSON was expected
    │   ├── BmcUnsupported        the BMC's firmware lacks the feature (1.x, 2.0.x)
    │   ├── BmcCommandFailed      the BMC answered a command with an error
    │   ├── BmcBusy               a flash already runs on that BMC
    │   └── FlashFailed           a flash request, upload or job failed
    │       └── UploadAborted     labbot stopped the upload (image changed, BMC stalled)
    └── FlashImageError           the image file is unreadable, corrupt or has the wrong sha256
"""

from __future__ import annotations

from bot.errors import IntegrationError


class BmcError(IntegrationError):
    """Raised when a BMC call fails; subclasses say how."""

    def __init__(self, bmc: str, message: str) -> None:
        super().__init__(message)
        self.bmc = bmc


class BmcUnreachable(BmcError):
    """Raised when the BMC's API does not answer: connection refused, timed out or dropped."""

    def __init__(self, bmc: str, url: str, reason: str) -> None:
        super().__init__(
            bmc,
            f"BMC {bmc} is not answering at {url} ({reason}); check that it is powered and on "
            "the network, and if SSH to it works, restart its API daemon (bmcd) or reboot it.",
        )
        self.url = url
        self.reason = reason


class BmcTlsError(BmcError):
    """Raised when the BMC's certificate does not match the pinned fingerprint or fails checks."""

    @classmethod
    def mismatch(cls, bmc: str, expected: str, got: str) -> BmcTlsError:
        """The certificate's SHA-256 fingerprint is not the pinned one."""
        return cls(
            bmc,
            f"BMC {bmc} presented a TLS certificate with SHA-256 fingerprint {got} instead of "
            f"the pinned {expected}; the BMC makes a new self-signed certificate when its "
            "firmware is reinstalled, so if that happened, check the new fingerprint and update "
            f"bmc.{bmc}.tls.fingerprint_sha256.",
        )

    @classmethod
    def unverified(cls, bmc: str, reason: str) -> BmcTlsError:
        """Verification against the system trust store failed."""
        return cls(
            bmc,
            f"BMC {bmc}'s TLS certificate could not be verified ({reason}); the BMC uses a "
            f"self-signed certificate, so pin it with bmc.{bmc}.tls.fingerprint_sha256.",
        )


class BmcAuthFailed(BmcError):
    """Raised when the BMC refuses labbot's login, or the password cannot be read.

    `reason` is what happened alone ("the BMC refused user root (401: …)"), without what the
    running bot does next: for a one-off check (`labbot doctor`) that names its own fix.
    """

    def __init__(self, bmc: str, message: str, reason: str = "") -> None:
        super().__init__(bmc, message)
        self.reason = reason or message


class BmcLockedOut(BmcError):
    """Raised when the BMC bans labbot's address after failed logins; no login is sent meanwhile."""

    def __init__(self, bmc: str, retry_after: float, detail: str) -> None:
        super().__init__(
            bmc,
            f"BMC {bmc} is blocking logins from labbot after repeated failures ({detail}); "
            f"labbot will not try again for {_duration(retry_after)}, so fix the password "
            "meanwhile or restart bmcd on the BMC to lift the ban.",
        )
        self.retry_after = retry_after


class BmcProtocolError(BmcError):
    """Raised when a reply is not what the API documents (HTML page, garbage, wrong shape)."""

    def __init__(self, bmc: str, what: str, problem: str) -> None:
        super().__init__(
            bmc,
            f"BMC {bmc} answered {what} with {problem}; check that bmc.{bmc}.url points at the "
            "BMC itself (not a proxy) and that the BMC runs firmware 2.1.",
        )
        self.what = what
        self.problem = problem


class BmcUnsupported(BmcError):
    """Raised for a feature the BMC's firmware generation does not have."""

    def __init__(self, bmc: str, firmware: str, feature: str) -> None:
        super().__init__(
            bmc,
            f"BMC {bmc} runs firmware {firmware}, which cannot {feature}; upgrade the BMC to "
            "firmware 2.1 (bmcd 2.3.4) to use this.",
        )
        self.firmware = firmware
        self.feature = feature


class BmcCommandFailed(BmcError):
    """Raised when the BMC answers a command with an error message (HTTP 4xx/5xx)."""

    def __init__(self, bmc: str, operation: str, status: int, message: str) -> None:
        super().__init__(
            bmc,
            f"BMC {bmc} refused to {operation}: {message} (HTTP {status}); check the request, "
            "or the BMC's log in /tmp/bmcd.*.log if it looks like a BMC fault.",
        )
        self.operation = operation
        self.status = status
        self.detail = message


class BmcBusy(BmcError):
    """Raised instead of starting a second flash, which would silently cancel the running one."""

    def __init__(self, bmc: str, running: str) -> None:
        super().__init__(
            bmc,
            f"BMC {bmc} is already flashing ({running}); wait for it to finish or cancel it "
            "first, because a new flash request would silently abort it.",
        )
        self.running = running


class BmcBusyUploading(BmcError):
    """Raised for a quick question while an image upload holds the BMC: bmcd serves one
    request at a time, so the answer would come only after the upload."""

    def __init__(self, bmc: str, slot: int, percent: int) -> None:
        super().__init__(
            bmc,
            f"BMC {bmc} is busy flashing slot {slot} ({percent}% sent) and answers nothing else "
            "until the image is uploaded; ask again in a few minutes.",
        )


class FlashFailed(BmcError):
    """Raised when a flash cannot start, its upload fails or the job ends in an error.

    `detail` is the BMC's own message (may be empty); str() is the actionable sentence.
    """

    def __init__(self, bmc: str, slot: int, explanation: str, detail: str = "") -> None:
        super().__init__(bmc, explanation)
        self.slot = slot
        self.detail = detail


class UploadAborted(FlashFailed):
    """Raised when labbot stops an upload itself: the image changed, or the BMC took no data."""


class FlashImageError(IntegrationError):
    """Raised when an image file cannot be read, does not decompress or has the wrong sha256."""


def _duration(seconds: float) -> str:
    """Render a wait like ``45 s``, ``3 min`` or ``2 h``."""
    if seconds < 120:
        return f"{max(1, round(seconds))} s"
    if seconds < 2 * 3600:
        return f"{round(seconds / 60)} min"
    return f"{round(seconds / 3600)} h"

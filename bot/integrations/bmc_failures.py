"""Known BMC field failures (turing-machines/bmcd) turned into sentences that say what to do.

Pure text functions: they never talk to a BMC and never see secrets. Their sentences quote bmcd's
words raw, like every error's text (`bot.errors`): the message that shows one escapes it.
"""

from __future__ import annotations

from enum import StrEnum


class FieldFailure(StrEnum):
    """A recognised kind of flash failure."""

    out_of_memory = "out_of_memory"
    module_not_detected = "module_not_detected"
    send_timeout = "send_timeout"
    sha256_mismatch = "sha256_mismatch"
    crc_mismatch = "crc_mismatch"
    cancelled = "cancelled"
    short_upload = "short_upload"
    file_missing = "file_missing"
    download_failed = "download_failed"


# Substrings of bmcd's messages (lower-cased), in the order they are checked.
_PATTERNS: tuple[tuple[str, FieldFailure], ...] = (
    ("out of memory", FieldFailure.out_of_memory),
    ("cannot allocate memory", FieldFailure.out_of_memory),
    ("os error 12", FieldFailure.out_of_memory),
    ("compute module", FieldFailure.module_not_detected),
    ("error loading usb device", FieldFailure.module_not_detected),
    ("no supported usb devices", FieldFailure.module_not_detected),
    ("as usb msd", FieldFailure.module_not_detected),
    ("send timeout", FieldFailure.send_timeout),
    ("sha256 checksum failed", FieldFailure.sha256_mismatch),
    ("crc error", FieldFailure.crc_mismatch),
    ("cancelled by user", FieldFailure.cancelled),
    ("missing ", FieldFailure.short_upload),
    ("no such file or directory", FieldFailure.file_missing),
    # bmcd v2.3.4 src/streaming_data_service/data_transfer.rs, through anyhow's context:
    # `Failed to http file request error: …`, `Failed to no content-length field in http …`.
    ("http file request error", FieldFailure.download_failed),
    ("no content-length field", FieldFailure.download_failed),
)


def classify_flash_error(message: str) -> FieldFailure | None:
    """The known failure a bmcd flash message describes, or None if it is not a known one."""
    lowered = message.lower()
    for needle, failure in _PATTERNS:
        if needle in lowered:
            return failure
    return None


def explain_flash_error(bmc: str, slot: int, message: str) -> str:
    """One sentence for a flash that ended with bmcd's `message`: what happened, what to do."""
    where = f"Flashing slot {slot} on BMC {bmc}"
    quoted = f"“{message.strip()}”" if message.strip() else "no message"
    match classify_flash_error(message):
        case FieldFailure.out_of_memory:
            return (
                f"{where} failed because the BMC ran out of memory ({quoted}), a known problem "
                "with back-to-back flashes (BMC-Firmware #162); reboot the BMC, then flash "
                "one node per BMC boot."
            )
        case FieldFailure.module_not_detected:
            return (
                f"{where} failed because the BMC did not detect the compute module ({quoted}); "
                "check that the module is seated, power the slot off and on, and try again — "
                "until then the slot stays powered in flash mode and its power status is "
                "unreliable (BMC-Firmware #206, #226)."
            )
        case FieldFailure.send_timeout:
            return (
                f"{where} was dropped by the BMC because the upload did not start within "
                f"10 s ({quoted}); check the network between labbot and the BMC and try again."
            )
        case FieldFailure.sha256_mismatch:
            return (
                f"{where} failed the BMC's sha256 check ({quoted}); the image changed or was "
                "damaged in transit, so fetch it again and retry."
            )
        case FieldFailure.crc_mismatch:
            return (
                f"{where} failed the read-back check ({quoted}), so the module's storage did not "
                "keep what was written; retry once, and if it fails again suspect the eMMC/NVMe."
            )
        case FieldFailure.cancelled:
            return f"{where} was cancelled ({quoted}); the BMC powers the node off afterwards."
        case FieldFailure.short_upload:
            return (
                f"{where} failed because the BMC received fewer bytes than announced "
                f"({quoted}); check the network and retry."
            )
        case FieldFailure.file_missing:
            return (
                f"{where} failed because the image file is not on the BMC ({quoted}); copy it "
                "to the BMC's SD card (/mnt/sdcard) first."
            )
        case FieldFailure.download_failed:
            return (
                f"{where} failed because the BMC could not download the image ({quoted}); check "
                "that the URL is reachable from the BMC and sends Content-Length."
            )
        case None:
            return (
                f"{where} failed ({quoted}); look at the BMC's log (/tmp/bmcd.*.log) and retry "
                "after power-cycling the slot."
            )


def explain_lost_flash(bmc: str, slot: int, *, unreachable: bool) -> str:
    """One sentence for a flash whose job vanished: bmcd restarted, crashed or went away."""
    how = "stopped answering" if unreachable else "restarted and lost the job"
    return (
        f"Flashing slot {slot} on BMC {bmc} did not finish because the BMC {how}; this is "
        "usually bmcd being killed for lack of memory on back-to-back flashes (BMC-Firmware "
        "#162), so reboot the BMC, then flash again one node per BMC boot."
    )


def explain_replaced_flash(bmc: str, slot: int, other: str) -> str:
    """One sentence for a flash aborted by someone else's flash request on the same BMC."""
    return (
        f"Flashing slot {slot} on BMC {bmc} was aborted because another flash request "
        f"({other}) replaced it on the BMC; only start one flash per BMC at a time."
    )


def power_status_caveat(bmc: str, slot: int) -> str:
    """One sentence on why a reported power state may be wrong (it is bookkeeping, not measured)."""
    return (
        f"BMC {bmc} reports slot {slot}'s power from its own bookkeeping, not a measurement, "
        "and it can be wrong after a failed flash or a reset (BMC-Firmware #226); power the "
        "slot off and on to bring the two back in line."
    )

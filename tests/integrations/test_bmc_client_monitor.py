"""Pure parts of the BMC client: FlashMonitor, UART cursor, wire parsing, failure sentences."""

from __future__ import annotations

import pytest

from bot.integrations.bmc_failures import FieldFailure, classify_flash_error, explain_flash_error
from bot.integrations.bmc_flash import Done, Failed, FlashHandle, FlashMonitor, Transferring
from bot.integrations.bmc_image import ImageSource
from bot.integrations.bmc_protocol import (
    BmcGeneration,
    BmcInfo,
    FlashDone,
    FlashError,
    FlashReady,
    FlashTransferring,
    ReplyShapeError,
    ban_seconds,
    generation_of,
    node_value,
    parse_flash_status,
    parse_info,
    parse_json,
    parse_power_status,
    power_parameter,
)
from bot.integrations.bmc_uart import RING_BUFFER_BYTES, UartCursor, UartReader

HANDLE = FlashHandle("tp1", 4242, 3, "os.img", ImageSource.upload, 100, None)


def running(written: int, job_id: int = 4242) -> FlashTransferring:
    return FlashTransferring(job_id, "Node 3 os install service", 100, False, written)


# -- FlashMonitor --------------------------------------------------------------------------------


def test_stale_done_is_ignored_until_own_job_seen() -> None:
    monitor = FlashMonitor(HANDLE)
    assert monitor.observe(FlashDone(12.0, 100)) is None
    assert monitor.observe(FlashError("crc error. expected 1, calculated 2")) is None
    assert monitor.observe(running(10)) == Transferring(10, 100, "writing")
    assert monitor.observe(FlashDone(3.5, 100)) == Done(3.5, 100)
    assert monitor.finished
    assert monitor.observe(running(10)) is None


def test_verifying_when_bytes_written_restarts() -> None:
    monitor = FlashMonitor(HANDLE)
    phases = [monitor.observe(running(n)) for n in (0, 60, 100, 20, 90)]
    assert phases == [
        Transferring(0, 100, "writing"),
        Transferring(60, 100, "writing"),
        Transferring(100, 100, "writing"),
        Transferring(20, 100, "verifying"),
        Transferring(90, 100, "verifying"),
    ]
    assert monitor.observe(running(90)) is None  # unchanged: no event


def test_error_after_own_job_is_explained() -> None:
    monitor = FlashMonitor(HANDLE)
    monitor.observe(running(5))
    event = monitor.observe(FlashError("Compute module's USB interface not found or supported"))
    assert isinstance(event, Failed)
    assert "did not detect the compute module" in event.explanation
    assert "slot 3" in event.explanation and "tp1" in event.explanation


def test_another_job_replacing_ours_fails_it() -> None:
    monitor = FlashMonitor(HANDLE)
    monitor.observe(running(5))
    event = monitor.observe(running(5, job_id=7))
    assert isinstance(event, Failed)
    assert "replaced" in event.explanation


def test_ready_after_own_job_means_bmcd_restarted() -> None:
    monitor = FlashMonitor(HANDLE)
    monitor.observe(running(5))
    event = monitor.observe(FlashReady())
    assert isinstance(event, Failed)
    assert "restarted" in event.explanation and "#162" in event.explanation


def test_job_never_seen_gives_up_after_limit() -> None:
    monitor = FlashMonitor(HANDLE, unconfirmed_limit=3)
    assert monitor.observe(FlashDone(1.0, 100)) is None
    assert monitor.observe(FlashDone(1.0, 100)) is None
    event = monitor.observe(FlashDone(1.0, 100))
    assert isinstance(event, Failed)
    assert "never showed up" in event.explanation


def test_cancelled_is_final() -> None:
    monitor = FlashMonitor(HANDLE)
    monitor.observe(running(5))
    event = monitor.cancelled()
    assert "cancelled" in event.explanation
    assert monitor.observe(FlashDone(1.0, 100)) is None
    assert monitor.outcome == event


# -- known field failures ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "failure", "phrase"),
    [
        (
            "Failed to write: Cannot allocate memory (os error 12)",
            FieldFailure.out_of_memory,
            "#162",
        ),
        ("Compute module not supported", FieldFailure.module_not_detected, "seated"),
        (
            "Error loading USB device: No supported USB devices found",
            FieldFailure.module_not_detected,
            "power the slot off and on",
        ),
        ("crc error. expected 1, calculated 2", FieldFailure.crc_mismatch, "read-back"),
        ("sha256 checksum failed. Expected: ab, got: cd", FieldFailure.sha256_mismatch, "again"),
        ("Send timeout", FieldFailure.send_timeout, "10 s"),
        ("something new", None, "/tmp/bmcd"),
    ],
)
def test_flash_errors_become_actionable_sentences(
    message: str, failure: FieldFailure | None, phrase: str
) -> None:
    assert classify_flash_error(message) is failure
    sentence = explain_flash_error("tp1", 2, message)
    assert phrase in sentence
    assert sentence.startswith("Flashing slot 2 on BMC tp1")


# -- wire formats --------------------------------------------------------------------------------


def test_slot_numbering_is_one_based_for_power_zero_based_for_node() -> None:
    assert node_value(3) == "2"
    assert power_parameter(3) == "node3"
    for bad in (0, 5, -1, True):
        with pytest.raises(ValueError, match="slot must be 1–4"):
            node_value(bad)


def test_power_status_of_both_generations() -> None:
    v2 = {
        "response": [{"result": [{"node1": "1", "node2": "0", "node3": "Unknown", "node4": "0"}]}]
    }
    v1 = {"response": [{"node1": 0, "node2": 1, "node3": 0, "node4": 0}]}
    assert parse_power_status(v2) == {1: True, 2: False, 3: None, 4: False}
    assert parse_power_status(v1) == {1: False, 2: True, 3: False, 4: False}
    with pytest.raises(ReplyShapeError):
        parse_power_status({"response": [{"result": [{"node1": "1"}]}]})


def test_html_is_described_not_crashed_on() -> None:
    with pytest.raises(ReplyShapeError, match="an HTML page"):
        parse_json("<!doctype html><html></html>")
    with pytest.raises(ReplyShapeError, match="not JSON"):
        parse_json("Internal Server Error")


def test_flash_status_shapes() -> None:
    assert parse_flash_status("Ready") == FlashReady()
    assert parse_flash_status({"Done": [{"secs": 3, "nanos": 500_000_000}, 10]}) == FlashDone(
        3.5, 10
    )
    assert parse_flash_status({"Error": "Send timeout"}) == FlashError("Send timeout")
    with pytest.raises(ReplyShapeError):
        parse_flash_status({"Transferring": {"id": "x"}})


@pytest.mark.parametrize(
    ("version", "build_version", "generation"),
    [
        ("2.3.4", "2.1.0", BmcGeneration.v2_1),  # bmcd 2.3.4 on firmware 2.1
        ("2.0.5", "2.0.5", BmcGeneration.v2_0),  # bmcd 2.0.x
        ("2.0.5", None, BmcGeneration.v2_0),
        ("2.1.1", None, BmcGeneration.v2_1),  # bmcd >= 2.3.5 reports the firmware version
        ("1.1.0", None, BmcGeneration.v1),
    ],
)
def test_generations(version: str, build_version: str | None, generation: BmcGeneration) -> None:
    assert generation_of(version, build_version) is generation


def test_info_of_bmcd_234() -> None:
    body = {
        "response": [{"result": [{"api": "1.1", "version": "2.3.4", "build_version": "2.1.0"}]}]
    }
    info = parse_info(body)
    assert (info.firmware_version, info.bmcd_version) == ("2.1.0", "2.3.4")
    assert info.describe() == "2.1.0 (bmcd 2.3.4)"


def test_ban_duration_is_read_from_humantime() -> None:
    text = "Exceeded allowed authentication attempts. Access blocked for 1m 30s 12ms"
    assert ban_seconds(text) == pytest.approx(90.012)
    assert ban_seconds("credentials incorrect") is None


# -- UART cursor ---------------------------------------------------------------------------------


def ring(data: bytes) -> str:
    """What the BMC returns for `data` written so far: the last 16 KiB, decoded lossily."""
    return data[-RING_BUFFER_BYTES:].decode("utf-8", errors="replace")


def test_cursor_returns_only_new_text_across_a_wrap() -> None:
    cursor = UartCursor()
    written = b"".join(b"old line %05d\n" % n for n in range(700))  # 10.5 KB
    assert cursor.advance(ring(written)) == written.decode()
    new = b"".join(b"new line %05d\n" % n for n in range(500))  # pushes the total past 16 KiB
    written += new
    assert cursor.advance(ring(written)) == new.decode()
    assert cursor.advance(ring(written)) == ""


def test_cursor_survives_a_multibyte_character_cut_at_the_front() -> None:
    cursor = UartCursor()
    written = ("ä" * 3000 + "\n").encode()  # 6001 bytes
    cursor.advance(ring(written))
    new = b"".join(b"tick %06d\n" % n for n in range(1000))  # 12000 bytes: front cut is odd
    written += new
    current = ring(written)
    assert current.startswith("\ufffd")  # the cut left half a character
    assert cursor.advance(current) == new.decode()


def test_cursor_restarts_when_the_buffer_was_cleared() -> None:
    cursor = UartCursor()
    cursor.advance("kernel: booting\nlogin: ")
    assert cursor.advance("U-Boot 2024\n") == "U-Boot 2024\n"


def test_cursor_on_draining_reads_returns_everything() -> None:
    cursor = UartCursor()
    assert cursor.advance("a\n", drained=True) == "a\n"
    assert cursor.advance("a\n", drained=True) == "a\n"


class DrainingConsole:
    """A firmware 2.0.x console: each read returns only what arrived since the last one."""

    def __init__(self, chunks: list[str]) -> None:
        self.chunks = chunks

    async def uart_read(self, slot: int) -> str:
        return self.chunks.pop(0)

    async def info(self) -> BmcInfo:
        return BmcInfo(BmcGeneration.v2_0, "1.1", "2.0.5", "2.0.5")


async def test_reader_passes_draining_reads_through() -> None:
    reader = UartReader(DrainingConsole(["ok\n", "ok\n"]))
    assert await reader.read_new(1) == "ok\n"
    assert await reader.read_new(1) == "ok\n"  # a repeat is new output on a draining BMC

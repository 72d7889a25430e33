"""Flashing through the BMC client against the emulator: uploads, progress, failures, restarts."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import zstandard
from aiohttp import web
from test_bmc_kit import open_client, pinned

from bot.integrations.bmc import BmcClient
from bot.integrations.bmc_errors import (
    BmcBusy,
    BmcBusyUploading,
    FlashFailed,
    FlashImageError,
    UploadAborted,
)
from bot.integrations.bmc_flash import Done, Failed, FlashEvent, Transferring
from bot.integrations.bmc_flash_run import flash_node
from bot.integrations.bmc_image import FlashImage, prepare_image
from bot.integrations.bmc_protocol import FlashDone
from labsim.bmc import CRC_MISMATCH, BmcEmulator, FlashProgress

IMAGE_BYTES = 600_000
POLL = 0.005
WAIT = 5.0


@pytest.fixture
async def bmc() -> AsyncIterator[BmcEmulator]:
    async with BmcEmulator(flash_bytes_per_sec=20_000_000) as emulator:
        yield emulator


@pytest.fixture
async def client(bmc: BmcEmulator, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[BmcClient]:
    async with open_client(pinned(bmc), monkeypatch) as (connected, _):
        yield connected


@pytest.fixture
def image_data() -> bytes:
    return os.urandom(IMAGE_BYTES)


@pytest.fixture
def image_file(tmp_path: Path, image_data: bytes) -> Path:
    path = tmp_path / "nixos-rk1.img"
    path.write_bytes(image_data)
    return path


class Gate:
    """Holds the emulator's flash worker in each phase in `hold` ("write", "verify") until the
    client has reported that phase (or, with `manual`, until `release()`); `reached` fires
    when it first holds.

    `events` collects the client's progress events (pass `gate.on_event` to flash_node).
    """

    def __init__(self, bmc: BmcEmulator, *hold: str, manual: bool = False) -> None:
        self.hold = set(hold)
        self.manual = manual
        self.reached = asyncio.Event()
        self.released = asyncio.Event()
        self.seen = {"write": asyncio.Event(), "verify": asyncio.Event()}
        self.events: list[FlashEvent] = []
        bmc.on_flash_progress(self._on_progress)

    async def _on_progress(self, progress: FlashProgress) -> None:
        if progress.phase in self.hold:
            self.reached.set()
            until = self.released if self.manual else self.seen[progress.phase]
            await asyncio.wait_for(until.wait(), WAIT)

    def on_event(self, event: FlashEvent) -> None:
        self.events.append(event)
        if isinstance(event, Transferring):
            if event.phase == "verifying":
                self.seen["verify"].set()
            elif event.bytes_written > 0:
                self.seen["write"].set()

    def release(self) -> None:
        """Let the worker run on without waiting for the client."""
        self.released.set()
        for seen in self.seen.values():
            seen.set()


async def test_flash_end_to_end_with_progress(
    bmc: BmcEmulator, client: BmcClient, image_file: Path, image_data: bytes
) -> None:
    gate = Gate(bmc, "write", "verify")  # hold each phase until the client saw it
    image = await prepare_image(image_file)
    done = await flash_node(client, 3, image, on_event=gate.on_event, poll_interval=POLL)
    phases = [e.phase for e in gate.events if isinstance(e, Transferring)]
    assert "writing" in phases and "verifying" in phases
    assert phases.index("verifying") > phases.index("writing")
    assert gate.events[-1] == done and done.size == IMAGE_BYTES
    flashed = bmc.flashed_image(2)
    assert flashed is not None and flashed.verified
    assert flashed.sha256 == hashlib.sha256(image_data).hexdigest() == image.sha256
    assert flashed.size == IMAGE_BYTES and flashed.file_name == "nixos-rk1.img"
    assert not bmc.power_state(2)  # the BMC leaves the node off
    assert client.running_flash is None


async def test_zstd_image_is_sent_decompressed(
    bmc: BmcEmulator, client: BmcClient, tmp_path: Path, image_data: bytes
) -> None:
    half = len(image_data) // 2
    compressor = zstandard.ZstdCompressor()
    packed = compressor.compress(image_data[:half]) + compressor.compress(image_data[half:])
    path = tmp_path / "nixos.img.zst"
    path.write_bytes(packed)  # two frames, as `cat a.zst b.zst` makes
    image = await prepare_image(path, expected_sha256=hashlib.sha256(packed).hexdigest())
    assert (image.name, image.size) == ("nixos.img", IMAGE_BYTES)
    await flash_node(client, 1, image, poll_interval=POLL)
    flashed = bmc.flashed_image(0)
    assert flashed is not None and flashed.file_name == "nixos.img"
    assert flashed.sha256 == hashlib.sha256(image_data).hexdigest()


async def test_image_with_wrong_expected_sha256_is_refused(image_file: Path) -> None:
    with pytest.raises(FlashImageError, match="download it again"):
        await prepare_image(image_file, expected_sha256="0" * 64)


async def test_corrupt_zstd_image_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.img.zst"
    path.write_bytes(b"not zstd at all" * 100)
    with pytest.raises(FlashImageError, match="not a valid zstd file"):
        await prepare_image(path)


async def test_flash_error_is_explained(
    bmc: BmcEmulator, client: BmcClient, image_file: Path
) -> None:
    bmc.fail_next_flash()
    events: list[FlashEvent] = []
    with pytest.raises(FlashFailed) as caught:
        await flash_node(
            client, 2, await prepare_image(image_file), on_event=events.append, poll_interval=POLL
        )
    assert caught.value.detail == CRC_MISMATCH
    assert "read-back check" in str(caught.value) and "slot 2" in str(caught.value)
    assert isinstance(events[-1], Failed)
    assert bmc.flashed_image(1) is None


async def test_module_not_detected_is_explained(
    bmc: BmcEmulator, client: BmcClient, image_file: Path
) -> None:
    bmc.fail_module_detection(2)
    with pytest.raises(FlashFailed, match="did not detect the compute module") as caught:
        await flash_node(client, 3, await prepare_image(image_file), poll_interval=POLL)
    assert "#206" in str(caught.value)
    assert bmc.power_state(2)  # left on in flash mode, as the real BMC does


async def test_cancel_stops_the_job(bmc: BmcEmulator, client: BmcClient, image_file: Path) -> None:
    gate = Gate(bmc, "write", manual=True)
    run = asyncio.ensure_future(
        flash_node(client, 2, await prepare_image(image_file), poll_interval=POLL)
    )
    await asyncio.wait_for(gate.reached.wait(), WAIT)  # held mid-write: still running
    handle = client.running_flash
    assert handle is not None and handle.slot == 2
    assert await client.cancel_flash(handle)
    with pytest.raises(FlashFailed, match="was cancelled"):
        await asyncio.wait_for(run, WAIT)
    assert bmc.flash_status() == {"Error": "cancelled by user"}
    assert bmc.flashed_image(1) is None and not bmc.power_state(1)
    assert not await client.cancel_flash(handle)  # nothing left to cancel


async def test_cancelling_the_flash_task_cancels_the_bmc_job(
    bmc: BmcEmulator, client: BmcClient, image_file: Path
) -> None:
    gate = Gate(bmc, "write", manual=True)
    run = asyncio.ensure_future(
        flash_node(client, 4, await prepare_image(image_file), poll_interval=POLL)
    )
    await asyncio.wait_for(gate.reached.wait(), WAIT)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert bmc.flash_status() == {"Error": "cancelled by user"}


async def test_restart_mid_flash_relogs_in_and_reports_the_lost_job(
    bmc: BmcEmulator, monkeypatch: pytest.MonkeyPatch, image_file: Path
) -> None:
    gate = Gate(bmc, "verify", manual=True)  # held until bmcd dies
    async with open_client(pinned(bmc), monkeypatch) as (client, log):
        run = asyncio.ensure_future(
            flash_node(
                client,
                3,
                await prepare_image(image_file),
                on_event=gate.on_event,
                poll_interval=POLL,
            )
        )
        await asyncio.wait_for(gate.reached.wait(), WAIT)
        await bmc.restart()  # bmcd dies mid-verification: tokens and the job are gone
        with pytest.raises(FlashFailed, match="restarted and lost the job"):
            await asyncio.wait_for(run, WAIT)
        assert log.logins == 2  # polling went on with a new session
        assert client.running_flash is None


async def test_oom_on_back_to_back_flashes(
    bmc: BmcEmulator, client: BmcClient, image_file: Path
) -> None:
    bmc.oom_on_back_to_back_flash()
    image = await prepare_image(image_file)
    await flash_node(client, 1, image, poll_interval=POLL)
    with pytest.raises(FlashFailed, match="stopped answering") as caught:
        await flash_node(client, 2, image, poll_interval=POLL, unreachable_grace=0.2)
    assert "BMC-Firmware #162" in str(caught.value) and "reboot the BMC" in str(caught.value)


async def test_second_flash_is_refused_while_one_runs(
    bmc: BmcEmulator, client: BmcClient, monkeypatch: pytest.MonkeyPatch, image_file: Path
) -> None:
    gate = Gate(bmc, "write", manual=True)
    image = await prepare_image(image_file)
    handle = await client.start_flash(1, image)
    with pytest.raises(BmcBusy, match="started by labbot"):
        await client.start_flash(2, image)
    async with open_client(pinned(bmc), monkeypatch) as (other, _):
        with pytest.raises(BmcBusy, match="Node 1 os install service"):
            await other.start_flash(2, image)  # a client that did not start it asks the BMC
    assert await client.cancel_flash(handle)
    gate.release()
    assert client.running_flash is None


async def test_image_changed_after_prepare_is_not_written(
    bmc: BmcEmulator, client: BmcClient, image_file: Path
) -> None:
    image = await prepare_image(image_file)
    other = os.urandom(IMAGE_BYTES)  # same size, other content
    await asyncio.to_thread(image_file.write_bytes, other)
    with pytest.raises(UploadAborted, match="the file changed after it was prepared"):
        await flash_node(client, 2, image, poll_interval=POLL)
    assert bmc.flashed_image(1) is None


async def test_bmc_downloads_from_url(
    bmc: BmcEmulator, client: BmcClient, image_data: bytes
) -> None:
    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=image_data, content_type="application/octet-stream")

    app = web.Application()
    app.router.add_get("/os.img", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/os.img"
        gate = Gate(bmc, "write")  # the job runs at once: hold it until the client saw it
        image = FlashImage.from_url(url, sha256=hashlib.sha256(image_data).hexdigest())
        done = await flash_node(client, 4, image, on_event=gate.on_event, poll_interval=POLL)
    finally:
        await runner.cleanup()
    assert isinstance(done, Done)
    flashed = bmc.flashed_image(3)
    assert flashed is not None and flashed.sha256 == hashlib.sha256(image_data).hexdigest()


async def test_stale_done_before_the_job_shows_is_not_trusted(
    bmc: BmcEmulator, client: BmcClient, image_file: Path
) -> None:
    image = await prepare_image(image_file)
    await flash_node(client, 1, image, poll_interval=POLL)
    stale = await client.flash_status()
    assert isinstance(stale, FlashDone)  # Done persists until the next job
    gate = Gate(bmc, "write", manual=True)
    handle = await client.start_flash(2, image)
    monitor = client.flash_monitor(handle)
    assert monitor.observe(stale) is None  # a Done before this job was seen is ignored
    assert not monitor.finished
    await client.cancel_flash(handle)
    gate.release()


async def test_unreadable_image_mid_upload_is_reported_as_such(
    bmc: BmcEmulator, client: BmcClient, image_file: Path, image_data: bytes
) -> None:
    async def breaks_halfway() -> AsyncIterator[bytes]:
        yield image_data[: IMAGE_BYTES // 2]
        raise FlashImageError("Image nixos-rk1.img cannot be read: Input/output error.")

    handle = await client.start_flash(2, await prepare_image(image_file))
    with pytest.raises(FlashImageError, match="Input/output error"):
        await client.upload(handle, breaks_halfway())
    assert bmc.flashed_image(1) is None


async def test_a_long_upload_to_a_one_request_at_a_time_bmc_succeeds_beside_a_power_query(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # bmcd serves one request at a time and takes the upload only as fast as it writes it
    # (bmcd v2.3.4 authentication_service.rs, legacy.rs); the emulator does both by default.
    # The write lasts ~3 s, the client's per-request timeout is 1 s: a client that polled during
    # the upload, or sent the power query beside it, would see timeouts and lose the flash.
    # 24 MB: many 64 KiB chunks, past bmcd's 16-chunk queue and the loopback socket buffers.
    data = os.urandom(24_000_000)
    path = tmp_path / "nixos-cm4.img"
    path.write_bytes(data)
    events: list[FlashEvent] = []
    async with (
        BmcEmulator(flash_bytes_per_sec=8_000_000) as bmc,
        open_client(pinned(bmc, timeout=1.0), monkeypatch) as (client, _),
    ):
        bmc.set_power(0, True)
        image = await prepare_image(path)
        flash = asyncio.create_task(
            flash_node(
                client, 3, image, on_event=events.append, poll_interval=0.2, unreachable_grace=1.5
            )
        )
        halfway = asyncio.Event()
        bmc.on_flash_progress(
            lambda p: halfway.set() if p.phase == "write" and p.bytes_written >= 4_000_000 else None
        )
        await asyncio.wait_for(halfway.wait(), 30)  # the BMC is writing, the upload under way
        with pytest.raises(BmcBusyUploading, match=r"busy flashing slot 3 \(\d+% sent\)"):
            client.refuse_while_uploading()  # for questions that must be answered now
        power = await client.power_status()  # slot 1, beside the flash of slot 3: waits its turn
        done = await flash

    assert power[1] is True
    assert isinstance(done, Done) and done.size == len(data)
    writing = [
        e.bytes_written for e in events if isinstance(e, Transferring) and e.phase == "writing"
    ]
    assert len(writing) >= 3 and writing == sorted(writing)
    assert any(isinstance(e, Transferring) and e.phase == "verifying" for e in events)
    assert bmc.flashed_image(2) is not None

"""Flashing through the BMC emulator over HTTPS (turing-machines/bmcd)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import lzma
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from labsim.bmc import CRC_MISMATCH, MODULE_NOT_FOUND, BmcEmulator, FlashProgress

IMAGE = bytes(range(256)) * 1024  # 256 KiB


@pytest.fixture
async def image_url() -> AsyncIterator[str]:
    """A plain-HTTP server offering IMAGE with a Content-Length, as bmcd requires."""

    async def serve(_: web.Request) -> web.Response:
        return web.Response(body=IMAGE, content_type="application/octet-stream")

    app = web.Application()
    app.router.add_get("/node.img", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}/node.img"
    await runner.cleanup()


class FlashGate:
    """Holds the flash worker at the first progress step matching `stop_at`."""

    def __init__(self, bmc: BmcEmulator, stop_at: Callable[[FlashProgress], bool]) -> None:
        self.stop_at = stop_at
        self.seen: list[FlashProgress] = []
        self.reached = asyncio.Event()
        self.release = asyncio.Event()
        bmc.on_flash_progress(self._on_progress)

    async def _on_progress(self, progress: FlashProgress) -> None:
        self.seen.append(progress)
        if not self.reached.is_set() and self.stop_at(progress):
            self.reached.set()
            await self.release.wait()

    async def wait(self) -> None:
        await asyncio.wait_for(self.reached.wait(), 10)


def power_log(bmc: BmcEmulator) -> list[tuple[int, bool, str]]:
    events: list[tuple[int, bool, str]] = []
    bmc.on_power_change(lambda node, on, reason: events.append((node, on, reason)))
    return events


async def request_flash(api: Any, node: int, image: bytes, extra: str = "") -> int:
    query = f"opt=set&type=flash&node={node}&file=image.img&length={len(image)}{extra}"
    reply = await api.get(query)
    assert reply.status == 200, reply.text
    assert list(reply.json()) == ["handle"]
    handle: int = reply.json()["handle"]
    return handle


async def flash_status(api: Any) -> Any:
    reply = await api.get("opt=get&type=flash")
    assert reply.status == 200
    return reply.json()


async def test_status_is_ready_before_any_job(api: Any) -> None:
    reply = await api.get("opt=get&type=flash")

    assert reply.text == '"Ready"'


async def test_upload_goes_through_write_verify_and_done(api: Any, bmc: BmcEmulator) -> None:
    at_last_write = FlashGate(bmc, lambda p: p.phase == "write" and p.bytes_written == len(IMAGE))
    at_verify_start = FlashGate(bmc, lambda p: p.phase == "verify")
    events = power_log(bmc)
    sha = hashlib.sha256(IMAGE).hexdigest()

    handle = await request_flash(api, 2, IMAGE, f"&sha256={sha}")
    upload = asyncio.create_task(api.upload(handle, IMAGE))
    await at_last_write.wait()
    writing = await flash_status(api)
    usb = (await api.get("opt=get&type=usb")).json()["response"][0]["result"][0]
    at_last_write.release.set()
    await at_verify_start.wait()
    verifying = await flash_status(api)
    at_verify_start.release.set()
    await bmc.wait_for_flash_result()
    done = await flash_status(api)

    assert writing == {
        "Transferring": {
            "id": handle,
            "process_name": "Node 3 os install service",
            "size": len(IMAGE),
            "cancelled": False,
            "bytes_written": len(IMAGE),
        }
    }
    assert (usb["mode"], usb["node"], usb["route"]) == ("Flash", "Node 3", "Bmc")
    assert verifying["Transferring"]["bytes_written"] == 0
    assert list(done) == ["Done"]
    duration, size = done["Done"]
    assert (sorted(duration), size) == (["nanos", "secs"], len(IMAGE))
    assert ((await upload).status, (await upload).text) == (200, "")
    image = bmc.flashed_image(2)
    assert image is not None
    assert (image.sha256, image.size, image.verified) == (sha, len(IMAGE), True)
    assert events == [(2, True, "flash"), (2, False, "flash")]
    assert bmc.power_state(2) is False


async def test_done_persists_and_carries_no_id(api: Any, bmc: BmcEmulator) -> None:
    handle = await request_flash(api, 0, IMAGE)
    await api.upload(handle, IMAGE)
    await bmc.wait_for_flash_result()

    first = await flash_status(api)
    second = await flash_status(api)

    assert first == second
    assert "id" not in str(first) and str(handle) not in str(first)


async def test_sha256_mismatch_ends_in_error(api: Any, bmc: BmcEmulator) -> None:
    wrong = hashlib.sha256(b"other").hexdigest()

    handle = await request_flash(api, 1, IMAGE, f"&sha256={wrong}")
    upload = await api.upload(handle, IMAGE)
    result = await bmc.wait_for_flash_result()

    expected = (
        f"sha256 checksum failed. Expected: {wrong}, got: {hashlib.sha256(IMAGE).hexdigest()}"
    )
    assert result == {"Error": expected}
    assert await flash_status(api) == {"Error": expected}
    assert upload.status == 200
    assert bmc.flashed_image(1) is None
    assert bmc.power_state(1) is False


async def test_cancel_stops_the_job_and_the_upload(bmc_factory: Any, connect: Any) -> None:
    # On bmcd the cancel request waits behind the upload (one mutex for every request), so it
    # can only reach a running upload with the serialisation turned off, as here.
    bmc = await bmc_factory(serialize_requests=False)
    api = connect(bmc)
    assert (await api.login()).status == 200
    big = bytes(4 * 1024 * 1024)
    gate = FlashGate(bmc, lambda p: p.phase == "write")
    events = power_log(bmc)

    handle = await request_flash(api, 3, big)
    upload = asyncio.create_task(api.upload(handle, big))
    await gate.wait()
    cancel = await api.request("GET", "/api/bmc/upload/anything/cancel")
    gate.release.set()
    upload_reply = await upload

    assert (cancel.status, cancel.text) == (200, "")
    assert await flash_status(api) == {"Error": "cancelled by user"}
    assert (upload_reply.status, upload_reply.text) == (500, "cancelled by user")
    assert events[-1] == (3, False, "flash")


async def test_upload_must_start_in_time(bmc_factory: Any, connect: Any) -> None:
    bmc = await bmc_factory(upload_start_timeout=0.2)
    api = connect(bmc)
    await api.login()

    handle = await request_flash(api, 0, IMAGE)
    result = await bmc.wait_for_flash_result(5)
    late = await api.upload(handle, IMAGE)

    assert result == {"Error": "Send timeout"}
    assert (late.status, late.text) == (
        500,
        "cannot execute command in current state. current=Error, expected=Transferring",
    )
    assert bmc.power_state(0) is False


async def test_new_request_silently_replaces_running_job(api: Any, bmc: BmcEmulator) -> None:
    gate = FlashGate(bmc, lambda p: p.node == 0)
    events = power_log(bmc)
    first = await request_flash(api, 0, IMAGE)
    first_upload = asyncio.create_task(api.upload(first, IMAGE))
    await gate.wait()

    second = await request_flash(api, 1, IMAGE)
    during = await flash_status(api)
    gate.release.set()
    stale_upload = await api.upload(first, IMAGE)
    await api.upload(second, IMAGE)
    result = await bmc.wait_for_flash_result()
    # The replaced upload waits up to 5 s for an error that never comes (bmcd does the same);
    # do not wait for it here.
    first_upload.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await first_upload

    assert second != first
    assert during["Transferring"]["id"] == second
    assert during["Transferring"]["process_name"] == "Node 2 os install service"
    assert (stale_upload.status, stale_upload.text) == (500, "unauthorized request for handle")
    assert list(result) == ["Done"]
    assert (0, False, "flash") in events
    assert bmc.flashed_image(0) is None
    assert bmc.flashed_image(1) is not None


async def test_short_upload_is_refused_and_cancels(api: Any, bmc: BmcEmulator) -> None:
    handle = await request_flash(api, 0, IMAGE + b"12345")

    reply = await api.upload(handle, IMAGE)

    assert (reply.status, reply.text) == (500, "missing 5 B bytes")
    assert await flash_status(api) == {"Error": "cancelled by user"}


async def test_upload_without_job(api: Any) -> None:
    reply = await api.upload(12345, IMAGE)

    assert reply.status == 500
    assert reply.content_type == "text/plain"
    assert (
        reply.text
        == "cannot execute command in current state. current=Ready, expected=Transferring"
    )


async def test_flash_request_errors_are_plain_text(api: Any) -> None:
    cases = {
        "node=0": "Invalid `file` query parameter",
        "node=0&file=a.img": "Invalid `length` query parameter",
        "node=0&file=a.img&length=big": "`length` parameter is not a number",
        "node=0&file=a.img&length=1&sha256=zz": (
            "`sha256` parameter contains invalid hex values: Invalid character 'z' at position 0"
        ),
        "node=0&file=a.img&length=1&sha256=abc": (
            "`sha256` parameter contains invalid hex values: Odd number of digits"
        ),
        "node=9&file=a.img&length=1": "Parameter `node` is out of range 0..3 of node IDs",
        "node=0&file=/mnt/sdcard/none.img&local": (
            "Failed to /mnt/sdcard/none.img: No such file or directory (os error 2)"
        ),
    }
    for params, message in cases.items():
        reply = await api.get(f"opt=set&type=flash&{params}")
        assert (reply.status, reply.content_type, reply.text) == (500, "text/plain", message)
    assert await flash_status(api) == "Ready"


async def test_local_file_with_skip_crc(api: Any, bmc: BmcEmulator) -> None:
    gate = FlashGate(bmc, lambda p: False)
    bmc.add_local_file("/mnt/sdcard/node.img", IMAGE)

    reply = await api.get(
        "opt=set&type=flash&node=1&file=/mnt/sdcard/node.img&local=true&skip_crc=false"
    )
    result = await bmc.wait_for_flash_result()

    assert reply.status == 200
    assert result["Done"][1] == len(IMAGE)
    assert {p.phase for p in gate.seen} == {"write"}
    image = bmc.flashed_image(1)
    assert image is not None
    assert (image.sha256, image.verified) == (hashlib.sha256(IMAGE).hexdigest(), False)


async def test_xz_image_is_decompressed_on_the_fly(api: Any, bmc: BmcEmulator) -> None:
    raw = bytes(2 * 1024 * 1024)
    packed = lzma.compress(raw, format=lzma.FORMAT_XZ)
    gate = FlashGate(bmc, lambda p: False)

    reply = await api.get(f"opt=set&type=flash&node=0&file=node.img.xz&length={len(packed)}")
    await api.upload(reply.json()["handle"], packed)
    result = await bmc.wait_for_flash_result()

    assert result["Done"][1] == len(packed)
    assert max(p.bytes_written for p in gate.seen) == len(raw) > len(packed)
    image = bmc.flashed_image(0)
    assert image is not None
    assert (image.size, image.sha256) == (len(raw), hashlib.sha256(raw).hexdigest())
    assert image.source_sha256 == hashlib.sha256(packed).hexdigest()


async def test_injected_failure(api: Any, bmc: BmcEmulator) -> None:
    bmc.fail_next_flash()

    handle = await request_flash(api, 2, IMAGE)
    await api.upload(handle, IMAGE)
    result = await bmc.wait_for_flash_result()

    assert result == {"Error": CRC_MISMATCH}
    assert bmc.power_state(2) is False


async def test_module_not_detected_leaves_node_on(api: Any, bmc: BmcEmulator) -> None:
    bmc.fail_module_detection(1)

    await request_flash(api, 1, IMAGE)
    result = await bmc.wait_for_flash_result()
    power = (await api.get("opt=get&type=power")).json()["response"][0]["result"][0]

    assert result == {"Error": MODULE_NOT_FOUND}
    assert bmc.power_state(1) is True
    assert power["node2"] == "1"


async def test_flash_from_url(api: Any, bmc: BmcEmulator, image_url: str) -> None:
    reply = await api.get(f"opt=set&type=flash&node=3&file={image_url}")
    result = await bmc.wait_for_flash_result()

    assert reply.status == 200
    assert result["Done"][1] == len(IMAGE)
    image = bmc.flashed_image(3)
    assert image is not None and image.sha256 == hashlib.sha256(IMAGE).hexdigest()


async def test_back_to_back_flash_oom_kills_the_api(api: Any, bmc: BmcEmulator) -> None:
    bmc.oom_on_back_to_back_flash()
    handle = await request_flash(api, 0, IMAGE)
    await api.upload(handle, IMAGE)
    assert list(await bmc.wait_for_flash_result()) == ["Done"]

    handle = await request_flash(api, 1, IMAGE)
    with contextlib.suppress(aiohttp.ClientError):  # the daemon may die mid-request
        await api.upload(handle, IMAGE)
    await bmc.wait_for_crash()
    listening_while_down = bmc.is_listening
    with pytest.raises(aiohttp.ClientConnectorError):
        await api.get("opt=get&type=flash")
    await bmc.restart()
    await api.login()

    assert listening_while_down is False
    assert await flash_status(api) == "Ready"
    assert bmc.power_state(1) is True  # killed mid-flash: the node stays in flash mode


async def test_url_that_cannot_be_reached_fails_with_bmcds_wording(api: Any) -> None:
    # bmcd v2.3.4 data_transfer.rs: reqwest::get(url).context("http file request error").
    with contextlib.closing(socket.socket()) as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # closed again before the BMC connects: refused
    reply = await api.get(f"opt=set&type=flash&node=3&file=http://127.0.0.1:{port}/node.img")

    assert reply.status == 500
    assert reply.text == ("Failed to http file request error: Connection refused (os error 111)")


async def test_url_without_content_length_fails_with_bmcds_wording(api: Any) -> None:
    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(IMAGE[:1024])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/node.img", chunked)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        reply = await api.get(f"opt=set&type=flash&node=3&file=http://127.0.0.1:{port}/node.img")
    finally:
        await runner.cleanup()

    missing = "no content-length field in http response"
    assert (reply.status, reply.text) == (500, f"Failed to {missing}: {missing}")


async def test_requests_wait_for_a_running_upload_as_on_bmcd(api: Any, bmc: BmcEmulator) -> None:
    # One mutex around every /api/bmc request (bmcd v2.3.4 authentication_service.rs): a power
    # query sent while an upload is being written is answered only after the upload returns.
    big = IMAGE * 16  # 4 MiB: far more than bmcd's 16-chunk queue holds
    gate = FlashGate(bmc, lambda p: p.phase == "write" and p.bytes_written >= len(IMAGE))
    handle = await request_flash(api, 2, big)
    upload = asyncio.create_task(api.upload(handle, big))
    await gate.wait()
    power = asyncio.create_task(api.get("opt=get&type=power"))
    await asyncio.sleep(0)  # let the query reach the server (it must not be answered yet)
    done, _ = await asyncio.wait({power}, timeout=0.3)
    waited = not done
    gate.release.set()
    await upload
    answered = await power

    assert waited
    assert answered.status == 200


async def test_serialization_can_be_turned_off_for_a_test(bmc_factory: Any, connect: Any) -> None:
    bmc = await bmc_factory(serialize_requests=False)
    api = connect(bmc)
    assert (await api.login()).status == 200
    gate = FlashGate(bmc, lambda p: p.phase == "write" and p.bytes_written >= len(IMAGE) // 2)
    handle = await request_flash(api, 2, IMAGE + IMAGE)
    upload = asyncio.create_task(api.upload(handle, IMAGE + IMAGE))
    await gate.wait()

    power = await asyncio.wait_for(api.get("opt=get&type=power"), 5)

    gate.release.set()
    await upload
    assert power.status == 200

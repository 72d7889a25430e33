"""BMC client sessions against the emulator over HTTPS: TLS trust, tokens, lockout, bad replies."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from test_bmc_kit import PASSWORD_ENV, bmc_config, open_client, pinned

from bot.integrations.bmc_errors import (
    BmcAuthFailed,
    BmcLockedOut,
    BmcProtocolError,
    BmcTlsError,
    BmcUnreachable,
    BmcUnsupported,
    UploadAborted,
)
from bot.integrations.bmc_image import FlashImage, ImageSource
from bot.integrations.bmc_protocol import BmcGeneration
from labsim.bmc import BmcEmulator
from labsim.bmc.certificate import generate_identity, server_ssl_context

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def bmc() -> AsyncIterator[BmcEmulator]:
    async with BmcEmulator() as emulator:
        yield emulator


class FakeServer:
    """A tiny HTTP(S) server on 127.0.0.1 that answers every request with `handler`."""

    def __init__(self, handler: Handler, *, tls: bool) -> None:
        self.handler = handler
        self.identity = generate_identity() if tls else None
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> FakeServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handler)
        self.runner = web.AppRunner(app, handler_cancellation=True)
        await self.runner.setup()
        ssl = server_ssl_context(self.identity) if self.identity else None
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=ssl)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"{'https' if ssl else 'http'}://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()

    @property
    def fingerprint(self) -> str:
        assert self.identity is not None
        return self.identity.sha256_fingerprint


# -- TLS -----------------------------------------------------------------------------------------


async def test_pinned_certificate_reads_versions(
    bmc: BmcEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_client(pinned(bmc), monkeypatch) as (client, _):
        info = await client.info()
    assert info.generation is BmcGeneration.v2_1
    assert (info.firmware_version, info.bmcd_version, info.api_version) == ("2.1.0", "2.3.4", "1.1")


async def test_verification_off_when_configured(
    bmc: BmcEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_client(bmc_config(bmc.url, verify=False), monkeypatch) as (client, _):
        assert await client.power_status() == {1: False, 2: False, 3: False, 4: False}


async def test_wrong_pinned_fingerprint_fails_clearly(
    bmc: BmcEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = bmc_config(bmc.url, fingerprint="ab" * 32)
    async with open_client(config, monkeypatch) as (client, _):
        with pytest.raises(BmcTlsError) as caught:
            await client.power_status()
    message = str(caught.value)
    assert "BMC tp1" in message
    assert bmc.cert_sha256_fingerprint in message and "ab" * 32 in message
    assert "bmc.tp1.tls.fingerprint_sha256" in message


async def test_self_signed_certificate_is_not_trusted_by_default(
    bmc: BmcEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_client(bmc_config(bmc.url), monkeypatch) as (client, _):
        with pytest.raises(BmcTlsError, match=r"pin it with bmc\.tp1\.tls\.fingerprint_sha256"):
            await client.power_status()


# -- tokens --------------------------------------------------------------------------------------


async def test_one_login_serves_many_calls(
    bmc: BmcEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_client(pinned(bmc), monkeypatch) as (client, log):
        await client.info()
        await client.power_status()
        await client.power(2, True)
        await asyncio.gather(*(client.power_status() for _ in range(3)))
    assert log.logins == 1
    assert log.count("/api/bmc") == 6


async def test_logs_in_again_after_bmc_restart(
    bmc: BmcEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_client(pinned(bmc), monkeypatch) as (client, log):
        await client.power(1, True)
        await bmc.restart()  # tokens live in bmcd's memory only
        assert (await client.power_status())[1] is True
    assert log.logins == 2


async def test_wrong_password_is_actionable_and_not_repeated(
    bmc: BmcEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_client(pinned(bmc), monkeypatch, password="hunter2") as (client, log):
        with pytest.raises(BmcAuthFailed) as caught:
            await client.power_status()
        with pytest.raises(BmcAuthFailed):
            await client.power(1, True)  # refused locally: same password, no new attempt
        message = str(caught.value)
        assert "BMC tp1" in message and "credentials incorrect" in message
        assert f"${PASSWORD_ENV}" in message and "hunter2" not in message
        assert log.logins == 1
        monkeypatch.setenv(PASSWORD_ENV, "turing")  # fixed: tried at once
        await client.power(1, True)
    assert log.logins == 2
    assert bmc.power_state(0)


async def test_missing_password_names_its_source(
    bmc: BmcEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_client(pinned(bmc), monkeypatch) as (client, log):
        monkeypatch.delenv(PASSWORD_ENV)
        with pytest.raises(BmcAuthFailed, match=f"set \\${PASSWORD_ENV}"):
            await client.power_status()
    assert log.logins == 0


async def test_lockout_stops_all_login_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    async with BmcEmulator(authentication_attempts=2) as bmc:
        async with (
            open_client(pinned(bmc), monkeypatch, password="wrong-1") as (client, log),
            open_client(pinned(bmc), monkeypatch) as (healthy, _),
        ):
            monkeypatch.setenv(PASSWORD_ENV, "turing")
            await healthy.power_status()  # holds a valid token from before the ban
            monkeypatch.setenv(PASSWORD_ENV, "wrong-1")
            with pytest.raises(BmcAuthFailed):
                await client.power_status()
            monkeypatch.setenv(PASSWORD_ENV, "wrong-2")
            with pytest.raises(BmcLockedOut) as caught:
                await client.power_status()  # 2nd failure: bmcd bans the address
            assert "BMC tp1" in str(caught.value) and "will not try again" in str(caught.value)
            assert caught.value.retry_after > 30
            monkeypatch.setenv(PASSWORD_ENV, "turing")
            with pytest.raises(BmcLockedOut):
                await client.power_status()  # refused locally while banned
            assert log.logins == 2
            with pytest.raises(BmcLockedOut):
                await healthy.power_status()  # bmcd refuses even valid tokens while banned
            with pytest.raises(BmcLockedOut):
                await healthy.power_status()
            assert log.logins == 2


# -- bad replies and unreachable BMCs ------------------------------------------------------------


async def html_behind_login(request: web.Request) -> web.Response:
    if request.path == "/api/bmc/authenticate":
        return web.json_response({"id": "t" * 64, "name": "User Session"})
    return web.Response(text="<!doctype html><title>Turing Pi</title>", content_type="text/html")


async def test_html_instead_of_json_is_a_protocol_error(monkeypatch: pytest.MonkeyPatch) -> None:
    async with FakeServer(html_behind_login, tls=True) as server:
        config = bmc_config(server.url, fingerprint=server.fingerprint)
        async with open_client(config, monkeypatch) as (client, _):
            with pytest.raises(BmcProtocolError) as caught:
                await client.power_status()
    assert "BMC tp1 answered the request to read the power status with an HTML page" in str(
        caught.value
    )


async def odd_json(request: web.Request) -> web.Response:
    if request.path == "/api/bmc/authenticate":
        return web.json_response({"id": "t" * 64})
    return web.json_response({"response": [{"result": [{"node1": "maybe"}]}]})


async def test_unexpected_json_is_a_protocol_error(monkeypatch: pytest.MonkeyPatch) -> None:
    async with FakeServer(odd_json, tls=True) as server:
        config = bmc_config(server.url, fingerprint=server.fingerprint)
        async with open_client(config, monkeypatch) as (client, _):
            with pytest.raises(BmcProtocolError, match="power value 'maybe'"):
                await client.power_status()


async def test_unreachable_bmc_fails_fast(
    bmc: BmcEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_client(pinned(bmc), monkeypatch) as (client, _):
        await client.power_status()
        await bmc.set_unreachable(True)
        started = time.monotonic()
        with pytest.raises(BmcUnreachable) as caught:
            await client.power_status()
        assert time.monotonic() - started < 2
    assert "connection refused" in str(caught.value) and bmc.url in str(caught.value)


async def test_silent_bmc_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    released = asyncio.Event()

    async def never_answers(request: web.Request) -> web.Response:
        await released.wait()
        return web.Response(status=503)

    async with FakeServer(never_answers, tls=True) as server:
        config = bmc_config(server.url, fingerprint=server.fingerprint, timeout=0.3)
        async with open_client(config, monkeypatch) as (client, _):
            with pytest.raises(BmcUnreachable, match=r"within 0\.3 s"):
                await client.power_status()
        released.set()


# -- firmware 1.x (plain HTTP, no login) ---------------------------------------------------------


class FirmwareOne:
    """Answers like the firmware 1.x C web server (reference §1); records UART commands."""

    def __init__(self) -> None:
        self.power = {1: 0, 2: 1, 3: 0, 4: 0}
        self.uart_commands: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        query = request.query
        if request.path != "/api/bmc":
            return web.Response(status=404)
        if query.get("opt") == "get" and query.get("type") == "power":
            nodes = {f"node{slot}": on for slot, on in self.power.items()}
            return web.json_response({"response": [nodes]})
        if query.get("opt") == "set" and query.get("type") == "uart":
            self.uart_commands.append(query["cmd"])
        return web.json_response({"response": [{"result": "ok"}]})


async def test_firmware_one_is_told_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    firmware = FirmwareOne()
    async with FakeServer(firmware.handle, tls=False) as server:
        async with open_client(bmc_config(server.url), monkeypatch) as (client, log):
            assert (await client.info()).generation is BmcGeneration.v1
            assert await client.power_status() == {1: False, 2: True, 3: False, 4: False}
            await client.uart_send(2, "uname -a")
            with pytest.raises(BmcUnsupported, match=r"firmware 1\.x, which cannot flash"):
                await client.start_flash(2, FlashImage.on_bmc("/mnt/sdcard/os.img"))
    assert firmware.uart_commands == ["uname -a\r\n"]  # 1.x sends cmd as is: labbot adds CR LF
    assert log.logins == 0


# -- uploads that stall --------------------------------------------------------------------------


class StallingBmc:
    """Accepts a flash request over plain HTTP, then never reads the upload."""

    def __init__(self) -> None:
        self.released = asyncio.Event()
        self.upload_length: int | None = None

    async def handle(self, request: web.Request) -> web.Response:
        query = request.query
        if request.path == "/api/bmc/authenticate":
            return web.json_response({"id": "t" * 64})
        if request.path.startswith("/api/bmc/upload/"):
            self.upload_length = request.content_length
            await self.released.wait()
            return web.Response()
        if query.get("opt") == "get" and query.get("type") == "power":
            return web.Response(status=401, text="no authorization header provided")
        if query.get("type") == "other":
            info = {"api": "1.1", "version": "2.3.4", "build_version": "2.1.0"}
            return web.json_response({"response": [{"result": [info]}]})
        if query.get("opt") == "get" and query.get("type") == "flash":
            return web.json_response("Ready")
        return web.json_response({"handle": 7})


async def zeros(total: int, chunk: int = 1 << 20) -> AsyncIterator[bytes]:
    block = bytes(chunk)
    for _ in range(total // chunk):
        yield block


async def test_stalled_upload_is_abandoned(monkeypatch: pytest.MonkeyPatch) -> None:
    bmc = StallingBmc()
    size = 48 << 20  # more than the socket buffers can swallow
    async with FakeServer(bmc.handle, tls=False) as server:
        config = bmc_config(server.url, timeout=0.3)
        async with open_client(config, monkeypatch) as (client, _):
            handle = await client.start_flash(
                2, FlashImage(ImageSource.upload, "big.img", size=size)
            )
            with pytest.raises(UploadAborted, match="took no image data"):
                await client.upload(handle, zeros(size))
        bmc.released.set()
    assert bmc.upload_length is not None and bmc.upload_length > size  # sent with a length

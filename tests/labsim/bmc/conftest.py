"""Fixtures for the BMC emulator tests: started emulators and a pinned-TLS HTTP helper."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import yarl
from multidict import CIMultiDictProxy

from labsim.bmc import BmcEmulator


@dataclass(frozen=True)
class Reply:
    """Status, headers and body text of one HTTP reply."""

    status: int
    text: str
    headers: CIMultiDictProxy[str]

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0]

    def json(self) -> Any:
        return json.loads(self.text)


class BmcHttp:
    """Talks to one emulator over real HTTPS with its certificate pinned."""

    def __init__(self, session: aiohttp.ClientSession, bmc: BmcEmulator) -> None:
        self.session = session
        self.bmc = bmc
        self.ssl = aiohttp.Fingerprint(bytes.fromhex(bmc.cert_sha256_fingerprint))
        self.token: str | None = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        data: Any = None,
        authenticated: bool = True,
    ) -> Reply:
        all_headers = dict(headers or {})
        if authenticated and self.token is not None and "Authorization" not in all_headers:
            all_headers["Authorization"] = f"Bearer {self.token}"
        url = yarl.URL(self.bmc.url + path, encoded=True)
        async with self.session.request(
            method, url, headers=all_headers, data=data, ssl=self.ssl
        ) as response:
            return Reply(response.status, await response.text(), response.headers)

    async def login(self, username: str = "root", password: str = "turing") -> Reply:
        body = json.dumps({"username": username, "password": password})
        reply = await self.request("POST", "/api/bmc/authenticate", data=body, authenticated=False)
        if reply.status == 200:
            self.token = reply.json()["id"]
        return reply

    async def get(self, query: str, **options: Any) -> Reply:
        return await self.request("GET", f"/api/bmc?{query}", **options)

    async def upload(self, handle: int, image: bytes) -> Reply:
        with aiohttp.MultipartWriter("form-data") as form:
            part = form.append(image, {"Content-Type": "application/octet-stream"})
            part.set_content_disposition("form-data", name="file")
            return await self.request("POST", f"/api/bmc/upload/{handle}", data=form)


@pytest.fixture
async def bmc_factory() -> AsyncIterator[Callable[..., Awaitable[BmcEmulator]]]:
    started: list[BmcEmulator] = []

    async def make(**options: Any) -> BmcEmulator:
        bmc = BmcEmulator(**options)
        await bmc.start()
        started.append(bmc)
        return bmc

    yield make
    for bmc in started:
        await bmc.stop()


@pytest.fixture
async def bmc(bmc_factory: Callable[..., Awaitable[BmcEmulator]]) -> BmcEmulator:
    return await bmc_factory()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as client:
        yield client


@pytest.fixture
def connect(session: aiohttp.ClientSession) -> Callable[[BmcEmulator], BmcHttp]:
    return lambda emulator: BmcHttp(session, emulator)


@pytest.fixture
async def api(bmc: BmcEmulator, connect: Callable[[BmcEmulator], BmcHttp]) -> BmcHttp:
    """A helper already logged in as root."""
    helper = connect(bmc)
    reply = await helper.login()
    assert reply.status == 200
    return helper


class FakeClock:
    """A manual monotonic clock for token expiry and ban timing."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()

"""Shared test kit for the BMC client tests: emulator config, request log and a connected client.

Holds no tests itself; the test modules import it (pytest puts this directory on sys.path).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace

import aiohttp
import pytest

from bot.config import BmcConfig, SecretSource, TlsConfig
from bot.integrations.bmc import BmcClient
from labsim.bmc import BmcEmulator

PASSWORD_ENV = "LABBOT_TEST_BMC_PASSWORD"
BMC_NAME = "tp1"


@dataclass
class RequestLog:
    """Every request the client's session started, as (method, path) pairs."""

    requests: list[tuple[str, str]] = field(default_factory=list)

    def trace_config(self) -> aiohttp.TraceConfig:
        """A trace config that records into this log."""
        config = aiohttp.TraceConfig()

        async def on_start(
            session: aiohttp.ClientSession,
            context: SimpleNamespace,
            params: aiohttp.TraceRequestStartParams,
        ) -> None:
            self.requests.append((params.method, params.url.path))

        config.on_request_start.append(on_start)
        return config

    @property
    def logins(self) -> int:
        """How many login requests were sent."""
        return sum(1 for _, path in self.requests if path == "/api/bmc/authenticate")

    def count(self, path: str) -> int:
        """How many requests went to `path`."""
        return sum(1 for _, seen in self.requests if seen == path)


def bmc_config(
    url: str,
    *,
    fingerprint: str | None = None,
    verify: bool = True,
    timeout: float = 5.0,
) -> BmcConfig:
    """A BmcConfig whose password comes from $LABBOT_TEST_BMC_PASSWORD."""
    return BmcConfig(
        url=url,
        password=SecretSource(env=PASSWORD_ENV),
        tls=TlsConfig(verify=verify, fingerprint_sha256=fingerprint),
        timeout_seconds=timeout,
    )


def pinned(emulator: BmcEmulator, *, timeout: float = 5.0) -> BmcConfig:
    """Config for `emulator` with its certificate pinned (colon-separated, as people paste it)."""
    fingerprint = emulator.cert_sha256_fingerprint.upper()
    with_colons = ":".join(fingerprint[i : i + 2] for i in range(0, len(fingerprint), 2))
    return bmc_config(emulator.url, fingerprint=with_colons, timeout=timeout)


@asynccontextmanager
async def open_client(
    config: BmcConfig, monkeypatch: pytest.MonkeyPatch, password: str = "turing"
) -> AsyncIterator[tuple[BmcClient, RequestLog]]:
    """A client on its own logged session; the password is put into the environment."""
    monkeypatch.setenv(PASSWORD_ENV, password)
    log = RequestLog()
    async with (
        aiohttp.ClientSession(trace_configs=[log.trace_config()]) as session,
        BmcClient(config, name=BMC_NAME, session=session) as client,
    ):
        yield client, log

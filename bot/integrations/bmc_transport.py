"""HTTP session to one BMC: TLS trust, the login token, re-login on 401, lockout, timeouts.

Must not retry a failed login in a loop, follow redirects, or put the password or token into
logs or exception text. Knows nothing about power, UART or flashing (see `bmc`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import aiohttp
import yarl

from bot.config import BmcConfig
from bot.integrations.bmc_errors import (
    BmcAuthFailed,
    BmcLockedOut,
    BmcProtocolError,
    BmcTlsError,
    BmcUnreachable,
)
from bot.integrations.bmc_protocol import (
    BmcGeneration,
    ReplyShapeError,
    ban_seconds,
    is_ban,
    parse_json,
    parse_login,
    parse_power_status,
)

LOGIN_PATH = "/api/bmc/authenticate"
API_PATH = "/api/bmc"
#: After a refused password, the same password is not sent again for this long.
AUTH_RETRY_SECONDS = 300.0
#: Assumed ban when bmcd's message carries no readable duration (its first ban is 60 s).
DEFAULT_BAN_SECONDS = 60.0

_log = logging.getLogger(__name__)

Query = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Reply:
    """Status, body text and content type of one HTTP reply."""

    status: int
    text: str
    content_type: str


class BmcTransport:
    """Sends requests to one BMC with a reused bearer token; see `BmcClient` for the operations.

    Example::

        transport = BmcTransport(config, name="tp1")
        reply = await transport.request("GET", "/api/bmc", query=[("opt", "get"), ...], what="x")
        await transport.close()
    """

    def __init__(
        self,
        config: BmcConfig,
        *,
        name: str,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self.name = name
        self.base_url = config.url.rstrip("/")
        self._session = session
        self._owns_session = session is None
        self._clock = clock
        self._ssl = _ssl_setting(config)
        self._token: str | None = None
        self._login_lock = asyncio.Lock()
        # bmcd serves one request at a time: one mutex is held from the start of a request until
        # its handler returns, an image upload included (turing-machines/bmcd v2.3.4,
        # src/authentication/authentication_service.rs). Sending one request at a time, in order,
        # makes each timeout count from when the BMC can actually serve the request: a power
        # query waits here for an upload instead of timing out at the BMC and looking like an
        # outage.
        self._one_at_a_time = asyncio.Lock()
        self._locked_until = 0.0
        self._lock_detail = ""
        self._refused_password: bytes | None = None
        self._refused_until = 0.0
        self._refused_detail = ""
        self._refused_reason = ""
        self._generation_hint: BmcGeneration | None = None
        self._probed = not self.base_url.startswith("http://")
        #: Incremented on every successful login; cached facts are valid for one epoch.
        self.epoch = 0

    @property
    def timeout(self) -> float:
        """The configured per-call timeout in seconds."""
        return self._config.timeout_seconds

    async def close(self) -> None:
        """Close the HTTP session if this transport created it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def generation_hint(self) -> BmcGeneration | None:
        """`v1` when the BMC answers the API over plain HTTP without login, else None."""
        if not self._probed:
            await self._probe_plain_http()
            self._probed = True
        return self._generation_hint

    async def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        query: Query = (),
        data: object = None,
        client_timeout: aiohttp.ClientTimeout | None = None,
        retry_after_login: bool = True,
    ) -> Reply:
        """Send an authenticated request; on 401 log in again once and repeat it.

        `retry_after_login=False` for bodies that cannot be sent twice (streamed uploads).
        """
        if await self.generation_hint() is BmcGeneration.v1:
            return await self._send(
                method, path, what=what, query=query, data=data, client_timeout=client_timeout
            )
        token = await self._current_token()
        reply = await self._send(
            method,
            path,
            what=what,
            query=query,
            data=data,
            token=token,
            client_timeout=client_timeout,
        )
        if reply.status != 401:
            return reply
        self._check_ban(reply)
        if not retry_after_login:
            self._forget(token)
            raise BmcAuthFailed(
                self.name,
                f"BMC {self.name} dropped labbot's session during {what} (it restarted or the "
                "token expired); labbot logs in again on the next call, so retry.",
            )
        _log.info("BMC %s rejected the session token (%s); logging in again", self.name, what)
        token = await self._fresh_token(token)
        reply = await self._send(
            method,
            path,
            what=what,
            query=query,
            data=data,
            token=token,
            client_timeout=client_timeout,
        )
        if reply.status == 401:
            self._check_ban(reply)
            self._forget(token)
            raise BmcAuthFailed(
                self.name,
                f"BMC {self.name} rejected a session it had just granted ({first_line(reply)}); "
                "check for a proxy in front of it or another client changing the password.",
            )
        return reply

    def decode(self, reply: Reply, what: str) -> object:
        """Parse a reply's JSON; HTML or garbage becomes `BmcProtocolError`."""
        try:
            return parse_json(reply.text)
        except ReplyShapeError as error:
            raise self.protocol_error(what, error, reply) from None

    def protocol_error(
        self, what: str, error: ReplyShapeError, reply: Reply | None = None
    ) -> BmcProtocolError:
        """The exception for a reply of the wrong shape."""
        status = f" (HTTP {reply.status})" if reply is not None and reply.status != 200 else ""
        return BmcProtocolError(self.name, what, f"{error}{status}")

    # -- login --------------------------------------------------------------------------------

    async def _current_token(self) -> str:
        if self._token is not None:
            return self._token
        async with self._login_lock:
            if self._token is None:
                self._token = await self._login()
            return self._token

    async def _fresh_token(self, rejected: str) -> str:
        async with self._login_lock:
            if self._token is None or self._token == rejected:
                self._token = None
                self._token = await self._login()
            return self._token

    def _forget(self, token: str) -> None:
        if self._token == token:
            self._token = None

    async def _login(self) -> str:
        now = self._clock()
        if now < self._locked_until:
            raise BmcLockedOut(self.name, self._locked_until - now, self._lock_detail)
        try:
            password = self._config.password.read()
        except LookupError as error:
            raise BmcAuthFailed(
                self.name,
                f"BMC {self.name}'s password cannot be read ({error}); set "
                f"{self._config.password.describe()} and retry.",
            ) from None
        digest = hashlib.sha256(password.encode()).digest()
        if digest == self._refused_password and now < self._refused_until:
            raise BmcAuthFailed(self.name, self._refused_detail, self._refused_reason)
        body = json.dumps({"username": self._config.username, "password": password})
        reply = await self._send(
            "POST",
            LOGIN_PATH,
            what="the login",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        if reply.status == 200:
            token = self._token_of(reply)
            self._refused_password = None
            self.epoch += 1
            _log.info("logged in to BMC %s as %s", self.name, self._config.username)
            return token
        detail = first_line(reply).replace(password, "***") if password else first_line(reply)
        if reply.status in (401, 403):
            self._check_ban(reply)
            self._refused_password = digest
            self._refused_until = self._clock() + AUTH_RETRY_SECONDS
            self._refused_reason = (
                f"BMC {self.name} refused the login for user {self._config.username} ({detail})"
            )
            self._refused_detail = (
                f"BMC {self.name} refused the login for user {self._config.username} "
                f"({detail}); labbot will not send this password again for "
                f"{round(AUTH_RETRY_SECONDS / 60)} min, so put the BMC's current root password "
                f"into {self._config.password.describe()} (the BMC may have reset it to the "
                "default after a power-up, BMC-Firmware #211)."
            )
            _log.warning("BMC %s refused the login: %s", self.name, detail)
            raise BmcAuthFailed(self.name, self._refused_detail, self._refused_reason)
        if reply.status == 404 and self.base_url.startswith("http://"):
            raise BmcProtocolError(
                self.name, "the login", "404: no login endpoint (firmware 1.x has none)"
            )
        self.decode(reply, "the login")
        raise BmcProtocolError(self.name, "the login", f"HTTP {reply.status}")

    def _token_of(self, reply: Reply) -> str:
        try:
            return parse_login(parse_json(reply.text))
        except ReplyShapeError as error:
            raise self.protocol_error("the login", error, reply) from None

    def _check_ban(self, reply: Reply) -> None:
        """Raise `BmcLockedOut` (and stop logging in) if `reply` is bmcd's ban message."""
        if not is_ban(reply.text):
            return
        seconds = ban_seconds(reply.text) or DEFAULT_BAN_SECONDS
        self._locked_until = self._clock() + seconds
        self._lock_detail = first_line(reply)
        self._token = None
        _log.warning("BMC %s bans labbot's logins: %s", self.name, self._lock_detail)
        raise BmcLockedOut(self.name, seconds, self._lock_detail)

    async def _probe_plain_http(self) -> None:
        """Over http://, tell firmware 1.x (open API) from 2.x (redirect or 401)."""
        reply = await self._send(
            "GET", API_PATH, what="the version probe", query=[("opt", "get"), ("type", "power")]
        )
        if reply.status == 200:
            try:
                parse_power_status(parse_json(reply.text))
            except ReplyShapeError as error:
                raise self.protocol_error("the version probe", error, reply) from None
            self._generation_hint = BmcGeneration.v1
            _log.info("BMC %s answers without login over plain HTTP: firmware 1.x", self.name)

    # -- one HTTP exchange --------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        what: str,
        query: Query = (),
        data: object = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        client_timeout: aiohttp.ClientTimeout | None = None,
    ) -> Reply:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        url = self.base_url + path
        if query:
            url += "?" + urlencode(list(query), quote_via=quote, safe="")
        session = self._open_session()
        try:
            async with (
                self._one_at_a_time,
                session.request(
                    method,
                    yarl.URL(url, encoded=True),
                    headers=all_headers,
                    data=data,
                    ssl=self._ssl,
                    allow_redirects=False,
                    timeout=client_timeout or aiohttp.ClientTimeout(total=self.timeout),
                ) as response,
            ):
                text = await response.text(errors="replace")
                reply = Reply(response.status, text, response.content_type)
        except aiohttp.ServerFingerprintMismatch as error:
            raise BmcTlsError.mismatch(self.name, error.expected.hex(), error.got.hex()) from None
        except aiohttp.ClientConnectorCertificateError as error:
            raise BmcTlsError.unverified(self.name, str(error.certificate_error)) from None
        except aiohttp.ClientSSLError as error:
            raise BmcTlsError.unverified(self.name, type(error).__name__) from None
        except aiohttp.ClientConnectorError as error:
            raise BmcUnreachable(self.name, self.base_url, _connect_failure(error)) from None
        except TimeoutError:
            raise BmcUnreachable(
                self.name, self.base_url, f"no answer to {what} within {self.timeout:g} s"
            ) from None
        except aiohttp.ClientError as error:
            reason = f"connection lost during {what}: {type(error).__name__}"
            raise BmcUnreachable(self.name, self.base_url, reason) from None
        if 300 <= reply.status < 400:
            raise BmcProtocolError(
                self.name,
                what,
                f"a redirect (HTTP {reply.status}); firmware 2.x serves its API over HTTPS "
                f"only, so set bmc.{self.name}.url to https://…",
            )
        return reply

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session


def _ssl_setting(config: BmcConfig) -> aiohttp.Fingerprint | bool:
    """The `ssl=` argument: a pinned fingerprint, no verification, or normal verification."""
    if config.tls.fingerprint_sha256 is not None:
        return aiohttp.Fingerprint(bytes.fromhex(config.tls.fingerprint_sha256.replace(":", "")))
    return config.tls.verify


def _connect_failure(error: aiohttp.ClientConnectorError) -> str:
    """A short reason such as ``connection refused`` for a failed connect."""
    os_error = error.os_error
    if isinstance(os_error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(os_error, TimeoutError):
        return "connect timed out"
    return f"cannot connect: {os_error.strerror or type(os_error).__name__}"


def first_line(reply: Reply) -> str:
    """The reply's first line (at most 200 characters), for messages."""
    line = reply.text.strip().splitlines()[0] if reply.text.strip() else f"HTTP {reply.status}"
    return line if len(line) <= 200 else line[:199] + "…"

"""The emulated Turing Pi 2 BMC (bmcd 2.3.4, firmware 2.1.x) as one HTTPS server with test hooks.

Owns the server lifecycle, state and fault knobs; protocol details live in the sibling modules.
It never talks to a real BMC.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
from aiohttp import web

from labsim.bmc.auth import Authenticator
from labsim.bmc.board import SLOTS, Board, NodeAuxInfo, PowerCallback, PowerReason
from labsim.bmc.certificate import generate_identity, server_ssl_context
from labsim.bmc.flash import FlashService
from labsim.bmc.flash_api import FlashApi
from labsim.bmc.flash_job import CRC_MISMATCH, MODULE_NOT_FOUND, FlashedImage, ProgressCallback
from labsim.bmc.legacy_api import BmcFacts, LegacyApi
from labsim.bmc.routing import BmcRouter
from labsim.bmc.uart import UartLineCallback, UartPorts

#: How fast the emulated BMC writes an image: an estimate of USB 2.0 mass-storage writes to a
#: module's eMMC through the BMC (not measured here; bmcd's own limit is the USB link).
REALISTIC_FLASH_BYTES_PER_SEC = 15_000_000

#: How long in-flight requests may finish when the daemon goes down (restart, crash, stop).
SHUTDOWN_GRACE_SECONDS = 0.2


class BmcEmulator:
    """A bmcd 2.3.4 look-alike on ``https://127.0.0.1:<port>`` with hooks and fault knobs.

    Example::

        async with BmcEmulator(flash_bytes_per_sec=1_000_000) as bmc:
            bmc.on_power_change(lambda node, on, reason: print(node, on, reason))
            ssl = aiohttp.Fingerprint(bytes.fromhex(bmc.cert_sha256_fingerprint))
            ...  # drive bmc.url + "/api/bmc?..." with aiohttp, ssl=ssl

    Node numbers in the Python API are 0-based slot indexes (0–3), like the API's `node=`.
    Timing knobs default to fast values for tests; the real BMC's are in parentheses:
    `reset_off_seconds` (1.0), `flash_prepare_seconds` (≈4–6), `upload_start_timeout` (10),
    `key_size` (RSA-4096).
    """

    def __init__(
        self,
        *,
        username: str = "root",
        password: str = "turing",
        nodes: int = 4,
        flash_bytes_per_sec: int = REALISTIC_FLASH_BYTES_PER_SEC,
        token_expires: float = 10800,
        firmware: str = "2.1.0",
        authentication_attempts: int = 5,
        serialize_requests: bool = True,
        upload_start_timeout: float = 10.0,
        reset_off_seconds: float = 0.05,
        flash_prepare_seconds: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        key_size: int = 2048,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= nodes <= SLOTS:
            raise ValueError(f"nodes must be 1..{SLOTS} (populated slots), got {nodes}")
        self._host = host
        self._port = port
        self._identity = generate_identity(key_size=key_size)
        self._ssl = server_ssl_context(self._identity)
        self._board = Board(clock)
        self._uart = UartPorts()
        self._auth = Authenticator(
            {username: password},
            token_expires=token_expires,
            authentication_attempts=authentication_attempts,
            clock=clock,
        )
        self._flash = FlashService(
            self._board,
            bytes_per_sec=flash_bytes_per_sec,
            upload_start_timeout=upload_start_timeout,
            prepare_seconds=flash_prepare_seconds,
            populated_slots=nodes,
            on_crash=self._on_daemon_crash,
        )
        self._local_files: dict[str, bytes] = {}
        self._legacy = legacy = LegacyApi(
            self._board,
            self._uart,
            BmcFacts(firmware=firmware, host_ip=host),
            reset_off_seconds=reset_off_seconds,
            restart_request=self._on_restart_request,
        )
        flash_api = FlashApi(
            self._flash, local_files=self._local_files, http_session=self._http_session
        )
        self._router = BmcRouter(
            self._auth, legacy, flash_api, self._board, serialize_requests=serialize_requests
        )
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.ServerRunner | None = None
        self._reserved: socket.socket | None = None
        self._lifecycle = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()
        self._started = False
        self._unreachable = False
        self._crashed = False
        self._crash_complete = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the port (ephemeral by default) and start serving HTTPS."""
        if self._started:
            raise RuntimeError("BmcEmulator already started")
        self._reserved = _bind(self._host, self._port)
        self._port = self._reserved.getsockname()[1]
        self._started = True
        async with self._lifecycle:
            await self._sync_listening()

    async def stop(self) -> None:
        """Stop serving, end every task and release the port."""
        self._started = False
        current = asyncio.current_task()
        pending = [task for task in self._background if task is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        async with self._lifecycle:
            await self._stop_listening(keep_port=False)
            await self._flash.kill()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> BmcEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def restart(self) -> None:
        """Restart bmcd: tokens, bans, UART buffers and flash state are lost; same port.

        A running flash dies without cleanup; at start-up the recorded power is re-applied.
        Also recovers from a simulated crash (the OOM knob).
        """
        async with self._lifecycle:
            await self._go_down()
            self._crashed = False
            self._crash_complete.clear()
            self._board.reapply_recorded(PowerReason.restart)
            await self._sync_listening()

    async def set_unreachable(self, unreachable: bool) -> None:
        """Stop (True) or resume (False) listening; while down, connections are refused.

        The port stays reserved by a bound, non-listening socket, so the kernel answers with
        a reset (ECONNREFUSED). Open connections are closed. State is kept. Limitation: the
        placeholder needs SO_REUSEADDR (the old connections linger in TIME_WAIT), so another
        program that also sets SO_REUSEADDR could still take the port meanwhile.
        """
        async with self._lifecycle:
            self._unreachable = unreachable
            await self._sync_listening()

    @property
    def is_listening(self) -> bool:
        """Whether the HTTPS port accepts connections right now."""
        return self._runner is not None

    @property
    def port(self) -> int:
        """The TCP port (known after `start()` when port 0 was asked for)."""
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``https://127.0.0.1:40123``."""
        return f"https://{self._host}:{self._port}"

    @property
    def cert_pem(self) -> str:
        """The self-signed certificate (CN=Turing-Pi self signed), PEM."""
        return self._identity.cert_pem

    @property
    def cert_sha256_fingerprint(self) -> str:
        """SHA-256 of the certificate's DER bytes, lowercase hex without colons."""
        return self._identity.sha256_fingerprint

    # -- power ------------------------------------------------------------------------------

    def power_state(self, node: int) -> bool:
        """Whether the module in slot `node` (0–3) physically has power."""
        return self._board.physical(_slot(node))

    def recorded_power(self, node: int) -> bool:
        """What `type=power` reports for slot `node` (bmcd's bookkeeping)."""
        return self._board.recorded(_slot(node))

    def set_power(self, node: int, on: bool, *, reason: str = PowerReason.external) -> None:
        """Switch a slot as a power API call would (bookkeeping and physical power)."""
        self._board.set_power(_slot(node), on, reason)

    def on_power_change(self, callback: PowerCallback) -> None:
        """Call `callback(node, on, reason)` whenever a slot's physical power changes.

        Reasons: api, reset (off then on), flash, restart, bmc_reboot, external.
        """
        self._board.subscribe(callback)

    def node_info(self, node: int) -> NodeAuxInfo:
        """The user-set name/module_name/uart_baud of a slot."""
        return self._board.aux_info[_slot(node)]

    # -- UART -------------------------------------------------------------------------------

    def uart_write(self, node: int, data: bytes) -> None:
        """A node's console output arriving at the BMC (kept in the 16 KiB ring buffer)."""
        self._uart.write_output(_slot(node), data)

    def uart_buffer(self, node: int) -> bytes:
        """The current ring buffer of a slot."""
        return self._uart.output(_slot(node))

    def uart_sent(self, node: int) -> list[str]:
        """Commands sent to a slot through `opt=set&type=uart`, without CR LF."""
        return self._uart.sent_lines(_slot(node))

    def uart_input(self, node: int) -> bytes:
        """Raw bytes written to a slot's serial input (CR LF included)."""
        return self._uart.input_bytes(_slot(node))

    def attach_console(self, node: int, console: Callable[[], bytes]) -> None:
        """Fill `node`'s UART buffer from `console()`, which returns what the node printed since
        its last call (0-based node index)."""
        self._uart.attach(_slot(node), console)

    def on_uart_line(self, callback: UartLineCallback) -> None:
        """Call `callback(node, line)` for every command sent to a node."""
        self._uart.subscribe(callback)

    # -- flashing ---------------------------------------------------------------------------

    def flashed_image(self, node: int) -> FlashedImage | None:
        """sha256/size of the image last flashed successfully on a slot, else None."""
        return self._flash.flashed_image(_slot(node))

    def flash_requests(self) -> int:
        """How many flashes were asked for (what a test counts to see nothing ran twice)."""
        return len(self._flash.requests)

    def flash_status(self) -> Any:
        """The current `opt=get&type=flash` body as a JSON value."""
        return self._flash.status()

    async def wait_for_flash_result(self, wait_seconds: float = 10.0) -> Any:
        """Wait until the flash status is Done or Error and return it (TimeoutError if not)."""
        return await self._flash.wait_for_result(wait_seconds)

    def on_flash_progress(self, callback: ProgressCallback) -> None:
        """Report each write/verify step; an awaitable result pauses the worker until done."""
        self._flash.subscribe(callback)

    def add_local_file(self, path: str, data: bytes) -> None:
        """Place a file on the BMC (e.g. ``/mnt/sdcard/img.raw``) for `local` flashing."""
        self._local_files[path] = bytes(data)

    # -- fault knobs ------------------------------------------------------------------------

    def fail_next_flash(self, message: str = CRC_MISMATCH) -> None:
        """The next flash job ends in ``{"Error": message}`` after its write/verify pass."""
        self._flash.faults.next_failure = message

    def fail_module_detection(self, node: int, message: str | None = MODULE_NOT_FOUND) -> None:
        """Flashing `node` fails at enumeration (node left on in flash mode); None clears it."""
        failures = self._flash.faults.module_failures
        if message is None:
            failures.pop(_slot(node), None)
        else:
            failures[_slot(node)] = message

    def set_recorded_power(self, node: int, on: bool) -> None:
        """Make `type=power` report `on` for a slot without touching its real power."""
        self._board.set_recorded(_slot(node), on)

    def fail_reads(self, kind: str, message: str, *, status: int = 500, count: int = 1) -> None:
        """The next `count` `opt=get&type=KIND` calls answer `status` with `message`."""
        self._legacy.fail(kind, status, message, count)

    def fail_power_status_read(self, failing: bool = True) -> None:
        """While set, `type=power` reports "Unknown" for every node."""
        self._board.status_read_fails = failing

    def oom_on_back_to_back_flash(self, enabled: bool = True) -> None:
        """The 2nd flash since bmcd started kills bmcd mid-write (BMC-Firmware #162).

        The API then refuses connections until `restart()`.
        """
        self._flash.faults.oom_on_back_to_back = enabled

    async def wait_for_crash(self, wait_seconds: float = 10.0) -> None:
        """Wait until a simulated bmcd crash (OOM knob) has taken the API down."""
        await asyncio.wait_for(self._crash_complete.wait(), wait_seconds)

    def set_credentials(self, username: str, password: str) -> None:
        """Change (or reset to default) a user's password, as `passwd` or issue #211 would."""
        self._auth.set_password(username, password)

    # -- internals --------------------------------------------------------------------------

    async def _sync_listening(self) -> None:
        """Listen iff started, reachable and not crashed. Caller holds the lifecycle lock."""
        should_listen = self._started and not self._unreachable and not self._crashed
        if should_listen and self._runner is None:
            server = web.Server(self._router.handle, handler_cancellation=True)
            runner = web.ServerRunner(server, shutdown_timeout=SHUTDOWN_GRACE_SECONDS)
            await runner.setup()
            sock, self._reserved = self._reserved or _bind(self._host, self._port), None
            site = web.SockSite(runner, sock, ssl_context=self._ssl)
            await site.start()
            self._runner = runner
        elif not should_listen and self._runner is not None:
            await self._stop_listening(keep_port=True)

    async def _stop_listening(self, *, keep_port: bool) -> None:
        """Close the listener and every connection; optionally keep the port reserved."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
            await self._router.end_connections()
            if keep_port:
                self._reserved = _bind(self._host, self._port)
        if not keep_port and self._reserved is not None:
            self._reserved.close()
            self._reserved = None

    async def _go_down(self) -> None:
        """bmcd exits: connections drop, in-memory state is lost. Caller holds the lock."""
        await self._stop_listening(keep_port=True)
        await self._flash.kill()
        self._auth.reset()
        self._uart.clear_output()

    def _on_restart_request(self, kind: str) -> None:
        if kind == "reboot":
            self._spawn(self._reboot())
        else:
            self._spawn(self.restart())

    async def _reboot(self) -> None:
        self._board.cut_all(PowerReason.bmc_reboot)
        await self.restart()

    def _on_daemon_crash(self) -> None:
        self._spawn(self._crash())

    async def _crash(self) -> None:
        async with self._lifecycle:
            self._crashed = True
            await self._go_down()
        self._crash_complete.set()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _http_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session


def _slot(node: int) -> int:
    if not 0 <= node < SLOTS:
        raise ValueError(f"node must be a slot index 0..{SLOTS - 1}, got {node}")
    return node


def _bind(host: str, port: int) -> socket.socket:
    """A bound, not yet listening socket: it reserves the port and makes connects fail."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock

"""The `GET /api/bmc?opt=…&type=…` handlers of the emulated bmcd 2.3.4 (all but flashing).

Maps query parameters to board/UART state and envelopes (turing-machines/bmcd).
It does no authentication and no flash work.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from labsim.bmc.board import (
    SLOTS,
    Board,
    NodeAuxInfo,
    PowerReason,
    UsbConfig,
    UsbMode,
    UsbRoute,
)
from labsim.bmc.responses import (
    LegacyError,
    empty_ok,
    envelope,
    error_envelope,
    node_param,
    plain_text,
)
from labsim.bmc.rust_formats import parse_i32, parse_u64
from labsim.bmc.uart import ENCODINGS, UartPorts

API_VERSION = "1.1"
FAN_DEVICE = "pwm-fan"  # illustrative cooling device
FAN_MAX_SPEED = 4
BMCD_VERSION = "2.3.4"
BAD_ENCODING = (
    "Invalid `encoding` parameter. Expected: utf8, utf16, utf16le, utf16be, "
    "utf32, utf32le, utf32be."
)


@dataclass(frozen=True)
class BmcFacts:
    """Static facts the info calls report. Values marked illustrative are not from a real BMC."""

    firmware: str
    host_ip: str
    hostname: str = "turingpi"
    mac: str = "02:00:00:00:00:01"  # illustrative
    buildtime: str = "2024-09-11 08:31:12-00:00"  # illustrative
    buildroot: str = '"Buildroot 2022.02.9"'  # os-release PRETTY_NAME, quotes kept; illustrative
    board_model: str = "Turing Pi 2"  # illustrative
    board_revision: str = "2.5"  # illustrative
    sdcard_bytes: int | None = 31_914_983_424  # None = no SD card mounted
    sdcard_free: int = 30_000_000_000
    bmc_storage_bytes: int = 104_857_600
    bmc_storage_free: int = 80_000_000


class LegacyApi:
    """Dispatches `opt`/`type` queries; `restart_request(kind)` is called for reload/reboot."""

    def __init__(
        self,
        board: Board,
        uart: UartPorts,
        facts: BmcFacts,
        *,
        reset_off_seconds: float,
        restart_request: Callable[[str], None],
    ) -> None:
        self._board = board
        self._uart = uart
        self._facts = facts
        self._reset_off_seconds = reset_off_seconds
        self._restart_request = restart_request
        self._fan_speed = 3
        self._failing: dict[str, list[LegacyError]] = {}

    def fail(self, kind: str, status: int, message: str, count: int) -> None:
        """Answer the next `count` `opt=get&type=KIND` calls with an error envelope, as bmcd
        answers a handler's failure: an `anyhow::Error` becomes 500 `Failed to {context}: {root
        cause}`, words bmcd did not write (turing-machines/bmcd src/api/into_legacy_response.rs)."""
        self._failing.setdefault(kind, []).extend([LegacyError(status, message)] * count)

    async def handle(self, query: dict[str, str]) -> web.Response:
        """Answer one API call with the legacy envelope."""
        try:
            return await self._dispatch(query)
        except LegacyError as error:
            return error_envelope(error)

    async def _dispatch(self, query: dict[str, str]) -> web.Response:
        opt = query.get("opt")
        if opt not in ("get", "set"):
            raise LegacyError(400, "Missing `opt` parameter")
        kind = query.get("type")
        if kind is None:
            raise LegacyError(400, "Missing `type` parameter")
        is_set = opt == "set"
        pending = self._failing.get(kind) if not is_set else None
        if pending:
            raise pending.pop(0)
        ok = envelope("ok")
        match (kind, is_set):
            case ("power", False):
                return envelope([self._board.status_values()])
            case ("power", True):
                self._set_power(query)
                return ok
            case ("reset", True):
                await self._board.reset(node_param(query), self._reset_off_seconds)
                return ok
            case ("uart", False):
                return self._read_uart(query)
            case ("uart", True):
                self._write_uart(query)
                return ok
            case ("other", False):
                return envelope([self._system_information()])
            case ("about", False):
                return envelope(self._about())
            case ("info", False):
                return envelope(self._info())
            case ("node_info", False):
                return envelope(self._node_infos())
            case ("nodeinfo", False):
                return envelope([{f"node{n + 1}": 0 for n in range(SLOTS)}])
            case ("nodeinfo", True):
                raise LegacyError(501, "Method type `set` on parameter `nodeinfo` is deprecated")
            case ("sdcard", False):
                return self._sdcard()
            case ("sdcard", True):
                raise LegacyError(501, "microSD card formatting is not implemented")
            case ("usb", False):
                return envelope([self._usb_status()])
            case ("usb", True):
                self._set_usb(query)
                return ok
            case ("cooling", False):
                return envelope(
                    [{"device": FAN_DEVICE, "speed": self._fan_speed, "max_speed": FAN_MAX_SPEED}]
                )
            case ("cooling", True):
                self._set_cooling(query)
                return ok
            case ("usb_boot" | "node_to_msd", True):
                node_param(query)  # accepted; the emulator models no USB boot or MSD mode
                return ok
            case ("clear_usb_boot" | "network", True):
                return ok
            case ("reload" | "reboot", True):
                self._restart_request(kind)
                return ok
        raise LegacyError(400, f"Invalid `type` parameter {kind}")

    def _set_power(self, query: dict[str, str]) -> None:
        requested: dict[int, bool] = {}
        for node in range(SLOTS):
            name = f"node{node + 1}"
            value = query.get(name)
            if value is None:
                continue
            if value not in ("0", "1"):
                raise LegacyError(400, f"Invalid value `{value}` for parameter `{name}`")
            requested[node] = value == "1"
        if not requested:
            # bmcd requires a non-zero node mask; the root-cause wording is inferred.
            raise LegacyError(500, "Failed to set power state: Condition failed: `mask != 0`")
        for node, on in requested.items():
            self._board.set_power(node, on, PowerReason.api)

    def _read_uart(self, query: dict[str, str]) -> web.Response:
        node = node_param(query)
        encoding = query.get("encoding", "utf8")
        if encoding not in ENCODINGS:
            raise LegacyError(400, BAD_ENCODING)
        return envelope(self._uart.read_text(node, encoding), key="uart")

    def _write_uart(self, query: dict[str, str]) -> None:
        node = node_param(query)
        command = query.get("cmd")
        if command is None:
            raise LegacyError(400, "Missing `cmd` parameter")
        self._uart.send_line(node, command)

    def _system_information(self) -> dict[str, str]:
        # bmcd 2.3.4 reads eth0, which firmware 2.1 no longer has (it uses br0): "Unknown".
        return {
            "api": API_VERSION,
            "version": BMCD_VERSION,
            "buildtime": self._facts.buildtime,
            "ip": "Unknown",
            "mac": "Unknown",
            "buildroot": self._facts.buildroot,
            "build_version": self._facts.firmware,  # os-release VERSION; content unverified
        }

    def _about(self) -> dict[str, str]:
        return {
            "board_model": self._facts.board_model,
            "board_revision": self._facts.board_revision,
            "hostname": self._facts.hostname,
            "api": API_VERSION,
            "version": BMCD_VERSION,
            "buildtime": self._facts.buildtime,
            "buildroot": self._facts.buildroot.strip('"'),
            "build_version": self._facts.firmware,
        }

    def _info(self) -> dict[str, object]:
        facts = self._facts
        storage: list[dict[str, object]] = [
            {
                "name": "BMC",
                "total_bytes": facts.bmc_storage_bytes,
                "bytes_free": facts.bmc_storage_free,
            }
        ]
        if facts.sdcard_bytes is not None:
            storage.append(
                {
                    "name": "SD card",
                    "total_bytes": facts.sdcard_bytes,
                    "bytes_free": facts.sdcard_free,
                }
            )
        interfaces = [
            {"device": "br0", "ip": facts.host_ip, "mac": facts.mac},
            {"device": "br0", "ip": "fe80::ff:fe00:1", "mac": facts.mac},
        ]
        return {"ip": interfaces, "storage": storage}

    def _node_infos(self) -> list[dict[str, object]]:
        return [
            {
                "name": info.name,
                "module_name": info.module_name,
                "power_on_time": self._board.power_on_seconds(node),
                "uart_baud": info.uart_baud,
            }
            for node, info in enumerate(self._board.aux_info)
        ]

    def _sdcard(self) -> web.Response:
        facts = self._facts
        if facts.sdcard_bytes is None:
            # The literal "{}" is in bmcd's message (a formatting slip in the source).
            return envelope("Failed to get microSD card info: {}", 400)
        used = facts.sdcard_bytes - facts.sdcard_free
        return envelope([{"total": facts.sdcard_bytes, "use": used, "free": facts.sdcard_free}])

    def _usb_status(self) -> dict[str, str]:
        usb = self._board.usb
        return {
            "mode": str(usb.mode),
            "node": f"Node {usb.node + 1}",
            "route": str(usb.route),
            "bus_type": "Usb hub",  # illustrative; boards report "Usb hub" or "Single bus"
        }

    def _set_usb(self, query: dict[str, str]) -> None:
        node = node_param(query)
        text = query.get("mode")
        if text is None:
            raise LegacyError(400, "Missing `mode` parameter")
        mode_number = parse_i32(text)
        if mode_number is None:
            raise LegacyError(400, "Parameter `mode` is not a number")
        if mode_number & 0b11 == 0b11:
            # bmcd hits unreachable!() here; the real effect is a dropped connection or a 5xx.
            raise web.HTTPInternalServerError()
        mode = (UsbMode.host, UsbMode.device, UsbMode.flash)[mode_number & 0b11]
        route = UsbRoute.bmc if mode_number & 0b100 else UsbRoute.alternative_port
        self._board.usb = UsbConfig(node=node, mode=mode, route=route)

    def _set_cooling(self, query: dict[str, str]) -> None:
        device = query.get("device")
        if device is None:
            raise LegacyError(400, "Missing `device` parameter")
        text = query.get("speed")
        if text is None:
            raise LegacyError(400, "Missing `speed` parameter")
        speed = parse_u64(text)
        if speed is None:
            raise LegacyError(400, "`speed` parameter is not a number")
        if device != FAN_DEVICE:
            # bmcd's wording for an unknown device is not documented (inferred).
            raise LegacyError(500, f"Failed to set Cooling state: unknown device {device}")
        self._fan_speed = min(speed, FAN_MAX_SPEED)


def set_node_info(board: Board, body: bytes) -> web.Response:
    """`POST /api/bmc?opt=set&type=node_info`: JSON keyed Node1..Node4 → empty 200.

    Invalid bodies get actix's JSON-extractor 400 (wording inferred).
    """
    try:
        payload = json.loads(body.decode("utf-8"))
        updates = _parse_node_info(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as error:
        return plain_text(400, f"Json deserialize error: {error}")
    for node, info in updates.items():
        board.update_aux_info(
            node, name=info.name, module_name=info.module_name, uart_baud=info.uart_baud
        )
    return empty_ok()


def _parse_node_info(payload: object) -> dict[int, NodeAuxInfo]:
    if not isinstance(payload, dict):
        raise ValueError("invalid type: expected a map")
    names = {f"Node{n + 1}": n for n in range(SLOTS)}
    updates: dict[int, NodeAuxInfo] = {}
    for key, value in payload.items():
        if key not in names:
            raise ValueError(f"unknown variant `{key}`, expected one of Node1, Node2, Node3, Node4")
        if not isinstance(value, dict):
            raise ValueError(f"invalid type for `{key}`: expected struct NodeInfo")
        name, module_name, baud = (
            value.get("name"),
            value.get("module_name"),
            value.get("uart_baud"),
        )
        if not all(isinstance(v, str | None) for v in (name, module_name)):
            raise ValueError("invalid type: expected a string")
        if baud is not None and (not isinstance(baud, int) or isinstance(baud, bool)):
            raise ValueError("invalid type: expected u32")
        updates[names[key]] = NodeAuxInfo(name=name, module_name=module_name, uart_baud=baud)
    return updates

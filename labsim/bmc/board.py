"""Per-slot state of the emulated Turing Pi 2 board: power (recorded and physical), node info, USB.

Holds state and notifies power observers; it knows nothing of HTTP or of flashing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

SLOTS = 4

#: Observer of physical power changes: (node index 0–3, powered, reason).
PowerCallback = Callable[[int, bool, str], None]


class PowerReason(StrEnum):
    """Why a node's physical power changed, as passed to power observers."""

    api = "api"
    reset = "reset"
    flash = "flash"
    restart = "restart"
    bmc_reboot = "bmc_reboot"
    external = "external"


class UsbMode(StrEnum):
    """USB mode names as `type=usb` reports them."""

    host = "Host"
    device = "Device"
    flash = "Flash"


class UsbRoute(StrEnum):
    """USB route names as `type=usb` reports them."""

    bmc = "Bmc"
    alternative_port = "AlternativePort"


@dataclass(frozen=True)
class UsbConfig:
    """The single USB routing of the board: which node, in which mode, routed where."""

    node: int = 0
    mode: UsbMode = UsbMode.host
    route: UsbRoute = UsbRoute.alternative_port


@dataclass(frozen=True)
class NodeAuxInfo:
    """User-set node metadata of `type=node_info` (persisted by bmcd)."""

    name: str | None = None
    module_name: str | None = None
    uart_baud: int | None = None


class Board:
    """Power bookkeeping vs physical power of the four slots, plus node info and USB routing.

    ``recorded`` is what `type=power` reports (bmcd's persisted bookkeeping); ``physical`` is
    what the module actually gets. They differ after a reset of a recorded-off node or when a
    fault knob corrupts the bookkeeping.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._recorded = [False] * SLOTS
        self._physical = [False] * SLOTS
        self._on_since: list[float | None] = [None] * SLOTS
        self._observers: list[PowerCallback] = []
        self.aux_info = [NodeAuxInfo() for _ in range(SLOTS)]
        self.usb = UsbConfig()
        self.status_read_fails = False

    def subscribe(self, callback: PowerCallback) -> None:
        """Call `callback(node, on, reason)` on every physical power change."""
        self._observers.append(callback)

    def physical(self, node: int) -> bool:
        """Whether the module in slot `node` is powered."""
        return self._physical[node]

    def recorded(self, node: int) -> bool:
        """What bmcd's bookkeeping says about slot `node`."""
        return self._recorded[node]

    def set_power(self, node: int, on: bool, reason: PowerReason | str) -> None:
        """Command power like `activate_slot`: bookkeeping and physical power both follow."""
        self._recorded[node] = on
        self._drive(node, on, reason)

    def set_recorded(self, node: int, on: bool) -> None:
        """Change only the bookkeeping (fault knob: a wrong power status)."""
        self._recorded[node] = on

    async def reset(self, node: int, off_seconds: float) -> None:
        """Power-cycle physically (off, wait, on) without touching the bookkeeping."""
        self._drive(node, False, PowerReason.reset)
        await asyncio.sleep(off_seconds)
        self._drive(node, True, PowerReason.reset)

    def reapply_recorded(self, reason: PowerReason | str) -> None:
        """Drive every slot to its recorded state, as bmcd does when it starts."""
        for node in range(SLOTS):
            self._drive(node, self._recorded[node], reason)

    def cut_all(self, reason: PowerReason | str) -> None:
        """Remove physical power from every slot (BMC reboot), keeping the bookkeeping."""
        for node in range(SLOTS):
            self._drive(node, False, reason)

    def status_values(self) -> dict[str, str]:
        """The `type=power` result object: ``{"node1": "1"|"0"|"Unknown", ...}``."""
        if self.status_read_fails:
            return {f"node{node + 1}": "Unknown" for node in range(SLOTS)}
        return {f"node{node + 1}": "1" if self._recorded[node] else "0" for node in range(SLOTS)}

    def power_on_seconds(self, node: int) -> int | None:
        """Whole seconds since the slot was switched on, None while off."""
        since = self._on_since[node]
        return None if since is None else int(self._clock() - since)

    def update_aux_info(
        self, node: int, *, name: str | None, module_name: str | None, uart_baud: int | None
    ) -> None:
        """Overwrite the given node-info fields; None leaves a field unchanged."""
        current = self.aux_info[node]
        self.aux_info[node] = replace(
            current,
            name=current.name if name is None else name,
            module_name=current.module_name if module_name is None else module_name,
            uart_baud=current.uart_baud if uart_baud is None else uart_baud,
        )

    def _drive(self, node: int, on: bool, reason: PowerReason | str) -> None:
        if on and self._on_since[node] is None:
            self._on_since[node] = self._clock()
        if not on:
            self._on_since[node] = None
        changed = self._physical[node] != on
        self._physical[node] = on
        if changed or reason == PowerReason.reset:
            for callback in list(self._observers):
                callback(node, on, str(reason))

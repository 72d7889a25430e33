"""Serial consoles of the emulated BMC: a 16 KiB output ring buffer and an input log per node.

Models bmcd ≥ 2.3.0 (turing-machines/bmcd); it does not speak HTTP.
"""

from __future__ import annotations

from collections.abc import Callable

from labsim.bmc.board import SLOTS

RING_BUFFER_BYTES = 16 * 1024

#: Observer of lines the BMC sends to a node: (node index 0–3, command without CR LF).
UartLineCallback = Callable[[int, str], None]

#: `encoding=` values bmcd accepts, mapped to Python codecs.
ENCODINGS = {
    "utf8": "utf-8",
    "utf16": "utf-16-le",
    "utf16le": "utf-16-le",
    "utf16be": "utf-16-be",
    "utf32": "utf-32-le",
    "utf32le": "utf-32-le",
    "utf32be": "utf-32-be",
}


class UartPorts:
    """Output ring buffers (node → BMC) and input logs (BMC → node) of the four slots."""

    def __init__(self) -> None:
        self._output = [bytearray() for _ in range(SLOTS)]
        self._input = [bytearray() for _ in range(SLOTS)]
        self._sent: list[list[str]] = [[] for _ in range(SLOTS)]
        self._observers: list[UartLineCallback] = []
        self._consoles: dict[int, Callable[[], bytes]] = {}

    def attach(self, node: int, console: Callable[[], bytes]) -> None:
        """Read the node's serial output from `console()` (what it printed since the last call),
        as bmcd's reader task moves UART bytes into the ring buffer."""
        self._consoles[node] = console

    def subscribe(self, callback: UartLineCallback) -> None:
        """Call `callback(node, line)` for every `opt=set&type=uart` command."""
        self._observers.append(callback)

    def write_output(self, node: int, data: bytes) -> None:
        """Append console output of a node (after what its console printed before); the oldest
        bytes drop beyond 16 KiB."""
        self._pull(node)
        self._append(node, data)

    def output(self, node: int) -> bytes:
        """The whole ring buffer of a node (reading never drains it)."""
        self._pull(node)
        return bytes(self._output[node])

    def _pull(self, node: int) -> None:
        console = self._consoles.get(node)
        if console is not None:
            self._append(node, console())

    def _append(self, node: int, data: bytes) -> None:
        buffer = self._output[node]
        buffer.extend(data)
        if len(buffer) > RING_BUFFER_BYTES:
            del buffer[: len(buffer) - RING_BUFFER_BYTES]

    def read_text(self, node: int, encoding: str) -> str:
        """Decode the whole buffer lossily (invalid bytes become U+FFFD)."""
        return self.output(node).decode(ENCODINGS[encoding], errors="replace")

    def send_line(self, node: int, command: str) -> None:
        """Write `command` plus CR LF to the node's serial input and tell observers."""
        self._input[node].extend(command.encode("utf-8") + b"\r\n")
        self._sent[node].append(command)
        for callback in list(self._observers):
            callback(node, command)

    def sent_lines(self, node: int) -> list[str]:
        """Commands sent to a node so far, without the CR LF the BMC appended."""
        return list(self._sent[node])

    def input_bytes(self, node: int) -> bytes:
        """Raw bytes written to a node's serial input, CR LF included."""
        return bytes(self._input[node])

    def clear_output(self) -> None:
        """Drop all ring buffers (they live only in bmcd's memory)."""
        for buffer in self._output:
            buffer.clear()

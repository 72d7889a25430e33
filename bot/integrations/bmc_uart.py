"""Node consoles through a BMC: only the text that is new since the last read.

bmcd ≥ 2.3.0 returns its whole 16 KiB ring buffer on every read (reference §3.3), so
`UartCursor` diffs successive copies; bmcd 2.0.x drained the buffer instead, so there every
read is new. Must not send anything to the node.
"""

from __future__ import annotations

from typing import Protocol

from bot.integrations.bmc_protocol import BmcInfo, check_slot

RING_BUFFER_BYTES = 16 * 1024
#: A buffer within this many bytes of 16 KiB may have dropped text at its front (a cut
#: multi-byte character is replaced by U+FFFD, which is longer in UTF-8).
_FULL_MARGIN = 8
_REPLACEMENT = "\ufffd"


class UartCursor:
    """Remembers one node's last console copy and returns only what was added since.

    Example::

        cursor = UartCursor()
        cursor.advance("boot\\n")            # "boot\\n"
        cursor.advance("boot\\nlogin: ")     # "login: "

    When the ring buffer is full, text drops off its front: the new copy is matched against
    the end of the previous one (longest overlap wins). Text that repeats exactly could hide
    new lines that look like old ones; a copy that neither extends nor overlaps the previous
    one (bmcd restarted, buffer cleared) is returned whole.
    """

    def __init__(self) -> None:
        self._previous = ""

    def reset(self) -> None:
        """Forget what was seen: the next read returns the whole buffer."""
        self._previous = ""

    def advance(self, buffer: str, *, drained: bool = False) -> str:
        """Return the part of `buffer` not returned before; `drained`: the read emptied it."""
        if drained:
            self._previous = ""
            return buffer
        previous, self._previous = self._previous, buffer
        if buffer.startswith(previous):
            return buffer[len(previous) :]
        if len(buffer.encode("utf-8")) < RING_BUFFER_BYTES - _FULL_MARGIN:
            return buffer  # not full, yet not an extension: the buffer was cleared
        trimmed = buffer.lstrip(_REPLACEMENT)
        if len(buffer) - len(trimmed) > 3:
            trimmed = buffer  # a character cut in half leaves at most 3 replacement marks
        return trimmed[_overlap(previous, trimmed) :]


def _overlap(previous: str, current: str) -> int:
    """Length of the longest suffix of `previous` that is a prefix of `current` (KMP)."""
    failure = [0] * len(current)
    matched = 0
    for index in range(1, len(current)):
        while matched and current[index] != current[matched]:
            matched = failure[matched - 1]
        if current[index] == current[matched]:
            matched += 1
        failure[index] = matched
    matched = 0
    for char in previous:
        while matched and (matched == len(current) or char != current[matched]):
            matched = failure[matched - 1]
        if matched < len(current) and char == current[matched]:
            matched += 1
    return matched


class UartSource(Protocol):
    """What `UartReader` needs from a client (`BmcClient` has it)."""

    async def uart_read(self, slot: int) -> str:
        """The node's current console buffer."""
        ...

    async def info(self) -> BmcInfo:
        """The BMC's versions, which decide whether a read drains the buffer."""
        ...


class UartReader:
    """Reads nodes' consoles and returns only new text, with one cursor per slot.

    Example::

        reader = UartReader(client)
        print(await reader.read_new(3), end="")
    """

    def __init__(self, client: UartSource) -> None:
        self._client = client
        self._cursors: dict[int, UartCursor] = {}

    async def read_new(self, slot: int) -> str:
        """The console text of `slot` that this reader has not returned yet."""
        cursor = self._cursors.setdefault(check_slot(slot), UartCursor())
        drained = (await self._client.info()).generation.uart_read_drains
        return cursor.advance(await self._client.uart_read(slot), drained=drained)

    def forget(self, slot: int) -> None:
        """Start over for `slot`: its next read returns the whole buffer."""
        self._cursors.pop(check_slot(slot), None)

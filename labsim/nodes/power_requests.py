"""Power requests from a node's own OS (`systemctl reboot`) to the lab process that owns its power.

A node's commands run in the shell server's children, but its power (sshd, boot id, booted
system) belongs to `SimNode` in the lab process. The command sends one datagram on an abstract
Unix socket (no path length limit, nothing to clean up) and returns, as the real `systemctl
reboot` returns once logind has queued the reboot; the lab process then halts and boots the node,
ending the SSH session that asked. Standard library only: the shell server imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import Callable


def new_address() -> str:
    """A fresh abstract socket name, written as `@name` (the `@` stands for the leading NUL)."""
    return f"@labsim-power-{uuid.uuid4().hex}"


def _bind_name(address: str) -> str:
    return "\0" + address.removeprefix("@")


def request(address: str, action: str, state_dir: str) -> None:
    """Ask the lab process for `action` (`reboot`) on the node at `state_dir`; never raises
    (with the lab gone, there is nobody to reboot the node)."""
    with (
        contextlib.suppress(OSError),
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender,
    ):
        sender.sendto(f"{action}\0{state_dir}".encode(), _bind_name(address))


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, handle: Callable[[str, str], None]) -> None:
        self._handle = handle

    def datagram_received(self, data: bytes, addr: object) -> None:
        action, _, state_dir = data.decode(errors="replace").partition("\0")
        self._handle(action, state_dir)


async def listen(address: str, handle: Callable[[str, str], None]) -> asyncio.DatagramTransport:
    """Receive requests at `address`, calling `handle(action, state_dir)` for each."""
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(_bind_name(address))
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _Receiver(handle), sock=receiver
    )
    return transport
